// Charts with plotly.js (from the installed plotly package, served by the gateway). Each chart is an
// image to assistive technology, labelled; its figures are also given as text or a table beside it.

import {t} from './i18n.js';

// No mode bar: its buttons need styles plotly would inline (refused by the CSP), and the dashboard's
// charts are read, not edited.
const CONFIG = {displayModeBar: false, responsive: true, displaylogo: false};

const BASE_LAYOUT = {
  margin: {t: 24, r: 16, b: 48, l: 64},
  paper_bgcolor: 'rgba(0,0,0,0)',
  plot_bgcolor: 'rgba(0,0,0,0)',
  font: {family: 'system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif', size: 12, color: '#1b2430'},
  hoverlabel: {font: {size: 12}},
  legend: {orientation: 'h', y: -0.2},
};

export const COLOURS = ['#2457c5', '#e07b39', '#2a9d8f', '#b3261e', '#7b4fb8', '#8a6d1f', '#4f5b6b', '#1d7a3a'];

/** Draw (or redraw) a chart into a container that is already in the document. */
export function plot(container, traces, layout = {}, label = '') {
  container.setAttribute('role', 'img');
  if (label) container.setAttribute('aria-label', label);
  const plotly = globalThis.Plotly;
  if (!plotly) {
    container.textContent = t('charts.unavailable');
    return Promise.resolve();
  }
  // A chart whose drawing was taken out of its element (replaced by a message, or emptied before a
  // redraw) is forgotten first: react would compare with the plot it remembers and draw nothing.
  if (container.classList.contains('js-plotly-plot') && !container.querySelector('.plot-container')) {
    plotly.purge(container);
  }
  return plotly.react(container, traces, {...BASE_LAYOUT, ...layout}, CONFIG);
}

/** Free the charts inside an element before it is thrown away (plotly keeps listeners). */
export function purgeCharts(root) {
  const plotly = globalThis.Plotly;
  if (!plotly) return;
  for (const chart of root.querySelectorAll('.js-plotly-plot')) plotly.purge(chart);
}

/** Axis settings that keep small counts on whole numbers (no tick at 0.5 customers). */
export function integerTicks(values) {
  const top = Math.max(0, ...values.filter((v) => typeof v === 'number'));
  return top <= 8 ? {dtick: 1, tickformat: 'd'} : {tickformat: ',d'};
}
