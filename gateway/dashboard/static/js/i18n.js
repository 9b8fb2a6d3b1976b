// Chinese and English labels: dictionaries in ../i18n/*.json, the choice remembered in localStorage.

const STORAGE_KEY = 'patron.lang';
export const LANGUAGES = ['en', 'zh'];
const dictionaries = {};
let current = 'en';

function initialLanguage() {
  const stored = window.localStorage.getItem(STORAGE_KEY);
  if (LANGUAGES.includes(stored)) return stored;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

async function load(lang) {
  if (!dictionaries[lang]) {
    const response = await fetch(`/dashboard/assets/i18n/${lang}.json`, {credentials: 'same-origin'});
    dictionaries[lang] = await response.json();
  }
  return dictionaries[lang];
}

/** Load the remembered (or the browser's) language. */
export async function initI18n() {
  await setLanguage(initialLanguage(), false);
}

export function language() {
  return current;
}

/** Switch language, remember it, and relabel the static parts of the page. */
export async function setLanguage(lang, remember = true) {
  await load(lang);
  current = lang;
  if (remember) window.localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  applyI18n(document);
}

/** The text for a key, with {name} placeholders filled. A missing key shows itself (and warns). */
export function t(key, values = {}) {
  const dictionary = dictionaries[current] || {};
  let text = dictionary[key];
  if (text === undefined) {
    text = (dictionaries.en || {})[key];
    if (text === undefined) {
      console.warn(`i18n: no text for ${key}`);
      return key;
    }
  }
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
}

/** A text when the key exists, else the fallback (for codes the API may add: a new RFM group). */
export function tOr(key, fallback) {
  const dictionary = dictionaries[current] || {};
  return key in dictionary ? dictionary[key] : fallback;
}

/** Relabel elements carrying data-i18n (text) and data-i18n-aria-label (aria-label). */
export function applyI18n(root) {
  for (const element of root.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll('[data-i18n-aria-label]')) {
    element.setAttribute('aria-label', t(element.dataset.i18nAriaLabel));
  }
}
