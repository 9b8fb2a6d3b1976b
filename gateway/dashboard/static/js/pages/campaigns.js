// Campaigns: the list (paged) with progress, and one campaign's report: every group's counts and
// each variant's lift over the holdout with its 95 % interval and p-value (GET .../report).

import {api} from '../api.js';
import {COLOURS, plot} from '../charts.js';
import {append, h, problemBox, replace, section, showError, table} from '../dom.js';
import {dateTime, money, number, percent} from '../format.js';
import {t} from '../i18n.js';
import {pagedTable} from '../paging.js';
import {can} from '../session.js';
import {statusBadge} from './journeys.js';

export const list = {
  async render(main, params, {signal}) {
    append(main, h('h1', {}, t('campaigns.title')), h('p', {class: 'lead'}, t('campaigns.lead')),
      section(t('campaigns.all'), pagedTable({
        columns: [
          {title: t('campaigns.name'), value: (c) => h('a', {href: `#/campaigns/${c.campaign_id}`}, c.name), header: true},
          {title: t('campaigns.status'), value: (c) => statusBadge(c.status)},
          {title: t('campaigns.recipients'), value: (c) => number(c.progress.recipients), num: true},
          {title: t('campaigns.sent'), value: (c) => number(c.progress.sent), num: true},
          {title: t('campaigns.suppressed'), value: (c) => number(c.progress.suppressed), num: true},
          {title: t('campaigns.created'), value: (c) => dateTime(c.created_at)},
        ],
        load: (cursor) => api('/v1/campaigns', {query: {limit: 20, cursor}, signal}),
        empty: t('campaigns.none'),
      })));
  },
};

const MOVES = {draft: ['start', 'cancel'], scheduled: ['pause', 'cancel'], running: ['pause', 'cancel'], paused: ['resume', 'cancel']};

function actions(campaign, signal, rerender) {
  if (!can('campaigns')) return null;
  const messages = h('div');
  return h('div', {class: 'toolbar'}, (MOVES[campaign.status] || []).map((move) => h('button', {
    type: 'button', class: move === 'cancel' ? 'danger' : 'secondary', dataset: {write: 'campaigns'},
    onclick: async () => {
      if (move === 'cancel' && !window.confirm(t('campaigns.confirmCancel'))) return;
      try {
        await api(`/v1/campaigns/${campaign.campaign_id}/${move}`, {method: 'POST', signal});
        rerender();
      } catch (error) {
        replace(messages, problemBox(error, t));
      }
    }}, t(`campaigns.${move}`))), messages);
}

function interval(estimate, format) {
  if (!estimate || estimate.value === null || estimate.value === undefined) return '—';
  const range = estimate.low === null || estimate.low === undefined ? '' : ` [${format(estimate.low)}, ${format(estimate.high)}]`;
  return `${format(estimate.value)}${range}`;
}

function hasLift(comparison) {
  const estimate = comparison.absolute_lift;
  return Boolean(estimate) && estimate.value !== null && estimate.low !== null && estimate.high !== null;
}

function pValue(estimate) {
  return estimate && estimate.p_value !== null && estimate.p_value !== undefined ? number(estimate.p_value, 4) : '—';
}

