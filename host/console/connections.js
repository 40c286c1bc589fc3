// connections.js — the Connections page (#/connections).
//
// Lists the stored connections (GET /v1/connections) with their state
// (ready / needs reauthorization / needs approval, with the state message)
// and, as the key's role allows:
//   invoker: Test (POST …/test, each check shown ok/failed)
//   admin:   New connection (a form from the connector's connection schema,
//            its secrets as password fields, the permissions to grant),
//            Connect (OAuth2 authorization code: POST …/authorize, then the
//            browser goes to the provider), Approve a connector change,
//            grant editor (PUT …/grant), replace a secret (PUT
//            …/secrets/{name}), change fields (PUT …/fields), Delete with a
//            confirmation step.
// Buttons a role cannot use are not rendered. Secrets are write-only: the
// page never shows one back (the API never returns them).

import { api, can, connector, connectorList, seg, authMethodOf, ApiError, describeError } from '/console/api.js';
import {
  h, button, clear, errorBox, note, stateBadge, timeSeconds, richText, buildForm, href, loading, plural, safeId, uid, problemList, plainField,
} from '/console/forms.js';
import { permissionBody, defaultTag, authWords } from '/console/catalog.js';

const AUTH_CODE = 'oauth2-authorization-code';

let shown = null; // {ctx, list} of the rendered page, for onShow

export async function render(ctx) {
  ctx.el.append(h('p', { class: 'intro' }, 'A connection is a connector set up for one account of a service: its fields, its secrets and the permissions it is granted. Flows run cards on connections.'));
  if (can('admin')) ctx.el.append(newConnectionSection(ctx));
  const list = h('ul', { class: 'connection-list', id: 'connection-list' });
  const refresh = button('Reload list', { class: 'secondary', id: 'connections-reload' });
  const sectionEl = h('section', { class: 'block', attrs: { 'aria-labelledby': 'connections-title' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'connections-title' }, 'Connections'), refresh),
    list);
  ctx.el.append(sectionEl);
  refresh.addEventListener('click', () => loadList(ctx, list, { announceDone: true }));
  shown = { ctx, list };
  await loadList(ctx, list);
}

/** Back on this tab (e.g. from an OAuth consent): reload the states. */
export function onShow(ctx) {
  if (shown && shown.ctx === ctx && ctx.isCurrent()) loadList(ctx, shown.list, { quiet: true });
}

// ---------------------------------------------------------------- list

async function loadList(ctx, list, { quiet = false, announceDone = false, focusName = null } = {}) {
  if (!quiet) clear(list).append(h('li', { class: 'loading' }, 'Loading connections…'));
  let data;
  try {
    data = await api.get('/v1/connections');
  } catch (err) {
    if (err.sessionEnded || !ctx.isCurrent()) return;
    clear(list).append(h('li', {}, errorBox(err)));
    return;
  }
  if (!ctx.isCurrent()) return;
  const conns = Array.isArray(data.connections) ? data.connections : [];
  // The connectors' manifests (cached): auth kind, secrets, permissions.
  const manifests = new Map();
  await Promise.all([...new Set(conns.map((c) => c.connector))].map(async (id) => {
    try { manifests.set(id, await connector(id)); } catch { manifests.set(id, null); }
  }));
  if (!ctx.isCurrent()) return;
  // Keep what the user has open across a reload.
  const open = new Map([...list.querySelectorAll('li.connection')].map((li) => [li.dataset.connectionId, li]));
  const rows = await Promise.all(conns.map((c) => {
    const old = open.get(c.id);
    if (quiet && old && old.connectionRow) return old.connectionRow.update(c).then(() => old);
    return connectionRow(ctx, c, manifests.get(c.connector), list).el;
  }));
  if (!ctx.isCurrent()) return;
  clear(list).append(...rows);
  if (!conns.length) {
    list.append(h('li', { class: 'empty' }, can('admin')
      ? 'No connections yet. Press “New connection” to create one.'
      : 'No connections yet. An admin can create one.'));
  }
  if (announceDone) ctx.announce(`Loaded ${plural(conns.length, 'connection')}.`);
  if (focusName) list.querySelector(`li[data-connection-id="${CSS.escape(focusName)}"] h3`)?.focus();
}

