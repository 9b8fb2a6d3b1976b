// The segment builder's model: a tree the form edits, and its translation to and from the condition
// language of docs/segments.md ({"all": [...]}, {"any": [...]}, {"not": ...} and leaves).

import {currencyDigits} from './format.js';

let nextId = 0;
const newId = () => `n${++nextId}`;

export const UNITS = [['M', 'minutes'], ['H', 'hours'], ['D', 'days']];
export const LEAF_KINDS = ['field', 'event', 'orders', 'refund'];

export function group(mode = 'all', children = [], negate = false) {
  return {id: newId(), kind: 'group', mode, negate, children};
}

/** A new leaf of a kind, with sensible first values. */
export function leaf(kind, catalogue) {
  const base = {id: newId(), kind};
  if (kind === 'field') {
    const first = catalogue.fields.find((f) => f.name === 'rfm.group') || catalogue.fields[0];
    return {...base, field: first.name, op: first.ops[0], value: first.choices ? first.choices[0] : '', value2: '', values: []};
  }
  if (kind === 'event') return {...base, event: 'add_to_cart', within: {n: '24', unit: 'H'}, min_count: '', not_followed_by: '', where: null};
  if (kind === 'orders') return {...base, within: {n: '30', unit: 'D'}, min_count: '', min_spend: ''};
  return {...base, within: {n: '30', unit: 'D'}, reason: ''};
}

/** A fault of the form (a value missing or malformed) before anything is sent. */
export class Incomplete extends Error {}

export function duration({n, unit}) {
  const count = Number(n);
  if (!Number.isInteger(count) || count < 1) throw new Incomplete('duration');
  return unit === 'D' ? `P${count}D` : `PT${count}${unit}`;
}

/** A canonical duration (P3D, PT24H, PT1H30M) back to a number and a unit. */
export function parseDuration(text) {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(text || '');
  if (!match) return {n: '', unit: 'D'};
  const [days, hours, minutes] = match.slice(1).map((v) => Number(v || 0));
  if (!hours && !minutes) return {n: String(days), unit: 'D'};
  if (!minutes) return {n: String(days * 24 + hours), unit: 'H'};
  return {n: String((days * 24 + hours) * 60 + minutes), unit: 'M'};
}

function scalar(spec, text) {
  const raw = String(text ?? '').trim();
  if (raw === '') throw new Incomplete('value');
  if (spec.kind === 'integer') {
    const value = spec.money ? Math.round(Number(raw) * 10 ** currencyDigits()) : Number(raw);
    if (!Number.isFinite(value) || !Number.isInteger(value)) throw new Incomplete('value');
    return value;
  }
  if (spec.kind === 'number') {
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new Incomplete('value');
    return value;
  }
  if (spec.kind === 'time') {
    const value = new Date(raw);
    if (Number.isNaN(value.getTime())) throw new Incomplete('value');
    return value.toISOString().replace(/\.000Z$/, 'Z');
  }
  if (spec.kind === 'consent') return raw === 'true';
  return raw;
}

function unscalar(spec, value) {
  if (spec.kind === 'integer' && spec.money) return String(value / 10 ** currencyDigits());
  if (spec.kind === 'time') {
    const at = new Date(value);
    const local = new Date(at.getTime() - at.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 16);
  }
  return String(value);
}

function fieldCondition(node, catalogue) {
  const spec = catalogue.fields.find((f) => f.name === node.field);
  if (!spec) throw new Incomplete('field');
  const condition = {field: node.field, op: node.op};
  if (node.op === 'exists' || node.op === 'not_exists') return condition;
  if (node.op === 'between') condition.value = [scalar(spec, node.value), scalar(spec, node.value2)];
  else if (node.op === 'in' || node.op === 'not_in') {
    const items = spec.choices ? node.values : String(node.value).split(',').map((v) => v.trim()).filter(Boolean);
    if (!items.length) throw new Incomplete('value');
    condition.value = items.map((item) => scalar(spec, item));
  } else if (node.op === 'older_than' || node.op === 'newer_than') condition.value = duration(node.duration || {n: node.value, unit: 'D'});
  else if (node.op === 'in_next_days') {
    const days = Number(node.value);
    if (String(node.value).trim() === '' || !Number.isInteger(days)) throw new Incomplete('value');
    condition.value = days;
  } else condition.value = scalar(spec, node.value);
  return condition;
}

