// Long lists a page at a time, with the API's opaque cursors (Previous keeps the cursors seen).

import {h, replace, table, problemBox} from './dom.js';
import {t} from './i18n.js';

/**
 * A table paged by cursor. `load(cursor)` answers {items, next_cursor}; `first`, when given, is the
 * first page already at hand. Returns the element; it shows its first page at once.
 */
export function pagedTable({caption, columns, load, empty, first}) {
  const cursors = [null];
  let index = 0;
  let next = null;
  const body = h('div', {'aria-live': 'polite', 'aria-busy': 'true'}, h('p', {class: 'loading'}, t('common.loading')));
  const previousButton = h('button', {type: 'button', class: 'secondary small', onclick: () => go(index - 1)}, t('paging.previous'));
  const nextButton = h('button', {type: 'button', class: 'secondary small', onclick: () => go(index + 1)}, t('paging.next'));
  const pageNumber = h('span', {class: 'page-number'});
  const pager = h('div', {class: 'pager'}, previousButton, pageNumber, nextButton);
  const root = h('div', {class: 'paged'}, body, pager);

  async function go(target) {
    if (target < 0 || (target > index && !next)) return;
    if (target > index) cursors[target] = next;
    body.setAttribute('aria-busy', 'true');
    previousButton.disabled = true;
    nextButton.disabled = true;
    try {
      const page = target === 0 && first ? first : await load(cursors[target]);
      index = target;
      next = page.next_cursor || null;
      replace(body, table(caption, columns, page.items || [], empty));
    } catch (error) {
      if (error.name === 'AbortError') return;
      replace(body, problemBox(error, t));
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
    previousButton.disabled = index === 0;
    nextButton.disabled = !next;
    pageNumber.textContent = t('paging.page', {page: index + 1});
    pager.hidden = index === 0 && !next;
  }

  go(0);
  return root;
}
