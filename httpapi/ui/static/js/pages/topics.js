// Topics: every topic with retained events (within the token's scope), its
// events, last id and live rate; one topic's current state and, for an Arrow
// topic, its schema; deregistration with confirmation.

import {h, replace, emptyState, confirmDialog, toast, codeLine, copyButton, icon} from '../dom.js';
import {api, session} from '../api.js';
import {onStats, feed} from '../stats.js';
import * as fmt from '../format.js';

const enc = encodeURIComponent;

export default {
  id: 'topics',
  title: 'Topics',
  icon: 'topics',
  key: 't',
  admin: true,
  render(main, route) {
    return route.rest ? renderTopic(main, route.rest) : renderList(main);
  },
};

/** needsAdmin explains a 403 from an admin endpoint. */
export function forbidden(main, err, what) {
  const w = session.who || {};
  return emptyState(what + ' need an admin token.',
    h('p', {}, 'You are signed in with a ', h('strong', {}, w.purpose || 'non-admin'), ' token. The hub answered: ', h('q', {}, err.message)),
    h('p', {}, 'Sign out and sign in with an admin token, or ask an operator for one.'));
}

function renderList(main) {
  const filter = h('input', {type: 'search', class: 'input', id: 'topic-filter', placeholder: 'Filter topics', 'aria-label': 'Filter topics',
    autocomplete: 'off', spellcheck: 'false', dataset: {search: ''}});
  const count = h('span', {class: 'count', id: 'topic-count'});
  const body = h('div', {id: 'topics-body', 'aria-live': 'polite', 'aria-busy': 'true'}, h('p', {class: 'loading'}, 'Loading topics…'));
  const refresh = h('button', {type: 'button', class: 'btn btn-small', 'aria-label': 'Refresh topics'}, icon('refresh'), h('span', {}, 'Refresh'));
  replace(main,
    h('div', {class: 'page-head'},
      h('h1', {}, 'Topics ', count),
      h('p', {class: 'sub'}, 'Topics with retained events; rates are live. Select a topic for its current state and schema.')),
    h('div', {class: 'toolbar'}, filter, refresh),
    body);

  let topics = [];
  let next = '';
  let rows = new Map(); // topic → {tr, rate}
  let stopped = false;

  const paint = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = topics.filter((t) => !q || t.topic.toLowerCase().includes(q));
    count.textContent = topics.length ? `(${fmt.num(topics.length)}${next ? '+' : ''})` : '';
    body.setAttribute('aria-busy', 'false');
    if (!topics.length) {
      replace(body, emptyState('No topics yet.',
        h('p', {}, 'A topic appears when its first event is published. Publish one on the ', h('a', {href: '#/publish'}, 'Publish'),
          ' page, or from a shell:'),
        codeLine(`curl -X POST -H "Authorization: Bearer $SSEHUB_TOKEN" -H 'Content-Type: application/json' -d '{"total":42}' ${location.origin}/publish/orders.created`)));
      rows = new Map();
      return;
    }
    if (!shown.length) {
      replace(body, emptyState(`No topic matches “${filter.value}”.`, h('p', {}, 'Clear the filter to see all topics.')));
      rows = new Map();
      return;
    }
    const same = shown.length === rows.size && shown.every((t) => rows.has(t.topic) && rows.get(t.topic).gone === !!t.deregistered);
    if (same) {
      // Refresh the numbers in place: focus and scroll stay where they are.
      for (const t of shown) {
        const r = rows.get(t.topic);
        r.events.textContent = fmt.num(t.events);
        r.last.textContent = fmt.id(t.last_id);
      }
      return;
    }
    rows = new Map();
    const tbody = h('tbody', {}, shown.map((t) => {
      const rate = h('td', {class: 'num', 'data-label': 'Rate'}, rateText(t.topic));
      const events = h('td', {class: 'num', 'data-label': 'Events'}, fmt.num(t.events));
      const last = h('td', {class: 'num mono', 'data-label': 'Last id'}, fmt.id(t.last_id));
      const tr = h('tr', {class: t.deregistered ? 'row-muted' : null, dataset: {topic: t.topic}},
        h('th', {scope: 'row', 'data-label': 'Topic'},
          h('a', {href: '#/topics/' + enc(t.topic), class: 'mono'}, t.topic),
          t.deregistered && h('span', {class: 'badge badge-danger'}, 'deregistered')),
        events, last, rate,
        h('td', {class: 'actions', 'data-label': 'Actions'},
          h('a', {class: 'btn btn-small', href: '#/tail?topic=' + enc(t.topic), 'aria-label': 'Tail ' + t.topic}, 'Tail'),
          !t.deregistered && h('a', {class: 'btn btn-small', href: '#/publish?topic=' + enc(t.topic), 'aria-label': 'Publish to ' + t.topic}, 'Publish'),
          !t.deregistered && h('button', {type: 'button', class: 'btn btn-small btn-danger-ghost', 'aria-label': 'Deregister ' + t.topic,
            onclick: () => deregister(t.topic, load)}, 'Deregister')));
      rows.set(t.topic, {tr, rate, events, last, gone: !!t.deregistered});
      return tr;
    }));
    replace(body, h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'topics-table'},
      h('caption', {class: 'sr-only'}, 'Topics'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Topic'), h('th', {scope: 'col', class: 'num'}, 'Events'),
        h('th', {scope: 'col', class: 'num'}, 'Last id'), h('th', {scope: 'col', class: 'num'}, 'Rate /s'), h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Actions')))),
      tbody)),
    next && h('p', {class: 'more'}, h('button', {type: 'button', class: 'btn', onclick: () => load(true)}, 'Load more topics')));
  };

  const load = async (more) => {
    try {
      const after = more ? next : '';
      const page = await api('GET', '/api/topics?limit=1000' + (after ? '&after=' + enc(after) : ''));
      if (stopped) return;
      topics = more ? topics.concat(page.topics) : page.topics;
      next = page.next || '';
      paint();
    } catch (err) {
      if (stopped) return;
      body.setAttribute('aria-busy', 'false');
      replace(body, err.status === 403 ? forbidden(main, err, 'Topics') : h('p', {class: 'alert alert-danger', role: 'alert'}, err.message));
    }
  };
  filter.addEventListener('input', paint);
  refresh.addEventListener('click', () => load());
  load();
  const timer = setInterval(() => { if (!next && !document.hidden) load(); }, 5000);
  const stop = onStats(() => {
    for (const [topic, r] of rows) r.rate.textContent = rateText(topic);
  });
  return () => {
    stopped = true;
    clearInterval(timer);
    stop();
  };
}

