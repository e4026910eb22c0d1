// Tokens (BoilStream's "Web Auth GUI"): create a token with a purpose, a
// scope, a lifetime and a label, see its secret once with the lines to
// paste; list the tokens within the session's scope; revoke one.

import {h, replace, icon, emptyState, confirmDialog, toast, codeLine, copyButton} from '../dom.js';
import {api, session, endSession} from '../api.js';
import {forbidden} from './topics.js';
import * as fmt from '../format.js';

const TTLS = [
  ['1h', '1 hour'], ['8h', '8 hours'], ['24h', '1 day'], ['168h', '7 days'], ['720h', '30 days'], ['8760h', '1 year'],
  ['', 'Never'], ['custom', 'Custom…'],
];

const PURPOSES = [
  ['stream', 'Stream', 'Subscribe: EventSource, /events, /stream/{token}.'],
  ['publish', 'Publish', 'Publish events and ingest Arrow batches.'],
  ['admin', 'Admin', 'Everything: topics, tokens, connections, within its scope.'],
];

/** usage returns the lines that put a new token to work. */
function usage(tok) {
  const base = location.origin;
  const scope = tok.topics && tok.topics.length ? tok.topics : ['*'];
  const pattern = scope.join(',');
  const one = scope.find((t) => !t.includes('*')) || (scope[0] === '*' ? 'greetings' : scope[0].replace(/\*$/, 'example'));
  const q = encodeURIComponent(pattern);
  switch (tok.purpose) {
    case 'stream':
      return [
        ['Browser (EventSource)', `const events = new EventSource("${base}/events?topic=${q}&token=${tok.token}");`],
        ['curl', `curl -N -H "Authorization: Bearer ${tok.token}" '${base}/events?topic=${q}'`],
        ['Its own topics (BoilStream style)', `${base}/stream/${tok.token}`],
      ];
    case 'publish':
      return [
        ['curl', `curl -X POST -H "Authorization: Bearer ${tok.token}" -H 'Content-Type: application/json' -d '{"hello":"world"}' ${base}/publish/${one}`],
        ['ssehub CLI', `SSEHUB_SERVER=${base} SSEHUB_TOKEN=${tok.token} ssehub publish ${one} '{"hello":"world"}'`],
      ];
    default:
      return [
        ['Console (paste the token to sign in)', `${base}/ui/`],
        ['curl', `curl -H "Authorization: Bearer ${tok.token}" ${base}/api/topics`],
        ['Browser (EventSource)', `const events = new EventSource("${base}/events?topic=${q}&token=${tok.token}");`],
      ];
  }
}

function status(t) {
  if (t.revoked_at) return ['revoked', 'badge-danger'];
  if (t.expires_at && new Date(t.expires_at) <= new Date()) return ['expired', 'badge-muted'];
  return ['active', 'badge-ok'];
}

