// Saved segments, a page at a time (GET /v1/segments), with their member counts.

import {api} from '../api.js';
import {append, h, section} from '../dom.js';
import {dateTime, number} from '../format.js';
import {t} from '../i18n.js';
import {pagedTable} from '../paging.js';
import {can} from '../session.js';

export async function render(main, params, {signal}) {
  const actions = can('segments')
    ? h('div', {class: 'toolbar'}, h('a', {class: 'button', href: '#/segments/new', id: 'new-segment', dataset: {write: 'segments'}}, t('segments.new')))
    : null;
  append(main, h('h1', {}, t('segments.title')), h('p', {class: 'lead'}, t('segments.lead')), actions,
    section(t('segments.saved'), pagedTable({
      caption: null,
      columns: [
        {title: t('segments.name'), value: (s) => h('a', {href: `#/segments/${s.segment_id}`}, s.name), header: true},
        {title: t('segments.members'), value: (s) => number(s.count), num: true},
        {title: t('segments.version'), value: (s) => String(s.version), num: true},
        {title: t('segments.updated'), value: (s) => dateTime(s.updated_at)},
      ],
      load: (cursor) => api('/v1/segments', {query: {limit: 20, cursor}, signal}),
      empty: t('segments.none'),
    })));
}
