// The annotator's queue in the browser: the item on screen plus a few prefetched leases, so the
// next item shows without a round trip. Leases, submit, skip, flag, undo, renew and hand-back all
// go through here; every URL comes from the page config.

import { errorCode, errorDetail, request, urlFor } from "./api.js";
import { $, notice } from "./ui.js";
import { render as draw, renderTimer, secondsLeft } from "./view.js";

/** Prefetched leases this close to expiry (ms) are dropped rather than shown. */
const UPCOMING_MARGIN_MS = 5000;
/** A lease shown after waiting this long (ms) in the prefetch is renewed as it is shown. */
const RENEW_ON_SHOW_MS = 5000;

/**
 * cfg: the page config (multiLabel, prefetch, leaseMinutes, urls).
 * onAckRequired(body): called with the 409 body when new guidelines must be acknowledged first.
 */
export function createQueue(cfg, { onAckRequired }) {
  const urls = cfg.urls;
  const state = { current: null, upcoming: [], selected: new Set(), shownAt: 0, empty: false, blocked: null };
  // A pushed queue update bumps the generation: a fetch still in flight from before it carries leases
  // picked under the old priorities, so its answer is handed back instead of kept. At most one fetch
  // per generation is in flight (fetchingGen), and a stale one never blocks the refresh's own fetch.
  let generation = 0;
  let fetchingGen = -1;
  const leaseUrl = (template, entry) => urlFor(template, { lease: entry.lease.id });
  const held = () => [state.current, ...state.upcoming].filter(Boolean);

  function render() {
    draw(state);
    tick();
  }
  function tick() {
    const cur = state.current;
    if (!cur) return;
    const left = secondsLeft(cur);
    if (left <= 0) {
      leaseLost(cur.lease.id, "Your lease on this item expired; it went back to the queue.");
      return;
    }
    renderTimer(left);
  }
  function dropExpiredUpcoming() {
    const now = Date.now() + UPCOMING_MARGIN_MS;
    const before = state.upcoming.length;
    state.upcoming = state.upcoming.filter((e) => new Date(e.lease.expires_at) > now);
    if (state.upcoming.length !== before) { render(); topUp(); }
  }

  function show(entry) {
    state.current = entry;
    state.selected = new Set(entry && entry.preselect ? entry.preselect : []);
    state.shownAt = performance.now();
    if (entry) renewIfWaited(entry);
    render();
  }
  // A prefetched lease ran down while it waited: renew it as it is shown, so the countdown is the
  // annotator's own time on the item.
  async function renewIfWaited(entry) {
    const used = cfg.leaseMinutes * 60000 - (new Date(entry.lease.expires_at) - Date.now());
    if (used < RENEW_ON_SHOW_MS || entry.renewing) return;
    entry.renewing = true;
    const res = await request(leaseUrl(urls.renew, entry));
    entry.renewing = false;
    if (res.ok) {
      entry.lease.expires_at = res.json.lease.expires_at;
      if (state.current === entry) tick();
    }
  }
  function advance() {
    show(state.upcoming.shift() || null);
    topUp();
  }
  async function fetchMore(count) {
    if (fetchingGen === generation || count <= 0 || state.blocked) return;
    const gen = generation;
    fetchingGen = gen;
    let res = { status: 0 };
    try {
      res = await request(`${urls.next}?count=${count}`);
      if (gen !== generation) {
        if (res.status === 200) handBack(res.json.results.map((e) => e.lease.id));
        return;
      }
      if (res.status === 200) {
        state.empty = false;
        retryDelay = 0;
        const mine = new Set(held().map((e) => e.lease.id));
        for (const entry of res.json.results) if (!mine.has(entry.lease.id)) state.upcoming.push(entry);
      } else if (res.status === 204) {
        state.empty = true;
        // Not "all done": more items are on their way (a fill is running). Ask again, backing off.
        if (res.retryAfter) scheduleRetry(res.retryAfter);
      } else if (res.status === 409 && errorCode(res) === "guideline_ack_required") {
        onAckRequired(res.error);
      } else if (res.status === 403) {
        state.blocked = errorDetail(res, "You may not label this project right now.");
      } else {
        notice(`Could not load items (${res.status}).`, "warn");
      }
    } finally {
      if (fetchingGen === gen) fetchingGen = -1;
    }
    // Asked for while this call was in flight: fetch the rest (only while the queue keeps up).
    if (res.status === 200 && res.json.results.length === count) setTimeout(topUp, 0);
    if (!state.current && state.upcoming.length) advance();
    else render();
  }
  let retryTimer = null, retryDelay = 0;
  function scheduleRetry(seconds) {
    if (retryTimer) return;
    retryDelay = Math.min(Math.max(seconds, retryDelay * 2), 30);
    retryTimer = setTimeout(() => { retryTimer = null; topUp(); }, retryDelay * 1000);
  }
  function topUp() {
    const want = cfg.prefetch + (state.current ? 0 : 1) - state.upcoming.length;
    if (want > 0) fetchMore(want);
  }
  async function refreshUpcoming() {
    // New priorities: hand the prefetched (unseen) leases back and take the new top of the queue.
    generation += 1;
    const unused = state.upcoming.map((e) => e.lease.id);
    state.upcoming = [];
    await handBack(unused);
    state.empty = false;
    await fetchMore(cfg.prefetch + (state.current ? 0 : 1));
  }
  async function handBack(leaseIds) {
    if (leaseIds.length) await request(urls.releaseMany, { leases: leaseIds });
  }
  function leaseLost(leaseId, message) {
    if (state.current && state.current.lease.id === leaseId) {
      notice(message, "warn");
      advance();
      return;
    }
    const before = state.upcoming.length;
    state.upcoming = state.upcoming.filter((e) => e.lease.id !== leaseId);
    if (before !== state.upcoming.length) { render(); topUp(); }
  }
  async function refreshProgress() {
    const res = await request(urls.status, undefined, { method: "GET" });
    if (res.ok) {
      $("done-today").textContent = res.json.progress.done_today;
      $("queue-left").textContent = res.json.progress.queue_left;
      $("unlabelled").textContent = res.json.progress.unlabelled;
    }
  }

  function toggle(name) {
    if (!state.current) return;
    if (cfg.multiLabel) {
      state.selected.has(name) ? state.selected.delete(name) : state.selected.add(name);
    } else {
      state.selected = state.selected.has(name) ? new Set() : new Set([name]);
    }
    render();
  }
  function submit() {
    const cur = state.current;
    if (!cur) return;
    const labels = [...state.selected];
    if (!labels.length) { notice("Pick a class first (its key or button)."); return; }
    if (!cfg.multiLabel && labels.length !== 1) { notice("Pick exactly one class."); return; }
    const timeSpent = (performance.now() - state.shownAt) / 1000;
    advance();  // the next item is already here: no round trip before it shows
    const done = $("done-today");
    done.textContent = String(Number(done.textContent) + 1);
    const body = { labels, time_spent: Math.round(timeSpent * 100) / 100 };
    request(leaseUrl(urls.submit, cur), body).then((res) => {
      if (res.status !== 201) {
        done.textContent = String(Number(done.textContent) - 1);
        notice(`Not saved — ${errorDetail(res, `Submit failed (${res.status}).`)}`, "warn");
      }
      refreshProgress();
    });
  }
  async function skip() {
    const cur = state.current;
    if (!cur) return;
    advance();
    await request(leaseUrl(urls.skip, cur));
    notice("Skipped: the item goes to someone else.");
  }
  async function flag(comment) {
    const cur = state.current;
    if (!cur) return;
    advance();
    const res = await request(leaseUrl(urls.flag, cur), { comment });
    if (res.status === 201) notice("Flagged for the guideline owners. Thank you.");
    else notice(errorDetail(res, `Flag failed (${res.status}).`), "warn");
  }
  async function undo() {
    const res = await request(urls.undo, { since: cfg.openedAt });  // this page's labels only
    if (!res.ok) { notice(errorDetail(res, "Nothing to undo."), "warn"); return; }
    if (state.current) state.upcoming.unshift(state.current);
    show({ lease: res.json.lease, item: res.json.item, preselect: res.json.retracted.labels });
    notice(`Undone: ${res.json.retracted.labels.join(", ")} — label it again.`);
    refreshProgress();
  }
  async function renewIfIdleLong() {
    const cur = state.current;
    if (!cur || cur.renewing) return;
    const left = new Date(cur.lease.expires_at) - Date.now();
    if (left > cfg.leaseMinutes * 30000) return;  // more than half the lease left
    cur.renewing = true;
    const res = await request(leaseUrl(urls.renew, cur));
    cur.renewing = false;
    if (res.ok) cur.lease.expires_at = res.json.lease.expires_at;
  }

  /** The pushed "leases expired" list: drops those held here; returns how many were. */
  function leasesExpired(ids) {
    const expired = new Set(ids);
    const mine = held().filter((e) => expired.has(e.lease.id));
    mine.forEach((e) => leaseLost(e.lease.id, "Your lease on this item expired; it was reassigned to the queue."));
    if (state.empty) topUp();
    return mine.length;
  }
  /** Nothing more is served while blocked (e.g. until new guidelines are acknowledged). */
  function block(message) {
    state.blocked = message;
    render();
  }
  function unblock() {
    state.blocked = null;
    topUp();
  }
  /** Leaving the page hands back everything not submitted, so nobody waits for a lease to expire. */
  function releaseAll() {
    const ids = held().map((e) => e.lease.id);
    if (ids.length) request(urls.releaseMany, { leases: ids }, { keepalive: true });
  }

  setInterval(() => { tick(); dropExpiredUpcoming(); }, 1000);

  return {
    hasItem: () => state.current !== null,
    suggestedLabels: () => (state.current && state.current.item.suggestion && state.current.item.suggestion.labels) || [],
    topUp, refreshUpcoming, refreshProgress, leasesExpired, block, unblock, releaseAll,
    toggle, submit, skip, flag, undo, renewIfIdleLong,
  };
}
