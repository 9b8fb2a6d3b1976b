// The segment builder: conditions on fields, behaviour, orders and refunds, a live count as you edit
// (POST /v1/segments/preview, debounced) and save (POST /v1/segments, or PUT for an edit).

import {api} from '../api.js';
import {append, field, h, problemBox, replace, section} from '../dom.js';
import {number} from '../format.js';
import {t} from '../i18n.js';
import {can} from '../session.js';
import {fromCondition, group, Incomplete, leaf, toCondition} from '../builder_model.js';
import {groupFieldset, setTags} from '../builder_form.js';

const DEBOUNCE_MS = 400;
let catalogue = null;
// The form survives a language switch (the page is drawn again): kept per segment being edited.
const drafts = new Map();

async function loadCatalogue(signal) {
  if (!catalogue) {
    const response = await fetch('/dashboard/catalogue.json', {credentials: 'same-origin', signal});
    catalogue = await response.json();
  }
  return catalogue;
}

async function loadTags(signal) {
  try {
    const page = await api('/v1/tags', {query: {limit: 500}, signal});
    setTags(page.items || []);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    setTags([]);
  }
}

export async function render(main, [segmentId], {signal, navigate}) {
  if (!can('segments')) {
    append(main, h('h1', {}, t('builder.title')), h('p', {class: 'notice'}, t('builder.readOnly')));
    return;
  }
  const [cat] = await Promise.all([loadCatalogue(signal), loadTags(signal)]);
  const key = segmentId || 'new';
  let draft = drafts.get(key);
  if (!draft) {
    draft = {name: '', description: '', root: group('all', [leaf('field', cat)]), version: null};
    if (segmentId) {
      const saved = await api(`/v1/segments/${segmentId}`, {signal});
      Object.assign(draft, {name: saved.name, description: saved.description || '', root: fromCondition(saved.condition, cat), version: saved.version});
    }
    drafts.set(key, draft);
  }

  const name = h('input', {id: 'segment-name', required: true, maxlength: 100, value: draft.name});
  const description = h('textarea', {id: 'segment-description', maxlength: 1000}, draft.description);
  name.addEventListener('input', () => { draft.name = name.value; });
  description.addEventListener('input', () => { draft.description = description.value; });
  const tree = h('div', {id: 'builder-tree'});
  const count = h('output', {id: 'live-count', class: 'live-count', 'aria-live': 'polite', for: 'builder-tree'}, '—');
  const countStatus = h('p', {class: 'hint', id: 'live-count-status'});
  const sample = h('ul', {id: 'live-sample', class: 'mono'});
  const faults = h('div', {id: 'builder-faults'});
  const json = h('pre', {class: 'json', id: 'condition-json'});
  const saveErrors = h('div');
  const save = h('button', {type: 'submit', id: 'save-segment', dataset: {write: 'segments'}}, segmentId ? t('builder.update') : t('builder.save'));
  let timer = null;
  let inFlight = null;
  let sequence = 0;

  async function preview(condition) {
    const mine = ++sequence;
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    signal.addEventListener('abort', () => inFlight && inFlight.abort(), {once: true});
    countStatus.textContent = t('builder.counting');
    count.setAttribute('aria-busy', 'true');
    try {
      const answer = await api('/v1/segments/preview', {method: 'POST', body: {condition, sample_size: 5}, signal: inFlight.signal});
      if (mine !== sequence) return;
      count.textContent = number(answer.count);
      count.dataset.count = String(answer.count);
      count.dataset.condition = JSON.stringify(condition);
      countStatus.textContent = t('builder.countNow');
      replace(faults);
      replace(sample, (answer.sample || []).map((id) => h('li', {}, h('a', {href: `#/customers/${id}`}, id))));
    } catch (error) {
      if (error.name === 'AbortError' || mine !== sequence) return;
      count.textContent = '—';
      delete count.dataset.count;
      countStatus.textContent = '';
      replace(faults, problemBox(error, t));
    } finally {
      if (mine === sequence) count.setAttribute('aria-busy', 'false');
    }
  }

  function changed() {
    let condition;
    try {
      condition = toCondition(draft.root, cat);
    } catch (error) {
      if (!(error instanceof Incomplete)) throw error;
      json.textContent = '';
      count.textContent = '—';
      delete count.dataset.count;
      countStatus.textContent = t('builder.incomplete');
      window.clearTimeout(timer);
      sequence += 1;
      return null;
    }
    json.textContent = JSON.stringify(condition, null, 2);
    window.clearTimeout(timer);
    timer = window.setTimeout(() => preview(condition), DEBOUNCE_MS);
    return condition;
  }

  function draw(focusKey) {
    replace(tree, groupFieldset(draft.root, draft.root, cat, (structural, key) => {
      if (structural) draw(key);
      changed();
    }));
    if (focusKey) {
      const target = tree.querySelector(`[data-key="${focusKey}"]`);
      if (target) target.focus();
    }
  }

  const form = h('form', {id: 'segment-form', novalidate: true},
    h('div', {class: 'builder-layout'},
      h('div', {},
        section(t('builder.about'), field(t('builder.name'), name), field(t('builder.description'), description)),
        section(t('builder.conditions'), h('p', {class: 'hint'}, t('builder.conditionsHint')), tree)),
      h('aside', {class: 'sticky', 'aria-label': t('builder.liveCount')},
        section(t('builder.liveCount'), count, countStatus, faults,
          h('details', {}, h('summary', {}, t('builder.sample')), sample),
          h('details', {}, h('summary', {}, t('builder.json')), json),
          saveErrors, save))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(saveErrors);
    let condition;
    try {
      condition = toCondition(draft.root, cat);
    } catch {
      replace(saveErrors, problemBox({detail: t('builder.incomplete')}, t));
      return;
    }
    if (!draft.name.trim()) {
      replace(saveErrors, problemBox({detail: t('builder.nameRequired')}, t));
      name.focus();
      return;
    }
    save.disabled = true;
    const body = {name: draft.name.trim(), condition, description: draft.description.trim() || null};
    try {
      const saved = segmentId
        ? await api(`/v1/segments/${segmentId}`, {method: 'PUT', body, signal})
        : await api('/v1/segments', {method: 'POST', body, idempotent: true, signal});
      drafts.delete(key);
      navigate(`segments/${saved.segment_id}`);
    } catch (error) {
      if (error.name !== 'AbortError') replace(saveErrors, problemBox(error, t));
    } finally {
      save.disabled = false;
    }
  });
  append(main, h('h1', {}, segmentId ? t('builder.editTitle', {version: draft.version}) : t('builder.title')),
    h('p', {class: 'lead'}, t('builder.lead')), form);
  draw();
  changed();
}