export default {
  id: 'tokens',
  title: 'Tokens',
  icon: 'tokens',
  key: 'k',
  admin: true,
  render(main) {
    const secretBox = h('div', {id: 'token-secret', 'aria-live': 'polite'});
    const listBox = h('div', {id: 'tokens-body', 'aria-busy': 'true'}, h('p', {class: 'loading'}, 'Loading tokens…'));
    const showAll = h('input', {type: 'checkbox', id: 'tokens-all'});
    const filter = h('input', {type: 'search', class: 'input input-small', id: 'tokens-filter', placeholder: 'Filter tokens',
      'aria-label': 'Filter tokens', dataset: {search: ''}, spellcheck: 'false'});

    const purpose = h('fieldset', {class: 'choices', id: 'tok-purpose'}, h('legend', {class: 'label'}, 'Purpose'),
      PURPOSES.map(([v, name, what], i) => h('label', {class: 'choice'},
        h('input', {type: 'radio', name: 'purpose', value: v, checked: i === 0}),
        h('span', {class: 'choice-name'}, name), h('span', {class: 'choice-what'}, what))));
    const scope = h('input', {type: 'text', class: 'input mono', id: 'tok-scope', name: 'topics', placeholder: '*',
      spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off', 'aria-describedby': 'tok-scope-hint'});
    const w = session.who || {};
    if (w.topics && !(w.topics.length === 1 && w.topics[0] === '*')) scope.value = w.topics.join(', ');
    const ttl = h('select', {class: 'input', id: 'tok-ttl', name: 'ttl'}, TTLS.map(([v, l]) => h('option', {value: v, selected: v === '8h'}, l)));
    const customTTL = h('input', {type: 'text', class: 'input mono', id: 'tok-ttl-custom', placeholder: '90m, 36h', hidden: true,
      'aria-label': 'Custom lifetime, a duration like 90m or 36h', spellcheck: 'false'});
    ttl.addEventListener('change', () => { customTTL.hidden = ttl.value !== 'custom'; if (!customTTL.hidden) customTTL.focus(); });
    const label = h('input', {type: 'text', class: 'input', id: 'tok-label', name: 'label', maxlength: '256', placeholder: 'dashboard, ci, …', autocomplete: 'off'});
    const createBtn = h('button', {type: 'submit', class: 'btn btn-primary', id: 'tok-create'}, icon('tokens'), 'Create token');
    const formError = h('p', {class: 'alert alert-danger', role: 'alert', hidden: true, id: 'tok-error'});
    const form = h('form', {class: 'form-grid', id: 'token-form', novalidate: true},
      h('div', {class: 'field field-wide'}, purpose),
      h('div', {class: 'field'}, h('label', {for: 'tok-scope', class: 'label'}, 'Scope'), scope,
        h('p', {class: 'hint', id: 'tok-scope-hint'}, 'Topic patterns, separated by commas: ', h('code', {}, 'orders.*'), ', ', h('code', {}, 'alerts.cpu'),
          '. Empty is every topic', w.topics && w.topics[0] !== '*' ? ' your token may reach' : '', '.')),
      h('div', {class: 'field'}, h('label', {for: 'tok-ttl', class: 'label'}, 'Expires after'), ttl, customTTL,
        h('p', {class: 'hint'}, 'Web tokens usually last a working day (8 hours).')),
      h('div', {class: 'field'}, h('label', {for: 'tok-label', class: 'label'}, 'Label ', h('span', {class: 'optional'}, 'optional')), label,
        h('p', {class: 'hint'}, 'Who or what uses it; shown in lists, never secret.')),
      h('div', {class: 'field field-wide form-actions'}, createBtn), formError);

    replace(main,
      h('div', {class: 'page-head'}, h('h1', {}, 'Tokens'),
        h('p', {class: 'sub'}, 'Create tokens for streams, publishers and operators. A token’s secret is shown once; the hub keeps only its hash.')),
      h('section', {class: 'panel', 'aria-labelledby': 'create-title'}, h('h2', {id: 'create-title'}, 'Create a token'), form),
      secretBox,
      h('section', {class: 'panel', 'aria-labelledby': 'list-title'},
        h('div', {class: 'panel-head'}, h('h2', {id: 'list-title'}, 'Tokens'),
          h('div', {class: 'toolbar-group'}, filter, h('label', {class: 'check'}, showAll, ' Show revoked and expired'))),
        listBox));

    let tokens = [];
    let stopped = false;
    const paint = () => {
      listBox.setAttribute('aria-busy', 'false');
      const q = filter.value.trim().toLowerCase();
      const shown = tokens.filter((t) => (showAll.checked || status(t)[0] === 'active') &&
        (!q || [t.id, t.label, t.purpose, ...(t.topics || [])].some((x) => x && x.toLowerCase().includes(q))))
        .sort((a, b) => (b.created_at || '').localeCompare(a.created_at || ''));
      if (!shown.length) {
        replace(listBox, tokens.length ?
          emptyState('No token to show.', h('p', {}, q ? 'Clear the filter' : 'Tick “Show revoked and expired”', ' to see the others.')) :
          emptyState('No tokens yet.', h('p', {}, 'Create one above: a stream token for a dashboard, a publish token for a service.')));
        return;
      }
      replace(listBox, h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'tokens-table'},
        h('caption', {class: 'sr-only'}, 'Tokens'),
        h('thead', {}, h('tr', {}, ['Label', 'Purpose', 'Scope', 'Created', 'Expires', 'Status', ''].map((c) =>
          h('th', {scope: 'col'}, c || h('span', {class: 'sr-only'}, 'Actions'))))),
        h('tbody', {}, shown.map((t) => {
          const [st, cls] = status(t);
          const mine = session.who && session.who.id === t.id;
          return h('tr', {dataset: {id: t.id}, class: st !== 'active' ? 'row-muted' : null},
            h('th', {scope: 'row', 'data-label': 'Label'}, h('span', {class: 'tok-label'}, t.label || '(no label)'),
              h('span', {class: 'tok-id mono'}, t.id), mine && h('span', {class: 'badge badge-accent'}, 'this session')),
            h('td', {'data-label': 'Purpose'}, t.purpose),
            h('td', {class: 'mono', 'data-label': 'Scope'}, (t.topics || ['*']).join(', ')),
            h('td', {'data-label': 'Created'}, h('time', {datetime: t.created_at, title: fmt.when(t.created_at)}, fmt.ago(t.created_at))),
            h('td', {'data-label': 'Expires'}, t.expires_at ? h('time', {datetime: t.expires_at, title: fmt.when(t.expires_at)}, fmt.until(t.expires_at)) : 'never'),
            h('td', {'data-label': 'Status'}, h('span', {class: ['badge', cls]}, st)),
            h('td', {class: 'actions', 'data-label': 'Actions'}, st === 'active' && h('button', {type: 'button', class: 'btn btn-small btn-danger-ghost',
              'aria-label': 'Revoke ' + (t.label || t.id), onclick: () => revoke(t, mine)}, 'Revoke')));
        })))));
    };
    const load = async () => {
      try {
        // Pages of 1,000, oldest first; the hub prunes long-expired tokens,
        // so a few pages hold every token a hub keeps.
        let all = [], after = '';
        for (let page = 0; page < 50; page++) {
          const res = await api('GET', '/api/tokens' + (after ? '?after=' + encodeURIComponent(after) : ''));
          if (stopped) return;
          all = all.concat(res.tokens);
          if (!res.next) break;
          after = res.next;
        }
        tokens = all;
        paint();
      } catch (err) {
        if (stopped) return;
        listBox.setAttribute('aria-busy', 'false');
        replace(listBox, err.status === 403 ? forbidden(main, err, 'Tokens') : h('p', {class: 'alert alert-danger', role: 'alert'}, err.message));
        if (err.status === 403) createBtn.disabled = true;
      }
    };
    const revoke = async (t, mine) => {
      const ok = await confirmDialog({
        title: `Revoke ${t.label || t.id}?`,
        body: [h('p', {}, 'The token stops working at once, on every node, and its open streams end. This cannot be undone.'),
          mine && h('p', {class: 'alert alert-danger'}, 'You are signed in with this token: you will be signed out.')],
        confirm: 'Revoke', danger: true,
      });
      if (!ok) return;
      try {
        await api('DELETE', '/api/tokens/' + encodeURIComponent(t.id));
        toast(`Revoked ${t.label || t.id}.`, 'ok');
        if (mine) {
          endSession('You revoked the token you were signed in with.');
          return;
        }
        load();
      } catch (err) {
        toast('Revoking failed: ' + err.message, 'danger');
      }
    };
    showAll.addEventListener('change', paint);
    filter.addEventListener('input', paint);

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError.hidden = true;
      const body = {purpose: form.querySelector('input[name=purpose]:checked').value};
      const topics = scope.value.split(/[\s,]+/).filter(Boolean);
      if (topics.length) body.topics = topics;
      const t = ttl.value === 'custom' ? customTTL.value.trim() : ttl.value;
      if (ttl.value === 'custom' && !t) {
        formError.textContent = 'Give a lifetime like 90m or 36h, or choose one.';
        formError.hidden = false;
        customTTL.focus();
        return;
      }
      if (t) body.ttl = t;
      if (label.value.trim()) body.label = label.value.trim();
      createBtn.disabled = true;
      try {
        const tok = await api('POST', '/api/tokens', body);
        showSecret(secretBox, tok);
        label.value = '';
        load();
      } catch (err) {
        formError.textContent = 'The hub refused the token: ' + err.message;
        formError.hidden = false;
      } finally {
        createBtn.disabled = false;
      }
    });
    load();
    return () => {
      stopped = true;
      secretBox.replaceChildren(); // the secret never outlives the page
    };
  },
};

