// catalog.js — the Catalog page (#/catalog, #/catalog/<connector>).
//
// The list shows every loaded connector (GET /v1/connectors) and any that
// failed to load. A connector's page (GET /v1/connectors/{id}) shows how a
// connection signs in, its connection fields, its permissions (method and
// path rules, defaults marked), its cards with input and output schemas,
// and its triggers with event schemas — schemas as readable field lists,
// never raw JSON. Also exports the permission helpers connections.js uses.

import { api, can, connector, connectorList, seg } from '/console/api.js';
import { h, clear, errorBox, note, richText, inlineCode, schemaView, href, loading, plural } from '/console/forms.js';

export async function render(ctx) {
  const [id] = ctx.params;
  if (id) return renderConnector(ctx, id);
  return renderList(ctx);
}

// ---------------------------------------------------------------- list

async function renderList(ctx) {
  ctx.el.append(h('p', { class: 'intro' }, 'The connectors this server runs, with the cards (actions) and triggers (events) each offers. Pick one to see its cards, the fields a connection needs and the permissions it can be granted.'));
  const status = loading('Loading connectors…');
  ctx.el.append(status);
  const data = await connectorList();
  if (!ctx.isCurrent()) return;
  status.remove();
  const list = Array.isArray(data.connectors) ? data.connectors : [];
  if (Array.isArray(data.load_errors) && data.load_errors.length) {
    ctx.el.append(note([
      h('p', {}, h('strong', {}, `${plural(data.load_errors.length, 'connector')} could not be loaded:`)),
      h('ul', {}, data.load_errors.map((e) => h('li', {}, h('code', {}, String(e.origin ?? '')), ': ', String(e.reason ?? '')))),
    ], 'warn', { dataset: { testid: 'load-errors' } }));
  }
  if (!list.length) {
    ctx.el.append(note('No connectors are loaded on this server.', 'info'));
    return;
  }
  const ul = h('ul', { class: 'tiles', id: 'connector-list' });
  const tiles = list.map((c) => {
    const cardsEl = h('div', { class: 'tile-cards' }, loading('Loading cards…'));
    ul.append(h('li', { class: 'tile', dataset: { connector: c.id } },
      h('h2', { class: 'tile-title' }, h('a', { href: href('catalog', [c.id]), class: 'connector-link' }, String(c.name || c.id))),
      h('p', { class: 'meta' }, h('code', {}, String(c.id)), ` · version ${c.version ?? '?'} · ${plural(Number(c.cards) || 0, 'card')}`),
      richText(c.description, 'p', { class: 'desc' }),
      cardsEl,
      c.source ? h('p', { class: 'meta small' }, inlineCode(String(c.source))) : null));
    return { c, cardsEl };
  });
  ctx.el.append(ul);
  // Each connector's cards by title, linking to their details.
  await Promise.all(tiles.map(async ({ c, cardsEl }) => {
    try {
      const m = await connector(c.id);
      if (!ctx.isCurrent()) return;
      const cards = Array.isArray(m.cards) ? m.cards : [];
      clear(cardsEl).append(
        h('h3', { class: 'h4' }, 'Cards'),
        h('ul', { class: 'tile-card-list' }, cards.map((card) => h('li', {},
          h('a', { href: href('catalog', [c.id], { card: card.id }) }, String(card.title || card.id))))));
    } catch (err) {
      if (!err.sessionEnded) clear(cardsEl).append(errorBox(err));
    }
  }));
}

// ---------------------------------------------------------------- one connector

async function renderConnector(ctx, id) {
  ctx.el.append(h('p', { class: 'crumbs' }, h('a', { href: href('catalog') }, '← All connectors')));
  const status = loading('Loading the connector…');
  ctx.el.append(status);
  const m = await connector(id);
  if (!ctx.isCurrent()) return;
  status.remove();
  ctx.setTitle(String(m.name || m.id));
  ctx.el.append(
    h('p', { class: 'meta' }, h('code', {}, String(m.id)), ` · version ${m.version ?? '?'}`),
    ...richText(m.description, 'p', { class: 'intro' }),
  );
  const cards = Array.isArray(m.cards) ? m.cards : [];
  const permissions = Array.isArray(m.permissions) ? m.permissions : [];

  // Cards.
  const cardSection = section('catalog-cards', `Cards (${cards.length})`, 'Actions a flow can run. Open one for what it takes and what it returns.');
  const cardList = h('div', { class: 'card-list' });
  for (const card of cards) cardList.append(cardDetails(card, permissions, m));
  cardSection.append(cardList);

  // Triggers: the API lists them per connection (see triggersSection).
  const triggerSection = section('catalog-triggers', 'Triggers', 'Events a flow can start from.');
  triggerSection.append(loading('Loading triggers…'));

  ctx.el.append(
    cardSection,
    triggerSection,
    authSection(m),
    fieldsSection(m),
    permissionsSection(permissions),
  );
  // #/catalog/<id>?card=<card>: that card open and in view.
  const wanted = ctx.query.get('card');
  const open = wanted ? [...cardList.children].find((d) => d.dataset.card === wanted) : null;
  if (open) {
    open.open = true;
    const summary = open.querySelector('summary');
    summary.focus();
    open.scrollIntoView({ block: 'start' });
  }
  await fillTriggers(ctx, triggerSection, m);
}

