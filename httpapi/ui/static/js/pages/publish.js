// Publish: one event (topic, type, key, entity, data validated as JSON as
// you type, or plain text) or a batch of NDJSON envelopes, sent to
// POST /publish with the session's CSRF value.

import {h, replace, icon, toast} from '../dom.js';
import {api, canPublish, session} from '../api.js';
import * as fmt from '../format.js';

const TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const enc = encodeURIComponent;

/** jsonProblem returns why text is not JSON, with its line and column, or ''. */
export function jsonProblem(text) {
  try {
    JSON.parse(text);
    return '';
  } catch (err) {
    const at = jsonErrorAt(text);
    const where = at.pos >= 0 ? lineCol(text, at.pos) + ': ' : '';
    return where + (at.msg || err.message.replace(/,? ".*" is not valid JSON$/s, ''));
  }
}

function lineCol(text, pos) {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return `line ${line}, column ${pos - before.lastIndexOf('\n')}`;
}

/** jsonErrorAt scans text as JSON and returns where it first goes wrong. */
function jsonErrorAt(text) {
  let i = 0;
  const fail = (msg) => { throw {pos: i, msg}; };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a "name" in quotes');
        str(); ws();
        if (text[i] !== ':') fail('expected : after the name');
        i++; value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        fail(i >= text.length ? 'the object is not closed: expected }' : 'expected , or } after a value');
      }
    }
    if (c === '[') {
      i++; ws();
      if (text[i] === ']') { i++; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        fail(i >= text.length ? 'the array is not closed: expected ]' : 'expected , or ] after a value');
      }
    }
    if (c === '"') return str();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (m) { i += m[0].length; return; }
    fail(i >= text.length ? 'a value is missing at the end' : `unexpected ${JSON.stringify(c)}: expected a value`);
  };
  const str = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) fail('a line break or control character inside a string');
      i++;
    }
    if (i >= text.length) fail('the string is not closed: expected "');
    i++;
  };
  try {
    value(); ws();
    if (i < text.length) fail('unexpected text after the value');
  } catch (e) {
    if (e && typeof e.pos === 'number') return e;
    throw e;
  }
  return {pos: -1, msg: ''};
}

/** batchProblems checks NDJSON envelopes: [events, problems]. */
export function batchProblems(text) {
  const problems = [];
  let events = 0;
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v;
    try {
      v = JSON.parse(line);
    } catch (err) {
      problems.push(`line ${i + 1}: not JSON (${err.message.replace(/^JSON\.parse: /, '')})`);
      return;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) problems.push(`line ${i + 1}: an envelope is a JSON object`);
    else if (typeof v.topic !== 'string' || !TOPIC.test(v.topic)) problems.push(`line ${i + 1}: "topic" must be a topic like orders.created`);
    else events++;
  });
  return [events, problems];
}

const SAMPLE_BATCH = '{"topic":"orders.created","type":"created","data":{"id":1,"total":42}}\n' +
  '{"topic":"orders.created","type":"created","data":{"id":2,"total":7}}\n';

