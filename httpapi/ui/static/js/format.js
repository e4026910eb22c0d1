// Numbers, sizes and times formatted for people.

const lang = navigator.language || 'en';
const int = new Intl.NumberFormat(lang, {maximumFractionDigits: 0});
const one = new Intl.NumberFormat(lang, {maximumFractionDigits: 1});
const compact = new Intl.NumberFormat(lang, {notation: 'compact', maximumFractionDigits: 1});

/** num formats a count: 1,234 or 12.3M past a million. */
export function num(n) {
  if (n == null || Number.isNaN(Number(n))) return '—';
  n = Number(n);
  return Math.abs(n) >= 1e6 ? compact.format(n) : int.format(n);
}

/** rate formats events per second: 0, 0.4, 12, 1,234, 1.2M. */
export function rate(r) {
  if (r == null || Number.isNaN(r)) return '—';
  if (r === 0) return '0';
  if (r < 10) return one.format(r);
  return r >= 1e6 ? compact.format(r) : int.format(r);
}

/** bytes formats a size: 512 B, 12.3 KB, 4.1 GB. */
export function bytes(n) {
  if (n == null) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  n = Number(n);
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? int.format(n) : one.format(n)) + ' ' + units[i];
}

/** duration formats seconds as 45 s, 3 m 12 s, 5 h 3 m, 12 d 4 h. */
export function duration(sec) {
  if (sec == null || !Number.isFinite(sec)) return '—';
  sec = Math.max(0, Math.floor(sec));
  const d = Math.floor(sec / 86400), hr = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} m`;
  if (m) return `${m} m ${s} s`;
  return `${s} s`;
}

/** ago formats a past time relative to now: "just now", "5 m ago". */
export function ago(t) {
  const d = (Date.now() - new Date(t).getTime()) / 1000;
  if (!Number.isFinite(d)) return '—';
  if (d < 5) return 'just now';
  return duration(d) + ' ago';
}

/** until formats a future time relative to now: "in 7 h 59 m", or "expired". */
export function until(t) {
  const d = (new Date(t).getTime() - Date.now()) / 1000;
  if (!Number.isFinite(d)) return '—';
  if (d <= 0) return 'expired';
  return 'in ' + duration(d);
}

const dt = new Intl.DateTimeFormat(lang, {dateStyle: 'medium', timeStyle: 'short'});
const tm = new Intl.DateTimeFormat(lang, {hour: '2-digit', minute: '2-digit', second: '2-digit'});

/** when formats a date and time. */
export function when(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '—' : dt.format(d);
}

/** clock formats a time of day with seconds. */
export function clock(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '—' : tm.format(d);
}

/** id formats an event id: #98,812. */
export function id(v) {
  if (v == null || v === '') return '—';
  const n = Number(v);
  return '#' + (Number.isSafeInteger(n) ? int.format(n) : String(v));
}
