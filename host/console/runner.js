// runner.js — the Card runner page (#/runner?connection=…&card=…).
//
// Pick a connection and one of its cards (GET /v1/connections/{id}/cards,
// which says whether the connection's grant lets it use each card); fill in
// a form generated from the card's input schema; Run (POST
// /v1/connections/{id}/cards/{card}:invoke). The output shows as a
// collapsible tree; a failure shows the API's error in words, each
// violation on its field (aria-invalid, message linked by
// aria-describedby), and the upstream requests the run made.

import { api, can, session, seg, describeError } from '/console/api.js';
import {
  h, button, clear, errorBox, note, stateBadge, richText, buildForm, schemaView, schemaNotes, jsonTree, rawJson, href,
  plural, problemList, definitionList,
} from '/console/forms.js';

export async function render(ctx) {
  ctx.el.append(h('p', { class: 'intro' }, 'Try a card the way a flow would run it: pick a connection and a card, fill in the input, and run it.'));
  if (!can('invoker')) {
    ctx.el.append(note(`Your key's role (${session()?.role}) can look at cards and their inputs here, but not run them. Running needs the invoker or admin role.`, 'info', { dataset: { testid: 'runner-role' } }));
  }

  const connSelect = h('select', { id: 'run-connection', attrs: { 'aria-describedby': 'run-connection-help' } }, h('option', { value: '' }, 'Loading connections…'));
  const connState = h('div', { id: 'run-connection-state', class: 'help' });
  const cardSelect = h('select', { id: 'run-card', disabled: true, attrs: { 'aria-describedby': 'run-card-help' } }, h('option', { value: '' }, '— choose a connection first —'));
  // The card field shows once the connection's cards are loaded (so its
  // options are there when it can be seen).
  const cardField = h('div', { class: 'field', hidden: true },
    h('label', { for: 'run-card', class: 'field-label' }, 'Card'),
    h('div', { class: 'help', id: 'run-card-help' }, h('p', { class: 'help-text' }, 'Cards the connection is not granted the permissions for cannot be picked.')),
    cardSelect);
  const cardWait = h('p', { class: 'help-text', id: 'run-card-wait' }, 'Choose a connection to see its cards.');
  const cardInfo = h('div', { id: 'run-card-info', class: 'card-info' });
  const inputsHost = h('div', { id: 'run-inputs' });
  const inputsSection = h('section', { class: 'block', hidden: true, attrs: { 'aria-labelledby': 'run-input-title' } },
    h('h2', { id: 'run-input-title' }, 'Input'), inputsHost);
  const runBtn = can('invoker') ? h('button', { type: 'submit', id: 'run', class: 'primary', disabled: true }, 'Run card') : null;
  const form = h('form', { id: 'run-form', class: 'run-form', attrs: { novalidate: true } },
    h('div', { class: 'pick-row' },
      h('div', { class: 'field' },
        h('label', { for: 'run-connection', class: 'field-label' }, 'Connection'),
        h('div', { class: 'help', id: 'run-connection-help' }, h('p', { class: 'help-text' }, 'Which account the card runs with.')),
        connSelect, connState),
      cardField, cardWait),
    cardInfo,
    inputsSection,
    runBtn ? h('div', { class: 'button-row' }, runBtn) : null);

  const errorEl = h('div', { id: 'run-error', class: 'run-error', hidden: true, dataset: { testid: 'run-error' } });
  const outputEl = h('div', { id: 'run-output', class: 'run-output', hidden: true, dataset: { testid: 'run-output' } });
  const results = h('section', { class: 'block', attrs: { 'aria-labelledby': 'run-result-title' } },
    h('h2', { id: 'run-result-title' }, 'Result'),
    h('p', { class: 'help-text', id: 'run-result-empty' }, 'Run a card to see its result here.'),
    errorEl, outputEl);
  ctx.el.append(form, results);

  let connections = [];
  let cards = [];
  let current = { connection: null, card: null, form: null };
  let runToken = 0;

  // Picking another connection or card forgets a run still under way: its
  // answer must not show up under the new pick.
  const resetResult = () => {
    runToken += 1;
    if (runBtn) {
      runBtn.textContent = 'Run card';
      form.removeAttribute('aria-busy');
    }
    errorEl.hidden = true;
    outputEl.hidden = true;
    clear(errorEl);
    clear(outputEl);
    document.getElementById('run-result-empty').hidden = false;
  };

  // ---- connections
  try {
    connections = (await api.get('/v1/connections')).connections || [];
  } catch (err) {
    if (err.sessionEnded) return;
    clear(connSelect).append(h('option', { value: '' }, 'Could not load connections'));
    connState.append(errorBox(err));
    return;
  }
  if (!ctx.isCurrent()) return;
  clear(connSelect).append(h('option', { value: '' }, connections.length ? '— choose a connection —' : 'No connections yet'));
  for (const c of connections) {
    const extra = c.state === 'ready' ? '' : ` — ${c.state.replace(/-/g, ' ')}`;
    // The value is the connection's name (unique; the API takes a name or an id).
    connSelect.append(h('option', { value: c.name }, `${c.name} (${c.connector})${extra}`));
  }
  if (!connections.length) {
    connState.append(h('p', {}, 'There are no connections to run cards on. ', h('a', { href: href('connections') }, 'Create one on the Connections page'), '.'));
  }

  const wanted = ctx.query.get('connection');
  const wantedConnector = ctx.query.get('connector');
  const pre = connections.find((c) => c.id === wanted || c.name === wanted)
    || (wantedConnector ? connections.find((c) => c.connector === wantedConnector && c.state === 'ready') || connections.find((c) => c.connector === wantedConnector) : null);

  const selectConnection = async (id, { cardWanted = null } = {}) => {
    current = { connection: null, card: null, form: null };
    clear(connState);
    clear(cardInfo);
    clear(inputsHost);
    inputsSection.hidden = true;
    if (runBtn) runBtn.disabled = true;
    resetResult();
    clear(cardSelect).append(h('option', { value: '' }, id ? 'Loading cards…' : '— choose a connection first —'));
    cardSelect.disabled = true;
    cardField.hidden = true;
    cardWait.hidden = false;
    cardWait.textContent = id ? 'Loading its cards…' : 'Choose a connection to see its cards.';
    ctx.setQuery({ connection: id || undefined });
    if (!id) return;
    const conn = connections.find((c) => c.name === id);
    current.connection = conn;
    if (conn.state !== 'ready') {
      connState.append(h('p', { class: 'state' }, stateBadge(conn.state), ' ', conn.state_message ? String(conn.state_message) : '', ' ',
        h('a', { href: href('connections') }, 'Fix it on the Connections page'), '.'));
    }
    try {
      cards = (await api.get(`/v1/connections/${seg(id)}/cards`)).cards || [];
    } catch (err) {
      if (err.sessionEnded) return;
      clear(cardSelect).append(h('option', { value: '' }, 'Could not load cards'));
      cardWait.textContent = 'Its cards could not be loaded.';
      connState.append(errorBox(err));
      return;
    }
    if (!ctx.isCurrent() || connSelect.value !== id) return;
    clear(cardSelect).append(h('option', { value: '' }, '— choose a card —'));
    for (const c of cards) {
      const usable = c.usable !== false;
      const missing = Array.isArray(c.missing_permissions) && c.missing_permissions.length ? ` — not granted: ${c.missing_permissions.join(', ')}` : usable ? '' : ' — not usable';
      cardSelect.append(h('option', { value: c.id, disabled: !usable }, `${c.title || c.id} (${c.id})${missing}`));
    }
    cardSelect.disabled = false;
    cardField.hidden = false;
    cardWait.hidden = true;
    const pick = cards.find((c) => c.id === cardWanted && c.usable !== false);
    if (pick) {
      cardSelect.value = pick.id;
      selectCard(pick.id);
    } else if (cardWanted) {
      connState.append(note(`The card ${cardWanted} is not available on this connection.`, 'warn'));
    }
  };

  // ---- cards
  const selectCard = (id) => {
    clear(cardInfo);
    clear(inputsHost);
    resetResult();
    current.card = null;
    current.form = null;
    inputsSection.hidden = true;
    if (runBtn) runBtn.disabled = true;
    ctx.setQuery({ connection: current.connection?.name, card: id || undefined });
    if (!id) return;
    const card = cards.find((c) => c.id === id);
    if (!card) return;
    current.card = card;
    const perms = Array.isArray(card.permissions) ? card.permissions : [];
    cardInfo.append(
      ...richText(card.description, 'p', { class: 'desc' }),
      h('p', { class: 'meta' }, perms.length ? ['Uses permission: ', perms.map((p, i) => [i ? ', ' : '', h('code', {}, String(p))])] : 'Uses no permission.'),
      h('details', { class: 'item' }, h('summary', {}, 'What it returns'), h('div', { class: 'item-body' }, schemaView(card.output_schema, { emptyText: 'An empty object.' }))),
    );
    current.form = buildForm(card.input_schema || {}, { idPrefix: 'input-' });
    if (card.input_schema?.description) inputsHost.append(...richText(card.input_schema.description, 'p', { class: 'help-text' }));
    inputsHost.append(...schemaNotes(card.input_schema || {}));
    inputsHost.append(current.form.element);
    inputsSection.hidden = false;
    if (runBtn) runBtn.disabled = false;
  };

  connSelect.addEventListener('change', () => selectConnection(connSelect.value));
  cardSelect.addEventListener('change', () => selectCard(cardSelect.value));

  // ---- run
  const showFailure = (err, card) => {
    document.getElementById('run-result-empty').hidden = true;
    const title = h('h3', { tabIndex: -1 }, `${card.title || card.id} failed`);
    clear(errorEl).append(title, errorBox(err));
    const violations = err.details?.violations;
    if (Array.isArray(violations) && violations.length && current.form) {
      const list = current.form.showViolations(violations);
      errorEl.append(problemList(`${plural(list.length, 'problem')} with the input:`, list));
    }
    if (err.details?.journal) errorEl.append(journalView(err.details.journal));
    if (err.details?.invocation) {
      errorEl.append(h('p', { class: 'meta' }, 'Invocation ', h('code', {}, String(err.details.invocation)), ' · ',
        h('a', { href: href('history', [], { connection: current.connection?.name, card: card.id }) }, 'See it in History')));
    }
    errorEl.hidden = false;
    outputEl.hidden = true;
    title.focus();
  };

  const showOutput = (res, card) => {
    document.getElementById('run-result-empty').hidden = true;
    const title = h('h3', { tabIndex: -1 }, `${card.title || card.id} ran`);
    const copy = navigator.clipboard ? button('Copy output as JSON', { class: 'secondary', id: 'run-copy' }) : null;
    copy?.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(JSON.stringify(res.output, null, 2));
        ctx.announce('Copied the output.', 'success');
      } catch {
        ctx.announce('The browser did not allow copying.', 'error');
      }
    });
    clear(outputEl).append(
      title,
      definitionList([
        ['Invocation', h('code', {}, String(res.invocation ?? ''))],
        ['Took', `${res.duration_ms ?? '?'} ms`],
        ['Requests to the service', String(res.upstream_requests ?? '?')],
      ], { class: 'run-meta' }),
      res.journal ? journalView(res.journal) : null,
      h('h4', {}, 'Output'),
      jsonTree(res.output),
      h('div', { class: 'button-row' }, copy, h('a', { class: 'button-link secondary', href: href('history', [], { connection: current.connection?.name, card: card.id }) }, 'See it in History')),
      rawJson(res.output, 'Output as raw JSON'),
    );
    outputEl.hidden = false;
    errorEl.hidden = true;
    title.focus();
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!runBtn || !current.card || !current.form) return;
    const card = current.card;
    const conn = current.connection;
    const r = current.form.read();
    if (!r.ok) {
      document.getElementById('run-result-empty').hidden = true;
      const title = h('h3', { tabIndex: -1 }, 'Fix the input first');
      clear(errorEl).append(title, problemList(`${plural(r.errors.length, 'field')} to fix before the card can run:`, r.errors));
      errorEl.hidden = false;
      outputEl.hidden = true;
      ctx.announce(`The card did not run: ${plural(r.errors.length, 'field')} to fix.`, 'error');
      current.form.focusFirstError();
      return;
    }
    const token = ++runToken;
    runBtn.disabled = true;
    runBtn.textContent = 'Running…';
    form.setAttribute('aria-busy', 'true');
    ctx.announce(`Running ${card.title || card.id}…`);
    try {
      const res = await api.post(`/v1/connections/${seg(conn.id)}/cards/${seg(card.id)}:invoke`, r.value);
      if (token !== runToken || !ctx.isCurrent()) return;
      current.form.clearErrors();
      showOutput(res, card);
      ctx.announce(`${card.title || card.id} ran in ${res.duration_ms ?? '?'} ms.`, 'success');
    } catch (err) {
      if (err.sessionEnded || token !== runToken || !ctx.isCurrent()) return;
      showFailure(err, card);
      ctx.announce(`${card.title || card.id} failed: ${errorSummary(err)}`, 'error');
    } finally {
      if (token === runToken) {
        runBtn.disabled = false;
        runBtn.textContent = 'Run card';
        form.removeAttribute('aria-busy');
      }
    }
  });

  if (pre) {
    connSelect.value = pre.name;
    await selectConnection(pre.name, { cardWanted: ctx.query.get('card') });
  }
}