function rateText(topic) {
  const st = feed.latest;
  if (!st) return '—';
  const r = st.topic_rates && st.topic_rates[topic];
  if (r == null) return st.topic_rates_truncated ? '—' : '0';
  return fmt.rate(r);
}

async function deregister(topic, after) {
  const ok = await confirmDialog({
    title: 'Deregister ' + topic + '?',
    body: [h('p', {}, 'On every node of the hub:'),
      h('ul', {}, h('li', {}, 'new subscriptions that name ', h('code', {}, topic), ' get 410 Gone;'),
        h('li', {}, 'open streams that name it end with an error event;'),
        h('li', {}, 'publishing to it is refused.')),
      h('p', {}, 'Its retained events stay until retention removes them.')],
    confirm: 'Deregister',
    danger: true,
    typed: topic,
  });
  if (!ok) return;
  try {
    await api('DELETE', '/api/topics/' + enc(topic));
    toast(`Deregistered ${topic}.`, 'ok');
    after();
  } catch (err) {
    toast('Deregistering failed: ' + err.message, 'danger');
  }
}

function renderTopic(main, topic) {
  const body = h('div', {id: 'topic-body', 'aria-busy': 'true'}, h('p', {class: 'loading'}, 'Loading…'));
  const rate = h('span', {id: 'topic-rate'}, '—');
  replace(main,
    h('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb'}, h('a', {href: '#/topics'}, 'Topics'), ' / '),
    h('div', {class: 'page-head'}, h('h1', {class: 'mono break'}, topic)),
    body);
  let stopped = false;
  const load = async () => {
    let t;
    try {
      t = await api('GET', '/api/topics/' + enc(topic));
    } catch (err) {
      if (stopped) return;
      body.setAttribute('aria-busy', 'false');
      replace(body, err.status === 403 ? forbidden(main, err, 'Topics') : err.status === 404 ?
        emptyState('This topic has no retained events.', h('p', {}, 'It may never have had any, or retention removed them. ',
          h('a', {href: '#/publish?topic=' + enc(topic)}, 'Publish to it'), ' or go back to ', h('a', {href: '#/topics'}, 'Topics'), '.')) :
        h('p', {class: 'alert alert-danger', role: 'alert'}, err.message));
      return;
    }
    if (stopped) return;
    body.setAttribute('aria-busy', 'false');
    const last = t.last_event ? JSON.stringify(arrowSafe(t.last_event), null, 2) : '';
    replace(body,
      h('dl', {class: 'facts'},
        fact('Events retained', fmt.num(t.events)),
        fact('Last id', fmt.id(t.last_id)),
        fact('Rate', rate, ' /s'),
        fact('Status', t.deregistered ? h('span', {class: 'badge badge-danger'}, 'deregistered') :
          h('span', {class: 'badge badge-ok'}, 'active')),
        t.schema && fact('Format', h('span', {class: 'badge badge-accent'}, 'Arrow'))),
      h('div', {class: 'toolbar'},
        h('a', {class: 'btn', href: '#/tail?topic=' + enc(topic)}, icon('tail'), 'Tail'),
        !t.deregistered && h('a', {class: 'btn', href: '#/publish?topic=' + enc(topic)}, icon('publish'), 'Publish'),
        !t.deregistered && h('button', {type: 'button', class: 'btn btn-danger-ghost', id: 'deregister',
          onclick: () => deregister(topic, load)}, icon('trash'), 'Deregister')),
      t.schema && schemaPanel(t),
      h('section', {class: 'panel', 'aria-labelledby': 'state-title'},
        h('div', {class: 'panel-head'}, h('h2', {id: 'state-title'}, 'Current state (last event)'), last && copyButton(last, 'Copy JSON')),
        last ? h('pre', {class: 'code json', tabindex: '0', id: 'last-event'}, h('code', {}, last)) :
          h('p', {class: 'hint'}, 'No event retained.')));
    paintRate();
  };
  const paintRate = () => { rate.textContent = rateText(topic); };
  load();
  const stop = onStats(paintRate);
  return () => {
    stopped = true;
    stop();
  };
}