export default {
  id: 'publish',
  title: 'Publish',
  icon: 'publish',
  key: 'p',
  render(main, route) {
    const wantTopic = route.params.get('topic') || '';
    const mode = {value: route.params.get('mode') === 'batch' ? 'batch' : 'one'};
    const tabOne = h('button', {type: 'button', role: 'tab', id: 'tab-one', 'aria-controls': 'panel-one', class: 'tab'}, 'One event');
    const tabBatch = h('button', {type: 'button', role: 'tab', id: 'tab-batch', 'aria-controls': 'panel-batch', class: 'tab'}, 'NDJSON batch');
    const tabs = h('div', {class: 'tabs', role: 'tablist', 'aria-label': 'What to publish'}, tabOne, tabBatch);

    const topics = h('datalist', {id: 'known-topics'});
    const topic = h('input', {type: 'text', class: 'input mono', id: 'pub-topic', name: 'topic', required: true, value: wantTopic,
      list: 'known-topics', spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off', placeholder: 'orders.created',
      'aria-describedby': 'pub-topic-hint'});
    const topicHint = h('p', {class: 'hint', id: 'pub-topic-hint'}, 'Dot-separated words of letters, digits, _ and -.');
    const type = h('input', {type: 'text', class: 'input mono', id: 'pub-type', name: 'type', placeholder: 'message', spellcheck: 'false', autocomplete: 'off'});
    const key = h('input', {type: 'text', class: 'input mono', id: 'pub-key', name: 'key', spellcheck: 'false', autocomplete: 'off',
      'aria-describedby': 'pub-key-hint'});
    const entity = h('input', {type: 'text', class: 'input mono', id: 'pub-entity', name: 'entity', spellcheck: 'false', autocomplete: 'off'});
    const data = h('textarea', {class: 'input mono', id: 'pub-data', name: 'data', rows: '8', spellcheck: 'false',
      'aria-describedby': 'pub-data-status', 'aria-keyshortcuts': 'Control+Enter'});
    data.value = '{\n  "hello": "world"\n}';
    const asText = h('input', {type: 'checkbox', id: 'pub-text'});
    const dataStatus = h('p', {class: 'hint', id: 'pub-data-status', 'aria-live': 'polite'});
    const formatBtn = h('button', {type: 'button', class: 'btn btn-small', id: 'pub-format'}, 'Format JSON');
    const sendOne = h('button', {type: 'submit', class: 'btn btn-primary', id: 'pub-send'}, icon('publish'), 'Publish');
    const one = h('form', {id: 'panel-one', role: 'tabpanel', 'aria-labelledby': 'tab-one', class: 'form-grid', novalidate: true},
      h('div', {class: 'field'}, h('label', {for: 'pub-topic', class: 'label'}, 'Topic'), topic, topicHint),
      h('div', {class: 'field'}, h('label', {for: 'pub-type', class: 'label'}, 'Type ', h('span', {class: 'optional'}, 'optional')), type,
        h('p', {class: 'hint'}, 'The SSE event name in raw streams.')),
      h('div', {class: 'field'}, h('label', {for: 'pub-key', class: 'label'}, 'Idempotency key ', h('span', {class: 'optional'}, 'optional')), key,
        h('p', {class: 'hint', id: 'pub-key-hint'}, 'A repeat with the same key returns the first event’s id.')),
      h('div', {class: 'field'}, h('label', {for: 'pub-entity', class: 'label'}, 'Entity ', h('span', {class: 'optional'}, 'optional')), entity),
      h('div', {class: 'field field-wide'},
        h('div', {class: 'label-row'}, h('label', {for: 'pub-data', class: 'label'}, 'Data'),
          h('label', {class: 'check'}, asText, ' Plain text, not JSON'), formatBtn),
        data, dataStatus),
      h('div', {class: 'field field-wide form-actions'}, sendOne, h('span', {class: 'hint'}, h('kbd', {}, 'Ctrl'), '+', h('kbd', {}, 'Enter'), ' publishes')));

    const batch = h('textarea', {class: 'input mono', id: 'pub-batch', rows: '10', spellcheck: 'false', 'aria-describedby': 'pub-batch-status',
      'aria-label': 'NDJSON envelopes, one a line'});
    batch.value = SAMPLE_BATCH;
    const batchStatus = h('div', {class: 'hint', id: 'pub-batch-status', 'aria-live': 'polite'});
    const sendBatch = h('button', {type: 'submit', class: 'btn btn-primary', id: 'pub-batch-send'}, icon('publish'), 'Publish batch');
    const many = h('form', {id: 'panel-batch', role: 'tabpanel', 'aria-labelledby': 'tab-batch', class: 'form-grid', novalidate: true},
      h('div', {class: 'field field-wide'},
        h('p', {class: 'hint'}, 'One envelope a line: ', h('code', {}, '{"topic", "type", "key", "entity", "source", "meta", "data"}'),
          '. The batch is stored all or nothing.'),
        batch, batchStatus),
      h('div', {class: 'field field-wide form-actions'}, sendBatch));

    const result = h('div', {id: 'pub-result', 'aria-live': 'polite'});
    const note = !canPublish() ? h('p', {class: 'alert alert-info'}, `Your token’s purpose is ${session.who.purpose}: the hub will refuse to publish with it. Sign in with a publish or admin token.`) : null;
    replace(main,
      h('div', {class: 'page-head'}, h('h1', {}, 'Publish'),
        h('p', {class: 'sub'}, 'Events are acknowledged once they are durable in the log.')),
      note, tabs, h('div', {class: 'panel'}, one, many), result, topics);

    const showMode = () => {
      const isOne = mode.value === 'one';
      one.hidden = !isOne;
      many.hidden = isOne;
      tabOne.setAttribute('aria-selected', String(isOne));
      tabBatch.setAttribute('aria-selected', String(!isOne));
      tabOne.tabIndex = isOne ? 0 : -1;
      tabBatch.tabIndex = isOne ? -1 : 0;
    };
    tabOne.addEventListener('click', () => { mode.value = 'one'; showMode(); });
    tabBatch.addEventListener('click', () => { mode.value = 'batch'; showMode(); });
    tabs.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        mode.value = mode.value === 'one' ? 'batch' : 'one';
        showMode();
        (mode.value === 'one' ? tabOne : tabBatch).focus();
      }
    });
    showMode();

    const checkTopic = () => {
      const t = topic.value.trim();
      const bad = t && !TOPIC.test(t);
      topic.setAttribute('aria-invalid', String(!!bad));
      topicHint.textContent = bad ? `“${t}” is not a topic: use dot-separated words of letters, digits, _ and -.` :
        'Dot-separated words of letters, digits, _ and -.';
      topicHint.classList.toggle('hint-bad', !!bad);
      return t && !bad;
    };
    const checkData = () => {
      if (asText.checked || !data.value.trim()) {
        dataStatus.textContent = asText.checked ? 'Sent as text, byte for byte.' : 'No data: the event has none.';
        dataStatus.className = 'hint';
        data.setAttribute('aria-invalid', 'false');
        formatBtn.disabled = true;
        return true;
      }
      const p = jsonProblem(data.value);
      data.setAttribute('aria-invalid', String(!!p));
      dataStatus.className = p ? 'hint hint-bad' : 'hint hint-ok';
      dataStatus.textContent = p ? 'Not JSON: ' + p : 'Valid JSON.';
      formatBtn.disabled = !!p;
      return !p;
    };
    const checkBatch = () => {
      const [n, problems] = batchProblems(batch.value);
      if (problems.length) {
        replace(batchStatus, h('p', {class: 'hint-bad'}, `${problems.length} line${problems.length > 1 ? 's' : ''} to fix:`),
          h('ul', {class: 'problems'}, problems.slice(0, 5).map((p) => h('li', {}, p))));
        batch.setAttribute('aria-invalid', 'true');
        return false;
      }
      batch.setAttribute('aria-invalid', 'false');
      replace(batchStatus, h('p', {class: n ? 'hint-ok' : ''}, n ? `${fmt.num(n)} event${n > 1 ? 's' : ''} ready.` : 'Paste one envelope a line.'));
      return n > 0;
    };
    topic.addEventListener('input', checkTopic);
    data.addEventListener('input', checkData);
    asText.addEventListener('change', checkData);
    batch.addEventListener('input', checkBatch);
    formatBtn.addEventListener('click', () => {
      if (!jsonProblem(data.value)) data.value = JSON.stringify(JSON.parse(data.value), null, 2);
      checkData();
    });
    checkData();
    checkBatch();
    if (wantTopic) checkTopic();

    const showResult = (node) => replace(result, node);
    one.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!checkTopic()) {
        topic.setAttribute('aria-invalid', 'true');
        topicHint.textContent = 'A topic is required.';
        topicHint.classList.add('hint-bad');
        topic.focus();
        return;
      }
      if (!checkData()) {
        data.focus();
        return;
      }
      const env = {topic: topic.value.trim()};
      if (type.value.trim()) env.type = type.value.trim();
      if (key.value.trim()) env.key = key.value.trim();
      if (entity.value.trim()) env.entity = entity.value.trim();
      if (data.value.trim() || asText.checked) env.data = asText.checked ? data.value : JSON.parse(data.value);
      sendOne.disabled = true;
      try {
        const res = await api('POST', '/publish', env);
        showResult(h('div', {class: 'alert alert-ok', role: 'status'},
          h('p', {}, res.duplicate ? `Already published: the key “${env.key}” belongs to event ` : 'Published event ',
            h('strong', {class: 'mono', id: 'pub-id'}, fmt.id(res.id)), ' to ', h('code', {}, env.topic), '.'),
          h('p', {}, h('a', {href: '#/tail?topic=' + enc(env.topic)}, 'Open it in the live tail'), ' · ',
            h('a', {href: '#/topics/' + enc(env.topic)}, 'See the topic'))));
        toast(`Published ${fmt.id(res.id)}.`, 'ok');
      } catch (err) {
        showResult(h('p', {class: 'alert alert-danger', role: 'alert'}, 'The hub refused the event: ', err.message));
      } finally {
        sendOne.disabled = false;
      }
    });
    many.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!checkBatch()) {
        batch.focus();
        return;
      }
      const body = batch.value.split('\n').filter((l) => l.trim()).join('\n') + '\n';
      sendBatch.disabled = true;
      try {
        const res = await api('POST', '/publish', body, {type: 'application/x-ndjson'});
        const ids = res.ids || [];
        showResult(h('div', {class: 'alert alert-ok', role: 'status'},
          h('p', {}, `Published ${fmt.num(ids.length)} events, `, h('strong', {class: 'mono'}, fmt.id(ids[0])), ' to ',
            h('strong', {class: 'mono'}, fmt.id(ids[ids.length - 1])),
            res.duplicates && res.duplicates.length ? ` (${fmt.num(res.duplicates.length)} were duplicates).` : '.')));
        toast(`Published ${fmt.num(ids.length)} events.`, 'ok');
      } catch (err) {
        showResult(h('p', {class: 'alert alert-danger', role: 'alert'}, 'The hub refused the batch (nothing was stored): ', err.message));
      } finally {
        sendBatch.disabled = false;
      }
    });
    const ctrlEnter = (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        (mode.value === 'one' ? one : many).requestSubmit();
      }
    };
    one.addEventListener('keydown', ctrlEnter);
    many.addEventListener('keydown', ctrlEnter);

    // Known topics for the topic field, when the token may list them.
    api('GET', '/api/topics?limit=200', undefined, {keepSession: true}).then((page) => {
      replace(topics, page.topics.filter((t) => !t.deregistered).map((t) => h('option', {value: t.topic})));
    }).catch(() => {});
    if (!wantTopic) topic.focus();
    return null;
  },
};
