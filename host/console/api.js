// api.js — the console's only door to the server.
//
// Session (cookie auth): POST /console/session with the API key starts one
// (the server sets an HttpOnly cookie and answers the key id, role and a
// CSRF token); GET /console/session answers the same after a reload;
// DELETE /console/session signs out. The key itself is never kept here.
//
// API: `api.get/post/put/del` call `/v1/...` with `credentials:
// 'same-origin'`, JSON in and out, and `x-cardhost-csrf` + `content-type:
// application/json` on every non-GET call. A failure becomes an `ApiError`
// carrying the API's `{"error": {"code", "message", ...details}}`;
// `describeError` turns it into a sentence for a flow builder.
//
// A 401 from the API ends the session (except `upstream-unauthorized`, which
// means the *service* refused a connection's credentials): the session is
// dropped and a `cardhost:session-ended` event tells app.js to show sign-in.

/** Roles, weakest first, exactly as the API names them. */
export const ROLES = ['reader', 'invoker', 'admin'];

let current = null; // {key_id, key_name, role, csrf, expires_at}

/** The current session, or null when signed out. */
export function session() {
  return current;
}

/** Whether the signed-in key's role is at least `role`. */
export function can(role) {
  return !!current && ROLES.indexOf(current.role) >= ROLES.indexOf(role);
}

/** A failed request: HTTP status, API error code and message, details. */
export class ApiError extends Error {
  constructor({ status = 0, code = 'network', message = '', details = {}, retryAfter = null, sessionEnded = false }) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
    this.sessionEnded = sessionEnded;
  }
}

// ---------------------------------------------------------------- session

/** GET /console/session: restores a session after a reload (null if none). */
export async function restoreSession() {
  let response;
  try {
    response = await fetch('/console/session', { credentials: 'same-origin', headers: { accept: 'application/json' } });
  } catch (e) {
    throw networkError(e);
  }
  if (response.status === 401) {
    current = null;
    return null;
  }
  const body = await readBody(response);
  if (!response.ok) throw errorOf(response, body);
  current = sessionOf(body);
  return current;
}

/** POST /console/session with the key the user typed. */
export async function signIn(key) {
  let response;
  try {
    response = await fetch('/console/session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ key }),
    });
  } catch (e) {
    throw networkError(e);
  }
  const body = await readBody(response);
  if (!response.ok) throw errorOf(response, body, { signIn: true });
  current = sessionOf(body);
  return current;
}

/** DELETE /console/session; the local session is dropped either way. */
export async function signOut() {
  const csrf = current?.csrf;
  current = null;
  clearCaches();
  try {
    await fetch('/console/session', {
      method: 'DELETE',
      credentials: 'same-origin',
      headers: csrf ? { 'x-cardhost-csrf': csrf, 'content-type': 'application/json' } : {},
    });
  } catch {
    // Signed out locally; the cookie expires on its own.
  }
}

function sessionOf(body) {
  if (!body || typeof body !== 'object' || !ROLES.includes(body.role) || typeof body.csrf !== 'string') {
    throw new ApiError({ status: 200, code: 'bad-session', message: 'the server answered a session without a role or CSRF token' });
  }
  return { key_id: body.key_id, key_name: body.key_name, role: body.role, csrf: body.csrf, expires_at: body.expires_at };
}

function endSession() {
  if (!current) return;
  current = null;
  clearCaches();
  window.dispatchEvent(new CustomEvent('cardhost:session-ended'));
}

// ---------------------------------------------------------------- requests

async function request(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    if (current?.csrf) headers['x-cardhost-csrf'] = current.csrf;
  }
  const init = { method, credentials: 'same-origin', headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw networkError(e);
  }
  const data = await readBody(response);
  if (response.ok) return data;
  const err = errorOf(response, data);
  if (response.status === 401 && err.code !== 'upstream-unauthorized') {
    err.sessionEnded = true;
    endSession();
  }
  throw err;
}

/** The /v1 API. Paths are absolute (`/v1/connections`). */
export const api = {
  get: (path, query) => request('GET', path + queryString(query)),
  post: (path, body) => request('POST', path, body),
  put: (path, body) => request('PUT', path, body),
  del: (path) => request('DELETE', path),
};