function showSecret(box, tok) {
  const done = h('button', {type: 'button', class: 'btn btn-primary', id: 'secret-done'}, icon('check'), 'I have copied it');
  const secret = h('input', {type: 'text', class: 'input mono secret', id: 'secret-value', readOnly: true, value: tok.token,
    'aria-label': 'The new token’s secret', spellcheck: 'false'});
  secret.addEventListener('focus', () => secret.select());
  replace(box, h('section', {class: 'panel panel-secret', 'aria-labelledby': 'secret-title'},
    h('h2', {id: 'secret-title'}, icon('tokens'), ' ', tok.label ? `Token “${tok.label}” created` : 'Token created'),
    h('p', {class: 'alert alert-warn'}, h('strong', {}, 'Copy the secret now. '), 'It is shown only this once: the hub keeps only its hash. ',
      'Anyone with it can ', tok.purpose === 'stream' ? 'read' : tok.purpose === 'publish' ? 'publish to' : 'administer', ' ',
      (tok.topics || ['*']).join(', ') === '*' ? 'every topic' : (tok.topics || []).join(', '), tok.expires_at ? ' until ' + fmt.when(tok.expires_at) : ', with no expiry', '.'),
    h('div', {class: 'secret-row'}, secret, copyButton(tok.token, 'Copy token', {id: 'secret-copy'})),
    h('p', {class: 'label'}, 'Ready to paste'),
    usage(tok).map(([what, line]) => codeLine(line, what)),
    h('div', {class: 'form-actions'}, done, h('span', {class: 'hint mono'}, tok.id))));
  done.addEventListener('click', () => {
    box.replaceChildren();
    document.getElementById('tok-create')?.focus();
  });
  secret.focus();
}
