// Keyboard shortcuts of the labeling page: a class's key or chord toggles it (the picker owns those
// and "/", its filter), Enter submits, S skips,
// F flags, Z undoes, G shows the guidelines, ? the help; Esc closes. In the flag comment box only
// Esc (cancel) and Ctrl/Cmd+Enter (send) are shortcuts, every other key is typing.

import { $ } from "./ui.js";

/**
 * picker: the class picker ({handleKey(ev), cancel()}); actions: {submit, skip, openFlag, sendFlag,
 * closeFlag, undo, toggleGuidelines, beforeKey, isBlockedByModal}.
 */
export function bindKeys(picker, actions) {
  const help = $("help");
  const commands = {
    s: actions.skip,
    f: actions.openFlag,
    z: actions.undo,
    g: actions.toggleGuidelines,
  };

  // The help is a side sheet the page makes room for: labelling goes on while it is open.
  const showHelp = (open) => { help.hidden = !open; document.body.classList.toggle("help-open", open); };
  document.addEventListener("keydown", (ev) => {
    if (ev.target === $("flag-comment")) {
      if (ev.key === "Escape") { ev.preventDefault(); actions.closeFlag(); }
      else if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); actions.sendFlag(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "Escape") { if (picker.cancel()) return; showHelp(false); $("guideline-panel").hidden = true; return; }
    if (ev.key === "?") { ev.preventDefault(); showHelp(help.hidden); return; }
    if (actions.isBlockedByModal()) return;
    const key = ev.key.toLowerCase();
    actions.beforeKey();
    if (picker.handleKey(ev)) return;
    if (ev.key === "Enter") { ev.preventDefault(); actions.submit(); }
    else if (key in commands) { ev.preventDefault(); commands[key](); }
  });
}
