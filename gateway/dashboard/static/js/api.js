// Calls to the gateway's /v1 on the same origin, authenticated by the operator's session cookie.

let csrf = '';

/** An answer that is not a success: status, the problem's detail and its field faults. */
export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = null) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.detail = problem.detail || '';
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** Remember the sign-in's CSRF token (the patron_csrf cookie carries it across reloads too). */
export function setCsrfToken(token) {
  csrf = token || '';
}

function csrfToken() {
  if (csrf) return csrf;
  const cookie = document.cookie.split(';').map((part) => part.trim()).find((part) => part.startsWith('patron_csrf='));
  return cookie ? decodeURIComponent(cookie.slice('patron_csrf='.length)) : '';
}

/** A random UUID, also where crypto.randomUUID is missing (a plain-HTTP page that is not localhost). */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A path with its query (parameters that are null or empty are left out). */
export function withQuery(path, query = {}) {
  const parameters = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== '') parameters.set(name, String(value));
  }
  const text = parameters.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Call the API. Writes carry the CSRF token; `idempotent` adds an Idempotency-Key so that a retried
 * creation never creates twice. A 401 outside the session routes tells the app the session ended.
 */
export async function api(path, {method = 'GET', body, signal, idempotent = false, query} = {}) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const token = csrfToken();
    if (token) headers['X-CSRF-Token'] = token;
  }
  if (idempotent) headers['Idempotency-Key'] = randomId();
  let response;
  try {
    response = await fetch(withQuery(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, {detail: error.message});
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {detail: text.slice(0, 200)};
    }
  }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/v1/session')) {
      window.dispatchEvent(new CustomEvent('patron:signed-out'));
    }
    throw new ApiError(response.status, data || {}, response.headers.get('Retry-After'));
  }
  return data;
}