/** Which permissions a connection is granted (ids), for every role to see. */
function grantedLine(c, manifest) {
  const granted = Array.isArray(c.granted) ? c.granted : [];
  const total = Array.isArray(manifest?.permissions) ? manifest.permissions.length : null;
  if (!granted.length) return h('p', { class: 'meta granted' }, 'Granted no permissions: its cards cannot send requests.');
  return h('p', { class: 'meta granted' },
    `Granted ${total === null ? plural(granted.length, 'permission') : `${granted.length} of ${plural(total, 'permission')}`}: `,
    granted.map((p, i) => [i ? ', ' : '', h('code', {}, String(p))]));
}

/** The words for a connection's state (and what to do about it). */
function stateLine(c, method) {
  const reauth = method?.kind === AUTH_CODE
    ? 'Someone must sign in at the service again (Connect) before it can be used.'
    : 'The service refused its credentials: replace the secret under Settings, then Test.';
  const words = {
    'needs-reauthorization': reauth,
    'needs-approval': 'Its connector changed where credentials are sent; an admin must approve the change.',
    error: 'It cannot be used.',
  }[c.state];
  return [stateBadge(c.state), words ? ` ${words}` : null, c.state_message ? h('span', { class: 'state-message' }, ` ${c.state_message}`) : null];
}

/**
 * One connection: heading, state, actions and (admin) its settings.
 * Returns {el, update(conn)}; the row element carries `data-connection`
 * (the name) and `data-connection-id`.
 */
