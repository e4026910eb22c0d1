// Overview: health, store, uptime, live publish and delivery rates and open
// streams, from the hub's own SSE feed of statistics.

import {h, s, replace, emptyState, codeLine} from '../dom.js';
import {api} from '../api.js';
import {onStats} from '../stats.js';
import * as fmt from '../format.js';

function card(title, id) {
  const value = h('p', {class: 'card-value', id: id + '-value'}, '—');
  const detail = h('p', {class: 'card-detail', id: id + '-detail'});
  const el = h('section', {class: 'card', id, 'aria-labelledby': id + '-title'},
    h('h2', {class: 'card-title', id: id + '-title'}, title), value, detail);
  return {el, value, detail};
}

/** sparkline draws the last samples of key as a small SVG chart. */
function sparkline(label) {
  const line = s('polyline', {class: 'spark-line', points: ''});
  const area = s('polygon', {class: 'spark-area', points: ''});
  const svg = s('svg', {class: 'spark', viewBox: '0 0 120 32', preserveAspectRatio: 'none', role: 'img', 'aria-label': label}, area, line);
  svg.update = (values) => {
    if (values.length < 2) {
      line.setAttribute('points', '');
      area.setAttribute('points', '');
      return;
    }
    const max = Math.max(1, ...values);
    const step = 120 / (values.length - 1);
    const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(31 - (v / max) * 29).toFixed(1)}`);
    line.setAttribute('points', pts.join(' '));
    area.setAttribute('points', `0,32 ${pts.join(' ')} 120,32`);
  };
  return svg;
}

export default {
  id: 'overview',
  title: 'Overview',
  icon: 'overview',
  key: 'o',
  render(main) {
    const health = card('Health', 'card-health');
    const uptime = card('Uptime', 'card-uptime');
    const store = card('Store', 'card-store');
    const pub = card('Publish rate', 'card-publish');
    const del = card('Delivery rate', 'card-delivery');
    const streams = card('Open streams', 'card-streams');
    const head = card('Last event id', 'card-head');
    const pubSpark = sparkline('publish rate, last two minutes');
    const delSpark = sparkline('delivery rate, last two minutes');
    pub.el.insertBefore(pubSpark, pub.detail);
    del.el.insertBefore(delSpark, del.detail);
    const busy = h('div', {class: 'busy', id: 'busiest'});
    const updated = h('span', {class: 'updated', id: 'overview-updated', 'aria-live': 'off'}, 'waiting for the first sample…');

    replace(main,
      h('div', {class: 'page-head'},
        h('h1', {}, 'Overview'),
        h('p', {class: 'sub'}, 'This hub, live: a sample every second from its own statistics stream. ', updated)),
      h('div', {class: 'cards'}, health.el, uptime.el, store.el, pub.el, del.el, streams.el, head.el),
      h('section', {class: 'panel', 'aria-labelledby': 'busiest-title'},
        h('h2', {id: 'busiest-title'}, 'Busiest topics'), busy));

    let ready = null;
    const paintHealth = (f) => {
      const live = f.latest ? f.latest.ready : null;
      if (ready === null && live === null) return;
      const ok = ready !== false && live !== false;
      health.value.replaceChildren(h('span', {class: ['badge', ok ? 'badge-ok' : 'badge-danger']}, ok ? 'Ready' : 'Not ready'));
      health.detail.textContent = typeof ready === 'string' ? ready :
        (live ? 'live feed running; store healthy' : 'the live feed is not running');
    };
    const checkReady = async () => {
      try {
        await api('GET', '/readyz', undefined, {keepSession: true});
        ready = true;
      } catch (err) {
        ready = err.message || 'not ready';
      }
      paintHealth(lastFeed);
    };
    let lastFeed = {};
    checkReady();
    const readyTimer = setInterval(checkReady, 5000);

    const stop = onStats((f) => {
      lastFeed = f;
      const st = f.latest;
      if (!st) return;
      paintHealth(f);
      uptime.value.textContent = fmt.duration(st.uptime_seconds);
      uptime.detail.textContent = 'since ' + fmt.when(st.started_at);
      store.value.replaceChildren(h('span', {class: 'mono'}, st.store || 'store'));
      store.detail.textContent = st.retained ?
        `${fmt.num(st.retained.events)} events retained · ${fmt.bytes(st.retained.bytes)}` +
        (st.retained.retention_lag ? ` · ${fmt.num(st.retained.retention_lag)} past retention, being removed` : '') :
        'this store does not report its size';
      pub.value.replaceChildren(fmt.rate(f.pubRate), h('span', {class: 'unit'}, ' /s'));
      pub.detail.textContent = `${fmt.num(st.published)} published since start · ${fmt.num(st.duplicates)} duplicates`;
      del.value.replaceChildren(fmt.rate(f.delRate), h('span', {class: 'unit'}, ' /s'));
      del.detail.textContent = `${fmt.num(st.deliveries)} delivered · ${fmt.num(st.catchups)} catch-ups · ${fmt.num(st.replays)} replays`;
      pubSpark.update(f.history.map((x) => x.pub));
      delSpark.update(f.history.map((x) => x.del));
      streams.value.textContent = fmt.num(st.subscribers);
      streams.detail.textContent = `subscriptions · ${fmt.num(st.streams)} HTTP stream${st.streams === 1 ? '' : 's'}, this console’s feed included`;
      head.value.textContent = fmt.id(st.head);
      head.detail.textContent = `${fmt.num(st.log_reads)} catch-up reads from the log`;
      updated.textContent = 'Updated ' + fmt.clock(st.time) + '.';
      paintBusy(busy, st);
    });
    return () => {
      stop();
      clearInterval(readyTimer);
    };
  },
};

function paintBusy(box, st) {
  const list = Object.entries(st.topic_rates || {}).sort((a, b) => b[1] - a[1]).slice(0, 8);
  if (!list.length) {
    if (!box.querySelector('.empty')) {
      replace(box, emptyState('No events in the last second.',
        h('p', {}, 'Publish one on the ', h('a', {href: '#/publish'}, 'Publish'), ' page, or from a shell:'),
        codeLine(`curl -X POST -H "Authorization: Bearer $SSEHUB_TOKEN" -d '{"hello":"world"}' ${location.origin}/publish/greetings`)));
    }
    return;
  }
  const max = list[0][1];
  replace(box, h('ol', {class: 'bars'}, list.map(([topic, r]) => {
    const bar = h('span', {class: 'bar-fill'});
    bar.style.width = Math.max(2, (r / max) * 100).toFixed(1) + '%'; // CSSOM, not an inline style attribute
    return h('li', {},
      h('a', {href: '#/topics/' + encodeURIComponent(topic), class: 'mono bar-name'}, topic),
      h('span', {class: 'bar-track'}, bar),
      h('span', {class: 'bar-rate'}, fmt.rate(r), ' /s'));
  })));
}
