// The guidelines on the labeling page: the side panel (G) and the acknowledgement dialog that a new
// published version puts in front of the queue (from the 409 of "next item" or from the socket).

import { errorDetail, fetchFragment, request } from "./api.js";
import { $, notice } from "./ui.js";

/** Opens the panel (or closes it unless forceOpen) and loads the current version into it. */
export async function togglePanel(panelUrl, forceOpen) {
  const panel = $("guideline-panel");
  if (!panel.hidden && !forceOpen) { panel.hidden = true; return; }
  panel.hidden = false;
  const res = await fetchFragment(panelUrl);
  if (res.status === 404) { $("guideline-body").textContent = "No guidelines are published for this project yet."; return; }
  $("guideline-body").className = "";
  $("guideline-body").innerHTML = res.html;  // server-rendered, sanitised fragment
}

/** The full guidelines inside the acknowledgement dialog (the side panel would sit behind it). */
export async function showInAck(panelUrl) {
  const box = $("ack-guidelines");
  box.hidden = false;
  box.textContent = "Loading…";
  const res = await fetchFragment(panelUrl);
  if (res.status === 404) { box.textContent = "No guidelines are published for this project yet."; return; }
  box.innerHTML = res.html;  // server-rendered, sanitised fragment
  box.focus();
}

export const isAckOpen = () => !$("guideline-ack").hidden;

/**
 * Shows the dialog for body = {version: {number, change_summary}, acknowledge_url}; the queue is
 * blocked until the annotator confirms and the server has recorded it.
 */
export function askAcknowledgement(body, queue) {
  $("ack-number").textContent = body.version.number;
  $("ack-summary").textContent = body.version.change_summary || "(no summary given)";
  $("guideline-ack").hidden = false;
  $("guideline-ack-confirm").onclick = async () => {
    const res = await request(body.acknowledge_url);
    if (!res.ok) { notice(errorDetail(res, `Could not acknowledge (${res.status}).`), "warn"); return; }
    $("guideline-ack").hidden = true;
    $("ack-guidelines").hidden = true;
    queue.unblock();
  };
  queue.block("Acknowledge the new guidelines to go on.");
}
