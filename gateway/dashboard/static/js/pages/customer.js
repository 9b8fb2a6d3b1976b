// One customer: profile (identities masked), scores, loyalty, coupons, segments, messages, timeline.
// Each section comes from customer360.js and shows its own failure without hiding the others.

import {append, h, problemBox, section, table} from '../dom.js';
import {date, dateTime, money, number, percent} from '../format.js';
import {language, t, tOr} from '../i18n.js';
import {pagedTable} from '../paging.js';
import {customerPage, loadCustomer360} from '../customer360.js';

function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v)]));
}

function part(outcome, draw) {
  if (!outcome.ok) {
    return h('div', {class: 'degraded', dataset: {degraded: 'true'}}, problemBox(outcome.error, t));
  }
  return draw(outcome.data);
}

function profile(data) {
  const a = data.attributes || {};
  return [
    data.merged_into ? h('p', {class: 'notice'}, t('customer.mergedInto', {id: data.customer_id})) : null,
    facts([
      ['customer.id', h('span', {class: 'mono'}, data.customer_id)],
      ['customer.nickname', a.nickname],
      ['customer.gender', a.gender ? tOr(`choice.${a.gender}`, a.gender) : null],
      ['customer.birthday', a.birthday ? date(a.birthday) : null],
      ['customer.place', [a.province, a.city].filter(Boolean).join(' ')],
      ['customer.registered', a.registered_at ? dateTime(a.registered_at) : null],
      ['customer.channel', a.registration_channel],
      ['customer.device', a.device ? tOr(`choice.${a.device}`, a.device) : null],
      ['customer.created', dateTime(data.created_at)],
    ]),
    h('h3', {}, t('customer.identities')),
    table(null, [
      {title: t('customer.identityType'), value: (i) => t(`identity.${i.type}`), header: true},
      {title: t('customer.identityValue'), value: (i) => h('span', {class: 'mono', dataset: {identity: i.type}}, i.value)},
    ], data.identities || [], t('customer.noIdentities')),
  ];
}

function scores(data) {
  const rfm = data.rfm;
  const p = data.predictions || {};
  const group = rfm ? (language() === 'zh' && rfm.group_label ? rfm.group_label : tOr(`rfm.group.${rfm.group}`, rfm.group)) : null;
  return facts([
    ['customer.rfm', rfm ? `R${rfm.r} F${rfm.f} M${rfm.m}` : t('customer.noRfm')],
    ['customer.rfmGroup', group],
    ['customer.stage', data.lifecycle && data.lifecycle.stage ? t(`stage.${data.lifecycle.stage}`) : null],
    ['customer.engagement', number(data.engagement, 2)],
    ['customer.pAlive', p.p_alive === null || p.p_alive === undefined ? null : percent(p.p_alive)],
    ['customer.expected30d', p.expected_purchases_30d === null || p.expected_purchases_30d === undefined ? null : number(p.expected_purchases_30d, 2)],
    ['customer.clv', p.clv_minor === null || p.clv_minor === undefined ? null : money(p.clv_minor)],
  ]);
}

function loyalty(points, membership) {
  return [
    part(points, (d) => facts([['customer.points', h('span', {id: 'points-balance'}, number(d.balance))],
      ['customer.expiring', number(d.expiring_30d)], ['customer.debt', d.debt ? number(d.debt) : null]])),
    part(membership, (d) => facts([['customer.tier', d.tier ? d.tier.name : null],
      ['customer.nextTier', d.progress && d.progress.next_tier ? d.progress.next_tier.name : null]])),
  ];
}

function timelineKind(item) {
  if (item.kind.startsWith('event.')) return `${t('timeline.event')}: ${tOr(item.kind, item.kind.slice(6))}`;
  return tOr(`timeline.${item.kind}`, item.kind);
}

