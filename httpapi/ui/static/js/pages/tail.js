// Live tail: an EventSource on GET /events for a pattern, in the envelope
// format, authenticated by the session cookie. The browser resumes by
// itself after a dropped connection (Last-Event-ID); a stopped tail can be
// resumed after the last id it saw. The tail keeps running while other
// pages are open, so an event published on the Publish page shows up here.

import {h, replace, icon, emptyState, copyButton, copyText, toast} from '../dom.js';
import {session, endSession, explain401, loadSession} from '../api.js';
import * as fmt from '../format.js';
import {arrowSafe} from './topics.js';

const KEEP = 2000; // events kept in memory
const SHOW = 500; // events kept on the page

const state = {
  es: null,
  pattern: '',
  from: 'live',
  status: 'idle', // idle | connecting | live | reconnecting | ended
  reason: '',
  lastId: '',
  events: [], // newest last
  paused: false,
  held: [], // arrived while paused
  filter: '',
  pretty: true,
  seq: 0,
};

let view = null; // the page's hooks while it is shown

function setStatus(status, reason = '') {
  state.status = status;
  state.reason = reason;
  if (view) view.status();
}

function add(item) {
  item.seq = ++state.seq;
  if (state.paused) {
    state.held.push(item);
    if (state.held.length > KEEP) state.held.shift();
    if (view) view.status();
    return;
  }
  state.events.push(item);
  if (state.events.length > KEEP) state.events.shift();
  if (view) view.added(item);
}

/** startTail opens the tail of pattern, from "live", "earliest", "resume" or an id. */
export function startTail(pattern, from = 'live') {
  stopTail();
  state.pattern = pattern;
  state.from = from;
  const q = new URLSearchParams({topic: pattern, format: 'envelope'});
  if (from === 'earliest') q.set('last_event_id', 'earliest');
  else if (from === 'resume' && state.lastId) q.set('last_event_id', state.lastId);
  else if (/^\d+$/.test(from)) q.set('last_event_id', from);
  const url = '/events?' + q;
  const es = new EventSource(url);
  state.es = es;
  setStatus('connecting');
  es.addEventListener('open', () => { if (state.es === es) setStatus('live'); });
  es.addEventListener('message', (ev) => {
    let env = null;
    try { env = arrowSafe(JSON.parse(ev.data)); } catch { /* not an envelope */ }
    state.lastId = ev.lastEventId || (env && String(env.id)) || state.lastId;
    add(env ? {kind: 'event', id: ev.lastEventId || String(env.id), topic: env.event_type, type: env.type || 'message',
      key: env.event_id, entity: env.entity_id, created: env.created_at, data: env.data, env} :
      {kind: 'event', id: ev.lastEventId, topic: '', type: 'message', data: ev.data, env: null});
  });
  es.addEventListener('gap', (ev) => {
    let g = {};
    try { g = JSON.parse(ev.data); } catch { /* keep going */ }
    add({kind: 'note', text: `Gap: the events after ${fmt.id(g.last_event_id)} are no longer retained (${g.reason || 'retention'}); continuing at ${fmt.id(g.earliest)}.`});
  });
  es.addEventListener('error', (ev) => {
    if (state.es !== es) return;
    if (ev.data) {
      // The hub ended the stream: {"code","message"}.
      let e = {};
      try { e = JSON.parse(ev.data); } catch { /* not ours */ }
      es.close();
      state.es = null;
      setStatus('ended', streamEnd(e));
      add({kind: 'note', text: 'The hub ended the stream: ' + (e.message || 'no reason given') + '.'});
      if (e.code === 'UNAUTHORIZED') checkSession(e.message);
      return;
    }
    if (es.readyState === EventSource.CLOSED) {
      // Refused: ask the same URL for JSON to learn why.
      state.es = null;
      explainFailure(url);
      return;
    }
    setStatus('reconnecting', state.lastId ? `resuming after ${fmt.id(state.lastId)}` : '');
  });
}

function streamEnd(e) {
  if (e.code === 'UNAUTHORIZED') return /revoked/i.test(e.message) ? 'the token was revoked' : 'the token expired';
  if (e.code === 'GONE') return e.message;
  return e.message || 'ended by the hub';
}

async function checkSession(message) {
  try {
    if (!(await loadSession())) endSession(explain401(message) + ' Its live tail ended.');
  } catch { /* the hub is away; the stats feed notices */ }
}

async function explainFailure(url) {
  let msg = 'the hub refused the stream';
  try {
    const res = await fetch(url + '&limit=1', {headers: {Accept: 'application/json'}, credentials: 'same-origin', cache: 'no-store'});
    const body = await res.json().catch(() => null);
    if (!res.ok && body && body.error) {
      msg = body.error.message;
      if (res.status === 401) {
        endSession(explain401(msg));
        return;
      }
    } else if (res.ok) {
      msg = 'the connection failed; press Start to try again';
    }
  } catch {
    msg = 'the hub cannot be reached';
  }
  setStatus('ended', msg);
}

