// app.js — the console's shell: sign-in, the session, navigation and the
// hash router (#/catalog, #/connections, #/runner, #/history, #/triggers).
//
// A page module exports `render(ctx)` (and optionally `onShow(ctx)`, called
// when the browser tab is shown again, e.g. back from an OAuth consent).
// ctx:
//   el          the page's container (its <h1> is already in it)
//   params      path segments after the page name (#/catalog/smarthr → ['smarthr'])
//   query       URLSearchParams of the hash's query
//   setTitle(t) changes the <h1> and the document title
//   setQuery(o) rewrites the hash's query without re-rendering (filters, picks)
//   announce(text, tone)  writes the polite status region
//   isCurrent() false once the user has navigated elsewhere (drop late answers)
//   rerender()  renders the page again

import { restoreSession, signIn, signOut, session, describeError } from '/console/api.js';
import { h, clear, pageTitle, errorBox, href } from '/console/forms.js';
import * as catalog from '/console/catalog.js';
import * as connections from '/console/connections.js';
import * as runner from '/console/runner.js';
import * as historyPage from '/console/history.js';
import * as triggers from '/console/triggers.js';

const ROUTES = {
  catalog: { title: 'Catalog', module: catalog },
  connections: { title: 'Connections', module: connections },
  runner: { title: 'Card runner', module: runner },
  history: { title: 'History', module: historyPage },
  triggers: { title: 'Triggers', module: triggers },
};
const DEFAULT_ROUTE = 'catalog';

const ROLE_WORDS = {
  reader: 'can look at connectors, connections and history',
  invoker: 'can also run cards and test connections',
  admin: 'can also create, change and delete connections and subscriptions',
};

const $ = (id) => document.getElementById(id);

let renderToken = 0;
let currentRoute = null; // {name, params, query, ctx}
let statusTimer = null;

// ---------------------------------------------------------------- status

/** Writes the polite status region (tone: info, success, error). */
function announce(text, tone = 'info') {
  const region = $('status');
  clearTimeout(statusTimer);
  region.className = `status status-${tone}`;
  // Re-set the text so the same message is read out again.
  region.textContent = '';
  window.setTimeout(() => { region.textContent = text; }, 30);
  if (tone !== 'error') statusTimer = window.setTimeout(() => { region.textContent = ''; region.className = 'status'; }, 12000);
}

// ---------------------------------------------------------------- routing

function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  if (raw === '') return { name: DEFAULT_ROUTE, params: [], query: new URLSearchParams() };
  // Not a route (e.g. the skip link's #main): keep the current page.
  if (!raw.startsWith('/')) return null;
  const [path, query = ''] = raw.slice(1).split('?');
  const parts = path.split('/').filter((p) => p !== '').map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { name: parts[0] || DEFAULT_ROUTE, params: parts.slice(1), query: new URLSearchParams(query) };
}

