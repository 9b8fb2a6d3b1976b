// Overview: the KPIs of a period beside the period before it (GET /v1/kpis answers both), a daily
// trend of one figure (its series), and repeat purchase by first-order cohort (/v1/kpis/retention).

import {api} from '../api.js';
import {COLOURS, integerTicks, plot} from '../charts.js';
import {append, field, h, problemBox, replace, section, sectionWithTools, select, showError, table} from '../dom.js';
import {addDays, currencyDigits, isoDate, percent, setCurrency} from '../format.js';
import {t} from '../i18n.js';
import {change, cohortRows, formatKpi, kpiValue, KPIS, SERIES} from '../kpis.js';
import {HEAT} from './rfm.js';

const state = {days: '30', from: '', to: '', metric: 'revenue_minor', cohort: 'week'};
let lastAnswer = null;

function defaultPeriod() {
  const today = isoDate(new Date());
  return {from: addDays(today, -(Number(state.days) - 1)), to: today};
}

function kpiCard(name, kind, now, before) {
  const value = kpiValue(now, name);
  const delta = change(value, kpiValue(before, name));
  const direction = delta === null ? '' : delta > 0 ? 'up' : delta < 0 ? 'down' : '';
  const arrow = direction === 'up' ? '▲ ' : direction === 'down' ? '▼ ' : '';
  return h('div', {class: 'kpi', dataset: {kpi: name, value: value === null ? '' : String(value)}},
    h('p', {class: 'kpi-label', title: t(`kpi.${name}`)}, t(`kpi.${name}`)),
    h('p', {class: 'kpi-value'}, formatKpi(kind, value)),
    h('p', {class: `kpi-delta ${direction}`}, delta === null
      ? t('overview.previousWas', {value: formatKpi(kind, kpiValue(before, name))})
      : `${arrow}${percent(Math.abs(delta))} ${t('overview.vsPrevious')}`));
}

function drawTrend(container, answer) {
  const series = (answer && answer.series) || [];
  if (!series.length) {
    replace(container, h('p', {class: 'hint'}, t('overview.noSeries')));
    return Promise.resolve();
  }
  const kind = Object.fromEntries(SERIES)[state.metric];
  const values = series.map((day) => day[state.metric]);
  const scale = kind === 'money' ? 10 ** currencyDigits() : 1;
  replace(container);
  return plot(container, [{
    type: 'bar', x: series.map((day) => day.date), y: values.map((v) => v / scale),
    text: values.map((v) => formatKpi(kind, v)), hovertemplate: '%{x}: %{text}<extra></extra>',
    marker: {color: COLOURS[0]}, name: t(`kpi.${state.metric}`), textposition: 'none',
  }], {xaxis: {type: 'date', tickformat: '%m-%d'}, yaxis: {rangemode: 'tozero', ...(kind === 'money' ? {} : integerTicks(values))}, bargap: 0.15},
  t('overview.trendLabel', {metric: t(`kpi.${state.metric}`)}));
}

async function drawRetention(container, from, to, signal) {
  const answer = await api('/v1/kpis/retention', {query: {cohort: state.cohort, from, to}, signal});
  const rows = cohortRows(answer);
  if (!rows.length) {
    replace(container, h('p', {class: 'hint'}, t('overview.noCohorts')));
    return;
  }
  const width = Math.max(1, ...rows.map((r) => r.shares.length));
  const periods = Array.from({length: width}, (_, i) => `+${i + 1}`);
  const chart = h('div', {class: 'chart', id: 'retention-chart'});
  const columns = [{title: t('overview.cohort'), value: (r) => r.label, header: true},
    {title: t('overview.cohortSize'), value: (r) => formatKpi('count', r.size), num: true},
    ...periods.map((p, i) => ({title: p, value: (r) => (i < r.shares.length ? percent(r.shares[i]) : ''), num: true}))];
  replace(container, chart, h('p', {class: 'hint'}, t('overview.cohortHint')),
    h('details', {}, h('summary', {}, t('common.dataTable')), table(t('overview.retention'), columns, rows)));
  const z = rows.map((r) => periods.map((_, i) => (i < r.shares.length ? r.shares[i] : null)));
  await plot(chart, [{
    type: 'heatmap', x: periods, y: rows.map((r) => r.label), z, zmin: 0, zmax: 1,
    text: z.map((row) => row.map((s) => (s === null ? '' : percent(s)))), texttemplate: '%{text}', colorscale: HEAT,
    showscale: false, xgap: 2, ygap: 2, hovertemplate: '%{y} %{x}: %{text}<extra></extra>',
  }], {yaxis: {type: 'category', autorange: 'reversed'}, xaxis: {title: {text: t(`overview.period.${state.cohort}`)}}, margin: {t: 16, r: 16, b: 48, l: 96}},
  t('overview.retentionLabel'));
}

function unavailableNotice(answer) {
  const missing = [...new Set(((answer && answer.unavailable) || []).map((u) => u.service))];
  return missing.length ? h('p', {class: 'notice', role: 'status'}, t('overview.unavailable', {services: missing.join(', ')})) : null;
}

export async function render(main, params, {signal}) {
  if (!state.from) Object.assign(state, defaultPeriod());
  const days = select([['7', t('overview.last7')], ['30', t('overview.last30')], ['90', t('overview.last90')], ['365', t('overview.last365')], ['custom', t('overview.custom')]], state.days, {id: 'period-days'});
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
  const notices = h('div');
  const cards = h('div', {class: 'grid kpis', id: 'kpi-cards', 'aria-live': 'polite'}, h('p', {class: 'loading'}, t('common.loading')));
  const metric = select(SERIES.map(([name]) => [name, t(`kpi.${name}`)]), state.metric, {id: 'trend-metric'});
  const trend = h('div', {class: 'chart', id: 'trend-chart'});
  const cohort = select([['week', t('overview.weekly')], ['month', t('overview.monthly')]], state.cohort, {id: 'cohort-kind'});
  const retention = h('div', {id: 'retention'});
  const periodText = h('p', {class: 'hint', id: 'kpi-period'});
  append(main,
    h('div', {class: 'page-head'}, h('h1', {}, t('overview.title')), form),
    section(t('overview.figures'), periodText, notices, cards),
    h('div', {class: 'grid two'},
      sectionWithTools(t('overview.trend'), field(t('overview.metric'), metric), trend),
      sectionWithTools(t('overview.retention'), field(t('overview.cohortKind'), cohort), retention)));

  async function load() {
    const period = {from: state.from, to: state.to};
    cards.dataset.from = period.from;
    cards.dataset.to = period.to;
    delete cards.dataset.loaded;
    const retentionDrawn = drawRetention(retention, period.from, period.to, signal).catch(showError(retention, t));
    try {
      const answer = await api('/v1/kpis', {query: period, signal});
      lastAnswer = answer;
      setCurrency(answer.currency);
      const before = answer.previous || {};
      periodText.textContent = t('overview.periodText', {...period, pfrom: before.from || '', pto: before.to || '', zone: answer.timezone || ''});
      replace(notices, unavailableNotice(answer));
      replace(cards, KPIS.map(([name, kind]) => kpiCard(name, kind, answer, before)));
      cards.dataset.loaded = 'true';
      await drawTrend(trend, answer);
    } catch (error) {
      showError(cards, t)(error);
      replace(trend);
    }
    await retentionDrawn;
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
    drawTrend(trend, lastAnswer).catch(showError(trend, t));
  });
  cohort.addEventListener('change', () => {
    state.cohort = cohort.value;
    drawRetention(retention, state.from, state.to, signal).catch(showError(retention, t));
  });
  await load();
}
