// The ssehub console: the shell (header, navigation, theme, keyboard), the
// router (#/page/…?query) and the session's life (sign in, expiry, sign out).

import {h, replace, icon, logo, confirmDialog} from './js/dom.js';
import {session, loadSession, signOut, onSignedOut, endSession} from './js/api.js';
import {startStats, resetStats, onStats} from './js/stats.js';
import {until} from './js/format.js';
import signin from './js/pages/signin.js';
import overview from './js/pages/overview.js';
import topics from './js/pages/topics.js';
import tail, {stopTail} from './js/pages/tail.js';
import publish from './js/pages/publish.js';
import tokens from './js/pages/tokens.js';
import connections from './js/pages/connections.js';

const PAGES = [overview, topics, tail, publish, tokens, connections];
const app = document.getElementById('app');

let shell = null; // {main, nav, notice, status}
let current = null; // {page, cleanup}
let expiryTimer = 0;
let noticeTimer = 0;

/** route parses location.hash: #/topics/orders.created?x=1 → {page, rest, params}. */
function route() {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(2) : 'overview';
  const [pathPart, query = ''] = hash.split('?');
  const [name, ...rest] = pathPart.split('/');
  const page = PAGES.find((p) => p.id === name) || overview;
  return {page, rest: rest.map(decodeURIComponent).join('/'), params: new URLSearchParams(query)};
}

function render() {
  if (!shell) return;
  const r = route();
  if (current && current.cleanup) current.cleanup();
  for (const a of shell.nav.querySelectorAll('a')) {
    if (a.dataset.page === r.page.id) {
      a.setAttribute('aria-current', 'page');
      a.scrollIntoView({block: 'nearest', inline: 'nearest'});
    }
    else a.removeAttribute('aria-current');
  }
  replace(shell.main);
  document.title = r.page.title + ' · ssehub';
  const cleanup = r.page.render(shell.main, r);
  current = {page: r.page, cleanup};
  const heading = shell.main.querySelector('h1');
  if (heading && document.activeElement && !shell.main.contains(document.activeElement) && routedByUser) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({preventScroll: true});
  }
  routedByUser = false;
}

let routedByUser = false;

/** go navigates to a console page. */
function go(hash) {
  routedByUser = true;
  if (location.hash === hash) render();
  else location.hash = hash;
}

// Theme: auto (follows the system), light or dark; only the choice is kept.
const THEMES = ['auto', 'light', 'dark'];

function theme() {
  return localStorage.getItem('ssehub-theme') || 'auto';
}

function setTheme(t) {
  if (t === 'auto') {
    localStorage.removeItem('ssehub-theme');
    delete document.documentElement.dataset.theme;
  } else {
    localStorage.setItem('ssehub-theme', t);
    document.documentElement.dataset.theme = t;
  }
}

function themeButton() {
  const b = h('button', {type: 'button', class: 'btn btn-icon', id: 'theme-toggle'});
  const paint = () => {
    const t = theme();
    const label = t === 'auto' ? 'Theme: automatic (follows the system). Switch to light' :
      t === 'light' ? 'Theme: light. Switch to dark' : 'Theme: dark. Switch to automatic';
    replace(b, icon(t === 'auto' ? 'auto' : t === 'light' ? 'sun' : 'moon'));
    b.setAttribute('aria-label', label);
    b.title = label;
  };
  b.addEventListener('click', () => {
    setTheme(THEMES[(THEMES.indexOf(theme()) + 1) % THEMES.length]);
    paint();
  });
  paint();
  return b;
}

function whoLabel(w) {
  if (w.admin) return 'admin token';
  return (w.label ? w.label : w.id) + ' · ' + w.purpose;
}

function buildShell() {
  const w = session.who;
  const nav = h('nav', {class: 'nav', 'aria-label': 'Console pages'},
    h('ul', {}, PAGES.map((p) => h('li', {},
      h('a', {href: '#/' + p.id, dataset: {page: p.id}, onclick: () => { routedByUser = true; }},
        icon(p.icon), h('span', {}, p.title),
        p.admin && !(w.admin || w.purpose === 'admin') ? h('span', {class: 'nav-lock', title: 'needs an admin token'}, '·') : null)))));
  const status = h('span', {class: 'live-dot', role: 'img', 'aria-label': 'statistics feed: connecting'});
  const signOutBtn = h('button', {type: 'button', class: 'btn btn-small', id: 'sign-out'}, icon('out'), h('span', {}, 'Sign out'));
  signOutBtn.addEventListener('click', () => signOut());
  const header = h('header', {class: 'bar'},
    h('div', {class: 'bar-top'},
      h('a', {class: 'brand', href: '#/overview'}, logo(), h('span', {class: 'brand-name'}, 'ssehub'), status),
      h('div', {class: 'bar-actions'},
        h('span', {class: 'who', id: 'who', title: w.topics ? 'scope: ' + w.topics.join(', ') : ''},
          h('span', {class: 'who-name'}, whoLabel(w)),
          w.topics && !(w.topics.length === 1 && w.topics[0] === '*') ? h('span', {class: 'who-scope mono'}, w.topics.join(', ')) : null),
        h('button', {type: 'button', class: 'btn btn-icon', id: 'shortcuts', 'aria-label': 'Keyboard shortcuts', title: 'Keyboard shortcuts (?)',
          onclick: showShortcuts}, icon('keyboard')),
        themeButton(), signOutBtn)),
    nav);
  const notice = h('div', {class: 'notice', role: 'status', hidden: true});
  const main = h('main', {id: 'main', class: 'main', tabindex: '-1'});
  replace(app, header, notice, main);
  app.removeAttribute('aria-busy');
  shell = {main, nav, notice, status};
  onStats((f) => {
    status.className = 'live-dot live-' + f.state;
    status.setAttribute('aria-label', 'statistics feed: ' + f.state);
    status.title = 'live statistics: ' + f.state;
  });
}


