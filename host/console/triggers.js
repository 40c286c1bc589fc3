// triggers.js — the Triggers page (#/triggers, #/triggers/<subscription>).
//
// Lists subscriptions (GET /v1/subscriptions) with their state, how events
// arrive (polling or the service's webhook), the last poll and error, and a
// link to each one's events (GET /v1/subscriptions/{id}/events, paged by
// the `next` cursor). An admin can subscribe a connection to one of its
// triggers (GET /v1/connections/{id}/triggers, POST /v1/subscriptions with
// a feed target), pause, resume and delete subscriptions.

import { api, can, seg } from '/console/api.js';
import {
  h, button, clear, errorBox, note, stateBadge, timeMs, timeSeconds, richText, jsonTree, href, loading, plural, definitionList, schemaView, safeId,
} from '/console/forms.js';
import { triggerKind } from '/console/catalog.js';

export async function render(ctx) {
  const [id] = ctx.params;
  if (id) return renderEvents(ctx, id);
  return renderList(ctx);
}

/** Each connection's triggers, fetched once per render. */
function lookups() {
  const triggersOf = new Map();
  return {
    async triggers(connectionId) {
      if (!triggersOf.has(connectionId)) {
        triggersOf.set(connectionId, api.get(`/v1/connections/${seg(connectionId)}/triggers`).then((t) => t.triggers || []).catch(() => []));
      }
      return triggersOf.get(connectionId);
    },
  };
}

// ---------------------------------------------------------------- list

async function renderList(ctx) {
  ctx.el.append(h('p', { class: 'intro' }, 'A subscription watches one trigger of a connection — an event such as “employee created” — and keeps the events for flows to read.'));
  const look = lookups();
  let connections = [];
  try {
    connections = (await api.get('/v1/connections')).connections || [];
  } catch (err) {
    if (err.sessionEnded) return;
    ctx.el.append(errorBox(err));
  }
  if (!ctx.isCurrent()) return;
  const list = h('ul', { class: 'subscription-list', id: 'subscription-list' });
  const reload = button('Reload list', { class: 'secondary', id: 'subscriptions-reload' });
  const listSection = h('section', { class: 'block', attrs: { 'aria-labelledby': 'subscriptions-title' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'subscriptions-title' }, 'Subscriptions'), reload), list);
  if (can('admin')) ctx.el.append(createSection(ctx, connections, look, () => loadList(ctx, list, connections, look, {})));
  ctx.el.append(listSection);
  reload.addEventListener('click', () => loadList(ctx, list, connections, look, { announceDone: true }));
  await loadList(ctx, list, connections, look, {});
}

async function loadList(ctx, list, connections, look, { announceDone = false, focusId = null }) {
  clear(list).append(h('li', { class: 'loading' }, 'Loading subscriptions…'));
  let subs;
  try {
    subs = (await api.get('/v1/subscriptions')).subscriptions || [];
  } catch (err) {
    if (err.sessionEnded || !ctx.isCurrent()) return;
    clear(list).append(h('li', {}, errorBox(err)));
    return;
  }
  const rows = await Promise.all(subs.map((s) => subscriptionRow(ctx, s, connections, look, list)));
  if (!ctx.isCurrent()) return;
  clear(list).append(...rows);
  if (!subs.length) list.append(h('li', { class: 'empty' }, can('admin') ? 'No subscriptions yet. Subscribe to a trigger above.' : 'No subscriptions yet. An admin can create one.'));
  if (announceDone) ctx.announce(`Loaded ${plural(subs.length, 'subscription')}.`);
  if (focusId) list.querySelector(`li[data-subscription="${CSS.escape(focusId)}"] h3`)?.focus();
}

function modeWords(s) {
  if (s.mode === 'webhook') return `The service sends events to cardhost${s.interval_seconds ? `; also polled every ${s.interval_seconds} s as a safety net` : ''}.`;
  return `cardhost polls every ${s.interval_seconds} s.`;
}

function targetWords(t) {
  if (!t || t.kind === 'feed') return 'Kept in cardhost for flows to read (feed).';
  if (t.kind === 'webhook') return ['Posted to ', h('code', {}, String(t.url ?? '')), ' (signed).'];
  return String(t.kind);
}

const SUB_STATE_WORDS = {
  active: 'Running.',
  paused: 'Paused: not polled until resumed.',
  'needs-reauthorization': 'Waiting: its connection must be authorized again; it resumes by itself after that.',
};

