// Numbers, money, rates and times in the chosen language.

import {language} from './i18n.js';

let tenantCurrency = 'CNY';

function locale() {
  return language() === 'zh' ? 'zh-CN' : 'en-GB';
}

/** The tenant's currency: the session does not name it, so the first answer that does sets it (the
 * KPIs); CNY until then. */
export function currency() {
  return tenantCurrency;
}

export function setCurrency(code) {
  if (typeof code === 'string' && /^[A-Z]{3}$/.test(code)) tenantCurrency = code;
}

/** Digits after the point of a currency (2 for CNY, 0 for JPY), as Intl knows them. */
export function currencyDigits(code = currency()) {
  try {
    return new Intl.NumberFormat('en', {style: 'currency', currency: code}).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return new Intl.NumberFormat(locale(), {maximumFractionDigits: digits}).format(value);
}

/** Minor units of the tenant's currency as money ("¥1,234.50"). */
export function money(minor, code = currency()) {
  if (minor === null || minor === undefined) return '—';
  const digits = currencyDigits(code);
  return new Intl.NumberFormat(locale(), {style: 'currency', currency: code, currencyDisplay: 'narrowSymbol'}).format(minor / 10 ** digits);
}

/** A share 0..1 as a percentage. */
export function percent(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(share)) return '—';
  return new Intl.NumberFormat(locale(), {style: 'percent', maximumFractionDigits: digits}).format(share);
}

export function dateTime(text) {
  if (!text) return '—';
  return new Intl.DateTimeFormat(locale(), {dateStyle: 'medium', timeStyle: 'short'}).format(new Date(text));
}

export function date(text) {
  if (!text) return '—';
  const value = /^\d{4}-\d{2}-\d{2}$/.test(text) ? new Date(`${text}T00:00:00`) : new Date(text);
  return new Intl.DateTimeFormat(locale(), {dateStyle: 'medium'}).format(value);
}

/** A calendar date (local) as YYYY-MM-DD. */
export function isoDate(value) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${value.getFullYear()}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}`;
}

export function addDays(text, days) {
  const value = new Date(`${text}T00:00:00`);
  value.setDate(value.getDate() + days);
  return isoDate(value);
}

/** Whole days from one YYYY-MM-DD to another, both counted. */
export function daysBetween(from, to) {
  return Math.round((new Date(`${to}T00:00:00`) - new Date(`${from}T00:00:00`)) / 86400000) + 1;
}
