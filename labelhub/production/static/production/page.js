// The production page listens for drift alarms of its project and shows them without a reload.
(function () {
  "use strict";
  const script = document.currentScript;
  const banner = document.getElementById("live-alarm");
  if (!script || !banner || !("WebSocket" in window)) return;
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  let delay = 1000;
  function connect() {
    const socket = new WebSocket(scheme + location.host + script.dataset.socket);
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (message) {
      const event = JSON.parse(message.data);
      if (event.event !== "drift.alarm") return;
      banner.textContent = "Drift alarm: deployment " + event.deployment_name +
        (event.source ? ", source " + event.source : "") + ", window " + event.window_start +
        ": " + event.reasons.join(", ") + ". Reload to see the figures.";
      banner.hidden = false;
    };
    socket.onclose = function () { setTimeout(connect, delay); delay = Math.min(delay * 2, 30000); };
  }
  connect();
})();
