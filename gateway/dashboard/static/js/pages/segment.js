// One segment: its condition, size over time, members (paged) and a CSV export with its progress.

import {api} from '../api.js';
import {COLOURS, integerTicks, plot} from '../charts.js';
import {append, h, problemBox, replace, section, showError} from '../dom.js';
import {dateTime, number} from '../format.js';
import {t} from '../i18n.js';
import {pagedTable} from '../paging.js';
import {poll, progressView} from '../progress.js';
import {can} from '../session.js';

function exportPanel(segmentId, signal) {
  const view = progressView(t('segment.exportProgress'));
  view.element.hidden = true;
  const messages = h('div');
  const download = h('p');
  const button = h('button', {type: 'button', id: 'start-export', dataset: {write: 'exports'}}, t('segment.export'));
  button.addEventListener('click', async () => {
    replace(messages);
    replace(download);
    button.disabled = true;
    view.element.hidden = false;
    try {
      const started = await api(`/v1/segments/${segmentId}/exports`, {method: 'POST', idempotent: true, signal});
      const path = `/v1/segments/${segmentId}/exports/${started.export_id}`;
      await poll(async () => {
        const job = await api(path, {signal});
        view.update(job.progress.done, job.progress.total, t('segment.exportStatus', {status: t(`export.${job.status}`), done: number(job.progress.done), total: number(job.progress.total)}));
        if (job.status === 'done') {
          view.finish(t('segment.exportDone', {rows: number(job.rows)}));
          replace(download, h('a', {href: `${path}/csv`, download: '', id: 'export-download'}, t('segment.download')));
          return true;
        }
        if (job.status === 'failed' || job.status === 'expired') {
          replace(messages, problemBox({detail: job.error || t(`export.${job.status}`)}, t));
          return true;
        }
        return false;
      }, 1, signal);
    } catch (error) {
      showError(messages, t)(error);
    } finally {
      button.disabled = false;
    }
  });
  return section(t('segment.exportTitle'), h('p', {class: 'hint'}, t('segment.exportHint')), button, view.element, download, messages);
}

export async function render(main, [segmentId], {signal}) {
  const segment = await api(`/v1/segments/${segmentId}`, {signal});
  const sizes = h('div', {class: 'chart short', id: 'segment-sizes'});
  const edit = can('segments')
    ? h('a', {class: 'button secondary', href: `#/segments/${segmentId}/edit`, dataset: {write: 'segments'}}, t('segment.edit')) : null;
  append(main, 
    h('h1', {}, segment.name),
    segment.description ? h('p', {class: 'lead'}, segment.description) : null,
    h('div', {class: 'toolbar'}, h('a', {class: 'button secondary', href: '#/segments'}, t('segment.back')), edit),
    h('div', {class: 'grid two'},
      section(t('segment.about'), h('dl', {class: 'facts'},
        h('dt', {}, t('segments.members')), h('dd', {id: 'segment-count'}, number(segment.count)),
        h('dt', {}, t('segments.version')), h('dd', {}, String(segment.version)),
        h('dt', {}, t('segments.updated')), h('dd', {}, dateTime(segment.updated_at))),
      h('h3', {}, t('segment.condition')), h('pre', {class: 'json'}, JSON.stringify(segment.condition, null, 2))),
      section(t('segment.sizes'), sizes)),
    can('exports') ? exportPanel(segmentId, signal) : null,
    section(t('segment.members'), pagedTable({
      columns: [
        {title: t('customer.id'), value: (m) => h('a', {href: `#/customers/${m.customer_id}`, class: 'mono'}, m.customer_id), header: true},
        {title: t('segment.entered'), value: (m) => dateTime(m.entered_at)},
      ],
      load: (cursor) => api(`/v1/segments/${segmentId}/members`, {query: {limit: 25, cursor}, signal}),
      empty: t('segment.noMembers'),
    })));
  api(`/v1/segments/${segmentId}/sizes`, {query: {days: 90}, signal}).then((answer) => {
    const items = answer.items || [];
    if (!items.length) {
      replace(sizes, h('p', {class: 'hint'}, t('segment.noSizes')));
      return null;
    }
    return plot(sizes, [{type: 'scatter', mode: 'lines+markers', x: items.map((i) => i.day), y: items.map((i) => i.members), line: {color: COLOURS[0]}}],
      {xaxis: {type: 'category'}, yaxis: {rangemode: 'tozero', ...integerTicks(items.map((i) => i.members))}}, t('segment.sizesLabel'));
  }).catch(showError(sizes, t));
}
