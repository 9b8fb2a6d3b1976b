// A customer's whole picture, one section per source. Until GET /v1/customers/{id}/360 exists this
// asks the endpoints it will gather (profile, scores, points, membership, coupons, segments,
// messages, timeline) side by side; each section fails alone and is marked, never the page. Moving to
// the 360 is this function: one call, then the same sections from its answer.

import {api} from './api.js';

export const SECTIONS = ['profile', 'scores', 'points', 'membership', 'coupons', 'segments', 'messages', 'timeline'];

const PAGE = 10;

function sources(id) {
  const base = `/v1/customers/${id}`;
  return {
    profile: base,
    scores: `${base}/scores`,
    points: `${base}/points`,
    membership: `${base}/membership`,
    coupons: `${base}/coupons?limit=${PAGE}`,
    segments: `${base}/segments`,
    messages: `${base}/messages?limit=${PAGE}`,
    timeline: `${base}/timeline?limit=${PAGE}`,
  };
}

/**
 * {section: {ok: true, data} | {ok: false, error}} for every section. Lists come as their first
 * page ({items, next_cursor}); later pages are asked of the list endpoints (see customerPage).
 */
export async function loadCustomer360(id, signal) {
  const paths = sources(encodeURIComponent(id));
  const settled = await Promise.allSettled(SECTIONS.map((name) => api(paths[name], {signal})));
  const result = {};
  SECTIONS.forEach((name, index) => {
    const outcome = settled[index];
    result[name] = outcome.status === 'fulfilled' ? {ok: true, data: outcome.value} : {ok: false, error: outcome.reason};
  });
  return result;
}

/** A further page of one of the customer's lists. */
export function customerPage(id, list, cursor, signal) {
  return api(`/v1/customers/${encodeURIComponent(id)}/${list}`, {query: {limit: PAGE, cursor}, signal});
}
