// The dashboard's shell: language, session, navigation between pages (hash routes, #/customers/<id>).

import {applyI18n, initI18n, language, setLanguage, t} from './i18n.js';
import {currentSession, holds, homeRoute, loadSession, signOut} from './session.js';
import {purgeCharts} from './charts.js';
import {announce, h, problemBox, replace} from './dom.js';
import * as signin from './pages/signin.js';
import * as overview from './pages/overview.js';
import * as rfm from './pages/rfm.js';
import * as segments from './pages/segments.js';
import * as segment from './pages/segment.js';
import * as builder from './pages/builder.js';
import * as customers from './pages/customers.js';
import * as customer from './pages/customer.js';
import * as journeys from './pages/journeys.js';
import * as campaigns from './pages/campaigns.js';

const ID = '([0-9a-fA-F-]{36})';
const ROUTES = [
  [/^signin$/, signin, 'signin'],
  [/^overview$/, overview, 'overview'],
  [/^rfm$/, rfm, 'rfm'],
  [/^segments$/, segments, 'segments'],
  [/^segments\/new$/, builder, 'segments'],
  [new RegExp(`^segments/${ID}/edit$`), builder, 'segments'],
  [new RegExp(`^segments/${ID}$`), segment, 'segments'],
  [/^customers$/, customers, 'customers'],
  [new RegExp(`^customers/${ID}$`), customer, 'customers'],
  [/^journeys$/, journeys.list, 'journeys'],
  [new RegExp(`^journeys/${ID}$`), journeys.detail, 'journeys'],
  [/^campaigns$/, campaigns.list, 'campaigns'],
  [new RegExp(`^campaigns/${ID}$`), campaigns.detail, 'campaigns'],
];
const RETURN_KEY = 'patron.return';

const main = document.getElementById('main');
let controller = null;

function currentPath() {
  const hash = window.location.hash;
  return hash.startsWith('#/') ? decodeURIComponent(hash.slice(2)) : '';
}

export function navigate(path) {
  window.location.hash = `#/${path}`;
}

function drawShell() {
  const session = currentSession();
  document.getElementById('nav').hidden = !session;
  document.getElementById('sign-out').hidden = !session;
  for (const item of document.querySelectorAll('#nav [data-scope]')) item.hidden = !holds(item.dataset.scope);
  document.getElementById('who').textContent = session
    ? `${session.email} · ${t(`role.${session.role}`)}` : '';
  const toggle = document.getElementById('lang-toggle');
  const other = language() === 'zh' ? 'en' : 'zh';
  toggle.textContent = other === 'zh' ? '中文' : 'English';
  toggle.setAttribute('lang', other === 'zh' ? 'zh-CN' : 'en');
  toggle.setAttribute('aria-label', t('shell.switchLanguage'));
}

function markNavigation(area) {
  for (const link of document.querySelectorAll('#nav a[data-route]')) {
    if (link.dataset.route === area) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function render() {
  let path = currentPath();
  const session = currentSession();
  if (!session && path !== 'signin') {
    if (path) window.sessionStorage.setItem(RETURN_KEY, path);
    if (window.location.hash !== '#/signin') {
      window.location.replace('#/signin');
      return;
    }
    path = 'signin';
  }
  if (session && (path === '' || path === 'signin')) {
    path = window.sessionStorage.getItem(RETURN_KEY) || homeRoute();
    window.sessionStorage.removeItem(RETURN_KEY);
    window.location.replace(`#/${path}`);
    return;
  }
  const found = ROUTES.map(([pattern, page, area]) => [path.match(pattern), page, area]).find(([match]) => match);
  if (controller) controller.abort();
  controller = new AbortController();
  delete main.dataset.rendered;
  purgeCharts(main);
  drawShell();
  if (!found) {
    replace(main, h('h1', {tabindex: '-1'}, t('error.noPage')));
    return;
  }
  const [match, page, area] = found;
  markNavigation(area);
  replace(main);
  const context = {signal: controller.signal, navigate, rerender: render, onSignedIn};
  try {
    await page.render(main, match.slice(1), context);
  } catch (error) {
    if (error.name === 'AbortError') return;
    console.warn(error);
    main.append(problemBox(error, t));
  }
  main.dataset.rendered = path; // the page is drawn (its late parts, charts and lists, may follow)
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    document.title = `${heading.textContent} · Patron`;
    if (document.activeElement === document.body || !main.contains(document.activeElement)) {
      if (page !== signin) heading.focus();
    }
    announce(heading.textContent);
  }
}

async function onSignedIn() {
  drawShell();
  await render();
}

async function start() {
  await initI18n();
  document.getElementById('lang-toggle').addEventListener('click', async () => {
    await setLanguage(language() === 'zh' ? 'en' : 'zh');
    await render();
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    await signOut();
    window.sessionStorage.removeItem(RETURN_KEY);
    window.location.hash = '#/signin';
    drawShell();
  });
  document.querySelector('.skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener('patron:signed-out', () => {
    loadSession().then(() => render());
  });
  window.addEventListener('hashchange', () => render());
  try {
    await loadSession();
  } catch (error) {
    replace(main, problemBox(error, t));
    return;
  }
  applyI18n(document);
  await render();
}

start();
