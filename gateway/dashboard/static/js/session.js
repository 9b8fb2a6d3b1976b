// Who is signed in, and what their role lets the dashboard offer.

import {api, ApiError, setCsrfToken} from './api.js';

const TENANT_KEY = 'patron.tenant';

// What each role may change from the dashboard (docs/dashboard.md "Roles"); the server decides anyway
// (an analyst's write answers 403 whatever the page shows).
const WRITERS = {
  segments: ['owner', 'marketer'],
  exports: ['owner', 'marketer'],
  scoring: ['owner', 'marketer'],
  journeys: ['owner', 'marketer'],
  campaigns: ['owner', 'marketer'],
};

let session = null;

/** The session's fields (GET /v1/session: tenant_id, operator_id, email, role, scopes, csrf_token). */
function normalise(body) {
  setCsrfToken(body.csrf_token);
  return {
    operatorId: body.operator_id || '',
    email: body.email || '',
    role: body.role || '',
    tenantId: body.tenant_id || '',
    scopes: body.scopes || [],
    expiresAt: body.expires_at || null,
  };
}

/** The current session, asked of the server; null when no one is signed in. */
export async function loadSession() {
  try {
    session = normalise(await api('/v1/session'));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 404)) {
      session = null;
    } else {
      throw error;
    }
  }
  return session;
}

export function currentSession() {
  return session;
}

/** Sign in; the server sets the session cookie and answers the CSRF token. */
export async function signIn(tenantId, email, password) {
  const body = await api('/v1/session', {method: 'POST', body: {tenant_id: tenantId, email, password}});
  window.localStorage.setItem(TENANT_KEY, tenantId);
  session = normalise(body);
  return session;
}

export async function signOut() {
  try {
    await api('/v1/session', {method: 'DELETE'});
  } finally {
    session = null;
    setCsrfToken('');
  }
}

/** The tenant id last signed in with on this browser (not a secret; saves typing a UUID). */
export function rememberedTenant() {
  return window.localStorage.getItem(TENANT_KEY) || '';
}

/** Whether the signed-in role holds a scope (a support operator has no `operate`: no KPIs). */
export function holds(scope) {
  return Boolean(session) && session.scopes.includes(scope);
}

/** The page after sign-in: the overview, or the customers for a role that cannot read KPIs. */
export function homeRoute() {
  return holds('operate') ? 'overview' : 'customers';
}

/** Whether the signed-in role may change this area (buttons for writes are drawn only then). */
export function can(area) {
  return Boolean(session) && (WRITERS[area] || []).includes(session.role);
}
