// history.js — the History page (#/history?connection=…&card=…&outcome=…).
//
// A table of recorded invocations, newest first (GET /v1/invocations with
// connection, card, outcome and limit filters). Each row opens to its
// detail: ids, timing, requests and retries, and the (redacted) error
// message. Connection tests are recorded as the card `_authping` and
// trigger polls as `trigger:<id>`. Filters live in the URL, so a reload or
// a shared link shows the same rows.

import { api, connector, connectorList, seg } from '/console/api.js';
import { h, button, clear, errorBox, timeMs, href, plural, loading, safeId, definitionList } from '/console/forms.js';

// Outcome classes (runtime/src/error.rs ErrorKind::class), in words.
const OUTCOMES = [
  ['ok', 'Succeeded'],
  ['invalid-input', 'Input did not match the card'],
  ['card-invalid-input', 'The card refused the input'],
  ['connection', 'Connection not usable'],
  ['denied', 'Request refused by cardhost (permission)'],
  ['unauthorized', 'The service refused the credentials'],
  ['forbidden', 'The service refused a right'],
  ['not-found', 'Not found at the service'],
  ['rate-limited', 'Rate limited by the service'],
  ['upstream', 'The service failed'],
  ['connector-internal', 'The connector failed'],
  ['deadline-exceeded', 'Took too long'],
  ['saturated', 'Server busy'],
  ['invalid-output', 'Output did not match the card'],
  ['output-too-large', 'Output too large'],
  ['memory-limit', 'Memory limit'],
  ['limit-exceeded', 'Limit exceeded'],
  ['trap', 'The connector crashed'],
  ['host', 'cardhost failed'],
];
const OUTCOME_WORDS = Object.fromEntries(OUTCOMES);
const LIMITS = [50, 200, 1000];

