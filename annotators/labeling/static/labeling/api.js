// The labeling page's one door to the server: JSON requests with the CSRF token, and the one place
// that reads labelhub's error body {code, detail, field, errors}.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** Fills a URL template from the page config (".../{lease}/submit/") with ids: {lease: 42}. */
export function urlFor(template, ids) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in ids)) throw new Error(`no value for {${name}} in ${template}`);
    return encodeURIComponent(String(ids[name]));
  });
}

/**
 * Sends one request (POST with a JSON body unless told otherwise). Never throws on an HTTP error:
 * resolves to {status, ok, json, error}, where `error` is the API's error body or null.
 */
export async function request(url, body, { method = "POST", keepalive = false } = {}) {
  const res = await fetch(url, {
    method,
    credentials: "same-origin",
    keepalive,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (e) {
    json = null;
  }
  const error = !res.ok && json && typeof json.code === "string" ? json : null;
  // "Nothing right now, ask again in N seconds" (a 204 while the queue is being filled).
  const retryAfter = Number(res.headers.get("Retry-After")) || 0;
  return { status: res.status, ok: res.ok, json, error, retryAfter };
}

/** GETs a server-rendered HTML fragment (the guidelines panel): {status, ok, html}. */
export async function fetchFragment(url) {
  const res = await fetch(url, { credentials: "same-origin" });
  return { status: res.status, ok: res.ok, html: await res.text() };
}

/** What to tell the annotator about a failed request: the server's `detail`, else `fallback`. */
export function errorDetail(res, fallback) {
  return (res.error && res.error.detail) || fallback;
}

/** The error's machine-readable code ("guideline_ack_required", ...), or null. */
export function errorCode(res) {
  return res.error ? res.error.code : null;
}