async function subscriptionRow(ctx, s, connections, look, list) {
  const conn = connections.find((c) => c.id === s.connection_id);
  const triggers = await look.triggers(s.connection_id);
  const trigger = triggers.find((t) => t.id === s.trigger);
  const rid = safeId(s.id);
  const li = h('li', { class: 'subscription', dataset: { subscription: s.id, trigger: s.trigger } });
  const title = h('h3', { tabIndex: -1, id: `sub-${rid}-title` }, `${trigger?.title || s.trigger} on ${conn?.name || s.connection_id}`);
  const out = h('div', { class: 'panel-result' });
  const hook = s.hook;
  li.append(h('article', { attrs: { 'aria-labelledby': title.id } },
    title,
    h('p', { class: 'state' }, stateBadge(s.state), ' ', SUB_STATE_WORDS[s.state] || '', s.state_message ? h('span', { class: 'state-message' }, ` ${s.state_message}`) : null),
    definitionList([
      ['Subscription', h('code', {}, String(s.id))],
      ['Trigger', [h('code', {}, String(s.trigger)), ` of ${s.connector || conn?.connector || '?'}`]],
      ['Events arrive', modeWords(s)],
      ['Events go', targetWords(s.target)],
      ['Events so far', String(s.last_seq ?? 0)],
      ['Last poll', s.last_poll_at_ms ? timeMs(s.last_poll_at_ms) : 'not yet'],
      ['Next poll', s.state === 'active' && s.next_poll_at_ms && s.next_poll_at_ms < 8e15 ? timeMs(s.next_poll_at_ms) : null],
      ['Failed polls in a row', s.failures ? String(s.failures) : null],
      ['Last error', s.last_error ? String(s.last_error) : null],
      ['Delivery problem', s.delivery_error ? String(s.delivery_error) : null],
      ['Hook URL', hook?.url ? h('code', { class: 'url' }, String(hook.url)) : null],
      ['Hook check', hook ? `${hook.verification === 'hmac-sha256' ? 'signature' : 'token'} in the ${hook.header} header` : null],
      ['Hook status', hook?.status ? [String(hook.status), hook.message ? ` — ${hook.message}` : ''] : null],
      ['Created', timeSeconds(s.created_at)],
    ], { class: 'sub-facts' }),
    h('div', { class: 'actions' },
      h('a', { class: 'button-link secondary subscription-events', href: href('triggers', [s.id]) }, `Events (${s.last_seq ?? 0})`),
      ...adminButtons(ctx, s, li, out, () => loadList(ctx, list, connections, look, { focusId: s.id }))),
    out));
  return li;
}

function adminButtons(ctx, s, li, out, reload) {
  if (!can('admin')) return [];
  const buttons = [];
  const act = async (btn, path, words) => {
    btn.disabled = true;
    try {
      await api.post(`/v1/subscriptions/${seg(s.id)}/${path}`);
      ctx.announce(words, 'success');
      await reload();
    } catch (err) {
      if (!err.sessionEnded) clear(out).append(errorBox(err));
      btn.disabled = false;
    }
  };
  if (s.state === 'paused') {
    const b = button('Resume', { class: ['secondary', 'resume-subscription'] });
    b.addEventListener('click', () => act(b, 'resume', `Resumed ${s.trigger}.`));
    buttons.push(b);
  } else {
    const b = button('Pause', { class: ['secondary', 'pause-subscription'] });
    b.addEventListener('click', () => act(b, 'pause', `Paused ${s.trigger}.`));
    buttons.push(b);
  }
  const del = button('Delete', { class: ['danger-outline', 'delete-subscription'] });
  const confirm = h('div', { class: 'confirm', hidden: true });
  del.addEventListener('click', () => {
    const really = button('Really delete', { class: ['danger', 'really-delete-subscription'] });
    const keep = button('Keep it', { class: 'secondary' });
    clear(confirm).append(h('p', {}, 'Delete this subscription and its stored events? Flows reading them stop getting events.'), really, ' ', keep);
    confirm.hidden = false;
    del.hidden = true;
    really.focus();
    keep.addEventListener('click', () => { confirm.hidden = true; del.hidden = false; del.focus(); });
    really.addEventListener('click', async () => {
      really.disabled = true;
      try {
        await api.del(`/v1/subscriptions/${seg(s.id)}`);
        ctx.announce(`Deleted the subscription ${s.id}.`, 'success');
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        (next?.querySelector('h3') || document.getElementById('subscriptions-title'))?.focus();
      } catch (err) {
        if (!err.sessionEnded) clear(out).append(errorBox(err));
        really.disabled = false;
      }
    });
  });
  buttons.push(del, confirm);
  return buttons;
}

// ---------------------------------------------------------------- create (admin)

