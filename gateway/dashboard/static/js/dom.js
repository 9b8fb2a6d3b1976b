// Building the page without HTML strings: every text goes in as text (no injection), no inline style.

/**
 * An element: h('button', {type: 'button', onclick: f, class: 'small'}, 'Save').
 * Attributes starting with "on" become listeners; `null`/`false` attributes are left out; children
 * may be strings, numbers, elements, arrays or null.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (name === 'value' && 'value' in element) {
      element.value = value;
    } else if (name === 'checked' || name === 'selected' || name === 'disabled' || name === 'hidden') {
      element[name] = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Append children (strings become text nodes; null, undefined and false are left out, where the
 * DOM's own append would write "null"). */
export function append(parent, ...children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace an element's content. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let counter = 0;
/** A unique id for label/control pairs. */
export function uid(prefix = 'f') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form control: {wrapper, control}. */
export function field(labelText, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const label = h('label', {for: id}, labelText);
  const parts = [label, control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('span', {class: 'hint', id: hintId}, hint));
  }
  return h('div', {class: 'field'}, parts);
}

/** A <select> of [value, text] pairs. */
export function select(options, value, attributes = {}) {
  return h('select', attributes,
    options.map(([optionValue, text]) => h('option', {value: optionValue, selected: optionValue === value}, text)));
}

/** A section with a heading, for the page's outline and landmarks. */
export function section(title, ...children) {
  const id = uid('section');
  return h('section', {class: 'card', 'aria-labelledby': id}, h('h2', {id}, title), children);
}

/** A section whose heading shares its line with a few controls (a chart's choice of figure). */
export function sectionWithTools(title, tools, ...children) {
  const id = uid('section');
  return h('section', {class: 'card', 'aria-labelledby': id},
    h('div', {class: 'section-head'}, h('h2', {id}, title), h('div', {class: 'inline-fields'}, tools)), children);
}

/** A table: columns [{title, value: row => text|Node, num?}], rows. */
export function table(caption, columns, rows, empty) {
  if (!rows.length && empty) return h('p', {class: 'hint'}, empty);
  return h('div', {class: 'table-wrap'}, h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col', class: c.num ? 'num' : null}, c.title)))),
    h('tbody', {}, rows.map((row) => h('tr', {},
      columns.map((c, index) => (index === 0 && c.header
        ? h('th', {scope: 'row'}, c.value(row))
        : h('td', {class: c.num ? 'num' : null}, c.value(row))))))),
  ));
}

/** A problem answer shown to the operator: the detail and each field at fault. */
export function problemBox(error, t) {
  const faults = (error && error.errors) || [];
  return h('div', {class: 'error', role: 'alert'},
    h('span', {}, describeError(error, t)),
    faults.length ? h('ul', {}, faults.map((f) => h('li', {}, h('span', {class: 'mono'}, f.field), ': ', f.message))) : null);
}

/** A short sentence for an error. */
export function describeError(error, t) {
  if (!error) return t('error.generic');
  if (error.status === 403) return t('error.forbidden');
  if (error.status === 404) return t('error.notFound');
  if (error.status === 429) return t('error.limited', {seconds: error.retryAfter || '?'});
  if (error.status === 503 || error.status === 504) return t('error.unavailable');
  if (error.status === 0) return t('error.network');
  return error.detail || error.message || t('error.generic');
}

/** Say something to screen readers without moving focus. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  window.setTimeout(() => { region.textContent = text; }, 30);
}

/** Show an error in `container` unless the page was left (the call aborted). */
export function showError(container, t) {
  return (error) => {
    if (error && error.name === 'AbortError') return;
    replace(container, problemBox(error, t));
  };
}
