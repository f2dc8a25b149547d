// Small page helpers shared by the labeling modules: element lookup and the corner notices.

export const $ = (id) => document.getElementById(id);

/** Shows a short message in the corner; warnings stay longer. */
export function notice(text, kind = "") {
  const el = document.createElement("div");
  el.className = "notice " + kind;
  el.textContent = text;
  $("notices").appendChild(el);
  setTimeout(() => el.remove(), kind === "warn" ? 9000 : 5000);
}
