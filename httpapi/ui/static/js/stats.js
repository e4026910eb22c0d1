// The hub's live statistics: one EventSource on /ui/api/stats for the whole
// console (the product's own SSE, written by package emitter), turned into
// rates for the overview, the topics page and the status in the header.

import {endSession, explain401, loadSession} from './api.js';

const HISTORY = 120; // samples kept for the sparklines (two minutes at 1/s)

/** feed is the latest state: connection, last sample, rates, history. */
export const feed = {state: 'off', latest: null, pubRate: null, delRate: null, history: []};

const subs = new Set();
let es = null;
let prev = null;
let retryTimer = 0;

function notify() {
  for (const fn of subs) fn(feed);
}

/** onStats calls fn(feed) on every sample and state change; returns the unsubscribe. */
export function onStats(fn) {
  subs.add(fn);
  fn(feed);
  return () => subs.delete(fn);
}

/** startStats opens the feed (once). */
export function startStats() {
  if (es) return;
  clearTimeout(retryTimer);
  feed.state = 'connecting';
  notify();
  es = new EventSource('/ui/api/stats');
  es.addEventListener('open', () => { feed.state = 'live'; notify(); });
  es.addEventListener('stats', (ev) => {
    let s;
    try { s = JSON.parse(ev.data); } catch { return; }
    const t = Date.parse(s.time);
    if (prev && t > prev.t) {
      const dt = (t - prev.t) / 1000;
      feed.pubRate = Math.max(0, (s.published - prev.published) / dt);
      feed.delRate = Math.max(0, (s.deliveries - prev.deliveries) / dt);
      feed.history.push({t, pub: feed.pubRate, del: feed.delRate});
      if (feed.history.length > HISTORY) feed.history.shift();
    }
    prev = {t, published: s.published, deliveries: s.deliveries};
    feed.latest = s;
    feed.state = 'live';
    notify();
  });
  es.addEventListener('error', (ev) => {
    if (ev.data) {
      // The hub ended the feed: {"code","message"} (a revoked or expired token).
      let e = {};
      try { e = JSON.parse(ev.data); } catch { /* not ours */ }
      stopStats();
      if (e.code === 'UNAUTHORIZED') endSession(explain401(e.message));
      return;
    }
    if (es && es.readyState === EventSource.CLOSED) {
      // Refused (not a dropped connection): find out whether the session ended.
      stopStats();
      feed.state = 'reconnecting';
      notify();
      retryTimer = setTimeout(async () => {
        try {
          if (await loadSession()) startStats();
          else endSession('Your session ended. Sign in again.');
        } catch {
          startStats(); // the hub is away: keep trying
        }
      }, 3000);
      return;
    }
    feed.state = 'reconnecting';
    notify();
  });
}

/** stopStats closes the feed. */
export function stopStats() {
  clearTimeout(retryTimer);
  if (es) es.close();
  es = null;
  prev = null;
  feed.state = 'off';
  notify();
}

/** resetStats forgets what the feed has seen (a new session). */
export function resetStats() {
  stopStats();
  feed.latest = null;
  feed.pubRate = feed.delRate = null;
  feed.history = [];
}