function timelineText(item) {
  const d = item.detail || {};
  if (item.kind === 'order.paid') return `${d.order_id} · ${money(d.amount_minor, d.currency || undefined)}`;
  if (item.kind === 'order.refunded') return `${d.order_id} · ${money(d.amount_minor, d.currency || undefined)} · ${d.reason || ''}`;
  if (item.kind === 'tag.changed') return `${d.tag_name || d.tag_id} · ${t(d.applied ? 'timeline.applied' : 'timeline.removed')}`;
  if (item.kind === 'consent.changed') {
    return `${tOr(`channel.${d.channel}`, d.channel)} · ${tOr(`purpose.${d.purpose}`, d.purpose)} · ${t(d.granted ? 'builder.granted' : 'builder.withdrawn')}`;
  }
  if (item.kind === 'customer.merged') return d.merged_id || '';
  return '';
}

function lists(id, data, signal) {
  const more = (list) => (cursor) => customerPage(id, list, cursor, signal);
  return {
    coupons: part(data.coupons, (first) => pagedTable({first, load: more('coupons'), empty: t('customer.noCoupons'), columns: [
      {title: t('customer.coupon'), value: (c) => h('span', {class: 'mono'}, c.code), header: true},
      {title: t('customer.kind'), value: (c) => c.kind},
      {title: t('customer.status'), value: (c) => h('span', {class: 'badge'}, tOr(`status.${c.status}`, c.status))},
      {title: t('customer.validUntil'), value: (c) => dateTime(c.valid_until)}]})),
    segments: part(data.segments, (d) => table(null, [
      {title: t('segments.name'), value: (s) => h('a', {href: `#/segments/${s.segment_id}`}, s.name), header: true},
      {title: t('segment.entered'), value: (s) => dateTime(s.entered_at)}], d.items || [], t('customer.noSegments'))),
    messages: part(data.messages, (first) => pagedTable({first, load: more('messages'), empty: t('customer.noMessages'), columns: [
      {title: t('customer.when'), value: (m) => dateTime(m.created_at), header: true},
      {title: t('customer.channel'), value: (m) => tOr(`channel.${m.channel}`, m.channel)},
      {title: t('customer.status'), value: (m) => h('span', {class: 'badge'}, tOr(`status.${m.status}`, m.status))},
      {title: t('customer.reason'), value: (m) => (m.reason ? tOr(`reason.${m.reason}`, m.reason) : '')},
      {title: t('customer.to'), value: (m) => h('span', {class: 'mono'}, m.to || '')}]})),
    timeline: part(data.timeline, (first) => pagedTable({first, load: more('timeline'), empty: t('customer.noTimeline'), columns: [
      {title: t('customer.when'), value: (i) => dateTime(i.at), header: true},
      {title: t('customer.what'), value: timelineKind},
      {title: t('customer.detail'), value: timelineText}]})),
  };
}

export async function render(main, [id], {signal}) {
  append(main, h('h1', {}, t('customer.title')), h('p', {class: 'loading'}, t('common.loading')));
  const data = await loadCustomer360(id, signal);
  main.replaceChildren();
  const heading = data.profile.ok && data.profile.data.attributes && data.profile.data.attributes.nickname
    ? t('customer.titleNamed', {name: data.profile.data.attributes.nickname}) : t('customer.title');
  const more = lists(id, data, signal);
  append(main, h('h1', {}, heading),
    h('div', {class: 'toolbar'}, h('a', {class: 'button secondary', href: '#/customers'}, t('customer.back'))),
    h('div', {class: 'grid two', id: 'customer-360'},
      section(t('customer.profile'), part(data.profile, profile)),
      h('div', {}, section(t('customer.scores'), part(data.scores, scores)),
        section(t('customer.loyalty'), loyalty(data.points, data.membership)))),
    section(t('customer.timeline'), more.timeline),
    h('div', {class: 'grid two'}, section(t('customer.segments'), more.segments), section(t('customer.coupons'), more.coupons)),
    section(t('customer.messages'), more.messages));
}
