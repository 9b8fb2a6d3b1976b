// The builder's controls: one fieldset per group, one row per leaf, every control labelled.

import {field, h, select, uid} from './dom.js';
import {t, tOr} from './i18n.js';
import {currency} from './format.js';
import {depthOf, group, leaf, LEAF_KINDS, removeNode, UNITS} from './builder_model.js';

const MAX_UI_DEPTH = 4;

function fieldLabel(name) {
  return tOr(`field.${name}`, name);
}

function choiceLabel(spec, choice) {
  if (spec.name === 'rfm.group') return tOr(`rfm.group.${choice}`, choice);
  if (spec.name === 'lifecycle.stage') return tOr(`stage.${choice}`, choice);
  return tOr(`choice.${choice}`, choice);
}

function durationControls(value, onChange, key, labelKey = 'builder.within') {
  const amount = h('input', {type: 'number', min: 1, step: 1, value: value.n, dataset: {key: `${key}-n`}});
  const unit = select(UNITS.map(([code, name]) => [code, t(`unit.${name}`)]), value.unit, {dataset: {key: `${key}-unit`}});
  amount.addEventListener('input', () => { value.n = amount.value; onChange(false); });
  unit.addEventListener('change', () => { value.unit = unit.value; onChange(false); });
  return [field(t(labelKey), amount), field(t('builder.unit'), unit)];
}

function textInput(node, property, labelText, onChange, attributes = {}) {
  const input = h('input', {value: node[property] ?? '', dataset: {key: `${node.id}-${property}`}, ...attributes});
  input.addEventListener('input', () => { node[property] = input.value; onChange(false); });
  return field(labelText, input);
}

function valueControls(node, spec, onChange) {
  const op = node.op;
  if (op === 'exists' || op === 'not_exists') return [];
  const money = spec.money ? ` (${currency()})` : '';
  const inputType = spec.kind === 'integer' || spec.kind === 'number' ? 'number'
    : spec.kind === 'time' ? 'datetime-local' : 'text';
  const step = spec.kind === 'number' || spec.money ? 'any' : spec.kind === 'integer' ? '1' : null;
  if (op === 'older_than' || op === 'newer_than') {
    node.duration = node.duration || {n: '30', unit: 'D'};
    return durationControls(node.duration, onChange, node.id, 'builder.duration');
  }
  if (op === 'in_next_days') return [textInput(node, 'value', t('builder.days'), onChange, {type: 'number', min: 0, max: 366, step: 1})];
  if (spec.kind === 'consent') {
    const control = select([['true', t('builder.granted')], ['false', t('builder.withdrawn')]], node.value || 'true', {dataset: {key: `${node.id}-value`}});
    node.value = control.value;
    control.addEventListener('change', () => { node.value = control.value; onChange(false); });
    return [field(t('builder.value'), control)];
  }
  if (spec.choices && (op === 'in' || op === 'not_in')) {
    const legend = uid('legend');
    return [h('fieldset', {class: 'choices', 'aria-labelledby': legend}, h('legend', {id: legend}, t('builder.values')),
      spec.choices.map((choice) => {
        const box = h('input', {type: 'checkbox', value: choice, checked: node.values.includes(choice), dataset: {key: `${node.id}-${choice}`}});
        box.addEventListener('change', () => {
          node.values = box.checked ? [...node.values, choice] : node.values.filter((v) => v !== choice);
          onChange(false);
        });
        return h('label', {}, box, ' ', choiceLabel(spec, choice));
      }))];
  }
  if (spec.choices) {
    if (!spec.choices.includes(node.value)) node.value = spec.choices[0];
    const control = select(spec.choices.map((c) => [c, choiceLabel(spec, c)]), node.value, {dataset: {key: `${node.id}-value`}});
    control.addEventListener('change', () => { node.value = control.value; onChange(false); });
    return [field(t('builder.value'), control)];
  }
  if (spec.kind === 'tags') return [tagControl(node, onChange)];
  if (op === 'in' || op === 'not_in') return [textInput(node, 'value', t('builder.list'), onChange)];
  const attributes = {type: inputType, step};
  if (op === 'between') {
    return [textInput(node, 'value', t('builder.from') + money, onChange, attributes),
      textInput(node, 'value2', t('builder.to') + money, onChange, attributes)];
  }
  return [textInput(node, 'value', t('builder.value') + money, onChange, attributes)];
}

let tags = null;
/** The tenant's tags for has/has_not (the first 500; a text box for an id when they cannot be read). */
export function setTags(list) {
  tags = list;
}

function tagControl(node, onChange) {
  if (!tags || !tags.length) return textInput(node, 'value', t('builder.tagId'), onChange);
  if (!tags.some((tag) => tag.tag_id === node.value)) node.value = tags[0].tag_id;
  const control = select(tags.map((tag) => [tag.tag_id, tag.name]), node.value, {dataset: {key: `${node.id}-value`}});
  control.addEventListener('change', () => { node.value = control.value; onChange(false); });
  return field(t('builder.tag'), control);
}