export async function render(ctx) {
  ctx.el.append(h('p', { class: 'intro' }, 'Every card run, connection test and trigger poll, newest first. Open a row for its details.'));

  const connSelect = h('select', { id: 'history-connection' }, h('option', { value: '' }, 'All connections'));
  const cardSelect = h('select', { id: 'history-card' }, h('option', { value: '' }, 'All cards'));
  const outcomeSelect = h('select', { id: 'history-outcome' }, h('option', { value: '' }, 'Any outcome'),
    OUTCOMES.map(([v, words]) => h('option', { value: v }, v === 'ok' ? words : `Failed: ${words}`)));
  const limitSelect = h('select', { id: 'history-limit' }, LIMITS.map((n) => h('option', { value: String(n) }, `${n} newest`)));
  const refresh = button('Refresh', { id: 'history-refresh', class: 'secondary' });
  const filters = h('form', { class: 'filters', id: 'history-filters', attrs: { role: 'search', 'aria-label': 'Filter the history', novalidate: true } },
    field('history-connection', 'Connection', connSelect),
    field('history-card', 'Card', cardSelect),
    field('history-outcome', 'Outcome', outcomeSelect),
    field('history-limit', 'Show', limitSelect),
    h('div', { class: 'filter-actions' }, refresh));
  const summary = h('p', { class: 'meta', id: 'history-summary', attrs: { 'aria-live': 'off' } });
  const tbody = h('tbody', {});
  const table = h('table', { id: 'history', class: 'table history-table', dataset: { testid: 'history' } },
    h('caption', { class: 'visually-hidden' }, 'Invocations, newest first'),
    h('thead', {}, h('tr', {}, ['Started', 'Connection', 'Card', 'Outcome', 'Took', 'Requests', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  const tableWrap = h('div', { class: 'table-wrap', tabIndex: 0, attrs: { role: 'region', 'aria-labelledby': 'history-title' } }, table);
  ctx.el.append(filters, h('section', { class: 'block', attrs: { 'aria-labelledby': 'history-title' } },
    h('h2', { id: 'history-title' }, 'Invocations'), summary, tableWrap));

  // ---- filter choices
  let connections = [];
  try {
    connections = (await api.get('/v1/connections')).connections || [];
  } catch (err) {
    if (err.sessionEnded) return;
    ctx.el.append(errorBox(err));
  }
  if (!ctx.isCurrent()) return;
  // Values are names (the API's filter takes a name or an id).
  for (const c of connections) connSelect.append(h('option', { value: c.name }, `${c.name} (${c.connector})`));
  const nameOf = (id) => connections.find((c) => c.id === id)?.name || id || '—';

  const q = ctx.query;
  const wantConn = q.get('connection') || '';
  const known = connections.find((c) => c.id === wantConn || c.name === wantConn);
  connSelect.value = known ? known.name : '';
  if (wantConn && !known) connSelect.append(h('option', { value: wantConn, selected: true }, wantConn));
  outcomeSelect.value = OUTCOME_WORDS[q.get('outcome')] ? q.get('outcome') : '';
  if (q.get('outcome') && !OUTCOME_WORDS[q.get('outcome')]) outcomeSelect.append(h('option', { value: q.get('outcome'), selected: true }, q.get('outcome')));
  limitSelect.value = LIMITS.includes(Number(q.get('limit'))) ? q.get('limit') : '50';

  const cardTitles = new Map(); // card id → title, for the table
  const fillCards = async (wanted) => {
    const options = await cardOptions(connections.find((c) => c.name === connSelect.value) || null);
    if (!ctx.isCurrent()) return;
    clear(cardSelect).append(h('option', { value: '' }, 'All cards'));
    for (const [id, title] of options) {
      cardTitles.set(id, title);
      cardSelect.append(h('option', { value: id }, title === id ? id : `${title} (${id})`));
    }
    if (wanted && !options.has(wanted)) cardSelect.append(h('option', { value: wanted }, wanted));
    cardSelect.value = wanted || '';
  };
  await fillCards(q.get('card') || '');

  // ---- rows
  let loadToken = 0;
  const load = async ({ announceDone = false } = {}) => {
    const token = ++loadToken;
    const query = { connection: connSelect.value, card: cardSelect.value, outcome: outcomeSelect.value, limit: limitSelect.value };
    ctx.setQuery({ ...query, limit: query.limit === '50' ? undefined : query.limit });
    clear(tbody).append(h('tr', {}, h('td', { colSpan: 7 }, loading('Loading history…'))));
    tableWrap.setAttribute('aria-busy', 'true');
    try {
      const data = await api.get('/v1/invocations', query);
      if (token !== loadToken || !ctx.isCurrent()) return;
      const rows = Array.isArray(data.invocations) ? data.invocations : [];
      clear(tbody);
      for (const r of rows) tbody.append(...historyRow(r, nameOf, cardTitles));
      if (!rows.length) tbody.append(h('tr', {}, h('td', { colSpan: 7, class: 'empty' }, 'No invocations match these filters.')));
      summary.textContent = rows.length >= Number(query.limit)
        ? `Showing the ${rows.length} newest; there may be more (choose a larger “Show”).`
        : `${plural(rows.length, 'invocation')}.`;
      if (announceDone) ctx.announce(`History: ${plural(rows.length, 'invocation')}.`);
    } catch (err) {
      if (err.sessionEnded || token !== loadToken) return;
      clear(tbody).append(h('tr', {}, h('td', { colSpan: 7 }, errorBox(err))));
      summary.textContent = '';
    } finally {
      if (token === loadToken) tableWrap.removeAttribute('aria-busy');
    }
  };

  connSelect.addEventListener('change', async () => {
    await fillCards(cardSelect.value);
    load({ announceDone: true });
  });
  cardSelect.addEventListener('change', () => load({ announceDone: true }));
  outcomeSelect.addEventListener('change', () => load({ announceDone: true }));
  limitSelect.addEventListener('change', () => load({ announceDone: true }));
  refresh.addEventListener('click', () => load({ announceDone: true }));
  filters.addEventListener('submit', (e) => { e.preventDefault(); load({ announceDone: true }); });

  await load();
}

function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id, class: 'field-label' }, label), control);
}

/**
 * The card filter's choices: the cards of the chosen connection's
 * connector (or of every connector), connection tests, and the triggers of
 * the connection (recorded as `trigger:<id>`).
 */
