// Overview: the KPIs of a period beside the period before it, a trend of one KPI, retention cohorts.

import {api} from '../api.js';
import {COLOURS, plot} from '../charts.js';
import {append, field, h, problemBox, replace, section, select, showError, table} from '../dom.js';
import {addDays, daysBetween, isoDate, percent, setCurrency} from '../format.js';
import {t} from '../i18n.js';
import {change, cohortRows, formatKpi, kpiValue, KPIS} from '../kpis.js';
import {HEAT} from './rfm.js';

const state = {days: '30', from: '', to: '', metric: 'revenue_minor', cohort: 'week'};
const MAX_BUCKETS = 12;

function defaultPeriod() {
  const today = isoDate(new Date());
  return {from: addDays(today, -(Number(state.days) - 1)), to: today};
}

/** The period cut into at most MAX_BUCKETS consecutive buckets of whole days, ending at `to`. */
function buckets(from, to) {
  const days = daysBetween(from, to);
  const size = days <= 14 ? 1 : days <= 92 ? 7 : Math.ceil(days / MAX_BUCKETS);
  const result = [];
  for (let end = to; result.length < MAX_BUCKETS && end >= from; end = addDays(end, -size)) {
    const start = addDays(end, -(size - 1));
    result.unshift({from: start < from ? from : start, to: end});
  }
  return result;
}

/** Run the calls a few at a time, so a long trend does not flood the gateway. */
async function limited(tasks, width = 3) {
  const results = new Array(tasks.length);
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  }
  await Promise.all(Array.from({length: Math.min(width, tasks.length)}, worker));
  return results;
}

function kpiCard(name, kind, now, before) {
  const value = kpiValue(now, name);
  const delta = change(value, kpiValue(before, name));
  const direction = delta === null ? '' : delta > 0 ? 'up' : delta < 0 ? 'down' : '';
  const arrow = direction === 'up' ? '▲ ' : direction === 'down' ? '▼ ' : '';
  return h('div', {class: 'kpi', dataset: {kpi: name, value: value === null ? '' : String(value)}},
    h('p', {class: 'kpi-label'}, t(`kpi.${name}`)),
    h('p', {class: 'kpi-value'}, formatKpi(kind, value)),
    h('p', {class: `kpi-delta ${direction}`},
      delta === null ? t('overview.noComparison') : `${arrow}${percent(Math.abs(delta))} ${t('overview.vsPrevious')}`));
}

async function drawTrend(container, from, to, signal) {
  const parts = buckets(from, to);
  const kind = Object.fromEntries(KPIS)[state.metric];
  const answers = await limited(parts.map((part) => () => api('/v1/kpis', {query: part, signal})));
  const values = answers.map((answer) => kpiValue(answer, state.metric));
  replace(container);
  const label = t('overview.trendLabel', {metric: t(`kpi.${state.metric}`)});
  await plot(container, [{
    type: 'scatter', mode: 'lines+markers', x: parts.map((p) => p.from), y: values,
    text: values.map((v) => formatKpi(kind, v)), hovertemplate: '%{x}: %{text}<extra></extra>',
    line: {color: COLOURS[0], width: 2}, name: t(`kpi.${state.metric}`),
  }], {xaxis: {type: 'category', title: {text: t('overview.bucketStart')}}, yaxis: {rangemode: 'tozero'}}, label);
}

async function drawRetention(container, from, to, signal) {
  const answer = await api('/v1/kpis/retention', {query: {cohort: state.cohort, from, to}, signal});
  const rows = cohortRows(answer);
  if (!rows.length) {
    replace(container, h('p', {class: 'hint'}, t('overview.noCohorts')));
    return;
  }
  const width = Math.max(...rows.map((r) => r.shares.length));
  const periods = Array.from({length: width}, (_, i) => `+${i + 1}`);
  const chart = h('div', {class: 'chart'});
  const columns = [{title: t('overview.cohort'), value: (r) => r.label, header: true},
    {title: t('overview.cohortSize'), value: (r) => formatKpi('count', r.size), num: true},
    ...periods.map((p, i) => ({title: p, value: (r) => percent(r.shares[i]), num: true}))];
  replace(container, chart, h('details', {}, h('summary', {}, t('common.dataTable')), table(t('overview.retention'), columns, rows)));
  await plot(chart, [{
    type: 'heatmap', x: periods, y: rows.map((r) => r.label), z: rows.map((r) => r.shares),
    text: rows.map((r) => r.shares.map((s) => percent(s))), texttemplate: '%{text}', colorscale: HEAT,
    showscale: false, xgap: 2, ygap: 2, hovertemplate: '%{y} %{x}: %{text}<extra></extra>',
  }], {yaxis: {type: 'category', autorange: 'reversed'}, xaxis: {title: {text: t(`overview.period.${state.cohort}`)}}},
  t('overview.retentionLabel'));
}