function fieldLeaf(node, catalogue, onChange) {
  const spec = catalogue.fields.find((f) => f.name === node.field) || catalogue.fields[0];
  const fields = select(catalogue.fields.map((f) => [f.name, fieldLabel(f.name)]), node.field, {dataset: {key: `${node.id}-field`}});
  fields.addEventListener('change', () => {
    const next = catalogue.fields.find((f) => f.name === fields.value);
    Object.assign(node, {field: next.name, op: next.ops[0], value: next.choices ? next.choices[0] : '', value2: '', values: [], duration: null});
    onChange(true, `${node.id}-field`);
  });
  const ops = select(spec.ops.map((op) => [op, t(`op.${op}`)]), node.op, {dataset: {key: `${node.id}-op`}});
  ops.addEventListener('change', () => { node.op = ops.value; onChange(true, `${node.id}-op`); });
  return [field(t('builder.field'), fields), field(t('builder.operator'), ops), ...valueControls(node, spec, onChange)];
}

function behaviourLeaf(node, catalogue, onChange) {
  const events = select(catalogue.event_types.map((e) => [e, tOr(`event.${e}`, e)]), node.event, {dataset: {key: `${node.id}-event`}});
  events.addEventListener('change', () => { node.event = events.value; onChange(false); });
  const follower = select([['', t('builder.noFollower')], ['order', t('builder.followerOrder')],
    ...catalogue.event_types.map((e) => [e, tOr(`event.${e}`, e)])], node.not_followed_by, {dataset: {key: `${node.id}-follower`}});
  follower.addEventListener('change', () => { node.not_followed_by = follower.value; onChange(false); });
  return [field(t('builder.event'), events), ...durationControls(node.within, onChange, node.id),
    textInput(node, 'min_count', t('builder.minCount'), onChange, {type: 'number', min: 1, step: 1}),
    field(t('builder.notFollowedBy'), follower)];
}

function leafRow(node, parent, catalogue, onChange, index) {
  const kinds = select(LEAF_KINDS.map((k) => [k, t(`builder.kind.${k}`)]), node.kind, {dataset: {key: `${node.id}-kind`}});
  kinds.addEventListener('change', () => {
    const fresh = leaf(kinds.value, catalogue);
    parent.children[parent.children.indexOf(node)] = fresh;
    onChange(true, `${fresh.id}-kind`);
  });
  let controls;
  if (node.kind === 'field') controls = fieldLeaf(node, catalogue, onChange);
  else if (node.kind === 'event') controls = behaviourLeaf(node, catalogue, onChange);
  else if (node.kind === 'orders') {
    controls = [...durationControls(node.within, onChange, node.id),
      textInput(node, 'min_count', t('builder.minCount'), onChange, {type: 'number', min: 1, step: 1}),
      textInput(node, 'min_spend', `${t('builder.minSpend')} (${currency()})`, onChange, {type: 'number', min: 0, step: 'any'})];
  } else controls = [...durationControls(node.within, onChange, node.id), textInput(node, 'reason', t('builder.reason'), onChange)];
  const remove = h('button', {type: 'button', class: 'danger small', 'aria-label': t('builder.removeCondition', {n: index + 1})}, t('builder.remove'));
  remove.addEventListener('click', () => { parent.children.splice(parent.children.indexOf(node), 1); onChange(true, `${parent.id}-add`); });
  return h('div', {class: 'builder-leaf', role: 'group', 'aria-label': t('builder.conditionN', {n: index + 1})},
    field(t('builder.kind'), kinds), controls, remove);
}

/** The fieldset of a group and everything in it. `onChange(structural, focusKey)` after each edit. */
export function groupFieldset(node, root, catalogue, onChange) {
  const legendId = uid('legend');
  const mode = select([['all', t('builder.all')], ['any', t('builder.any')]], node.mode, {dataset: {key: `${node.id}-mode`}});
  mode.addEventListener('change', () => { node.mode = mode.value; onChange(false); });
  const negate = h('input', {type: 'checkbox', checked: node.negate, dataset: {key: `${node.id}-negate`}});
  negate.addEventListener('change', () => { node.negate = negate.checked; onChange(false); });
  const negateId = uid();
  negate.id = negateId;
  const add = h('button', {type: 'button', class: 'secondary small', dataset: {key: `${node.id}-add`}}, t('builder.addCondition'));
  add.addEventListener('click', () => {
    const fresh = leaf('field', catalogue);
    node.children.push(fresh);
    onChange(true, `${fresh.id}-kind`);
  });
  const actions = [add];
  if (depthOf(root, node) < MAX_UI_DEPTH) {
    const addGroup = h('button', {type: 'button', class: 'secondary small'}, t('builder.addGroup'));
    addGroup.addEventListener('click', () => {
      const fresh = group('any', [leaf('field', catalogue)]);
      node.children.push(fresh);
      onChange(true, `${fresh.id}-mode`);
    });
    actions.push(addGroup);
  }
  if (node !== root) {
    const remove = h('button', {type: 'button', class: 'danger small'}, t('builder.removeGroup'));
    remove.addEventListener('click', () => { removeNode(root, node); onChange(true, `${root.id}-add`); });
    actions.push(remove);
  }
  return h('fieldset', {class: 'builder-group', 'aria-labelledby': legendId},
    h('legend', {id: legendId}, node === root ? t('builder.root') : t('builder.subgroup')),
    h('div', {class: 'inline-fields'}, field(t('builder.match'), mode),
      h('div', {class: 'field'}, h('label', {for: negateId}, negate, ' ', t('builder.negate')))),
    node.children.map((child, index) => (child.kind === 'group'
      ? groupFieldset(child, root, catalogue, onChange) : leafRow(child, node, catalogue, onChange, index))),
    h('div', {class: 'builder-actions'}, actions));
}
