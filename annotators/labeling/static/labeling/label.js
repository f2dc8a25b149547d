// Entry module of the labeling page: reads the page config (#label-config, every URL built by the
// server with reverse()) and wires the queue, the guidelines, the socket, the keys and the buttons.

import { urlFor } from "./api.js";
import { askAcknowledgement, isAckOpen, showInAck, togglePanel } from "./guidelines.js";
import { bindKeys } from "./keys.js";
import { createPicker } from "./picker.js";
import { createQueue } from "./queue.js";
import { connectQueueSocket } from "./socket.js";
import { $, notice } from "./ui.js";

const cfg = JSON.parse($("label-config").textContent);

const queue = createQueue(cfg, { onAckRequired: (body) => askAcknowledgement(body, queue) });
const toggleGuidelines = (forceOpen = false) => togglePanel(cfg.urls.panel, forceOpen);

// ------------------------------------------------------------------ the flag dialog
function openFlag() {
  if (!queue.hasItem()) return;
  $("flag-box").hidden = false;
  $("flag-comment").focus();
}
function closeFlag() {
  $("flag-box").hidden = true;
  $("flag-error").hidden = true;
  $("flag-comment").value = "";
  $("flag-comment").blur();
}
function sendFlag() {
  if (!queue.hasItem()) return;
  const comment = $("flag-comment").value.trim();
  if (!comment) {
    // A flag tells the guideline owners what is ambiguous: without a reason it helps nobody.
    $("flag-error").hidden = false;
    $("flag-comment").focus();
    return;
  }
  closeFlag();
  queue.flag(comment);
}

// ------------------------------------------------------------------ live push
function describeUpdate(data) {
  if (data.added != null) return `${data.added} new item(s)`;
  if (data.changed != null) return `${data.changed} item(s) re-prioritised`;
  if (data.count != null) return `${data.count} item(s) picked by the model`;
  return "new priorities";
}
connectQueueSocket(cfg.urls.socket, {
  leasesExpired(data) {
    const mine = queue.leasesExpired(data.expired_leases || []);
    if (!mine) notice(`${data.returned} expired item(s) returned to the queue.`);
    queue.refreshProgress();
  },
  guidelinePublished(version) {
    // A new guideline version: nothing more is served until it is acknowledged.
    askAcknowledgement({ version, acknowledge_url: urlFor(cfg.urls.acknowledge, { version: version.id }) }, queue);
  },
  queueUpdated(data) {
    // A fill this annotator's own "next" caused: the page already has its items, say nothing.
    if (data.requested_by != null && data.requested_by === cfg.userId) { queue.refreshProgress(); return; }
    notice(`Queue updated: ${describeUpdate(data)}.`);
    queue.refreshUpcoming();
    queue.refreshProgress();
  },
});

// ------------------------------------------------------------------ keys and buttons
const picker = createPicker(cfg, { pick: queue.toggle, suggested: queue.suggestedLabels });
bindKeys(picker, {
  submit: queue.submit,
  skip: queue.skip,
  undo: queue.undo,
  openFlag,
  sendFlag,
  closeFlag,
  toggleGuidelines: () => toggleGuidelines(false),
  beforeKey: queue.renewIfIdleLong,
  isBlockedByModal: isAckOpen,
});
// A clicked button gives the focus back, so the next key press is a shortcut again.
const blurred = (action) => (ev) => { ev.currentTarget.blur(); action(); };
document.querySelectorAll(".class-btn").forEach((b) => b.addEventListener("click", blurred(() => picker.choose(b.dataset.name))));
$("submit-btn").onclick = blurred(queue.submit);
$("skip-btn").onclick = blurred(queue.skip);
$("flag-btn").onclick = blurred(openFlag);
$("flag-send").onclick = sendFlag;
$("flag-cancel").onclick = closeFlag;
$("undo-btn").onclick = blurred(queue.undo);
$("guide-btn").onclick = blurred(() => toggleGuidelines(false));
$("guide-close").onclick = () => { $("guideline-panel").hidden = true; };
$("ack-read-panel").onclick = (e) => { e.preventDefault(); showInAck(cfg.urls.panel); };

window.addEventListener("pagehide", queue.releaseAll);

queue.topUp();