function errorSummary(err) {
  return describeError(err).summary;
}

/**
 * The upstream requests of a run (the invocation's journal: calls with
 * method, URL, status, attempts; and refusals), when the API includes it.
 */
function journalView(journal) {
  const calls = Array.isArray(journal.calls) ? journal.calls : [];
  const denials = Array.isArray(journal.denials) ? journal.denials : [];
  const wrap = h('div', { class: 'journal', dataset: { testid: 'run-journal' } }, h('h4', {}, `Requests to the service (${calls.length})`));
  if (calls.length) {
    wrap.append(h('div', { class: 'table-wrap', tabIndex: 0, attrs: { role: 'region', 'aria-label': 'Requests to the service' } },
      h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, ['Method', 'URL', 'Status', 'Attempts', 'Problem'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, calls.map((c) => h('tr', {},
          h('td', {}, String(c.method ?? '')),
          h('td', { class: 'url' }, String(c.url ?? '')),
          h('td', {}, c.status === null || c.status === undefined ? 'no answer' : String(c.status)),
          h('td', {}, String(c.attempts ?? 1)),
          h('td', {}, String(c.error ?? ''))))))));
  }
  if (denials.length) {
    wrap.append(h('p', {}, 'Requests cardhost refused to send:'),
      h('ul', {}, denials.map((d) => h('li', {}, h('code', {}, String(d.kind ?? '')), ': ', String(d.message ?? '')))));
  }
  if (journal.refreshes) wrap.append(h('p', { class: 'meta' }, `Token refreshes: ${journal.refreshes}`));
  return wrap;
}
