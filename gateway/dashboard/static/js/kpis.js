// The KPI figures of GET /v1/kpis: which there are, how each is shown, and the retention cohorts.

import {money, number, percent} from './format.js';

/** Every KPI of API.md, in the order shown, with how its value reads. */
export const KPIS = [
  ['revenue_minor', 'money'],
  ['orders', 'count'],
  ['aov_minor', 'money'],
  ['arpu_minor', 'money'],
  ['customers', 'count'],
  ['active_customers', 'count'],
  ['dau', 'count'],
  ['wau', 'count'],
  ['mau', 'count'],
  ['repurchase_rate', 'rate'],
  ['ltv_minor', 'money'],
  ['nps', 'score'],
  ['csat', 'score'],
  ['coupon_redemption_rate', 'rate'],
  ['points_liability', 'count'],
];

/** A KPI's value as text. */
export function formatKpi(kind, value) {
  if (value === null || value === undefined) return '—';
  if (kind === 'money') return money(value);
  if (kind === 'rate') return percent(value);
  if (kind === 'score') return number(value, 2);
  return number(value);
}

/** A KPI's numeric value in an answer (a figure may come as a number or as {"value": n}). */
export function kpiValue(answer, name) {
  const raw = answer ? answer[name] : undefined;
  if (raw && typeof raw === 'object' && 'value' in raw) return raw.value;
  return typeof raw === 'number' ? raw : null;
}

/** The change from `before` to `now` as a share (null when it cannot be said). */
export function change(now, before) {
  if (now === null || before === null || before === 0) return null;
  return (now - before) / Math.abs(before);
}

/**
 * Retention cohorts in one shape, {label, size, shares: [share of period 1, 2, ...]}, from the
 * answer of GET /v1/kpis/retention (docs/kpis.md).
 */
export function cohortRows(answer) {
  const cohorts = (answer && (answer.cohorts || answer.items)) || [];
  return cohorts.map((cohort) => {
    const label = cohort.cohort_start || cohort.start || cohort.cohort || cohort.period || '';
    const size = cohort.customers ?? cohort.size ?? cohort.first_orders ?? null;
    let shares = cohort.retention || cohort.repeat_rates || cohort.shares || cohort.periods || [];
    shares = shares.map((item) => (typeof item === 'number' ? item : item.share ?? item.rate ?? null));
    return {label: String(label), size, shares};
  });
}