/** arrowSafe replaces an Arrow batch's binary data, which is no text to show. */
export function arrowSafe(env) {
  if (!env || !env.meta || !env.meta.arrow_schema) return env;
  const rows = env.meta.rows != null ? `${fmt.num(env.meta.rows)} rows` : 'rows';
  return {...env, data: `(an Arrow IPC record batch of ${rows}: stream it with format arrow, or GET /stream/{token})`};
}

function fact(name, ...value) {
  return h('div', {class: 'fact'}, h('dt', {}, name), h('dd', {}, ...value));
}

function schemaPanel(t) {
  const sc = t.schema;
  const meta = Object.entries(sc.metadata || {});
  return h('section', {class: 'panel', id: 'schema', 'aria-labelledby': 'schema-title'},
    h('div', {class: 'panel-head'}, h('h2', {id: 'schema-title'}, 'Arrow schema'),
      h('span', {class: 'hint'}, 'since ', fmt.id(sc.since), ' · fingerprint ', h('code', {title: sc.fingerprint}, String(sc.fingerprint || '').slice(0, 12)))),
    h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'schema-fields'},
      h('caption', {class: 'sr-only'}, 'Schema fields'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Field'), h('th', {scope: 'col'}, 'Type'), h('th', {scope: 'col'}, 'Nullable'))),
      h('tbody', {}, (sc.fields || []).map((f) => h('tr', {},
        h('th', {scope: 'row', class: 'mono', 'data-label': 'Field'}, f.name),
        h('td', {class: 'mono', 'data-label': 'Type'}, f.type),
        h('td', {'data-label': 'Nullable'}, f.nullable ? 'yes' : 'no')))))),
    meta.length > 0 && h('dl', {class: 'facts'}, meta.map(([k, v]) => fact(k, h('code', {}, v)))),
    (t.schema_changes || []).length > 1 && h('p', {class: 'hint'},
      `${t.schema_changes.length} schema changes recorded; the latest starts at `, fmt.id(t.schema_changes[t.schema_changes.length - 1].id), '.'));
}