/** watchExpiry signs out when the token expires and warns ten minutes before. */
function watchExpiry() {
  clearTimeout(expiryTimer);
  clearInterval(noticeTimer);
  const exp = session.who && session.who.expires_at;
  if (!exp) return;
  const at = new Date(exp).getTime();
  const tick = () => {
    const left = at - Date.now();
    if (left <= 0) {
      endSession('Your token expired. Sign in with a new token.');
      return;
    }
    if (shell) {
      shell.notice.hidden = left > 10 * 60 * 1000;
      shell.notice.textContent = 'Your token expires ' + until(exp) + '. Create a new one on Tokens before it does.';
    }
    expiryTimer = setTimeout(tick, Math.min(left, 30_000));
  };
  tick();
}

function startConsole() {
  buildShell();
  startStats();
  watchExpiry();
  render();
}

function showSignIn(message) {
  clearTimeout(expiryTimer);
  if (current && current.cleanup) current.cleanup();
  current = null;
  shell = null;
  stopTail();
  resetStats();
  for (const d of document.querySelectorAll('dialog')) d.remove();
  document.title = 'Sign in · ssehub';
  app.removeAttribute('aria-busy');
  replace(app, signin.render({message, onSignedIn: startConsole}));
  const input = app.querySelector('input');
  if (input) input.focus();
}

onSignedOut((message) => showSignIn(message));
window.addEventListener('hashchange', () => {
  if (location.hash === '' || location.hash.startsWith('#/')) render();
});
document.querySelector('.skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  const main = document.getElementById('main');
  if (main) main.focus();
});

// Keyboard: g then a page's key goes there; / finds; ? lists the shortcuts.
let pendingG = 0;

function typing(el) {
  return el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

function showShortcuts() {
  const rows = [
    ...PAGES.map((p) => ['g ' + p.key, p.title]),
    ['/', 'Search or filter on this page'],
    ['p', 'Pause or resume the live tail'],
    ['Ctrl+Enter', 'Publish (in the publish form)'],
    ['?', 'This list'],
    ['Esc', 'Close a dialog'],
  ];
  confirmDialog({
    title: 'Keyboard shortcuts',
    body: h('table', {class: 'keys'}, h('tbody', {}, rows.map(([k, what]) =>
      h('tr', {}, h('td', {}, k.split(' ').map((x) => h('kbd', {}, x))), h('td', {}, what))))),
    confirm: 'Close',
  });
}

document.addEventListener('keydown', (ev) => {
  if (!shell || ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target) || document.querySelector('dialog[open]')) return;
  if (pendingG) {
    clearTimeout(pendingG);
    pendingG = 0;
    const p = PAGES.find((x) => x.key === ev.key);
    if (p) {
      ev.preventDefault();
      go('#/' + p.id);
    }
    return;
  }
  if (ev.key === 'g') {
    pendingG = setTimeout(() => { pendingG = 0; }, 1500);
    return;
  }
  if (ev.key === '?') {
    ev.preventDefault();
    showShortcuts();
    return;
  }
  if (ev.key === '/') {
    const search = shell.main.querySelector('[data-search]');
    if (search) {
      ev.preventDefault();
      search.focus();
      search.select && search.select();
    }
    return;
  }
  if (current && current.page.keys && current.page.keys[ev.key]) {
    ev.preventDefault();
    current.page.keys[ev.key]();
  }
});

async function boot() {
  let who = null;
  try {
    who = await loadSession();
  } catch (err) {
    replace(app, h('div', {class: 'fatal', role: 'alert'}, h('h1', {}, 'The hub cannot be reached'), h('p', {}, err.message),
      h('button', {type: 'button', class: 'btn btn-primary', onclick: () => location.reload()}, 'Retry')));
    app.removeAttribute('aria-busy');
    return;
  }
  if (who) startConsole();
  else showSignIn();
}

boot();
