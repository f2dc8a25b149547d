// Live preview for the guideline editor in the admin console: every markdown textarea posts its
// text (debounced) to the staff-only preview endpoint and shows the sanitised HTML it returns.
// Ctrl/Cmd+B and Ctrl/Cmd+I wrap the selection in bold / italic markers.
(function () {
  "use strict";
  const DEBOUNCE_MS = 300;

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    return cookie ? decodeURIComponent(cookie.split("=")[1]) : "";
  }

  function attach(textarea) {
    if (textarea.dataset.previewAttached) return;
    textarea.dataset.previewAttached = "1";
    const preview = textarea.parentElement.querySelector(".markdown-preview");
    if (!preview) return;
    let timer = null;
    let sequence = 0;
    async function refresh() {
      const mine = ++sequence;
      const body = new URLSearchParams({ markdown: textarea.value });
      try {
        const response = await fetch(textarea.dataset.previewUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken() },
          body,
        });
        if (mine !== sequence) return; // a newer keystroke already asked
        const payload = await response.json();
        preview.innerHTML = response.ok ? payload.html : "";
        preview.classList.toggle("empty", !payload.html);
        if (!response.ok) preview.textContent = payload.error || "Preview unavailable.";
      } catch (error) {
        preview.textContent = "Preview unavailable (" + error + ").";
      }
    }
    textarea.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, DEBOUNCE_MS);
    });
    textarea.addEventListener("keydown", (event) => {
      if (!(event.ctrlKey || event.metaKey)) return;
      const marker = { b: "**", i: "_" }[event.key.toLowerCase()];
      if (!marker) return;
      event.preventDefault();
      const { selectionStart: start, selectionEnd: end, value } = textarea;
      textarea.value = value.slice(0, start) + marker + value.slice(start, end) + marker + value.slice(end);
      textarea.setSelectionRange(start + marker.length, end + marker.length);
      textarea.dispatchEvent(new Event("input"));
    });
    refresh();
  }

  function attachAll(root) {
    root.querySelectorAll("textarea.markdown-editor").forEach((t) => {
      // Skip the hidden template row of an inline formset; it is attached once it is cloned.
      if (!t.name.includes("__prefix__")) attach(t);
    });
  }

  document.addEventListener("DOMContentLoaded", () => attachAll(document));
  document.addEventListener("formset:added", (event) => attachAll(event.target));
})();
