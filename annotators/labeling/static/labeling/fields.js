// The item's other fields, for a label config that shows more than the labelled text or image
// (several <Text> tags, <Header value="$title">): fills each [data-payload-key] element the page
// laid out in config order. Text only (textContent), so nothing in a payload is ever markup.

import { $ } from "./ui.js";

/** Shows ``payload``'s fields in their blocks; ``null`` hides them (no item on screen). */
export function renderFields(payload) {
  const box = $("item-fields");
  if (!box) return;  // a config with one field: the page has no field layout
  box.hidden = !payload;
  box.querySelectorAll("[data-payload-key]").forEach((el) => {
    const value = payload ? payload[el.dataset.payloadKey] : null;
    el.textContent = value != null ? String(value) : "";
  });
}