export async function render(main, params, {signal}) {
  if (!state.from) Object.assign(state, defaultPeriod());
  const days = select([['7', t('overview.last7')], ['30', t('overview.last30')], ['90', t('overview.last90')], ['custom', t('overview.custom')]], state.days, {id: 'period-days'});
  const from = h('input', {type: 'date', id: 'period-from', value: state.from});
  const to = h('input', {type: 'date', id: 'period-to', value: state.to});
  days.addEventListener('change', () => {
    state.days = days.value;
    if (state.days !== 'custom') {
      const period = defaultPeriod();
      from.value = period.from;
      to.value = period.to;
    }
  });
  const form = h('form', {class: 'toolbar', 'aria-label': t('overview.period')},
    field(t('overview.period'), days), field(t('overview.from'), from), field(t('overview.to'), to),
    h('button', {type: 'submit'}, t('overview.apply')));
  const cards = h('div', {class: 'grid kpis', id: 'kpi-cards', 'aria-live': 'polite'}, h('p', {class: 'loading'}, t('common.loading')));
  const metric = select(KPIS.map(([name]) => [name, t(`kpi.${name}`)]), state.metric, {id: 'trend-metric'});
  const trend = h('div', {class: 'chart', id: 'trend-chart'});
  const cohort = select([['week', t('overview.weekly')], ['month', t('overview.monthly')]], state.cohort, {id: 'cohort-kind'});
  const retention = h('div', {id: 'retention'});
  append(main, 
    h('h1', {}, t('overview.title')),
    form,
    section(t('overview.figures'), h('p', {class: 'hint', id: 'kpi-period'}), cards),
    h('div', {class: 'grid two'},
      section(t('overview.trend'), h('div', {class: 'toolbar'}, field(t('overview.metric'), metric)), trend),
      section(t('overview.retention'), h('div', {class: 'toolbar'}, field(t('overview.cohortKind'), cohort)), retention)));

  async function load() {
    const period = {from: state.from, to: state.to};
    const length = daysBetween(period.from, period.to);
    const previous = {from: addDays(period.from, -length), to: addDays(period.from, -1)};
    cards.dataset.from = period.from;
    cards.dataset.to = period.to;
    document.getElementById('kpi-period').textContent = t('overview.periodText', {...period, pfrom: previous.from, pto: previous.to});
    try {
      const [now, before] = await Promise.all([
        api('/v1/kpis', {query: period, signal}),
        api('/v1/kpis', {query: previous, signal}).catch(() => null),
      ]);
      setCurrency(now && now.currency);
      replace(cards, KPIS.map(([name, kind]) => kpiCard(name, kind, now, before)));
      cards.dataset.loaded = 'true';
    } catch (error) {
      if (error.name !== 'AbortError') replace(cards, problemBox(error, t));
    }
    drawTrend(trend, period.from, period.to, signal).catch(showError(trend, t));
    drawRetention(retention, period.from, period.to, signal).catch(showError(retention, t));
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!from.value || !to.value || from.value > to.value) {
      replace(cards, problemBox({detail: t('overview.badPeriod')}, t));
      return;
    }
    state.from = from.value;
    state.to = to.value;
    load();
  });
  metric.addEventListener('change', () => {
    state.metric = metric.value;
    drawTrend(trend, state.from, state.to, signal).catch(showError(trend, t));
  });
  cohort.addEventListener('change', () => {
    state.cohort = cohort.value;
    drawRetention(retention, state.from, state.to, signal).catch(showError(retention, t));
  });
  await load();
}
