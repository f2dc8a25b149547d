// The class picker: every class has a shortcut on its button (a one-key hotkey or a two-key chord,
// both assigned by the server), "/" opens type-to-filter (fuzzy over the name, exact over the key
// or chord; the arrows move the highlight, Enter picks it), hovering or focusing a class shows its
// description and guideline definition, and "Recent classes first" keeps the last picks on top.

import { $ } from "./ui.js";

const CHORD_TIMEOUT_MS = 4000;
const RECENT_MAX = 6;

/**
 * How well `query` matches a class: higher is better, 0 is no match. Exact key or chord first, then
 * the name (or its short name) equal, starting with, containing, then the letters in order.
 */
export function matchScore(cls, query) {
  const q = query.trim().toLowerCase();
  if (!q) return 1;
  if ((cls.key && cls.key.toLowerCase() === q) || (cls.chord && cls.chord === q)) return 1000;
  const name = cls.name.toLowerCase(), short = (cls.short || cls.name).toLowerCase();
  if (name === q || short === q) return 900;
  if (short.startsWith(q)) return 800 - short.length;
  if (name.startsWith(q)) return 700 - name.length;
  const at = name.indexOf(q);
  if (at >= 0) return 600 - at - name.length / 100;
  // Letters in order ("nanim" finds noun.animal): fewer gaps is better.
  let pos = -1, gaps = 0;
  for (const ch of q) {
    const next = name.indexOf(ch, pos + 1);
    if (next < 0) return 0;
    if (next !== pos + 1) gaps += 1;
    pos = next;
  }
  return 300 - gaps * 10 - name.length / 100;
}

/**
 * cfg: the page config (projectId, classes with key/chord/description/definition);
 * pick(name): toggles a class on the item (the queue's toggle); suggested(): the model's suggestion.
 */
