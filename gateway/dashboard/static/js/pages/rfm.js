// Value grading: the RFM grid as a heat map, the eight groups with size and spend, the lifecycle
// funnel, and a scoring run started from here with its progress.

import {api} from '../api.js';
import {COLOURS, integerTicks, plot} from '../charts.js';
import {append, h, problemBox, replace, section, showError, table} from '../dom.js';
import {currencyDigits, dateTime, money, number, percent} from '../format.js';
import {language, t, tOr} from '../i18n.js';
import {poll, progressView} from '../progress.js';
import {can} from '../session.js';

const STAGES = ['acquisition', 'growth', 'mature', 'decline', 'churned'];
const SCORES = [1, 2, 3, 4, 5];
export const HEAT = [[0, '#eef3fb'], [0.5, '#7ea3e0'], [1, '#1f4fb0']];

function groupLabel(group) {
  if (language() === 'zh' && group.label) return group.label;
  return tOr(`rfm.group.${group.group}`, group.group);
}

/** Customers per (R, F) cell, summed over M: rows R 1..5, columns F 1..5. */
function gridByRecencyFrequency(cells) {
  const z = SCORES.map(() => SCORES.map(() => 0));
  for (const cell of cells) z[cell.r - 1][cell.f - 1] += cell.customers;
  return z;
}

async function drawRfm(grid, groups, facts, signal) {
  const summary = await api('/v1/scoring/rfm', {signal});
  const z = gridByRecencyFrequency(summary.grid || []);
  const scored = summary.customers_scored || 0;
  replace(facts, h('dl', {class: 'facts'},
    h('dt', {}, t('rfm.scored')), h('dd', {id: 'rfm-scored'}, number(scored)),
    h('dt', {}, t('rfm.unscored')), h('dd', {}, number(summary.customers_without_rfm)),
    h('dt', {}, t('rfm.asOf')), h('dd', {}, summary.thresholds ? summary.thresholds.as_of : t('rfm.noRun'))));
  const chart = h('div', {class: 'chart tall', id: 'rfm-heatmap'});
  const rows = SCORES.map((r) => ({r, counts: z[r - 1]}));
  replace(grid, chart, h('details', {}, h('summary', {}, t('common.dataTable')), table(t('rfm.gridTable'), [
    {title: t('rfm.rScore'), value: (row) => `R${row.r}`, header: true},
    ...SCORES.map((f) => ({title: `F${f}`, value: (row) => number(row.counts[f - 1]), num: true}))], rows)));
  await plot(chart, [{
    type: 'heatmap', x: SCORES.map((f) => `F${f}`), y: SCORES.map((r) => `R${r}`), z, colorscale: HEAT,
    text: z.map((row) => row.map((v) => number(v))), texttemplate: '%{text}', showscale: false, xgap: 3, ygap: 3,
    hovertemplate: '%{y} %{x}: %{text}<extra></extra>',
  }], {xaxis: {title: {text: t('rfm.fAxis')}}, yaxis: {title: {text: t('rfm.rAxis')}}},
  t('rfm.heatmapLabel', {customers: number(scored)}));

  const list = summary.groups || [];
  const spendTotal = list.reduce((sum, g) => sum + (g.spend_minor || 0), 0);
  const groupChart = h('div', {class: 'chart', id: 'rfm-groups-chart'});
  replace(groups, groupChart, table(t('rfm.groupsTable'), [
    {title: t('rfm.group'), value: groupLabel, header: true},
    {title: t('rfm.customers'), value: (g) => number(g.customers), num: true},
    {title: t('rfm.share'), value: (g) => percent(scored ? g.customers / scored : null), num: true},
    {title: t('rfm.spend'), value: (g) => money(g.spend_minor), num: true},
    {title: t('rfm.spendShare'), value: (g) => percent(spendTotal ? g.spend_minor / spendTotal : null), num: true},
  ], list, t('rfm.noGroups')));
  await plot(groupChart, [
    {type: 'bar', name: t('rfm.customers'), x: list.map(groupLabel), y: list.map((g) => g.customers), offsetgroup: 1, marker: {color: COLOURS[0]}},
    {type: 'bar', name: t('rfm.spend'), x: list.map(groupLabel), y: list.map((g) => g.spend_minor / 10 ** currencyDigits()), yaxis: 'y2', offsetgroup: 2, marker: {color: COLOURS[1]}},
  ], {barmode: 'group', yaxis: {title: {text: t('rfm.customers')}, rangemode: 'tozero', ...integerTicks(list.map((g) => g.customers))}, yaxis2: {title: {text: t('rfm.spend')}, overlaying: 'y', side: 'right'}, margin: {t: 24, r: 64, b: 96, l: 64}},
  t('rfm.groupsLabel'));
}