/** `?a=1&b=2` from an object, leaving out empty values. */
export function queryString(query) {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A path segment (connection names may hold spaces). */
export function seg(text) {
  return encodeURIComponent(String(text));
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  const text = await response.text().catch(() => '');
  if (type.includes('json') || /^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function errorOf(response, body, { signIn = false } = {}) {
  const e = body && typeof body === 'object' && body.error && typeof body.error === 'object' ? body.error : {};
  const { code, message, ...details } = e;
  const retry = Number(response.headers.get('retry-after'));
  return new ApiError({
    status: response.status,
    code: typeof code === 'string' ? code : (signIn && response.status === 401 ? 'unauthenticated' : `http-${response.status}`),
    message: typeof message === 'string' ? message : (typeof body === 'string' ? body.slice(0, 300) : ''),
    details,
    retryAfter: Number.isFinite(retry) && retry > 0 ? retry : null,
  });
}

function networkError(e) {
  return new ApiError({ status: 0, code: 'network', message: e && e.message ? e.message : String(e) });
}

// ---------------------------------------------------------------- caches

// Connector manifests change only when the server reloads connectors, so
// they are fetched once per session (and on reload of the page).
const connectorCache = new Map();

/** GET /v1/connectors/{id}, cached for the session. */
export function connector(id) {
  if (!connectorCache.has(id)) {
    const p = api.get(`/v1/connectors/${seg(id)}`);
    p.catch(() => connectorCache.delete(id));
    connectorCache.set(id, p);
  }
  return connectorCache.get(id);
}

let connectorListPromise = null;
/** GET /v1/connectors, cached for the session. */
export function connectorList() {
  if (!connectorListPromise) {
    connectorListPromise = api.get('/v1/connectors');
    connectorListPromise.catch(() => { connectorListPromise = null; });
  }
  return connectorListPromise;
}

/** Forgets cached manifests (sign-out, or the user asks to reload). */
export function clearCaches() {
  connectorCache.clear();
  connectorListPromise = null;
}

/** The auth method a connection uses (its own id, else the connector's first). */
export function authMethodOf(manifest, connection) {
  const methods = manifest?.auth_methods || [];
  return methods.find((m) => m.id === connection?.auth_method) || methods[0] || null;
}

// ---------------------------------------------------------------- words

// API error codes (host/src/server/api.rs) in words a flow builder can act on.
const SENTENCES = {
  network: 'The console cannot reach the cardhost server. Check your network connection and that the server is running, then try again.',
  unauthenticated: 'Your session ended; sign in again.',
  'bad-session': 'The server answered the sign-in in a way the console does not understand. Reload the page and try again.',
  'not-found': 'That item does not exist (any more). It may have been deleted or renamed; reload the page to see the current list.',
  'unknown-connector': 'This connector is not loaded on the server (it may have been removed or failed to load).',
  'unknown-card': 'This connector has no such card (it may have been removed in a newer version of the connector).',
  conflict: 'That name is already taken. Choose another name.',
  'invalid-fields': 'Some connection fields are not valid. Fix the marked fields and try again.',
  invalid: 'The server refused the request as it was.',
  'invalid-json': 'The console sent a request the server could not read. This is a bug in the console; please report it.',
  'invalid-query': 'The console sent a filter the server could not read. This is a bug in the console; please report it.',
  'connection-not-ready': 'The connection cannot be used yet: it needs to be authorized again or a change must be approved. Open Connections to fix it.',
  'authorization-failed': 'Authorizing the connection with the service failed.',
  'secrets-required': 'This change moves where the connection’s secrets are sent, so they must be entered again with it.',
  'invalid-input': 'The input does not match what the card expects. Fix the marked fields and run it again.',
  connection: 'The connection cannot be used right now (for example, it needs to be authorized again).',
  denied: 'cardhost stopped a request the card tried to make, because this connection was not granted the permission it needs. An admin can grant it on the Connections page.',
  'upstream-unauthorized': 'The service refused the connection’s credentials. Set a new secret or authorize the connection again, then test it.',
  'upstream-forbidden': 'The service accepted the credentials but says they lack a right this card needs. Ask the service’s administrator to grant it.',
  'rate-limited': 'The service is limiting how fast it can be called. Wait a moment and try again.',
  upstream: 'The service failed or answered something the card cannot use.',
  connector: 'The connector itself failed. This is a bug in the connector; its author can see the details in the history.',
  'deadline-exceeded': 'The card took too long and was stopped.',
  saturated: 'The server is busy running other cards. Try again in a moment.',
  'limit-exceeded': 'The card went over a limit the server sets.',
  host: 'Something went wrong inside cardhost while running the card.',
  store: 'cardhost could not read or write its database. Try again; if it keeps failing, tell the server’s operator.',
  unavailable: 'The server cannot do this right now. Try again shortly.',
  rejected: 'The connector could not read the delivery.',
  unverified: 'The delivery could not be verified.',
  'cross-origin': 'The server refused the request because it did not come from the console’s own page. Open the console at its own address and try again.',
};

/**
 * What went wrong, for people: `summary` (our sentence), `detail` (the
 * API's own message) and `extra` lines from the error's details.
 */
export function describeError(err) {
  if (!(err instanceof ApiError)) {
    return { summary: 'Something went wrong in the console.', detail: err && err.message ? String(err.message) : String(err), extra: [] };
  }
  const extra = [];
  let summary = SENTENCES[err.code];
  if (err.code === 'forbidden' || (err.status === 403 && !summary)) {
    const role = current?.role || 'current';
    summary = `Your key's role (${role}) cannot do this.`;
  } else if (/csrf/i.test(err.code) || (err.status === 403 && /csrf/i.test(err.message))) {
    summary = 'The page’s security token is out of date. Reload the page and try again.';
  } else if (!summary) {
    summary = err.status >= 500
      ? `The server failed (HTTP ${err.status}).`
      : `The request failed (HTTP ${err.status || 'no answer'}).`;
  }
  if (err.code === 'unauthenticated' && !current && err.status === 401 && !err.sessionEnded) {
    summary = 'That API key is not valid or was revoked.';
  }
  const d = err.details || {};
  if (err.retryAfter && (err.code === 'rate-limited' || err.code === 'saturated' || err.code === 'unavailable')) {
    extra.push(`Try again in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.`);
  }
  if (d.upstream_status) extra.push(`The service answered HTTP ${d.upstream_status}.`);
  if (d.limit) extra.push(`Limit: ${d.limit}.`);
  if (d.kind && err.code === 'denied') extra.push(`Reason: ${d.kind}.`);
  if (d.state && err.code === 'connection-not-ready') extra.push(`Connection state: ${d.state}.`);
  if (Array.isArray(d.secrets_required) && d.secrets_required.length) {
    extra.push(`Secrets to enter again: ${d.secrets_required.join(', ')}.`);
  }
  if (d.invocation) extra.push(`Invocation id: ${d.invocation}.`);
  return { summary, detail: err.message && err.message !== err.code ? err.message : '', extra };
}

/** One line: our sentence and the API's message (for the status region). */
export function errorLine(err) {
  const { summary } = describeError(err);
  return summary;
}