function section(id, title, intro) {
  return h('section', { class: 'block', attrs: { 'aria-labelledby': `${id}-title` }, id },
    h('h2', { id: `${id}-title` }, title),
    intro ? h('p', { class: 'help-text' }, intro) : null);
}

function cardDetails(card, permissions, m) {
  const titleOf = (pid) => permissions.find((p) => p.id === pid)?.title || pid;
  const d = h('details', { class: 'item', dataset: { card: card.id } },
    h('summary', {}, h('span', { class: 'item-title' }, String(card.title || card.id)), ' ', h('code', { class: 'item-id' }, String(card.id))));
  const body = h('div', { class: 'item-body' });
  body.append(...richText(card.description, 'p', { class: 'desc' }));
  const perms = Array.isArray(card.permissions) ? card.permissions : [];
  body.append(h('p', { class: 'meta' }, perms.length
    ? ['Needs permission: ', perms.map((p, i) => [i ? ', ' : '', titleOf(p), ' ', h('code', {}, String(p))])]
    : 'Needs no permission.'));
  if (can('invoker')) body.append(h('p', {}, h('a', { href: href('runner', [], { connector: m.id, card: card.id }) }, `Run ${card.title || card.id}…`)));
  body.append(
    h('h3', { class: 'h4' }, 'Input'), schemaView(card.input_schema, { emptyText: 'Takes no input.' }),
    h('h3', { class: 'h4' }, 'Output'), schemaView(card.output_schema, { emptyText: 'Returns an empty object.' }),
  );
  d.append(body);
  return d;
}

// ---------------------------------------------------------------- triggers

/** A trigger's kind in words. */
export function triggerKind(t) {
  const polled = t.default_interval_seconds
    ? `polled every ${t.default_interval_seconds} s by default${t.min_interval_seconds ? ` (at least ${t.min_interval_seconds} s)` : ''}`
    : 'polled on a schedule';
  switch (t.kind) {
    case 'polling': return `Polling: ${polled}.`;
    case 'webhook': return 'Webhook: the service sends each event to cardhost.';
    case 'polling+webhook': return `Webhook, with polling as a safety net (${polled}).`;
    default: return String(t.kind ?? '');
  }
}

export function triggerDetails(t, permissions = []) {
  const titleOf = (pid) => permissions.find((p) => p.id === pid)?.title || pid;
  const d = h('details', { class: 'item', dataset: { trigger: t.id } },
    h('summary', {}, h('span', { class: 'item-title' }, String(t.title || t.id)), ' ', h('code', { class: 'item-id' }, String(t.id))));
  const perms = Array.isArray(t.permissions) ? t.permissions : [];
  d.append(h('div', { class: 'item-body' },
    richText(t.description, 'p', { class: 'desc' }),
    h('p', { class: 'meta' }, triggerKind(t)),
    h('p', { class: 'meta' }, perms.length ? ['Uses permission: ', perms.map((p, i) => [i ? ', ' : '', titleOf(p), ' ', h('code', {}, String(p))])] : 'Uses no permission.'),
    h('h3', { class: 'h4' }, 'Event'),
    schemaView(t.event_schema, { emptyText: 'Events carry no fields.' })));
  return d;
}

// GET /v1/connectors/{id} does not list triggers; GET
// /v1/connections/{id}/triggers does, so a connection of this connector is
// borrowed to show them (a manifest that carries `triggers` is used as is).
async function fillTriggers(ctx, sectionEl, m) {
  const done = (...nodes) => {
    sectionEl.querySelector('.loading')?.remove();
    sectionEl.append(...nodes);
  };
  try {
    let list = Array.isArray(m.triggers) ? m.triggers : null;
    if (!list) {
      const conns = await api.get('/v1/connections');
      const one = (conns.connections || []).find((c) => c.connector === m.id);
      if (!one) {
        done(note('Triggers are listed once this connector has a connection: the server lists triggers per connection.', 'info'));
        return;
      }
      list = (await api.get(`/v1/connections/${seg(one.id)}/triggers`)).triggers || [];
    }
    if (!ctx.isCurrent()) return;
    if (!list.length) {
      done(h('p', {}, 'This connector has no triggers.'));
      return;
    }
    done(h('div', { class: 'card-list' }, list.map((t) => triggerDetails(t, m.permissions || []))));
  } catch (err) {
    if (err.sessionEnded) return;
    done(errorBox(err));
  }
}

// ---------------------------------------------------------------- auth, fields

