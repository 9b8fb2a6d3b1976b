// Long actions (a scoring run, a segment export): a labelled <progress> and a status line, polled.

import {h, uid, announce} from './dom.js';

/** {element, update(done, total, text)}: a progress bar that says what it measures. */
export function progressView(labelText) {
  const id = uid('progress');
  const bar = h('progress', {id, max: 1, value: 0});
  const status = h('p', {class: 'status', role: 'status'});
  const element = h('div', {class: 'progress'}, h('label', {for: id}, labelText), bar, status);
  return {
    element,
    update(done, total, text) {
      if (total > 0) {
        bar.max = total;
        bar.value = Math.min(done, total);
      } else {
        bar.removeAttribute('value'); // indeterminate until the total is known
      }
      status.textContent = text;
    },
    finish(text) {
      bar.max = 1;
      bar.value = 1;
      status.textContent = text;
      announce(text);
    },
  };
}

/** Call `step` every `seconds` until it answers true, the signal aborts, or it throws. */
export async function poll(step, seconds, signal) {
  for (;;) {
    if (signal && signal.aborted) return;
    if (await step()) return;
    await new Promise((resolve) => window.setTimeout(resolve, seconds * 1000));
  }
}