function markNav(name) {
  for (const key of Object.keys(ROUTES)) {
    const link = $(`nav-${key}`);
    if (!link) continue;
    if (key === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** Renders the page the hash names. */
async function route({ focus = true } = {}) {
  if (!session()) {
    showSignIn();
    return;
  }
  const r = parseHash();
  if (!r) return;
  showApp();
  const token = ++renderToken;
  const host = $('page');
  const def = ROUTES[r.name];
  const el = h('div', { class: 'page', id: `page-${def ? r.name : 'missing'}` });
  const title = pageTitle(def ? def.title : 'Page not found');
  el.append(title);
  clear(host).append(el);
  markNav(def ? r.name : null);
  document.title = `${def ? def.title : 'Page not found'} — cardhost console`;
  if (focus) title.focus();
  if (!def) {
    el.append(h('p', {}, 'There is no such page. ', h('a', { href: href(DEFAULT_ROUTE) }, 'Go to the catalog'), '.'));
    return;
  }
  const ctx = {
    el,
    params: r.params,
    query: r.query,
    announce,
    isCurrent: () => token === renderToken,
    setTitle(text) {
      title.textContent = text;
      document.title = `${text} — cardhost console`;
    },
    setQuery(query) {
      if (token !== renderToken) return;
      const next = href(r.name, r.params, query);
      if (next !== location.hash) history.replaceState(null, '', next);
      ctx.query = new URLSearchParams(next.split('?')[1] || '');
    },
    rerender: () => route({ focus: false }),
  };
  currentRoute = { name: r.name, ctx };
  host.setAttribute('aria-busy', 'true');
  try {
    await def.module.render(ctx);
  } catch (err) {
    if (err && err.sessionEnded) return; // sign-in is already showing
    if (token === renderToken) {
      el.append(errorBox(err, { testid: 'page-error' }));
      announce(describeError(err).summary, 'error');
    }
    console.error(err); // eslint-disable-line no-console
  } finally {
    if (token === renderToken) host.removeAttribute('aria-busy');
  }
}

// ---------------------------------------------------------------- views

function showApp() {
  const s = session();
  $('signin-view').hidden = true;
  $('page').hidden = false;
  $('nav').hidden = false;
  $('account').hidden = false;
  const who = $('whoami');
  clear(who).append(
    'Signed in with key ', h('strong', {}, s.key_name || s.key_id || 'unknown'),
    s.key_name && s.key_id ? ` (${s.key_id})` : '',
    ' · role ', h('strong', { dataset: { role: s.role } }, s.role),
    h('span', { class: 'role-words' }, `: ${ROLE_WORDS[s.role] || ''}`),
    untilText(s.expires_at),
  );
}

/** " · session ends 6:30 PM" for an RFC 3339 expiry (nothing if unreadable). */
function untilText(expiresAt) {
  const d = new Date(typeof expiresAt === 'number' && expiresAt < 1e12 ? expiresAt * 1000 : expiresAt);
  if (!expiresAt || Number.isNaN(d.getTime())) return null;
  return h('span', { class: 'role-words' }, ' · session ends ', h('time', { dateTime: d.toISOString() }, d.toLocaleString()));
}

function showSignIn(message = '') {
  renderToken += 1; // drop whatever page was loading
  currentRoute = null;
  clear($('page'));
  $('page').hidden = true;
  $('nav').hidden = true;
  $('account').hidden = true;
  $('signin-view').hidden = false;
  document.title = 'Sign in — cardhost console';
  const msg = $('signin-message');
  msg.textContent = message;
  msg.hidden = !message;
  setSignInError('');
}

function setSignInError(text, detail = '') {
  const field = $('signin-key');
  const err = $('signin-error');
  clear(err);
  if (text) {
    err.append(text);
    if (detail) err.append(h('span', { class: 'error-detail-inline' }, ` Server said: ${detail}`));
    err.hidden = false;
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', 'signin-key-help signin-error');
  } else {
    err.hidden = true;
    field.removeAttribute('aria-invalid');
    field.setAttribute('aria-describedby', 'signin-key-help');
  }
}

async function onSignIn(event) {
  event.preventDefault();
  const field = $('signin-key');
  const submit = $('signin-submit');
  const key = field.value.trim();
  if (!key) {
    setSignInError('Enter your API key.');
    field.focus();
    return;
  }
  submit.disabled = true;
  submit.textContent = 'Signing in…';
  try {
    await signIn(key);
    field.value = '';
    setSignInError('');
    $('signin-message').hidden = true;
    announce(`Signed in as ${session().role}.`, 'success');
    await route({ focus: true });
  } catch (err) {
    const words = describeError(err);
    // A 429 here is the server pacing sign-in attempts, not a service.
    const summary = err && err.status === 429 ? 'Too many sign-in attempts. Wait a moment and try again.' : words.summary;
    const { detail } = words;
    setSignInError(summary, detail);
    announce(summary, 'error');
    field.focus();
  } finally {
    submit.disabled = false;
    submit.textContent = 'Sign in';
  }
}

async function onSignOut() {
  await signOut();
  showSignIn('You signed out.');
  announce('You signed out.', 'info');
  $('signin-key').focus();
}

// ---------------------------------------------------------------- start

async function start() {
  $('signin-form').addEventListener('submit', onSignIn);
  $('signout').addEventListener('click', onSignOut);
  // The skip link moves focus without touching the hash (the router's).
  $('skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    const target = $('signin-view').hidden ? ($('page').querySelector('h1') || $('main')) : $('signin-key');
    target.focus();
  });
  window.addEventListener('hashchange', () => route({ focus: true }));
  window.addEventListener('cardhost:session-ended', () => {
    showSignIn('Your session ended; sign in again.');
    announce('Your session ended; sign in again.', 'error');
    $('signin-key').focus();
  });
  // Back from an OAuth consent (or another tab): let the page reload state.
  const shown = () => {
    if (session() && currentRoute && currentRoute.ctx && ROUTES[currentRoute.name].module.onShow) {
      ROUTES[currentRoute.name].module.onShow(currentRoute.ctx);
    }
  };
  window.addEventListener('pageshow', (e) => { if (e.persisted) shown(); });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') shown(); });

  try {
    await restoreSession();
  } catch (err) {
    showSignIn(describeError(err).summary);
    return;
  }
  if (session()) await route({ focus: false });
  else showSignIn();
}

start();
