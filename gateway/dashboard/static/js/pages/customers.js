// Customers: find one by an identity (exact, e.g. a phone), or browse the newest, a page at a time.

import {api} from '../api.js';
import {append, field, h, replace, section, select} from '../dom.js';
import {dateTime} from '../format.js';
import {t} from '../i18n.js';
import {pagedTable} from '../paging.js';

const IDENTITY_TYPES = ['phone', 'email', 'external_id', 'app_user_id', 'wechat_openid', 'wechat_unionid', 'platform_nick'];
const query = {identity_type: 'phone', identity_value: ''};

function identities(customer) {
  return (customer.identities || []).map((i) => `${t(`identity.${i.type}`)} ${i.value}`).join(' · ');
}

export async function render(main, params, {signal, navigate}) {
  const type = select(IDENTITY_TYPES.map((k) => [k, t(`identity.${k}`)]), query.identity_type, {id: 'search-type'});
  const value = h('input', {id: 'search-value', type: 'search', value: query.identity_value, autocomplete: 'off'});
  const byId = h('input', {id: 'open-id', spellcheck: 'false', autocomplete: 'off', pattern: '[0-9a-fA-F-]{36}'});
  const results = h('div', {id: 'customer-results'});
  const list = () => pagedTable({
    columns: [
      {title: t('customer.id'), value: (c) => h('a', {href: `#/customers/${c.customer_id}`, class: 'mono'}, c.customer_id), header: true},
      {title: t('customer.nickname'), value: (c) => (c.attributes && c.attributes.nickname) || '—'},
      {title: t('customer.identities'), value: identities},
      {title: t('customer.created'), value: (c) => dateTime(c.created_at)},
    ],
    load: (cursor) => api('/v1/customers', {
      query: {limit: 20, cursor, ...(query.identity_value ? query : {})}, signal}),
    empty: t('customers.none'),
  });
  const search = h('form', {class: 'toolbar', role: 'search', 'aria-label': t('customers.search')},
    field(t('customers.identityType'), type), field(t('customers.identityValue'), value),
    h('button', {type: 'submit'}, t('customers.find')),
    h('button', {type: 'button', class: 'secondary', onclick: () => {
      value.value = '';
      query.identity_value = '';
      replace(results, list());
    }}, t('customers.clear')));
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    query.identity_type = type.value;
    query.identity_value = value.value.trim();
    replace(results, list());
  });
  const open = h('form', {class: 'toolbar', 'aria-label': t('customers.openById')},
    field(t('customers.customerId'), byId), h('button', {type: 'submit', class: 'secondary'}, t('customers.open')));
  open.addEventListener('submit', (event) => {
    event.preventDefault();
    if (byId.value.trim()) navigate(`customers/${byId.value.trim()}`);
  });
  append(main, h('h1', {}, t('customers.title')), h('p', {class: 'lead'}, t('customers.lead')),
    section(t('customers.search'), search, open), section(t('customers.list'), results));
  replace(results, list());
}