function optionalCount(text) {
  if (String(text ?? '').trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value)) throw new Incomplete('count');
  return value;
}

/** The condition of a node, as the API takes it; throws Incomplete while a value is missing. */
export function toCondition(node, catalogue) {
  if (node.kind === 'group') {
    if (!node.children.length) throw new Incomplete('empty');
    const tree = {[node.mode]: node.children.map((child) => toCondition(child, catalogue))};
    return node.negate ? {not: tree} : tree;
  }
  if (node.kind === 'field') return fieldCondition(node, catalogue);
  if (node.kind === 'event') {
    const condition = {event: node.event, within: duration(node.within)};
    const count = optionalCount(node.min_count);
    if (count !== undefined) condition.min_count = count;
    if (node.not_followed_by) condition.not_followed_by = node.not_followed_by;
    if (node.where) condition.where = node.where;
    return condition;
  }
  if (node.kind === 'orders') {
    const inner = {within: duration(node.within)};
    const count = optionalCount(node.min_count);
    if (count !== undefined) inner.min_count = count;
    if (String(node.min_spend ?? '').trim() !== '') inner.min_spend_minor = Math.round(Number(node.min_spend) * 10 ** currencyDigits());
    return {orders: inner};
  }
  const inner = {within: duration(node.within)};
  if (node.reason.trim()) inner.reason = node.reason.trim();
  return {refund: inner};
}

function fromLeaf(json, catalogue) {
  if ('field' in json) {
    const spec = catalogue.fields.find((f) => f.name === json.field) || {kind: 'text'};
    const node = {id: newId(), kind: 'field', field: json.field, op: json.op, value: '', value2: '', values: []};
    const value = json.value;
    if (json.op === 'between') [node.value, node.value2] = value.map((v) => unscalar(spec, v));
    else if (json.op === 'in' || json.op === 'not_in') {
      if (spec.choices) node.values = value.map(String);
      else node.value = value.map((v) => unscalar(spec, v)).join(', ');
    } else if (json.op === 'older_than' || json.op === 'newer_than') node.duration = parseDuration(value);
    else if (value !== undefined) node.value = unscalar(spec, value);
    return node;
  }
  if ('event' in json) {
    return {id: newId(), kind: 'event', event: json.event, within: parseDuration(json.within),
      min_count: json.min_count === undefined ? '' : String(json.min_count),
      not_followed_by: json.not_followed_by || '', where: json.where || null};
  }
  if ('orders' in json) {
    const o = json.orders;
    return {id: newId(), kind: 'orders', within: parseDuration(o.within),
      min_count: o.min_count === undefined ? '' : String(o.min_count),
      min_spend: o.min_spend_minor === undefined ? '' : String(o.min_spend_minor / 10 ** currencyDigits())};
  }
  return {id: newId(), kind: 'refund', within: parseDuration(json.refund.within), reason: json.refund.reason || ''};
}

/** A saved condition back into the form's tree (the root is always a group). */
export function fromCondition(json, catalogue) {
  if (json.all || json.any) {
    const mode = json.all ? 'all' : 'any';
    return group(mode, json[mode].map((child) => (child.all || child.any || child.not
      ? fromCondition(child, catalogue) : fromLeaf(child, catalogue))));
  }
  if (json.not) {
    const inner = fromCondition(json.not, catalogue);
    if (!inner.negate) {
      inner.negate = true;
      return inner;
    }
    return group('all', [inner], true);
  }
  return group('all', [fromLeaf(json, catalogue)]);
}

/** Depth of a node (the root group is 1), for the language's limit. */
export function depthOf(root, target, depth = 1) {
  if (root === target) return depth;
  for (const child of root.children || []) {
    const found = depthOf(child, target, depth + 1);
    if (found) return found;
  }
  return 0;
}

/** Remove a node from the tree. */
export function removeNode(root, target) {
  if (!root.children) return;
  root.children = root.children.filter((child) => child !== target);
  root.children.forEach((child) => removeNode(child, target));
}
