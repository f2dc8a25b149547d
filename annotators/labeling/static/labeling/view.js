// Draws the queue's state: the item on screen (text or image), the pressed class buttons, the
// model's suggestion and the weak label (marked "weak"), the lease countdown and the prefetch
// count. Reads state, never changes it.

import { renderFields } from "./fields.js";
import { $ } from "./ui.js";

const EMPTY_QUEUE = "Nothing left to label in this project for now. New items appear here when the queue is refilled.";

/** Seconds left on an entry's lease (negative once it has expired). */
export function secondsLeft(entry) {
  return Math.round((new Date(entry.lease.expires_at) - Date.now()) / 1000);
}

export function renderTimer(left) {
  const timer = $("lease-timer");
  timer.textContent = `lease ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  timer.classList.toggle("warn", left < 60);
}

export function render(state) {
  const cur = state.current;
  $("upcoming-count").textContent = String(state.upcoming.length);
  $("upcoming").textContent = state.upcoming.length ? `Next up: ${state.upcoming.length} item(s) ready.` : "";
  const suggested = (cur && cur.item.suggestion && cur.item.suggestion.labels) || [];
  const weak = (cur && cur.item.weak_suggestion && cur.item.weak_suggestion.labels) || [];
  document.querySelectorAll(".class-btn, .recent-btn").forEach((b) => {
    b.setAttribute("aria-pressed", state.selected.has(b.dataset.name) ? "true" : "false");
    b.classList.toggle("suggested", suggested.includes(b.dataset.name));
    b.classList.toggle("weak-suggested", weak.includes(b.dataset.name));
  });
  const text = $("item-text"), img = $("item-image"), empty = $("item-empty");
  if (!cur) {
    text.hidden = true; img.hidden = true; empty.hidden = false;
    empty.textContent = state.blocked || (state.empty ? EMPTY_QUEUE : "Loading the next item…");
    $("suggestion").hidden = true; $("weak-suggestion").hidden = true;
    $("item-ref").textContent = ""; $("lease-timer").textContent = "";
    renderFields(null);
    return;
  }
  empty.hidden = true;
  const payload = cur.item.payload || {};
  renderFields(payload);
  if (payload.image) {
    img.classList.remove("small");
    // Tiny images (8x8 digits, thumbnails) are blown up with crisp pixels (see the page's CSS).
    img.onload = () => img.classList.toggle("small", img.naturalWidth < 160);
    img.src = payload.image; img.hidden = false; text.hidden = true;
    img.alt = payload.text || "item to label";
  } else {
    text.textContent = payload.text != null ? String(payload.text) : JSON.stringify(payload);  // escaped: textContent
    text.hidden = false; img.hidden = true; img.removeAttribute("src");
  }
  const sug = cur.item.suggestion;
  if (sug && sug.labels && sug.labels.length) {
    const conf = typeof sug.confidence === "number" ? ` (${Math.round(sug.confidence * 100)} %)` : "";
    $("suggestion").textContent = `Model suggests: ${sug.labels.join(", ")}${conf}`;
    $("suggestion").hidden = false;
  } else {
    $("suggestion").hidden = true;
  }
  renderWeak(cur.item.weak_suggestion);
  $("item-ref").textContent = cur.item.external_id;
}

/** The weak label (from labeling functions and a label model), always marked as weak. */
function renderWeak(weak) {
  const box = $("weak-suggestion");
  box.replaceChildren();
  if (!weak || !weak.labels || !weak.labels.length) { box.hidden = true; return; }
  const badge = document.createElement("mark");
  badge.className = "weak-badge";
  badge.textContent = "weak";
  const conf = typeof weak.confidence === "number" ? ` (${Math.round(weak.confidence * 100)} %)` : "";
  box.append(badge, `Rules suggest: ${weak.labels.join(", ")}${conf}`);  // text nodes: escaped
  box.hidden = false;
}
