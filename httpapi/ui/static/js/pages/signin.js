// Sign-in: paste a token; the hub sets it as an HttpOnly, SameSite=Strict
// cookie (Secure over TLS) and the page keeps nothing.

import {h, icon, logo} from '../dom.js';
import {signIn} from '../api.js';

export default {
  render({message, onSignedIn}) {
    const input = h('input', {id: 'token', name: 'token', type: 'password', class: 'input mono', autocomplete: 'off',
      spellcheck: 'false', autocapitalize: 'off', required: true, placeholder: '64 hex characters',
      'aria-describedby': 'token-hint'});
    const show = h('input', {type: 'checkbox', id: 'token-show'});
    show.addEventListener('change', () => { input.type = show.checked ? 'text' : 'password'; });
    const error = h('p', {class: 'alert alert-danger', id: 'signin-error', role: 'alert', hidden: true});
    const button = h('button', {type: 'submit', class: 'btn btn-primary btn-wide', id: 'sign-in'}, 'Sign in');
    const form = h('form', {class: 'signin-form', novalidate: true},
      h('label', {for: 'token', class: 'label'}, 'Token'),
      input,
      h('label', {class: 'check'}, show, ' Show the token'),
      h('p', {id: 'token-hint', class: 'hint'},
        'The admin token the hub printed when it first started (or ', h('code', {}, 'SSEHUB_ADMIN_TOKEN'),
        '), or a token created on the Tokens page. The hub keeps it in an HttpOnly cookie for this site; the page never stores it.'),
      error,
      button);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) {
        error.textContent = 'Paste a token first.';
        error.hidden = false;
        input.focus();
        return;
      }
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        await signIn(token);
        input.value = '';
        onSignedIn();
      } catch (err) {
        error.textContent = signInError(err, token);
        error.hidden = false;
        button.disabled = false;
        button.textContent = 'Sign in';
        input.focus();
        input.select();
      }
    });
    return h('div', {class: 'signin'},
      h('main', {class: 'signin-card', id: 'main'},
        h('div', {class: 'signin-brand'}, logo(true), h('span', {}, 'ssehub')),
        h('h1', {}, 'Sign in to the console'),
        h('p', {class: 'lead'}, 'Operate this hub from your browser: topics, a live tail, publishing, tokens and connections.'),
        message && h('p', {class: 'alert alert-info', id: 'signin-message', role: 'status'}, icon('dot'), message),
        form));
  },
};

function signInError(err, token) {
  if (err.status === 0) return err.message;
  if (err.code === 'BAD_TOKEN') return 'That is not a token: a token is 64 lowercase hex characters' +
    (token.length !== 64 ? ` (this has ${token.length} characters).` : '.');
  if (err.status === 401) {
    const m = err.message.toLowerCase();
    if (m.includes('revoked')) return 'This token was revoked.';
    if (m.includes('expired')) return 'This token has expired.';
    return 'The hub does not know this token.';
  }
  return err.message;
}