const AUTH_WORDS = {
  none: 'No credentials: requests are sent as they are.',
  bearer: 'A token, sent as an Authorization: Bearer header.',
  basic: 'A user name and password (HTTP Basic).',
  'api-key': 'An API key, in a header or query parameter.',
  'oauth2-client-credentials': 'OAuth2 client credentials: cardhost fetches and refreshes the token itself.',
  'oauth2-authorization-code': 'OAuth2 sign-in: someone signs in at the service in the browser (Connect), then cardhost refreshes the token itself.',
};

/** An auth method's kind in words. */
export function authWords(kind) {
  return AUTH_WORDS[kind] || String(kind ?? '');
}

function authSection(m) {
  const s = section('catalog-auth', 'How a connection signs in', null);
  const methods = Array.isArray(m.auth_methods) ? m.auth_methods : [];
  if (!methods.length) {
    s.append(h('p', {}, 'No sign-in is needed.'));
    return s;
  }
  if (methods.length > 1) s.append(h('p', { class: 'help-text' }, 'A connection uses one of these; the first is the default.'));
  for (const a of methods) {
    const secrets = Array.isArray(a.secrets) ? a.secrets : [];
    const where = Array.isArray(a.destinations?.secrets) ? a.destinations.secrets : [];
    s.append(h('div', { class: 'item-static', dataset: { authMethod: a.id } },
      h('h3', { class: 'h4' }, String(a.title || a.id), ' ', h('code', {}, String(a.id))),
      h('p', {}, authWords(a.kind)),
      secrets.length
        ? h('ul', { class: 'plain' }, secrets.map((sec) => {
          const goes = where.find((w) => w.name === sec.name)?.goes_to;
          return h('li', {},
            h('strong', {}, String(sec.title || sec.name)), ' ', h('code', {}, String(sec.name)), sec.optional ? ' (optional)' : ' (required)',
            richText(sec.description, 'p', { class: 'help-text' }),
            Array.isArray(goes) && goes.length ? h('p', { class: 'help-text' }, 'Sent to: ', goes.map((g, i) => [i ? '; ' : '', inlineCode(String(g))])) : null);
        }))
        : h('p', {}, 'No secrets.'),
      a.destinations?.tokens ? h('p', { class: 'help-text' }, 'Tokens go to: ', inlineCode(String(a.destinations.tokens))) : null));
  }
  return s;
}

function fieldsSection(m) {
  const s = section('catalog-fields', 'Connection fields', 'What a connection of this connector is set up with (besides its secrets).');
  s.append(schemaView(m.connection_schema, { emptyText: 'A connection needs no fields.' }));
  return s;
}

// ---------------------------------------------------------------- permissions

/**
 * The methods a rule allows. The API sends `access` as Debug text today
 * ("[access::read, access::write]"); an array of "read"/"write" works too.
 */
export function ruleAccess(rule) {
  const raw = Array.isArray(rule?.access) ? rule.access.join(' ') : String(rule?.access ?? '');
  const words = [];
  if (/read/i.test(raw)) words.push('read');
  if (/write/i.test(raw)) words.push('write');
  return words;
}

const ACCESS_METHODS = { read: 'GET, HEAD', write: 'POST, PUT, PATCH, DELETE' };

/** One rule as nodes: "GET, HEAD /api/v1/crews/*". */
export function ruleNodes(rule) {
  const access = ruleAccess(rule);
  const methods = access.map((a) => ACCESS_METHODS[a]).join(', ') || String(rule?.access ?? '');
  return [h('span', { class: 'methods' }, methods), ' ', h('code', {}, String(rule?.path ?? ''))];
}

/** A permission's body: description, its rules, and whether it is a default. */
export function permissionBody(p) {
  const rules = Array.isArray(p.rules) ? p.rules : [];
  return [
    richText(p.description, 'p', { class: 'help-text' }),
    rules.length ? h('ul', { class: 'rules', attrs: { 'aria-label': `Requests ${p.title || p.id} allows` } }, rules.map((r) => h('li', {}, ruleNodes(r)))) : null,
  ];
}

/** "granted by default" / "not granted by default". */
export function defaultTag(p) {
  return p.granted_by_default
    ? h('span', { class: ['tag', 'tag-default'] }, 'granted by default')
    : h('span', { class: 'tag' }, 'not granted by default');
}

function permissionsSection(permissions) {
  const s = section('catalog-permissions', `Permissions (${permissions.length})`, 'Rights a connection can be granted. cardhost lets a card send only the requests its connection’s granted permissions allow.');
  if (!permissions.length) {
    s.append(h('p', {}, 'This connector declares no permissions.'));
    return s;
  }
  s.append(h('ul', { class: 'perm-list' }, permissions.map((p) => h('li', { dataset: { permission: p.id } },
    h('p', { class: 'perm-head' }, h('strong', {}, String(p.title || p.id)), ' ', h('code', {}, String(p.id)), ' ', defaultTag(p)),
    permissionBody(p)))));
  return s;
}

