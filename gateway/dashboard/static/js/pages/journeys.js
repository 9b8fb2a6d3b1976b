// Journeys: the list (paged) with status, and one journey's results per step (GET .../stats).

import {api} from '../api.js';
import {COLOURS, integerTicks, plot} from '../charts.js';
import {append, h, problemBox, replace, section, showError, table} from '../dom.js';
import {dateTime, money, number} from '../format.js';
import {t, tOr} from '../i18n.js';
import {pagedTable} from '../paging.js';
import {can} from '../session.js';

function statusBadge(status) {
  const tone = status === 'active' || status === 'running' || status === 'completed' ? 'good' : status === 'cancelled' ? 'bad' : '';
  return h('span', {class: `badge ${tone}`}, tOr(`status.${status}`, status));
}

export {statusBadge};

function trigger(journey) {
  const tr = journey.trigger || {};
  const kind = Object.keys(tr)[0] || '';
  return tOr(`trigger.${kind}`, kind);
}

export const list = {
  async render(main, params, {signal}) {
    append(main, h('h1', {}, t('journeys.title')), h('p', {class: 'lead'}, t('journeys.lead')),
      section(t('journeys.all'), pagedTable({
        columns: [
          {title: t('journeys.name'), value: (j) => h('a', {href: `#/journeys/${j.journey_id}`}, j.name), header: true},
          {title: t('journeys.status'), value: (j) => statusBadge(j.status)},
          {title: t('journeys.trigger'), value: trigger},
          {title: t('journeys.steps'), value: (j) => number((j.steps || []).length), num: true},
          {title: t('journeys.updated'), value: (j) => dateTime(j.updated_at)},
        ],
        load: (cursor) => api('/v1/journeys', {query: {limit: 20, cursor}, signal}),
        empty: t('journeys.none'),
      })));
  },
};

function actions(journey, signal, rerender) {
  if (!can('journeys')) return null;
  const messages = h('div');
  const moves = {draft: ['activate'], paused: ['activate'], active: ['pause']}[journey.status] || [];
  return h('div', {class: 'toolbar'}, moves.map((move) => h('button', {type: 'button', class: 'secondary', dataset: {write: 'journeys'}, onclick: async () => {
    try {
      await api(`/v1/journeys/${journey.journey_id}/${move}`, {method: 'POST', signal});
      rerender();
    } catch (error) {
      replace(messages, problemBox(error, t));
    }
  }}, t(`journeys.${move}`))), messages);
}

export const detail = {
  async render(main, [id], {signal, rerender}) {
    const journey = await api(`/v1/journeys/${id}`, {signal});
    const stats = h('div', {}, h('p', {class: 'loading'}, t('common.loading')));
    append(main, h('h1', {}, journey.name),
      h('div', {class: 'toolbar'}, h('a', {class: 'button secondary', href: '#/journeys'}, t('journeys.back')), statusBadge(journey.status)),
      actions(journey, signal, rerender),
      section(t('journeys.results'), stats),
      section(t('journeys.definition'), h('pre', {class: 'json'}, JSON.stringify({trigger: journey.trigger, steps: journey.steps, goal: journey.goal, reentry: journey.reentry}, null, 2))));
    try {
      const s = await api(`/v1/journeys/${id}/stats`, {signal});
      const chart = h('div', {class: 'chart', id: 'journey-steps'});
      const steps = s.steps || [];
      replace(stats,
        h('div', {class: 'grid kpis'}, ['entered', 'active', 'completed', 'converted', 'exited', 'failed'].map((k) =>
          h('div', {class: 'kpi'}, h('p', {class: 'kpi-label'}, t(`journeys.${k}`)), h('p', {class: 'kpi-value'}, number(s[k])))),
        h('div', {class: 'kpi'}, h('p', {class: 'kpi-label'}, t('journeys.revenue')), h('p', {class: 'kpi-value'}, money(s.revenue_minor)))),
        chart,
        table(t('journeys.perStep'), [
          {title: t('journeys.step'), value: (st) => `${st.path} · ${tOr(`step.${st.kind}`, st.kind)}`, header: true},
          {title: t('journeys.entered'), value: (st) => number(st.entered), num: true},
          {title: t('journeys.completed'), value: (st) => number(st.completed), num: true},
          {title: t('journeys.waiting'), value: (st) => number(st.waiting), num: true},
          {title: t('journeys.sent'), value: (st) => number(st.sent), num: true},
          {title: t('journeys.suppressed'), value: (st) => number(Object.values(st.suppressed || {}).reduce((a, b) => a + b, 0)), num: true},
          {title: t('journeys.converted'), value: (st) => number(st.converted), num: true},
        ], steps, t('journeys.noSteps')));
      if (steps.length) {
        const x = steps.map((st) => `${st.path} ${tOr(`step.${st.kind}`, st.kind)}`);
        await plot(chart, ['entered', 'sent', 'converted'].map((k, i) => ({type: 'bar', name: t(`journeys.${k}`), x, y: steps.map((st) => st[k]), marker: {color: COLOURS[i]}})),
          {barmode: 'group', xaxis: {type: 'category'}, yaxis: {rangemode: 'tozero', ...integerTicks(steps.map((st) => st.entered))}}, t('journeys.chartLabel'));
      } else chart.remove();
    } catch (error) {
      showError(stats, t)(error);
    }
  },
};