export function createPicker(cfg, { pick, suggested }) {
  const classes = cfg.classes;
  const byName = new Map(classes.map((c) => [c.name, c]));
  const byKey = new Map(classes.filter((c) => c.key).map((c) => [c.key.toLowerCase(), c.name]));
  const byChord = new Map(classes.filter((c) => c.chord).map((c) => [c.chord, c.name]));
  const leaders = new Set([...byChord.keys()].map((ch) => ch[0]));
  const box = $("classes"), filter = $("class-filter"), info = $("class-info");
  const buttons = () => [...document.querySelectorAll("#classes .class-btn")];
  let pending = "", pendingTimer = null, active = null;

  // ------------------------------------------------------------ the class's description on hover/focus
  function describe(name) {
    const c = byName.get(name);
    if (!info) return;
    info.replaceChildren();
    if (!c) return;
    const strong = document.createElement("strong");
    strong.textContent = c.name;
    info.append(strong);
    const shortcut = c.key || c.chord;
    if (shortcut) info.append(` (${shortcut.split("").join(" then ")})`);
    if (c.description) info.append(` — ${c.description}`);
    if (c.definition) info.append(` · Guidelines: ${c.definition}`);
  }
  for (const b of buttons()) {
    b.addEventListener("mouseenter", () => describe(b.dataset.name));
    b.addEventListener("focus", () => describe(b.dataset.name));
  }

  // ------------------------------------------------------------ recent classes
  const recentKey = `labelhub.recent.${cfg.projectId}`, recentOnKey = "labelhub.recentFirst";
  const store = window.localStorage;
  const readRecent = () => { try { return JSON.parse(store.getItem(recentKey) || "[]").filter((n) => byName.has(n)); } catch (e) { return []; } };
  const recentOn = () => store.getItem(recentOnKey) === "1";
  function drawRecent() {
    const row = $("recent-classes");
    if (!row) return;
    const names = recentOn() ? readRecent() : [];
    row.hidden = names.length === 0;
    const holder = $("recent-buttons");
    holder.replaceChildren(...names.map((n) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "recent-btn class-like";
      b.dataset.name = n;
      b.style.setProperty("--c", byName.get(n).colour);
      b.textContent = n;
      b.addEventListener("click", (ev) => { ev.currentTarget.blur(); choose(n); });
      b.addEventListener("mouseenter", () => describe(n));
      return b;
    }));
  }
  function remember(name) {
    const names = [name, ...readRecent().filter((n) => n !== name)].slice(0, RECENT_MAX);
    store.setItem(recentKey, JSON.stringify(names));
    drawRecent();
  }
  if ($("recent-first")) {
    $("recent-first").checked = recentOn();
    $("recent-first").addEventListener("change", (ev) => { store.setItem(recentOnKey, ev.target.checked ? "1" : "0"); ev.target.blur(); drawRecent(); });
  }
  drawRecent();

  function choose(name) {
    pick(name);
    remember(name);
    describe(name);
  }

  // ------------------------------------------------------------ chords
  function cancelChord() {
    pending = "";
    clearTimeout(pendingTimer);
    box.classList.remove("chording");
    buttons().forEach((b) => b.classList.remove("chord-match"));
    if ($("chord-state")) $("chord-state").textContent = "";
  }
  function startChord(leader) {
    pending = leader;
    box.classList.add("chording");
    buttons().forEach((b) => b.classList.toggle("chord-match", (b.dataset.chord || "").startsWith(leader)));
    if ($("chord-state")) $("chord-state").textContent = `${leader} … then the second key (Esc cancels)`;
    clearTimeout(pendingTimer);
    pendingTimer = setTimeout(cancelChord, CHORD_TIMEOUT_MS);
  }

  // ------------------------------------------------------------ type-to-filter
  function ranked(query) {
    const recent = recentOn() ? readRecent() : [];
    const sug = new Set(suggested());
    return classes
      .map((c, i) => ({ c, i, score: matchScore(c, query) }))
      .filter((m) => m.score > 0)
      .sort((a, b) => b.score - a.score
        || (sug.has(b.c.name) - sug.has(a.c.name))
        || ((recent.indexOf(a.c.name) + 1 || 99) - (recent.indexOf(b.c.name) + 1 || 99))
        || a.i - b.i)
      .map((m) => m.c.name);
  }
  function setActive(name) {
    active = name;
    buttons().forEach((b) => b.classList.toggle("active", b.dataset.name === name));
    if (name) describe(name);
  }
  function applyFilter() {
    const query = filter.value;
    const names = ranked(query);
    const shown = new Set(names);
    box.classList.toggle("filtering", query.trim() !== "");
    buttons().forEach((b) => b.classList.toggle("match", shown.has(b.dataset.name)));
    document.querySelectorAll("#classes .class-group").forEach((g) => {
      g.classList.toggle("has-match", [...g.querySelectorAll(".class-btn")].some((b) => shown.has(b.dataset.name)));
    });
    // The best match is highlighted; with nothing typed, the model's suggestion is.
    setActive(query.trim() ? (names[0] || null) : (suggested()[0] || null));
    return names;
  }
  function closeFilter() {
    if (!filter) return;
    filter.value = "";
    applyFilter();
    setActive(null);
    filter.blur();
  }
  function moveActive(step) {
    const names = ranked(filter.value);
    if (!names.length) return;
    const at = names.indexOf(active);
    setActive(names[(at + step + names.length) % names.length]);
  }
  if (filter) {
    filter.addEventListener("input", applyFilter);
    filter.addEventListener("focus", applyFilter);
    filter.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") { ev.preventDefault(); closeFilter(); }
      else if (ev.key === "ArrowDown") { ev.preventDefault(); moveActive(1); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); moveActive(-1); }
      else if (ev.key === "Enter" && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        const names = ranked(filter.value);
        const name = names.length === 1 ? names[0] : active;
        if (name && filter.value.trim()) { closeFilter(); choose(name); }
      }
      ev.stopPropagation();  // typing in the box is never a page shortcut
    });
  }

  /** The page's keydown (outside any input): true when the picker used the key. */
  function handleKey(ev) {
    const key = ev.key.toLowerCase();
    if (pending) {
      ev.preventDefault();
      const name = byChord.get(pending + key);
      cancelChord();
      if (name) choose(name);
      return true;
    }
    if (ev.key === "/" && filter) { ev.preventDefault(); filter.focus(); return true; }
    if (byKey.has(key)) { ev.preventDefault(); choose(byKey.get(key)); return true; }
    if (leaders.has(key)) { ev.preventDefault(); startChord(key); return true; }
    return false;
  }
  /** Esc: a pending chord or an open filter is what it cancels first. */
  function cancel() {
    const had = pending !== "";
    cancelChord();
    return had;
  }

  return { handleKey, cancel, choose };
}