function createSection(ctx, connections, look, reload) {
  const connSelect = h('select', { id: 'sub-connection', required: true }, h('option', { value: '' }, connections.length ? '— choose a connection —' : 'No connections yet'),
    connections.map((c) => h('option', { value: c.name }, `${c.name} (${c.connector})`)));
  const triggerSelect = h('select', { id: 'sub-trigger', required: true, disabled: true }, h('option', { value: '' }, '— choose a connection first —'));
  const interval = h('input', { id: 'sub-interval', type: 'number', step: '1', min: '1', attrs: { inputmode: 'numeric', 'aria-describedby': 'sub-interval-help' } });
  const intervalHelp = h('div', { class: 'help', id: 'sub-interval-help' }, h('p', { class: 'help-text' }, 'Leave empty for the trigger’s default.'));
  const intervalError = h('p', { class: 'field-error', id: 'sub-interval-error', hidden: true });
  const info = h('div', { class: 'card-info', id: 'sub-trigger-info' });
  const out = h('div', { class: 'panel-result', id: 'sub-result' });
  const submit = h('button', { type: 'submit', id: 'create-subscription', class: 'primary' }, 'Subscribe');
  const form = h('form', { id: 'new-subscription-form', attrs: { novalidate: true } },
    h('div', { class: 'pick-row' },
      h('div', { class: 'field' }, h('label', { for: 'sub-connection', class: 'field-label' }, 'Connection'), connSelect),
      h('div', { class: 'field' }, h('label', { for: 'sub-trigger', class: 'field-label' }, 'Trigger'), triggerSelect),
      h('div', { class: 'field' }, h('label', { for: 'sub-interval', class: 'field-label' }, 'Poll every (seconds)'), intervalHelp, interval, intervalError)),
    info,
    h('p', { class: 'help-text' }, 'Events are kept in cardhost (a feed) for flows to read.'),
    h('div', { class: 'button-row' }, submit),
    out);
  const details = h('details', { class: 'block create-subscription', id: 'new-subscription' },
    h('summary', {}, h('span', { class: 'summary-title' }, 'Subscribe to a trigger')), form);

  let triggers = [];
  const current = () => triggers.find((t) => t.id === triggerSelect.value);
  const setIntervalError = (m) => {
    intervalError.textContent = m;
    intervalError.hidden = !m;
    if (m) {
      interval.setAttribute('aria-invalid', 'true');
      interval.setAttribute('aria-describedby', 'sub-interval-help sub-interval-error');
    } else {
      interval.removeAttribute('aria-invalid');
      interval.setAttribute('aria-describedby', 'sub-interval-help');
    }
  };
  connSelect.addEventListener('change', async () => {
    clear(info);
    triggers = [];
    clear(triggerSelect).append(h('option', { value: '' }, connSelect.value ? 'Loading triggers…' : '— choose a connection first —'));
    triggerSelect.disabled = true;
    if (!connSelect.value) return;
    const id = connSelect.value;
    triggers = await look.triggers(id);
    if (connSelect.value !== id) return;
    clear(triggerSelect).append(h('option', { value: '' }, triggers.length ? '— choose a trigger —' : 'This connector has no triggers'),
      triggers.map((t) => h('option', { value: t.id }, `${t.title || t.id} (${t.id})`)));
    triggerSelect.disabled = !triggers.length;
  });
  triggerSelect.addEventListener('change', () => {
    clear(info);
    setIntervalError('');
    const t = current();
    if (!t) return;
    interval.placeholder = t.default_interval_seconds ? String(t.default_interval_seconds) : '';
    interval.min = t.min_interval_seconds ? String(t.min_interval_seconds) : '1';
    interval.disabled = t.kind === 'webhook';
    clear(intervalHelp).append(h('p', { class: 'help-text' }, t.kind === 'webhook'
      ? 'This trigger is not polled: the service sends its events.'
      : `Leave empty for the default (${t.default_interval_seconds ?? '?'} s)${t.min_interval_seconds ? `; at least ${t.min_interval_seconds} s` : ''}.`));
    info.append(...richText(t.description, 'p', { class: 'desc' }), h('p', { class: 'meta' }, triggerKind(t)),
      h('details', { class: 'item' }, h('summary', {}, 'What an event holds'), h('div', { class: 'item-body' }, schemaView(t.event_schema, { emptyText: 'No fields.' }))));
  });
  interval.addEventListener('input', () => {
    const t = current();
    const v = interval.value;
    if (v === '') return setIntervalError(interval.validity.badInput ? 'Enter a whole number of seconds.' : '');
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) return setIntervalError('Enter a whole number of seconds, 1 or more.');
    if (t?.min_interval_seconds && n < t.min_interval_seconds) return setIntervalError(`This trigger may be polled at most every ${t.min_interval_seconds} s.`);
    return setIntervalError('');
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    if (!connSelect.value) { connSelect.focus(); out.append(note('Choose a connection.', 'warn')); return; }
    if (!triggerSelect.value) { triggerSelect.focus(); out.append(note('Choose a trigger.', 'warn')); return; }
    if (interval.getAttribute('aria-invalid') === 'true') { interval.focus(); return; }
    const body = { connection: connSelect.value, trigger: triggerSelect.value, target: { kind: 'feed' } };
    if (interval.value !== '' && !interval.disabled) body.interval_seconds = Number(interval.value);
    submit.disabled = true;
    try {
      const created = await api.post('/v1/subscriptions', body);
      const shownOnce = [];
      if (created.hook?.token) {
        shownOnce.push(h('p', {}, 'Give the service this hook URL and token. The token is shown only now:'),
          definitionList([['Hook URL', h('code', { class: 'url' }, String(created.hook.url ?? ''))], ['Header', String(created.hook.header ?? '')], ['Token', h('code', { class: 'secret-once' }, String(created.hook.token))]]));
      }
      if (created.signing_secret) shownOnce.push(h('p', {}, 'Signing secret (shown only now): ', h('code', { class: 'secret-once' }, String(created.signing_secret))));
      out.append(note([h('p', {}, `Subscribed: ${created.trigger} on ${connSelect.selectedOptions[0]?.textContent || created.connection_id}.`), ...shownOnce], 'success', { dataset: { testid: 'subscription-created' } }));
      ctx.announce(`Subscribed to ${created.trigger}.`, 'success');
      await reload();
    } catch (err) {
      if (!err.sessionEnded) out.append(errorBox(err));
    } finally {
      submit.disabled = false;
    }
  });
  return details;
}