async function drawLifecycle(container, signal) {
  const summary = await api('/v1/scoring/lifecycle', {signal});
  const stages = summary.stages || {};
  const counts = STAGES.map((stage) => stages[stage] || 0);
  const chart = h('div', {class: 'chart', id: 'lifecycle-funnel'});
  replace(container, chart, table(t('rfm.lifecycleTable'), [
    {title: t('rfm.stage'), value: (s) => t(`stage.${s}`), header: true},
    {title: t('rfm.customers'), value: (s) => number(stages[s] || 0), num: true}], STAGES));
  await plot(chart, [{
    type: 'funnel', y: STAGES.map((s) => t(`stage.${s}`)), x: counts, textinfo: 'value+percent total',
    marker: {color: STAGES.map((_, i) => COLOURS[i])}, connector: {fillcolor: '#e6ebf2'},
  }], {margin: {t: 16, r: 16, b: 24, l: 120}}, t('rfm.lifecycleLabel'));
}

function runPanel(redraw, signal) {
  const view = progressView(t('rfm.runProgress'));
  view.element.hidden = true;
  const messages = h('div');
  const button = h('button', {type: 'button', id: 'start-run', dataset: {write: 'scoring'}}, t('rfm.runNow'));

  async function follow(runId) {
    view.element.hidden = false;
    button.disabled = true;
    await poll(async () => {
      const run = await api(`/v1/scoring/runs/${runId}`, {signal});
      const progress = run.progress || {};
      const phase = progress.phase ? t('rfm.phase', {phase: progress.phase}) : '';
      view.update(progress.done || 0, progress.total || 0, `${t(`run.${run.status}`)} ${phase}`.trim());
      if (run.status === 'succeeded') {
        view.finish(t('rfm.runDone', {at: dateTime(run.finished_at)}));
        await redraw();
        return true;
      }
      if (run.status === 'failed') {
        replace(messages, problemBox({detail: run.error || t('run.failed')}, t));
        return true;
      }
      return false;
    }, 1, signal).finally(() => { button.disabled = false; });
  }

  button.addEventListener('click', async () => {
    replace(messages);
    try {
      const started = await api('/v1/scoring/runs', {method: 'POST', body: {}, idempotent: true, signal});
      await follow(started.run_id);
    } catch (error) {
      if (error.status === 409 && error.problem.run_id) {
        await follow(error.problem.run_id).catch(showError(messages, t));
      } else {
        showError(messages, t)(error);
      }
    }
  });
  return section(t('rfm.run'), h('p', {class: 'hint'}, t('rfm.runHint')), button, view.element, messages);
}

export async function render(main, params, {signal}) {
  const grid = h('div', {'aria-busy': 'false'}, h('p', {class: 'loading'}, t('common.loading')));
  const groups = h('div', {}, h('p', {class: 'loading'}, t('common.loading')));
  const facts = h('div');
  const lifecycle = h('div', {}, h('p', {class: 'loading'}, t('common.loading')));
  append(main, h('h1', {}, t('rfm.title')), h('p', {class: 'lead'}, t('rfm.lead')),
    h('div', {class: 'grid two'}, section(t('rfm.grid'), facts, grid), section(t('rfm.lifecycle'), lifecycle)),
    section(t('rfm.groups'), groups));
  const redraw = () => Promise.all([
    drawRfm(grid, groups, facts, signal).catch(showError(grid, t)),
    drawLifecycle(lifecycle, signal).catch(showError(lifecycle, t)),
  ]);
  if (can('scoring')) append(main, runPanel(redraw, signal));
  await redraw();
}
