// Sign-in: tenant id, e-mail and password; a refusal is shown above the form and announced.

import {append, field, h, problemBox, replace} from '../dom.js';
import {t} from '../i18n.js';
import {rememberedTenant, signIn} from '../session.js';

export async function render(main, params, context) {
  const tenant = h('input', {name: 'tenant_id', id: 'signin-tenant', required: true, autocomplete: 'organization', spellcheck: 'false', value: rememberedTenant()});
  const email = h('input', {name: 'email', id: 'signin-email', type: 'email', required: true, autocomplete: 'username'});
  const password = h('input', {name: 'password', id: 'signin-password', type: 'password', required: true, autocomplete: 'current-password'});
  const errors = h('div', {id: 'signin-errors'});
  const submit = h('button', {type: 'submit', id: 'signin-submit'}, t('signin.submit'));
  const form = h('form', {class: 'card', novalidate: true, 'aria-describedby': 'signin-errors'},
    errors,
    field(t('signin.tenant'), tenant, t('signin.tenantHint')),
    field(t('signin.email'), email),
    field(t('signin.password'), password),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const missing = [[tenant, 'signin.tenant'], [email, 'signin.email'], [password, 'signin.password']]
      .filter(([input]) => !input.value.trim());
    if (missing.length) {
      replace(errors, problemBox({detail: t('signin.missing'), errors: missing.map(([, key]) => ({field: t(key), message: t('signin.required')}))}, t));
      missing[0][0].focus();
      return;
    }
    submit.disabled = true;
    replace(errors);
    try {
      await signIn(tenant.value.trim(), email.value.trim(), password.value);
      await context.onSignedIn();
    } catch (error) {
      const text = error.status === 401 || error.status === 422 ? t('signin.refused')
        : error.status === 429 ? t('error.limited', {seconds: error.retryAfter || '?'}) : null;
      replace(errors, problemBox(text ? {detail: text} : error, t));
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  append(main, h('div', {class: 'signin'}, h('h1', {}, t('signin.title')), h('p', {class: 'lead'}, t('signin.lead')), form));
  (tenant.value ? email : tenant).focus();
}