// ---------------------------------------------------------------- events

async function renderEvents(ctx, id) {
  ctx.el.append(h('p', { class: 'crumbs' }, h('a', { href: href('triggers') }, '← All subscriptions')));
  const status = loading('Loading the subscription…');
  ctx.el.append(status);
  const sub = await api.get(`/v1/subscriptions/${seg(id)}`);
  if (!ctx.isCurrent()) return;
  const [conn, triggers] = await Promise.all([
    api.get(`/v1/connections/${seg(sub.connection_id)}`).catch(() => null),
    api.get(`/v1/connections/${seg(sub.connection_id)}/triggers`).then((t) => t.triggers || []).catch(() => []),
  ]);
  if (!ctx.isCurrent()) return;
  status.remove();
  const trigger = triggers.find((t) => t.id === sub.trigger);
  ctx.setTitle(`Events: ${trigger?.title || sub.trigger} on ${conn?.name || sub.connection_id}`);
  ctx.el.append(h('p', { class: 'state' }, stateBadge(sub.state), ' ', SUB_STATE_WORDS[sub.state] || '', sub.state_message ? ` ${sub.state_message}` : ''),
    h('p', { class: 'meta' }, 'Oldest first. ', modeWords(sub)));

  const list = h('ol', { class: 'event-list', id: 'event-list' });
  const more = button('Load more', { class: 'secondary', id: 'events-more' });
  const summary = h('p', { class: 'meta', id: 'events-summary' });
  ctx.el.append(h('section', { class: 'block', attrs: { 'aria-labelledby': 'events-title' } },
    h('h2', { id: 'events-title' }, 'Events'), summary, list, h('div', { class: 'button-row' }, more)));

  const PAGE = 50;
  let cursor = '';
  let count = 0;
  const loadPage = async (announceDone) => {
    more.disabled = true;
    try {
      const page = await api.get(`/v1/subscriptions/${seg(id)}/events`, { after: cursor, limit: PAGE });
      if (!ctx.isCurrent()) return;
      const events = page.events || [];
      for (const e of events) {
        count += 1;
        list.append(h('li', { class: 'event', dataset: { seq: e.seq, event: e.id } },
          h('details', { class: 'item' },
            h('summary', {}, h('span', { class: 'item-title' }, `#${e.seq}`), ' ', h('span', {}, eventTime(e.occurred_at)), ' ', h('code', { class: 'item-id' }, String(e.id))),
            h('div', { class: 'item-body' }, jsonTree(e.payload, { openDepth: 2 })))));
      }
      if (page.next !== undefined) cursor = String(page.next);
      summary.textContent = count ? `${plural(count, 'event')} shown.` : 'No events yet.';
      more.textContent = events.length < PAGE ? 'Check for new events' : 'Load more';
      if (announceDone) ctx.announce(events.length ? `Loaded ${plural(events.length, 'event')}.` : 'No new events.');
    } catch (err) {
      if (!err.sessionEnded) list.after(errorBox(err));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => loadPage(true));
  await loadPage(false);
}

function eventTime(text) {
  const d = new Date(String(text));
  return Number.isNaN(d.getTime()) ? String(text) : d.toLocaleString();
}
