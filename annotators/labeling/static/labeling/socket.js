// The queue WebSocket: one connection per page to the project's queue announcements, reconnecting
// with exponential backoff (capped at 30 s) and pinging so proxies keep an idle socket open.

import { $ } from "./ui.js";

const MAX_BACKOFF_MS = 30000;
const PING_EVERY_MS = 30000;

function showState(live) {
  const el = $("socket-state");
  el.classList.toggle("off", !live);
  el.textContent = live ? "● live" : "○ offline";
}

/**
 * Connects to `path` (from the page config) and hands every "queue.updated" message to
 * one of: handlers.leasesExpired(data), handlers.guidelinePublished(version), handlers.queueUpdated(data).
 */
export function connectQueueSocket(path, handlers) {
  let socket = null;
  let retry = 0;

  function dispatch(data) {
    if (data.event !== "queue.updated") return;
    if (data.reason === "leases_expired") handlers.leasesExpired(data);
    else if (data.guideline_published) handlers.guidelinePublished(data.guideline_published);
    else handlers.queueUpdated(data);
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + path);
    socket.onopen = () => { retry = 0; showState(true); };
    socket.onclose = () => {
      showState(false);
      setTimeout(connect, Math.min(MAX_BACKOFF_MS, 1000 * 2 ** retry++));
    };
    socket.onmessage = (msg) => dispatch(JSON.parse(msg.data));
  }

  setInterval(() => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ event: "ping" })); }, PING_EVERY_MS);
  connect();
}
