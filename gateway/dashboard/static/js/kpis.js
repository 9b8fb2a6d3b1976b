// The KPI figures of GET /v1/kpis: which there are, how each is shown, and the retention cohorts.

import {money, number, percent} from './format.js';

/** The KPIs shown (API.md's, and a few more GET /v1/kpis gives), in order, with how each reads. */
export const KPIS = [
  ['revenue_minor', 'money'],
  ['orders', 'count'],
  ['aov_minor', 'money'],
  ['arpu_minor', 'money'],
  ['customers', 'count'],
  ['new_customers', 'count'],
  ['active_customers', 'count'],
  ['active_share', 'rate'],
  ['dau', 'decimal'],
  ['wau', 'count'],
  ['mau', 'count'],
  ['repurchase_rate', 'rate'],
  ['ltv_minor', 'money'],
  ['nps', 'decimal'],
  ['csat', 'percentPoints'],
  ['coupon_redemption_rate', 'rate'],
  ['points_liability', 'count'],
  ['campaign_conversion_rate', 'rate'],
  ['campaign_roi', 'rate'],
];

/** The daily figures of the answer's series, for the trend chart. */
export const SERIES = [
  ['revenue_minor', 'money'],
  ['orders', 'count'],
  ['active_customers', 'count'],
  ['new_customers', 'count'],
  ['new_buyers', 'count'],
  ['refunds_minor', 'money'],
];

/** A KPI's value as text. */
export function formatKpi(kind, value) {
  if (value === null || value === undefined) return '—';
  if (kind === 'money') return money(value);
  if (kind === 'rate') return percent(value);
  if (kind === 'decimal') return number(value, 1);
  if (kind === 'percentPoints') return `${number(value, 1)}%`;
  return number(value);
}

/** A KPI's value in an answer; null when absent (its service did not answer, or nothing to divide). */
export function kpiValue(answer, name) {
  const raw = answer ? answer[name] : undefined;
  return typeof raw === 'number' ? raw : null;
}

/** The change from `before` to `now` as a share (null when it cannot be said). */
export function change(now, before) {
  if (now === null || before === null || before === 0) return null;
  return (now - before) / Math.abs(before);
}

/**
 * Retention cohorts as rows {label, size, shares: [share of the 1st later period, 2nd, ...],
 * complete: [whether each is a whole period]} from GET /v1/kpis/retention.
 */
export function cohortRows(answer) {
  return ((answer && answer.cohorts) || []).map((cohort) => {
    const periods = [...(cohort.periods || [])].sort((a, b) => a.offset - b.offset);
    return {
      label: String(cohort.start),
      size: cohort.customers,
      shares: periods.map((p) => p.rate),
      complete: periods.map((p) => p.complete),
    };
  });
}
