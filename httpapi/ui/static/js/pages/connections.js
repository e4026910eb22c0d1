// Connections: the subscriptions open on this hub node, with the stream and
// client that opened them, their topics, token, age, position and lag.

import {h, replace, emptyState, codeLine, icon} from '../dom.js';
import {api} from '../api.js';
import {forbidden} from './topics.js';
import * as fmt from '../format.js';

const STATES = {
  live: ['live', 'badge-ok', 'receiving events as they are published'],
  queued: ['queued', 'badge-warn', 'events are waiting for the client to take them'],
  catching_up: ['catching up', 'badge-warn', 'reading from the log: it replays history or fell behind its queue'],
  ending: ['ending', 'badge-muted', 'the hub is ending it'],
};

export default {
  id: 'connections',
  title: 'Connections',
  icon: 'connections',
  key: 'c',
  admin: true,
  render(main) {
    const filter = h('input', {type: 'search', class: 'input', id: 'conn-filter', placeholder: 'Filter by stream, topic, client or token',
      'aria-label': 'Filter connections', dataset: {search: ''}, spellcheck: 'false'});
    const summary = h('p', {class: 'sub', id: 'conn-summary'}, 'Open streams of this hub node, refreshed every two seconds.');
    const body = h('div', {id: 'conn-body', 'aria-busy': 'true'}, h('p', {class: 'loading'}, 'Loading connections…'));
    replace(main,
      h('div', {class: 'page-head'}, h('h1', {}, 'Connections'), summary),
      h('div', {class: 'toolbar'}, filter),
      body);

    let data = null;
    let labels = new Map(); // token id → label
    let stopped = false;
    const paint = () => {
      body.setAttribute('aria-busy', 'false');
      const conns = data.connections;
      const behind = conns.filter((c) => c.state !== 'live').length;
      summary.textContent = `${fmt.num(data.total)} open stream${data.total === 1 ? '' : 's'}` +
        (behind ? ` · ${fmt.num(behind)} not live` : '') + ` · head ${fmt.id(data.head)}` +
        (data.truncated ? ` · showing the oldest ${fmt.num(conns.length)}` : '') + '. Refreshed every two seconds.';
      const q = filter.value.trim().toLowerCase();
      const shown = conns.filter((c) => !q || [c.stream, c.client, c.format, c.token_id, labels.get(c.token_id), ...c.topics]
        .some((x) => x && x.toLowerCase().includes(q)));
      if (!conns.length) {
        replace(body, emptyState('No open streams on this node.',
          h('p', {}, 'Start one on the ', h('a', {href: '#/tail'}, 'Live tail'), ' page, or from a shell:'),
          codeLine(`curl -N -H "Authorization: Bearer $SSEHUB_TOKEN" '${location.origin}/events?topic=*'`)));
        return;
      }
      if (!shown.length) {
        replace(body, emptyState(`No stream matches “${filter.value}”.`, h('p', {}, 'Clear the filter to see them all.')));
        return;
      }
      replace(body, h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'conn-table'},
        h('caption', {class: 'sr-only'}, 'Open streams'),
        h('thead', {}, h('tr', {}, ['Stream', 'Topics', 'Client', 'Token', 'Since', 'Position', 'Lag', 'State'].map((c, i) =>
          h('th', {scope: 'col', class: i === 5 || i === 6 ? 'num' : null}, c)))),
        h('tbody', {}, shown.map((c) => {
          const [st, cls, what] = STATES[c.state] || [c.state, 'badge-muted', ''];
          const tokenCell = c.token_id ? h('a', {href: '#/tokens', class: 'mono', title: c.token_id}, labels.get(c.token_id) || c.token_id) :
            h('span', {class: 'muted'}, c.stream === 'public' ? 'public' : 'admin token');
          return h('tr', {dataset: {stream: c.stream}},
            h('th', {scope: 'row', 'data-label': 'Stream'}, h('span', {class: 'mono'}, c.stream || '—'), ' ', h('span', {class: 'badge'}, c.format)),
            h('td', {class: 'mono', 'data-label': 'Topics'}, c.topics.join(', ')),
            h('td', {class: 'mono', 'data-label': 'Client'}, c.client || '—'),
            h('td', {'data-label': 'Token'}, tokenCell),
            h('td', {'data-label': 'Since'}, c.since ? h('time', {datetime: c.since, title: fmt.when(c.since)}, fmt.ago(c.since)) : '—'),
            h('td', {class: 'num mono', 'data-label': 'Position'}, c.position ? fmt.id(c.position) : '—'),
            h('td', {class: 'num', 'data-label': 'Lag'}, c.lag == null ? '—' : c.lag === 0 ? '0' : fmt.num(c.lag) + ' ids',
              c.queued ? h('span', {class: 'muted'}, ` (${fmt.num(c.queued)} queued)`) : null),
            h('td', {'data-label': 'State'}, h('span', {class: ['badge', cls], title: what}, st)));
        })))));
    };
    const load = async () => {
      try {
        const res = await api('GET', '/ui/api/connections');
        if (stopped) return;
        data = res;
        paint();
      } catch (err) {
        if (stopped) return;
        clearInterval(timer);
        body.setAttribute('aria-busy', 'false');
        replace(body, err.status === 403 ? forbidden(main, err, 'Connections') : h('p', {class: 'alert alert-danger', role: 'alert'}, err.message));
      }
    };
    const loadLabels = async () => {
      try {
        const res = await api('GET', '/api/tokens', undefined, {keepSession: true});
        labels = new Map(res.tokens.filter((t) => t.label).map((t) => [t.id, t.label]));
        if (data) paint();
      } catch { /* labels are a nicety */ }
    };
    filter.addEventListener('input', () => data && paint());
    load();
    loadLabels();
    const timer = setInterval(() => { if (!document.hidden) load(); }, 2000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  },
};