function connectionRow(ctx, initialConn, manifest, list) {
  let conn = initialConn;
  const rid = safeId(conn.id);
  const li = h('li', { class: 'connection', dataset: { connection: conn.name, connectionId: conn.id } });
  const titleId = `conn-${rid}-title`;
  const article = h('article', { attrs: { 'aria-labelledby': titleId } });
  const head = h('div', { class: 'conn-head' });
  const actions = h('div', { class: 'actions', attrs: { role: 'group', 'aria-label': `Actions for ${conn.name}` } });
  const result = h('div', { class: 'conn-result', id: `conn-${rid}-result`, dataset: { testid: 'connection-result' } });
  const manage = h('div', { class: 'manage', id: `conn-${rid}-manage`, hidden: true });
  article.append(head, actions, result, manage);
  li.append(article);

  const method = authMethodOf(manifest, conn);
  const isAuthCode = method?.kind === AUTH_CODE;

  // Drawn at once; what a needs-approval change would do is added when known.
  const drawHead = async () => {
    clear(head).append(
      h('h3', { id: titleId, tabIndex: -1 }, String(conn.name)),
      h('p', { class: 'meta' },
        'Connector ', h('a', { href: href('catalog', [conn.connector]) }, String(manifest?.name || conn.connector)),
        ` (${conn.connector} ${conn.connector_version || ''})`.replace(' )', ')'),
        method ? ` · signs in with ${method.title || method.id}` : '',
        ' · created ', timeSeconds(conn.created_at)),
      h('p', { class: 'state', dataset: { testid: 'connection-state' } }, stateLine(conn, method)),
      grantedLine(conn, manifest),
    );
    if (conn.state !== 'needs-approval') return;
    let pending = [];
    try { pending = (await api.get(`/v1/connections/${seg(conn.id)}`)).pending_approval || []; } catch { pending = []; }
    if (pending.length && conn.state === 'needs-approval') {
      head.append(h('div', { class: 'pending' }, h('p', {}, 'The change to approve:'), h('ul', {}, pending.map((line) => h('li', {}, String(line))))));
    }
  };

  // ---- actions
  const testBtn = can('invoker') ? button('Test', { class: ['secondary', 'test-connection'] }) : null;
  const connectBtn = can('admin') && isAuthCode ? button('', { class: ['primary', 'connect-oauth'] }) : null;
  const approveBtn = can('admin') ? button('Approve change', { class: ['primary', 'approve-connection'] }) : null;
  const runLink = can('invoker') ? h('a', { class: 'button-link secondary', href: href('runner', [], { connection: conn.name }) }, 'Run a card') : null;
  const historyLink = h('a', { class: 'button-link secondary', href: href('history', [], { connection: conn.name }) }, 'History');
  const manageBtn = can('admin') ? button('Settings', { class: ['secondary', 'manage-connection'], attrs: { 'aria-expanded': 'false', 'aria-controls': manage.id } }) : null;
  const deleteBtn = can('admin') ? button('Delete', { class: ['danger-outline', 'delete-connection'] }) : null;
  const confirm = h('div', { class: 'confirm', hidden: true });
  actions.append(...[testBtn, connectBtn, approveBtn, runLink, historyLink, manageBtn, deleteBtn].filter(Boolean), confirm);

  const drawActions = () => {
    if (connectBtn) connectBtn.textContent = conn.state === 'needs-reauthorization' ? 'Connect' : 'Reconnect';
    if (connectBtn) connectBtn.setAttribute('aria-label', `${connectBtn.textContent} ${conn.name} (sign in at the service)`);
    if (approveBtn) approveBtn.hidden = conn.state !== 'needs-approval';
  };

  const busy = async (btn, fn) => {
    if (btn) btn.disabled = true;
    try { return await fn(); } finally { if (btn) btn.disabled = false; }
  };

  const fail = (err, where = result) => {
    if (err.sessionEnded) return;
    clear(where).append(errorBox(err));
    ctx.announce(`${conn.name}: ${describeError(err).summary}`, 'error');
  };

  /** Re-reads this connection and redraws its state. */
  const reload = async () => {
    try {
      conn = await api.get(`/v1/connections/${seg(conn.id)}`);
      li.dataset.connection = conn.name;
      await drawHead();
      drawActions();
      settings?.refresh(conn);
    } catch (err) {
      fail(err);
    }
  };

  testBtn?.addEventListener('click', () => busy(testBtn, async () => {
    clear(result).append(loading(`Testing ${conn.name}…`));
    try {
      const report = await api.post(`/v1/connections/${seg(conn.id)}/test`);
      clear(result).append(testReport(report));
      ctx.announce(`${conn.name}: ${report.ok ? 'the test passed' : 'the test failed'}. ${report.summary || ''}`, report.ok ? 'success' : 'error');
      await reload();
    } catch (err) {
      fail(err);
    }
  }));

  connectBtn?.addEventListener('click', () => busy(connectBtn, async () => {
    try {
      const start = await api.post(`/v1/connections/${seg(conn.id)}/authorize`);
      const url = new URL(String(start.authorize_url), location.href);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the server gave an authorization address that is not a web address (${url.protocol})`);
      ctx.announce(`Opening the sign-in page for ${conn.name}…`);
      window.location.assign(url.href);
    } catch (err) {
      fail(err instanceof ApiError ? err : new ApiError({ code: 'authorization-failed', message: String(err.message || err) }));
    }
  }));

  approveBtn?.addEventListener('click', () => busy(approveBtn, () => approve({})));
  const approve = async (secrets) => {
    try {
      await api.post(`/v1/connections/${seg(conn.id)}/approve`, Object.keys(secrets).length ? { secrets } : {});
      clear(result).append(note(`Approved the change for ${conn.name}.`, 'success'));
      ctx.announce(`Approved the change for ${conn.name}.`, 'success');
      await reload();
    } catch (err) {
      if (err.code === 'secrets-required') {
        askSecrets(result, err, method, conn, 'Approve with these secrets', (given) => approve(given));
        return;
      }
      fail(err);
    }
  };

  // ---- delete, with a confirmation step
  deleteBtn?.addEventListener('click', () => {
    const really = button(`Really delete ${conn.name}`, { class: ['danger', 'really-delete-connection'] });
    const cancel = button('Keep it', { class: ['secondary', 'cancel-delete'] });
    clear(confirm).append(
      h('p', {}, `Delete ${conn.name}? Flows that use it stop working. This cannot be undone.`),
      really, ' ', cancel);
    confirm.hidden = false;
    deleteBtn.hidden = true;
    really.focus();
    cancel.addEventListener('click', () => {
      confirm.hidden = true;
      deleteBtn.hidden = false;
      deleteBtn.focus();
    });
    really.addEventListener('click', () => busy(really, async () => {
      try {
        const d = await api.del(`/v1/connections/${seg(conn.id)}`);
        let words = `Deleted ${conn.name}.`;
        if (d && d.revoked === true) words += ' Its token was revoked at the service.';
        if (d && d.revoked === false && d.revocation_error) words += ` Its token could not be revoked at the service: ${d.revocation_error}`;
        ctx.announce(words, 'success');
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        (next?.querySelector('h3') || document.getElementById('connections-title'))?.focus();
        if (!list.querySelector('li.connection')) loadList(ctx, list, { quiet: true });
      } catch (err) {
        fail(err);
      }
    }));
  });

  // ---- settings (admin)
  let settings = null;
  manageBtn?.addEventListener('click', () => {
    const opening = manage.hidden;
    if (opening && !settings) {
      settings = settingsPanel(ctx, conn, manifest, method, manage, reload);
    }
    manage.hidden = !opening;
    manageBtn.setAttribute('aria-expanded', String(opening));
    if (opening) manage.querySelector('h4')?.focus();
  });

  drawActions();
  const ready = drawHead();
  const row = {
    el: li,
    async update(c) {
      conn = c;
      li.dataset.connection = c.name;
      await drawHead();
      drawActions();
      settings?.refresh(c);
    },
  };
  li.connectionRow = row;
  ready.catch(() => {});
  return row;
}

/** A connection test's report: the summary and each check, ok or failed. */
function testReport(report) {
  const checks = Array.isArray(report.checks) ? report.checks : [];
  return h('div', { class: ['test-report', report.ok ? 'test-ok' : 'test-failed'], dataset: { testid: 'test-report', ok: String(!!report.ok) } },
    h('p', { class: 'test-summary' }, h('strong', {}, report.ok ? 'Test passed. ' : 'Test failed. '), String(report.summary || '')),
    checks.length ? h('ul', { class: 'checks' }, checks.map((c) => h('li', { class: c.ok ? 'check-ok' : 'check-failed', dataset: { ok: String(!!c.ok) } },
      h('span', { class: 'check-mark', attrs: { 'aria-hidden': 'true' } }, c.ok ? '✓' : '✗'),
      h('span', { class: 'visually-hidden' }, c.ok ? 'OK: ' : 'Failed: '),
      h('strong', {}, String(c.name || '')), ' — ', String(c.detail || '')))) : null);
}

/**
 * The API refused a change until some secrets are given again (the change
 * moves where they are sent): asks for them, then calls `retry(secrets)`.
 */
function askSecrets(where, err, method, conn, label, retry) {
  const names = Array.isArray(err.details?.secrets_required) ? err.details.secrets_required : [];
  const form = h('form', { class: 'secrets-again', attrs: { novalidate: true } });
  const inputs = names.map((name) => {
    const def = (method?.secrets || []).find((s) => s.name === name) || { name, title: name };
    const id = uid(`again-${conn.id}-${name}`);
    const input = h('input', { type: 'password', id, autocomplete: 'new-password', required: true, spellcheck: false });
    form.append(h('div', { class: 'field' }, h('label', { for: id, class: 'field-label' }, String(def.title || name), ' ', h('code', { class: 'field-name' }, name)), input));
    return { name, input };
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, label);
  form.append(submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const secrets = {};
    for (const { name, input } of inputs) if (input.value) secrets[name] = input.value;
    retry(secrets);
  });
  clear(where).append(errorBox(err), form);
  inputs[0]?.input.focus();
}

/** What is wrong with a secret's value as typed ('' when nothing). */
function secretProblem(def, value, required) {
  const name = def.title || def.name;
  if (!value) return required ? `${name} is required.` : '';
  // The server refuses control characters (a pasted newline, usually).
  if (/[\u0000-\u001f\u007f]/.test(value)) return `${name} contains a line break or another control character (pasted by mistake?).`;
  return '';
}

// ---------------------------------------------------------------- settings

/** Grant editor, secrets and fields of one connection (admin). */
function settingsPanel(ctx, initialConn, manifest, method, host, reload) {
  let conn = initialConn;
  const rid = safeId(conn.id);
  clear(host);
  if (!manifest) {
    host.append(note(`The connector ${conn.connector} is not loaded, so its settings cannot be shown.`, 'warn'));
    return { refresh() {} };
  }

  // ---- permissions
  const permissions = Array.isArray(manifest.permissions) ? manifest.permissions : [];
  const grantOut = h('div', { class: 'panel-result' });
  const boxes = new Map();
  const grantForm = h('form', { class: 'panel grant-form', attrs: { novalidate: true } });
  const grantSet = h('fieldset', { class: 'group' }, h('legend', {}, 'Permissions granted to this connection'));
  for (const p of permissions) {
    const id = `grant-${rid}-${safeId(p.id)}`;
    const box = h('input', { type: 'checkbox', id, value: p.id, checked: (conn.granted || []).includes(p.id) });
    boxes.set(p.id, box);
    grantSet.append(h('div', { class: 'check perm-check', dataset: { permission: p.id } },
      box,
      h('div', {}, h('label', { for: id }, h('strong', {}, String(p.title || p.id)), ' ', h('code', {}, String(p.id)), ' ', defaultTag(p)), permissionBody(p))));
  }
  const defaults = button('Tick the defaults', { class: ['secondary', 'grant-defaults'] });
  defaults.addEventListener('click', () => { for (const p of permissions) boxes.get(p.id).checked = !!p.granted_by_default; });
  grantForm.append(
    h('h4', { tabIndex: -1 }, 'Permissions'),
    h('p', { class: 'help-text' }, 'A card may send only the requests its connection’s permissions allow. Untick what this connection should not do.'),
    permissions.length ? grantSet : h('p', {}, 'This connector declares no permissions.'),
    permissions.length ? h('div', { class: 'button-row' }, h('button', { type: 'submit', class: ['primary', 'save-grant'] }, 'Save permissions'), defaults) : null,
    grantOut);
  grantForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = permissions.filter((p) => boxes.get(p.id).checked).map((p) => p.id);
    const btn = grantForm.querySelector('.save-grant');
    btn.disabled = true;
    try {
      await api.put(`/v1/connections/${seg(conn.id)}/grant`, { permissions: chosen });
      clear(grantOut).append(note(`Saved: ${plural(chosen.length, 'permission')} granted.`, 'success'));
      ctx.announce(`${conn.name}: permissions saved.`, 'success');
      await reload();
    } catch (err) {
      if (!err.sessionEnded) clear(grantOut).append(errorBox(err));
    } finally {
      btn.disabled = false;
    }
  });

  // ---- secrets
  const secretsBox = h('div', { class: 'panel' }, h('h4', {}, 'Secrets'));
  const secretDefs = Array.isArray(method?.secrets) ? method.secrets : [];
  const setInfo = new Map();
  if (!secretDefs.length) secretsBox.append(h('p', {}, 'This way of signing in uses no secrets.'));
  else secretsBox.append(h('p', { class: 'help-text' }, 'Secrets are stored encrypted and never shown again. Type a new value to replace one.'));
  for (const sdef of secretDefs) {
    const id = `secret-${rid}-${safeId(sdef.name)}`;
    const input = h('input', { type: 'password', id, autocomplete: 'new-password', spellcheck: false, required: true });
    const info = h('p', { class: 'help-text secret-info' });
    setInfo.set(sdef.name, info);
    const out = h('div', { class: 'panel-result' });
    const field = plainField({
      id, control: input,
      label: [String(sdef.title || sdef.name), ' ', h('code', { class: 'field-name' }, sdef.name)],
      help: [richText(sdef.description, 'p', { class: 'help-text' }), info],
    });
    const form = h('form', { class: 'secret-form', attrs: { novalidate: true }, dataset: { secret: sdef.name } },
      field.el,
      h('button', { type: 'submit', class: ['secondary', 'save-secret'] }, `Replace ${sdef.title || sdef.name}`),
      out);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const value = input.value;
      const bad = secretProblem(sdef, value, true);
      field.setError(bad);
      if (bad) {
        input.focus();
        return;
      }
      const btn = form.querySelector('button');
      btn.disabled = true;
      try {
        await api.put(`/v1/connections/${seg(conn.id)}/secrets/${seg(sdef.name)}`, { value });
        input.value = '';
        clear(out).append(note(`Replaced ${sdef.title || sdef.name}. Test the connection to check it.`, 'success'));
        ctx.announce(`${conn.name}: ${sdef.title || sdef.name} replaced.`, 'success');
        await reload();
      } catch (err) {
        if (!err.sessionEnded) clear(out).append(errorBox(err));
      } finally {
        btn.disabled = false;
      }
    });
    secretsBox.append(form);
  }

  // ---- fields
  const fieldsOut = h('div', { class: 'panel-result' });
  const fieldsHost = h('div', {});
  let fieldsForm = null;
  const fieldsPanel = h('form', { class: 'panel fields-form', attrs: { novalidate: true } },
    h('h4', {}, 'Connection fields'),
    h('p', { class: 'help-text' }, 'Changing where requests go (an address, tenant or sandbox switch) can require entering secrets again; the page asks when it does.'),
    fieldsHost,
    h('button', { type: 'submit', class: ['primary', 'save-fields'] }, 'Save fields'),
    fieldsOut);
  const drawFields = () => {
    fieldsForm = buildForm(manifest.connection_schema || {}, { idPrefix: `edit-${rid}-`, values: conn.fields || {} });
    clear(fieldsHost).append(fieldsForm.element);
  };
  drawFields();
  const saveFields = async (secrets) => {
    const r = fieldsForm.read();
    if (!r.ok) {
      clear(fieldsOut).append(problemList('Fix the marked fields first:', r.errors));
      fieldsForm.focusFirstError();
      return;
    }
    const btn = fieldsPanel.querySelector('.save-fields');
    btn.disabled = true;
    try {
      const body = { fields: r.value };
      if (secrets && Object.keys(secrets).length) body.secrets = secrets;
      await api.put(`/v1/connections/${seg(conn.id)}/fields`, body);
      clear(fieldsOut).append(note('Saved the fields.', 'success'));
      ctx.announce(`${conn.name}: fields saved.`, 'success');
      await reload();
    } catch (err) {
      if (err.sessionEnded) return;
      if (err.code === 'invalid-fields') {
        const list = fieldsForm.showViolations(err.details?.violations);
        clear(fieldsOut).append(errorBox(err), problemList('The server found:', list));
        fieldsForm.focusFirstError();
      } else if (err.code === 'secrets-required') {
        askSecrets(fieldsOut, err, method, conn, 'Save with these secrets', (given) => saveFields(given));
      } else {
        clear(fieldsOut).append(errorBox(err));
      }
    } finally {
      btn.disabled = false;
    }
  };
  fieldsPanel.addEventListener('submit', (e) => { e.preventDefault(); saveFields(null); });

  host.append(grantForm, secretsBox, fieldsPanel);

  const refresh = (c) => {
    conn = c;
    for (const [pid, box] of boxes) box.checked = (conn.granted || []).includes(pid);
    for (const [name, info] of setInfo) {
      const set = (conn.secrets || []).find((s) => s.name === name);
      clear(info).append(set ? ['Set ', timeSeconds(set.set_at), '.'] : 'Not set.');
    }
  };
  refresh(conn);
  return { refresh };
}

// ---------------------------------------------------------------- new connection

function newConnectionSection(ctx) {
  const panelId = 'new-connection-panel';
  const openBtn = button('New connection', { id: 'new-connection', class: 'primary', attrs: { 'aria-expanded': 'false', 'aria-controls': panelId } });
  const panel = h('section', { id: panelId, class: ['block', 'new-connection'], hidden: true, attrs: { 'aria-labelledby': 'new-connection-title' } });
  const wrap = h('div', { class: 'new-connection-wrap' }, openBtn, panel);

  let built = false;
  const open = async (yes) => {
    panel.hidden = !yes;
    openBtn.setAttribute('aria-expanded', String(yes));
    if (yes && !built) {
      built = true;
      await buildNewConnectionForm(ctx, panel, () => open(false));
    }
    if (yes) document.getElementById('new-connector')?.focus();
    else openBtn.focus();
  };
  openBtn.addEventListener('click', () => open(panel.hidden));
  return wrap;
}

async function buildNewConnectionForm(ctx, panel, close) {
  const form = h('form', { id: 'new-connection-form', attrs: { novalidate: true } });
  const connectorSelect = h('select', { id: 'new-connector', required: true }, h('option', { value: '' }, '— choose a connector —'));
  const connectorField = plainField({ id: 'new-connector', label: 'Connector', required: true, control: connectorSelect, help: 'The service to connect to.' });
  const nameInput = h('input', { id: 'new-name', type: 'text', required: true, autocomplete: 'off', spellcheck: false });
  const nameField = plainField({
    id: 'new-name', label: 'Nickname', required: true, control: nameInput,
    help: 'A unique name flows use for this connection, e.g. “SmartHR production”. Letters, digits, spaces, - _ and . (up to 100).',
  });
  const details = h('div', { id: 'new-connector-details', class: 'new-details' });
  const out = h('div', { id: 'new-connection-error', class: 'panel-result', dataset: { testid: 'new-connection-result' } });
  const submit = h('button', { type: 'submit', id: 'create-connection', class: 'primary' }, 'Create connection');
  const cancel = button('Cancel', { class: 'secondary', id: 'cancel-new-connection' });

  form.append(
    h('h2', { id: 'new-connection-title' }, 'New connection'),
    connectorField.el,
    nameField.el,
    details,
    out,
    h('div', { class: 'button-row' }, submit, cancel));
  panel.append(form);
  cancel.addEventListener('click', () => close());

  const nameProblem = (name) => {
    if (!name) return 'Give the connection a nickname.';
    if (new TextEncoder().encode(name).length > 100) return 'The nickname is too long: at most 100 characters.';
    if (name.startsWith('conn_')) return 'A nickname may not start with conn_ (that is how connection ids start).';
    if (!/^[\p{L}\p{N} ._-]+$/u.test(name)) return 'A nickname may have only letters, digits, spaces, -, _ and .';
    return '';
  };
  nameInput.addEventListener('input', () => nameField.setError(nameInput.value ? nameProblem(nameInput.value.trim()) : ''));

  let state = null; // {manifest, method, form, secrets: [{def, input}], grant: Map}

  try {
    const list = await connectorList();
    for (const c of list.connectors || []) connectorSelect.append(h('option', { value: c.id }, `${c.name || c.id} (${c.id})`));
  } catch (err) {
    if (!err.sessionEnded) out.append(errorBox(err));
  }

  const drawMethod = (manifest, methodId) => {
    const methods = manifest.auth_methods || [];
    const method = methods.find((m) => m.id === methodId) || methods[0] || null;
    state.method = method;
    const box = details.querySelector('#new-secrets');
    clear(box);
    state.secrets = [];
    const fieldNames = new Set(Object.keys(manifest.connection_schema?.properties || {}));
    const defs = method?.secrets || [];
    box.append(h('h3', {}, 'Secrets'));
    if (method) box.append(h('p', { class: 'help-text' }, authWords(method.kind), ' Secrets are stored encrypted and never shown again.'));
    if (!defs.length) box.append(h('p', {}, 'No secrets are needed.'));
    for (const def of defs) {
      // A secret may also be given as a connection field of the same name.
      const required = !def.optional && !fieldNames.has(def.name);
      const id = `secret-${safeId(def.name)}`;
      const input = h('input', { type: 'password', id, name: id, autocomplete: 'new-password', spellcheck: false, required });
      const field = plainField({
        id, control: input, required,
        label: [String(def.title || def.name), ' ', h('code', { class: 'field-name' }, def.name), required ? '' : ' (optional)'],
        help: richText(def.description, 'p', { class: 'help-text' }),
      });
      field.el.dataset.secret = def.name;
      box.append(field.el);
      state.secrets.push({ def, input, required, field });
    }
  };

  const drawConnector = async (id) => {
    clear(details);
    state = null;
    if (!id) return;
    details.append(loading('Loading the connector…'));
    let manifest;
    try {
      manifest = await connector(id);
    } catch (err) {
      if (!err.sessionEnded) clear(details).append(errorBox(err));
      return;
    }
    if (connectorSelect.value !== id) return; // changed meanwhile
    clear(details);
    state = { manifest, method: null, form: null, secrets: [], grant: new Map() };
    details.append(...richText(manifest.description, 'p', { class: 'help-text' }));
    const methods = manifest.auth_methods || [];
    if (methods.length > 1) {
      const sel = h('select', { id: 'new-auth-method' }, methods.map((m) => h('option', { value: m.id }, `${m.title || m.id}`)));
      details.append(h('div', { class: 'field' }, h('label', { for: 'new-auth-method', class: 'field-label' }, 'Sign in with'), sel));
      sel.addEventListener('change', () => drawMethod(manifest, sel.value));
    }
    state.form = buildForm(manifest.connection_schema || {}, { idPrefix: 'field-' });
    details.append(h('div', { id: 'new-fields' }, h('h3', {}, 'Connection fields'), state.form.element));
    details.append(h('div', { id: 'new-secrets' }));
    drawMethod(manifest, methods[0]?.id);
    const permissions = manifest.permissions || [];
    if (permissions.length) {
      const set = h('fieldset', { class: 'group', id: 'new-grant' }, h('legend', {}, 'Permissions to grant'),
        h('p', { class: 'help-text' }, 'The connector’s defaults are ticked.'));
      for (const p of permissions) {
        const pid = `new-grant-${safeId(p.id)}`;
        const box = h('input', { type: 'checkbox', id: pid, value: p.id, checked: !!p.granted_by_default });
        state.grant.set(p.id, box);
        set.append(h('div', { class: 'check perm-check', dataset: { permission: p.id } }, box,
          h('div', {}, h('label', { for: pid }, h('strong', {}, String(p.title || p.id)), ' ', h('code', {}, String(p.id)), ' ', defaultTag(p)), permissionBody(p))));
      }
      details.append(set);
    }
  };
  connectorSelect.addEventListener('change', () => {
    connectorField.clearError();
    drawConnector(connectorSelect.value);
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    const problems = [];
    const name = nameInput.value.trim();
    const np = nameProblem(name);
    nameField.setError(np);
    if (np) problems.push({ label: 'Nickname', message: np, focus: () => nameInput.focus() });
    if (!connectorSelect.value || !state) {
      const m = 'Choose a connector.';
      connectorField.setError(m);
      problems.push({ label: 'Connector', message: m, focus: () => connectorSelect.focus() });
    }
    let fields = {};
    const secrets = {};
    if (state) {
      const r = state.form.read();
      fields = r.value;
      problems.push(...r.errors);
      for (const s of state.secrets) {
        const v = s.input.value;
        const m = secretProblem(s.def, v, s.required);
        s.field.setError(m);
        if (m) problems.push({ label: s.def.title || s.def.name, message: m, focus: () => s.input.focus() });
        if (v) secrets[s.def.name] = v;
      }
    }
    if (problems.length) {
      out.append(problemList('Fix these first:', problems));
      (form.querySelector('[aria-invalid="true"]') || nameInput).focus();
      ctx.announce(`The connection was not created: ${plural(problems.length, 'problem')} to fix.`, 'error');
      return;
    }
    const body = { connector: connectorSelect.value, name, fields, secrets };
    if (state.grant.size) body.grant = [...state.grant].filter(([, box]) => box.checked).map(([id]) => id);
    if ((state.manifest.auth_methods || []).length > 1 && state.method) body.auth_method = state.method.id;
    submit.disabled = true;
    submit.textContent = 'Creating…';
    try {
      const created = await api.post('/v1/connections', body);
      const next = state.method?.kind === AUTH_CODE ? ' Next: press Connect to sign in at the service.' : ' Press Test to check it.';
      ctx.announce(`Created ${created.name}.${next}`, 'success');
      // Forget what was typed (secrets above all) and close the form.
      form.reset();
      for (const s of state.secrets) s.input.value = '';
      clear(details);
      state = null;
      close();
      const list = document.getElementById('connection-list');
      if (list) await loadList(ctx, list, { focusName: created.id });
      const row = list?.querySelector(`li[data-connection-id="${CSS.escape(created.id)}"]`);
      if (row) row.querySelector('.conn-result')?.append(note(`Created.${next}`, 'success'));
    } catch (err) {
      if (err.sessionEnded) return;
      if (err.code === 'invalid-fields' && state?.form) {
        const list = state.form.showViolations(err.details?.violations);
        out.append(errorBox(err), problemList('The server found:', list));
        state.form.focusFirstError();
      } else if (err.code === 'conflict') {
        nameField.setError('That nickname is taken; choose another.');
        out.append(errorBox(err));
        nameInput.focus();
      } else {
        out.append(errorBox(err));
      }
      ctx.announce(`The connection was not created: ${describeError(err).summary}`, 'error');
    } finally {
      submit.disabled = false;
      submit.textContent = 'Create connection';
    }
  });
}
