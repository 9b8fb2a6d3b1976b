// A customer's whole picture from GET /v1/customers/{id}/360: one call, every section at once. A
// section the gateway marks degraded (its service slow or down) fails alone and is shown as such,
// never the page. Lists come as their first page ({items, next_cursor}); where the 360's head may not
// be the whole list, the section asks its own list endpoint instead, so that paging has a cursor.

import {api, ApiError} from './api.js';

export const SECTIONS = ['profile', 'scores', 'points', 'membership', 'coupons', 'segments', 'messages', 'timeline'];

const PAGE = 10; // the 360's head of each list

/** The section's data as the page draws it; undefined lets a paged table load its own first page. */
function shape(name, value) {
  if (name === 'segments') return {items: value};
  // the 360 holds the available coupons only; the page lists every coupon, so it pages them itself
  if (name === 'coupons') return undefined;
  if (name === 'messages' || name === 'timeline') {
    return value.length < PAGE ? {items: value, next_cursor: null} : undefined;
  }
  return value;
}

/** {section: {ok: true, data} | {ok: false, error}} for every section. */
export async function loadCustomer360(id, signal) {
  let answer;
  try {
    answer = await api(`/v1/customers/${encodeURIComponent(id)}/360`, {signal});
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    return Object.fromEntries(SECTIONS.map((name) => [name, {ok: false, error}]));
  }
  const degraded = new Map((answer.degraded || []).map((d) => [d.section, d]));
  const result = {};
  for (const name of SECTIONS) {
    const fault = degraded.get(name);
    result[name] = fault
      ? {ok: false, error: new ApiError(503, {detail: `${fault.service}: ${fault.reason}`})}
      : {ok: true, data: shape(name, answer[name])};
  }
  return result;
}

/** A further page of one of the customer's lists. */
export function customerPage(id, list, cursor, signal) {
  return api(`/v1/customers/${encodeURIComponent(id)}/${list}`, {query: {limit: PAGE, cursor}, signal});
}