async function cardOptions(conn) {
  const options = new Map();
  const addCards = (m) => {
    for (const c of m?.cards || []) if (!options.has(c.id)) options.set(c.id, String(c.title || c.id));
  };
  try {
    if (conn) {
      addCards(await connector(conn.connector));
      const t = await api.get(`/v1/connections/${seg(conn.id)}/triggers`).catch(() => ({ triggers: [] }));
      for (const tr of t.triggers || []) options.set(`trigger:${tr.id}`, `Trigger ${tr.title || tr.id}`);
    } else {
      const list = await connectorList();
      const manifests = await Promise.all((list.connectors || []).map((c) => connector(c.id).catch(() => null)));
      manifests.forEach(addCards);
    }
  } catch {
    // The filter still works with what is known.
  }
  options.set('_authping', 'Connection test');
  return options;
}

/** A row and its (hidden) detail row. */
function historyRow(r, nameOf, cardTitles) {
  const rid = safeId(r.id);
  const detailId = `history-detail-${rid}`;
  const ok = r.outcome === 'ok';
  const toggle = button('Show', {
    class: ['link-button', 'history-details'],
    attrs: { 'aria-expanded': 'false', 'aria-controls': detailId, 'aria-label': `Details of ${r.card} at ${new Date(Number(r.started_at_ms)).toLocaleString()}` },
  });
  const cardText = r.card === '_authping' ? 'Connection test' : cardTitles.get(r.card) || r.card;
  const row = h('tr', { dataset: { invocation: r.id, outcome: r.outcome } },
    h('td', {}, timeMs(r.started_at_ms)),
    h('td', {}, String(nameOf(r.connection_id))),
    h('td', {}, String(cardText), cardText !== r.card ? [' ', h('code', { class: 'small' }, String(r.card))] : null),
    h('td', {}, h('span', { class: ['badge', ok ? 'badge-good' : 'badge-warn'] }, ok ? 'OK' : 'Failed'), ok ? null : [' ', h('span', { class: 'outcome-words' }, OUTCOME_WORDS[r.outcome] || String(r.outcome))]),
    h('td', { class: 'num' }, `${r.duration_ms ?? '?'} ms`),
    h('td', { class: 'num' }, String(r.upstream_requests ?? 0), r.retries ? ` (${plural(r.retries, 'retry', 'retries')})` : ''),
    h('td', {}, toggle));
  const detail = h('tr', { id: detailId, class: 'detail-row', hidden: true },
    h('td', { colSpan: 7 }, h('div', { class: 'history-detail' },
      definitionList([
        ['Invocation', h('code', {}, String(r.id))],
        ['Connector', h('a', { href: href('catalog', [r.connector]) }, String(r.connector))],
        ['Connection', r.connection_id ? [String(nameOf(r.connection_id)), ' ', h('code', { class: 'small' }, String(r.connection_id))] : '—'],
        ['Card', h('code', {}, String(r.card))],
        ['Started', Number.isFinite(Number(r.started_at_ms)) ? new Date(Number(r.started_at_ms)).toISOString() : '—'],
        ['Took', `${r.duration_ms ?? '?'} ms`],
        ['Requests to the service', `${r.upstream_requests ?? 0}, of which ${plural(r.retries ?? 0, 'retry', 'retries')}`],
        ['Outcome', ok ? 'ok' : [h('code', {}, String(r.outcome)), ` — ${OUTCOME_WORDS[r.outcome] || ''}`]],
      ]),
      r.error ? [h('h3', { class: 'h4' }, 'Error'), h('p', { class: 'error-text' }, String(r.error))] : null,
      r.card && !r.card.startsWith('_') && !r.card.startsWith('trigger:') && r.connection_id
        ? h('p', {}, h('a', { href: href('runner', [], { connection: r.connection_id, card: r.card }) }, 'Open this card in the runner'))
        : null)));
  toggle.addEventListener('click', () => {
    const open = detail.hidden;
    detail.hidden = !open;
    toggle.textContent = open ? 'Hide' : 'Show';
    toggle.setAttribute('aria-expanded', String(open));
  });
  return [row, detail];
}

