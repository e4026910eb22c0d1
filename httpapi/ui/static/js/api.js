// The console's calls to the hub's API. Every call carries the token cookie
// (same origin) and, when it changes something, the CSRF value the hub
// handed out with the cookie. The token itself is never kept by the page:
// it goes to POST /api/session once and lives on in an HttpOnly cookie.

/** session is who the console acts as, and the CSRF value of its cookie. */
export const session = {who: null, csrf: ''};

const listeners = new Set();

/** onSignedOut registers fn(message) for when the session ends. */
export function onSignedOut(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

let ending = false;

/** endSession forgets the session and tells the app why (shown on sign-in). */
export function endSession(message) {
  if (ending || !session.who) return;
  ending = true;
  session.who = null;
  session.csrf = '';
  for (const fn of listeners) fn(message);
  ending = false;
}

/** ApiError is a failed call: the hub's {"error":{"code","message"}}. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** explain401 turns the hub's 401 message into a sentence for the sign-in page. */
export function explain401(message) {
  const m = String(message || '').toLowerCase();
  if (m.includes('revoked')) return 'Your token was revoked. Sign in with another token.';
  if (m.includes('expired')) return 'Your token expired. Sign in with a new token.';
  if (m.includes('unknown')) return 'The hub does not know this token (it may have been deleted, or the hub was reset). Sign in with another token.';
  return 'Your session ended. Sign in again.';
}

/**
 * api calls the hub. body is sent as JSON unless it is a string (then as
 * opts.type). It resolves to the decoded JSON (or null for 204) and rejects
 * with an ApiError. A 401 ends the session, so the console returns to
 * sign-in with the reason, unless opts.keepSession.
 */
export async function api(method, path, body, opts = {}) {
  const headers = {Accept: 'application/json', ...(opts.headers || {})};
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string') {
      payload = body;
      headers['Content-Type'] = opts.type || 'text/plain';
    } else {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(path, {method, headers, body: payload, credentials: 'same-origin', cache: 'no-store',
      redirect: 'error', signal: opts.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', 'The hub cannot be reached (' + err.message + ').');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const e = data && data.error ? data.error : {code: 'HTTP_' + res.status, message: text.slice(0, 200) || res.statusText};
    if (res.status === 401 && !opts.keepSession) endSession(explain401(e.message));
    throw new ApiError(res.status, e.code, e.message);
  }
  return data;
}

/** loadSession asks the hub who the cookie is; null when signed out. */
export async function loadSession() {
  try {
    const who = await api('GET', '/ui/api/session', undefined, {keepSession: true});
    session.csrf = who.csrf || '';
    delete who.csrf;
    session.who = who;
    return who;
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

/** signIn trades a token for the session cookie. */
export async function signIn(token) {
  const who = await api('POST', '/api/session', {token}, {keepSession: true});
  session.csrf = who.csrf || '';
  delete who.csrf;
  session.who = who;
  return who;
}

/** signOut clears the cookie. */
export async function signOut() {
  try { await api('DELETE', '/api/session', undefined, {keepSession: true}); } catch { /* signed out anyway */ }
  endSession('You signed out.');
}

/** isAdmin reports whether the session may use the admin pages. */
export function isAdmin() {
  const w = session.who;
  return !!w && (w.admin || w.purpose === 'admin');
}

/** canPublish reports whether the session's purpose allows publishing. */
export function canPublish() {
  const w = session.who;
  return !!w && (w.admin || w.purpose === 'admin' || w.purpose === 'publish' || w.purpose === 'ingest');
}

/** canStream reports whether the session's purpose allows subscribing. */
export function canStream() {
  const w = session.who;
  return !!w && (w.admin || w.purpose === 'admin' || w.purpose === 'stream');
}