/** stopTail closes the tail; its events and last id stay. */
export function stopTail() {
  if (state.es) state.es.close();
  state.es = null;
  if (state.status !== 'ended' && state.status !== 'idle') setStatus('idle', 'stopped');
}

function togglePause() {
  state.paused = !state.paused;
  if (!state.paused) {
    const held = state.held;
    state.held = [];
    for (const it of held) {
      state.events.push(it);
      if (state.events.length > KEEP) state.events.shift();
    }
    if (view) view.all();
  }
  if (view) view.status();
}

function clearEvents() {
  state.events = [];
  state.held = [];
  if (view) view.all();
}

function dataText(item, pretty) {
  const d = item.data;
  if (d == null) return '';
  if (typeof d === 'string') return d;
  const flat = JSON.stringify(d);
  return pretty && flat.length > 72 ? JSON.stringify(d, null, 2) : flat;
}

function matches(item) {
  if (!state.filter) return true;
  const q = state.filter.toLowerCase();
  if (item.kind === 'note') return item.text.toLowerCase().includes(q);
  return [item.topic, item.type, item.id, item.key, dataText(item, false)].some((x) => x && String(x).toLowerCase().includes(q));
}

function eventNode(item) {
  if (item.kind === 'note') return h('li', {class: 'tail-note', dataset: {seq: item.seq}}, item.text);
  const text = dataText(item, state.pretty);
  return h('li', {class: 'tail-event', dataset: {seq: item.seq, id: item.id, topic: item.topic}},
    h('div', {class: 'tail-meta'},
      h('span', {class: 'tail-id mono'}, fmt.id(item.id)),
      h('span', {class: 'tail-topic mono'}, item.topic),
      item.type !== 'message' && h('span', {class: 'badge'}, item.type),
      item.key && h('span', {class: 'tail-key mono', title: 'idempotency key'}, 'key ', item.key),
      h('time', {class: 'tail-time', datetime: item.created || ''}, item.created ? fmt.clock(item.created) : ''),
      copyButton(() => dataText(item, true), 'Copy', {'aria-label': 'Copy the data of event ' + item.id})),
    h('pre', {class: ['tail-data', 'code', typeof item.data === 'string' ? 'text' : 'json']}, h('code', {}, text || '(no data)')));
}