async function drawReport(container, id, signal) {
  const report = await api(`/v1/campaigns/${id}/report`, {signal});
  const groups = report.groups || [];
  const lift = report.lift || [];
  const chart = h('div', {class: 'chart short', id: 'lift-chart'});
  const perMinor = (v) => money(Math.round(v));
  replace(container,
    report.winner ? h('p', {class: 'notice'}, t('campaigns.winner', {variant: report.winner})) : h('p', {class: 'hint'}, t('campaigns.noWinner')),
    table(t('campaigns.groups'), [
      {title: t('campaigns.group'), value: (g) => (g.kind === 'variant' ? g.group : t(`campaigns.kind.${g.kind}`)), header: true},
      {title: t('campaigns.recipients'), value: (g) => number(g.recipients), num: true},
      {title: t('campaigns.sent'), value: (g) => number(g.sent), num: true},
      {title: t('campaigns.delivered'), value: (g) => number(g.delivered), num: true},
      {title: t('campaigns.opened'), value: (g) => number(g.opened), num: true},
      {title: t('campaigns.clicked'), value: (g) => number(g.clicked), num: true},
      {title: t('campaigns.converted'), value: (g) => number(g.converted), num: true},
      {title: t('campaigns.conversionRate'), value: (g) => percent(g.conversion_rate, 2), num: true},
      {title: t('campaigns.revenue'), value: (g) => money(g.revenue_minor), num: true},
    ], groups),
    h('h3', {}, t('campaigns.lift')),
    lift.some(hasLift) ? chart : null,
    table(t('campaigns.liftTable', {confidence: percent(report.confidence || 0.95, 0)}), [
      {title: t('campaigns.variant'), value: (c) => c.variant, header: true},
      {title: t('campaigns.absoluteLift'), value: (c) => interval(c.absolute_lift, (v) => percent(v, 2))},
      {title: t('campaigns.pValue'), value: (c) => pValue(c.absolute_lift), num: true},
      {title: t('campaigns.relativeLift'), value: (c) => interval(c.relative_lift, (v) => percent(v, 1))},
      {title: t('campaigns.revenueLift'), value: (c) => interval(c.revenue_per_recipient_diff, perMinor)},
      {title: t('campaigns.verdict'), value: (c) => (c.winner ? h('span', {class: 'badge good'}, t('campaigns.isWinner')) : '—')},
    ], lift, t('campaigns.noLift')),
    h('p', {class: 'hint'}, t('campaigns.method')));
  const points = lift.filter(hasLift);
  if (!points.length) return;
  await plot(chart, [{
    type: 'scatter', mode: 'markers', orientation: 'h', y: points.map((c) => c.variant),
    x: points.map((c) => c.absolute_lift.value * 100), marker: {color: COLOURS[0], size: 10},
    error_x: {type: 'data', symmetric: false, array: points.map((c) => (c.absolute_lift.high - c.absolute_lift.value) * 100),
      arrayminus: points.map((c) => (c.absolute_lift.value - c.absolute_lift.low) * 100), color: COLOURS[0], thickness: 2},
    hovertemplate: '%{y}: %{x:.2f} pp<extra></extra>',
  }], {xaxis: {title: {text: t('campaigns.liftAxis')}, zeroline: true, zerolinecolor: '#b3261e', zerolinewidth: 2},
    yaxis: {type: 'category', autorange: 'reversed'}, margin: {t: 16, r: 16, b: 48, l: 96}}, t('campaigns.liftLabel'));
}

export const detail = {
  async render(main, [id], {signal, rerender}) {
    const campaign = await api(`/v1/campaigns/${id}`, {signal});
    const p = campaign.progress;
    const report = h('div', {}, h('p', {class: 'loading'}, t('common.loading')));
    const bar = h('progress', {id: 'campaign-progress', max: Math.max(p.recipients - p.holdout - p.global_control, 1), value: p.planned});
    append(main, h('h1', {}, campaign.name),
      h('div', {class: 'toolbar'}, h('a', {class: 'button secondary', href: '#/campaigns'}, t('campaigns.back')), statusBadge(campaign.status)),
      actions(campaign, signal, rerender),
      section(t('campaigns.progress'),
        h('label', {for: 'campaign-progress'}, t('campaigns.planned', {planned: number(p.planned), recipients: number(p.recipients)})), bar,
        h('dl', {class: 'facts'}, ['recipients', 'planned', 'sent', 'suppressed', 'deferred', 'failed', 'holdout'].map((k) =>
          [h('dt', {}, t(`campaigns.count.${k}`)), h('dd', {}, number(p[k]))]))),
      section(t('campaigns.report'), report));
    await drawReport(report, id, signal).catch(showError(report, t));
  },
};
