// DOM helpers. The console builds every node with these (never from HTML
// strings), so the page runs under Trusted Types with no policy at all and
// whatever an event or a token label holds is only ever text.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'indeterminate', 'hidden', 'open', 'readOnly', 'required']);

/** h('button', {class: 'btn', onclick: fn}, 'Text', child…) makes an element. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** s('path', {d: …}) makes an SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v != null && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** append adds children: nodes, text (strings, numbers), arrays, skipping null/false. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** replace empties el and puts children in it. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** icon returns one of the console's inline SVG icons. */
export function icon(name, label) {
  const paths = ICONS[name] || ICONS.dot;
  const svg = s('svg', {viewBox: '0 0 24 24', class: 'icon', 'aria-hidden': label ? null : 'true', role: label ? 'img' : null,
    'aria-label': label || null, focusable: 'false'});
  for (const d of paths) svg.append(s('path', {d}));
  return svg;
}

const ICONS = {
  overview: ['M4 13h6V4H4z', 'M14 20h6V11h-6z', 'M4 20h6v-4H4z', 'M14 8h6V4h-6z'],
  topics: ['M4 6h16', 'M4 12h16', 'M4 18h10'],
  tail: ['M4 17l6-6-6-6', 'M12 19h8'],
  publish: ['M12 19V5', 'M5 12l7-7 7 7'],
  tokens: ['M8 20a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9z', 'M11.2 12.3L20 3.5', 'M16.5 7l2.5 2.5', 'M14 9.5l2 2'],
  connections: ['M5 12a7 7 0 0 1 14 0', 'M8.5 12a3.5 3.5 0 0 1 7 0', 'M12 12v8'],
  copy: ['M9 9h10v10H9z', 'M5 15V5h10'],
  check: ['M5 12l5 5 9-10'],
  sun: ['M12 4V2', 'M12 22v-2', 'M4 12H2', 'M22 12h-2', 'M6.3 6.3L4.9 4.9', 'M19.1 19.1l-1.4-1.4', 'M6.3 17.7l-1.4 1.4', 'M19.1 4.9l-1.4 1.4', 'M12 16a4 4 0 1 0 0-8 4 4 0 0 0 0 8z'],
  moon: ['M20 14.5A8 8 0 0 1 9.5 4 8 8 0 1 0 20 14.5z'],
  auto: ['M12 3a9 9 0 1 0 0 18z', 'M12 3a9 9 0 0 1 0 18'],
  out: ['M15 12H4', 'M8 8l-4 4 4 4', 'M13 4h7v16h-7'],
  pause: ['M8 5v14', 'M16 5v14'],
  play: ['M7 5l12 7-12 7z'],
  trash: ['M4 7h16', 'M10 11v6', 'M14 11v6', 'M6 7l1 13h10l1-13', 'M9 7V4h6v3'],
  stop: ['M6 6h12v12H6z'],
  refresh: ['M20 11a8 8 0 1 0-2.3 5.7', 'M20 5v6h-6'],
  keyboard: ['M3 7h18v10H3z', 'M7 11h.01', 'M11 11h.01', 'M15 11h.01', 'M8 14h8'],
  dot: ['M12 12h.01'],
};

/** logo is the console's mark: three arcs of an event stream. */
export function logo(big) {
  const svg = s('svg', {viewBox: '0 0 32 32', class: big ? 'logo logo-big' : 'logo', 'aria-hidden': 'true'},
    s('rect', {width: 32, height: 32, rx: 8, class: 'logo-bg'}));
  for (const r of [6, 12, 18]) {
    svg.append(s('path', {d: `M8 ${25 - r}A${r} ${r} 0 0 1 ${8 + r} 25`, class: 'logo-arc'}));
  }
  svg.append(s('circle', {cx: 8.5, cy: 24.5, r: 2.4, class: 'logo-dot'}));
  return svg;
}

/** toast shows a short message in the polite live region. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', {class: ['toast', 'toast-' + kind]}, message);
  box.append(t);
  setTimeout(() => t.classList.add('toast-out'), 4000);
  setTimeout(() => t.remove(), 4600);
}

/** copyText copies text to the clipboard, with a fallback for pages that
 * are not a secure context (a hub on plain HTTP away from loopback). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch { /* fall back below */ }
  const ta = h('textarea', {class: 'offscreen', readOnly: true, 'aria-hidden': 'true'});
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  return ok;
}

/** copyButton is a button that copies text() and says so. */
export function copyButton(text, label = 'Copy', extra = {}) {
  const b = h('button', {type: 'button', class: 'btn btn-small', ...extra}, icon('copy'), h('span', {}, label));
  b.addEventListener('click', async () => {
    const ok = await copyText(typeof text === 'function' ? text() : text);
    const span = b.querySelector('span');
    span.textContent = ok ? 'Copied' : 'Copy failed';
    b.classList.toggle('copied', ok);
    setTimeout(() => { span.textContent = label; b.classList.remove('copied'); }, 1600);
  });
  return b;
}

/** confirmDialog opens a modal dialog and resolves true when confirmed.
 * With typed set, the user must type that text first (a name to delete). */
export function confirmDialog({title, body, confirm = 'Confirm', danger = false, typed = ''}) {
  return new Promise((resolve) => {
    const input = typed ? h('input', {type: 'text', class: 'input mono', autocomplete: 'off', spellcheck: 'false',
      'aria-describedby': 'confirm-typed-hint', id: 'confirm-typed'}) : null;
    const ok = h('button', {type: 'submit', class: ['btn', danger ? 'btn-danger' : 'btn-primary'], disabled: !!typed,
      value: 'ok'}, confirm);
    const form = h('form', {method: 'dialog', class: 'dialog-body'},
      h('h2', {id: 'dialog-title'}, title),
      append(h('div', {class: 'dialog-text'}), [body]),
      typed && h('label', {for: 'confirm-typed', class: 'label'}, 'Type ', h('code', {}, typed), ' to confirm'),
      input,
      typed && h('p', {id: 'confirm-typed-hint', class: 'hint'}, 'This cannot be undone.'),
      h('div', {class: 'dialog-actions'},
        h('button', {type: 'submit', class: 'btn', value: 'cancel', formnovalidate: true}, 'Cancel'), ok));
    const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': 'dialog-title'}, form);
    if (input) input.addEventListener('input', () => { ok.disabled = input.value.trim() !== typed; });
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
    (input || ok).focus();
  });
}

/** emptyState is what a page shows when it has nothing: what to do next. */
export function emptyState(title, ...body) {
  return h('div', {class: 'empty'}, h('p', {class: 'empty-title'}, title), ...body);
}

/** codeLine is a copyable line of code. */
export function codeLine(text, label) {
  return h('div', {class: 'codeline'},
    label && h('span', {class: 'codeline-label'}, label),
    h('pre', {class: 'code', tabindex: '0'}, h('code', {}, text)),
    copyButton(text, 'Copy', {'aria-label': 'Copy ' + (label || 'line')}));
}