export default {
  id: 'tail',
  title: 'Live tail',
  icon: 'tail',
  key: 'l',
  keys: {p: () => togglePause()},
  render(main, route) {
    const want = route.params.get('topic');
    const scope = (session.who && session.who.topics) || ['*'];
    const pattern = h('input', {type: 'text', class: 'input mono', id: 'tail-pattern', name: 'topic', spellcheck: 'false',
      autocomplete: 'off', autocapitalize: 'off', required: true, value: want || state.pattern || scope.join(','),
      'aria-describedby': 'tail-pattern-hint'});
    const from = h('select', {class: 'input', id: 'tail-from', name: 'from'},
      h('option', {value: 'live', selected: state.from === 'live'}, 'New events only'),
      h('option', {value: 'earliest', selected: state.from === 'earliest'}, 'Every retained event'),
      state.lastId && h('option', {value: 'resume'}, `Resume after ${fmt.id(state.lastId)}`));
    const startBtn = h('button', {type: 'submit', class: 'btn btn-primary', id: 'tail-start'});
    const form = h('form', {class: 'tail-form', id: 'tail-form'},
      h('div', {class: 'field grow'}, h('label', {for: 'tail-pattern', class: 'label'}, 'Topics'), pattern,
        h('p', {id: 'tail-pattern-hint', class: 'hint'}, h('code', {}, '*'), ' for all, ', h('code', {}, 'orders.*'), ' for a prefix, an exact topic, or several separated by commas.')),
      h('div', {class: 'field'}, h('label', {for: 'tail-from', class: 'label'}, 'From'), from),
      h('div', {class: 'field field-button'}, startBtn));

    const pauseBtn = h('button', {type: 'button', class: 'btn btn-small', id: 'tail-pause', 'aria-keyshortcuts': 'p'});
    const clearBtn = h('button', {type: 'button', class: 'btn btn-small', id: 'tail-clear'}, icon('trash'), 'Clear');
    const filter = h('input', {type: 'search', class: 'input input-small', id: 'tail-filter', placeholder: 'Filter events',
      'aria-label': 'Filter events', value: state.filter, dataset: {search: ''}, spellcheck: 'false'});
    const pretty = h('input', {type: 'checkbox', id: 'tail-pretty', checked: state.pretty});
    const copyAll = h('button', {type: 'button', class: 'btn btn-small', id: 'tail-copy'}, icon('copy'), 'Copy all');
    const statusText = h('span', {class: 'tail-status', id: 'tail-status', role: 'status'});
    const counts = h('span', {class: 'tail-counts', id: 'tail-counts'});
    const list = h('ol', {class: 'tail-list', id: 'tail-list', 'aria-label': 'Events, newest first'});
    const empty = h('div', {id: 'tail-empty'});

    replace(main,
      h('div', {class: 'page-head'}, h('h1', {}, 'Live tail'),
        h('p', {class: 'sub'}, 'Events as they are published, newest first. The stream resumes by itself after a dropped connection.')),
      form,
      h('div', {class: 'toolbar tail-toolbar'},
        h('div', {class: 'toolbar-group'}, statusText, counts),
        h('div', {class: 'toolbar-group'}, pauseBtn, clearBtn, filter,
          h('label', {class: 'check'}, pretty, ' Pretty JSON'), copyAll)),
      empty, list);

    const paintStatus = () => {
      const running = !!state.es;
      replace(startBtn, icon(running ? 'stop' : 'play'), running ? 'Stop' : 'Start');
      replace(pauseBtn, icon(state.paused ? 'play' : 'pause'), state.paused ? 'Resume' : 'Pause');
      pauseBtn.setAttribute('aria-pressed', String(state.paused));
      const label = {idle: 'Stopped', connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', ended: 'Ended'}[state.status];
      statusText.className = 'tail-status tail-' + state.status;
      replace(statusText, h('span', {class: 'live-dot live-' + (state.status === 'live' ? 'live' : state.status === 'ended' ? 'off' : 'connecting')}),
        ' ', label, state.reason ? ': ' + state.reason : '');
      counts.textContent = `${fmt.num(state.events.filter((e) => e.kind === 'event').length)} events` +
        (state.lastId ? ` · last ${fmt.id(state.lastId)}` : '') + (state.held.length ? ` · ${fmt.num(state.held.length)} waiting (paused)` : '');
      paintEmpty();
    };
    const paintEmpty = () => {
      if (list.firstChild) {
        empty.replaceChildren();
        return;
      }
      if (state.events.length) {
        replace(empty, emptyState('No event matches the filter.', h('p', {}, 'Clear the filter to see every event.')));
      } else if (state.es) {
        replace(empty, emptyState('Waiting for events…',
          h('p', {}, 'Publish one on the ', h('a', {href: '#/publish' + (pattern.value && !pattern.value.includes('*') && !pattern.value.includes(',') ? '?topic=' + encodeURIComponent(pattern.value) : '')}, 'Publish'),
            ' page and it appears here.')));
      } else {
        replace(empty, emptyState('Not tailing.', h('p', {}, 'Choose topics and press Start.')));
      }
    };
    let queued = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const frag = document.createDocumentFragment();
      for (let i = queued.length - 1; i >= 0; i--) {
        if (matches(queued[i])) frag.append(eventNode(queued[i]));
      }
      queued = [];
      list.prepend(frag);
      while (list.childElementCount > SHOW) list.lastElementChild.remove();
      paintStatus();
    };
    const paintAll = () => {
      queued = [];
      const items = state.events.filter(matches).slice(-SHOW).reverse();
      list.replaceChildren(...items.map(eventNode));
      paintStatus();
    };
    view = {
      status: paintStatus,
      all: paintAll,
      added: (item) => {
        queued.push(item);
        if (!frame) frame = requestAnimationFrame(flush);
      },
    };

    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (state.es) {
        stopTail();
        paintStatus();
        return;
      }
      const p = pattern.value.trim();
      if (!p) {
        pattern.focus();
        return;
      }
      startTail(p, from.value);
      paintStatus();
    });
    pauseBtn.addEventListener('click', togglePause);
    clearBtn.addEventListener('click', clearEvents);
    filter.addEventListener('input', () => { state.filter = filter.value.trim(); paintAll(); });
    pretty.addEventListener('change', () => { state.pretty = pretty.checked; paintAll(); });
    copyAll.addEventListener('click', async () => {
      const lines = state.events.filter((e) => e.kind === 'event' && matches(e)).map((e) => JSON.stringify(e.env || {id: e.id, data: e.data}));
      const ok = await copyText(lines.join('\n') + (lines.length ? '\n' : ''));
      toast(ok ? `Copied ${fmt.num(lines.length)} events as NDJSON.` : 'Copying failed.', ok ? 'ok' : 'danger');
    });

    if (want && (want !== state.pattern || !state.es)) {
      startTail(want, 'live');
    } else if (!state.es && state.status === 'idle' && !state.events.length) {
      startTail(pattern.value.trim(), 'live');
    }
    paintAll();
    return () => {
      if (frame) cancelAnimationFrame(frame);
      view = null;
    };
  },
};
