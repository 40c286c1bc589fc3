// forms.js — how the console builds what it shows.
//
// 1. DOM helpers every page uses (`h`, `button`, `errorBox`, `jsonTree`, …).
//    Everything is built with document.createElement and textContent: text
//    from the API (connector names, descriptions, schemas, card output,
//    event payloads, error messages) is untrusted and is never parsed as
//    HTML. No inline styles (the server's CSP forbids them): classes and
//    `hidden` only.
// 2. JSON Schema → form (`buildForm`): a labelled control per field, checked
//    as the user types with messages built from the schema's own title and
//    description, producing the JSON value to submit (empty optional fields
//    left out), and mapping the API's violations (JSON pointers) back onto
//    the fields.
// 3. JSON Schema → readable field list (`schemaView`), for the catalog.
//
// Schemas come from third-party connectors (draft 2020-12, as schemars
// writes them: `$defs`/`$ref`, `anyOf: [T, {const: null}]` for nullable
// fields, `oneOf` of `const`s for documented enums, constraint-only
// `oneOf`/`anyOf` of `required` sets at the root).

import { describeError } from '/console/api.js';

// ================================================================ DOM

/**
 * Creates an element.
 *
 *   h('button', {type: 'button', class: 'primary', on: {click: go}}, 'Run')
 *
 * props: `class` (string or array), `text` (textContent), `dataset`,
 * `attrs` (setAttribute: aria-*, …), `on` (listeners), `for`; any other key
 * is set as a DOM property (id, type, value, hidden, disabled, …).
 * children: strings (as text), nodes, arrays of them; null/false skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'class') {
      const list = Array.isArray(value) ? value.filter(Boolean) : String(value).split(/\s+/).filter(Boolean);
      if (list.length) el.classList.add(...list);
    } else if (key === 'text') {
      el.textContent = String(value);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = String(v);
    } else if (key === 'attrs') {
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined || v === null || v === false) continue;
        assertSafeAttribute(k);
        el.setAttribute(k, v === true ? '' : String(v));
      }
    } else if (key === 'on') {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (key === 'for') {
      el.htmlFor = String(value);
    } else {
      assertSafeAttribute(key);
      el[key] = value;
    }
  }
  append(el, children);
  return el;
}

// Keeps a maintainer from reintroducing what the CSP and the XSS rules forbid.
function assertSafeAttribute(name) {
  const n = String(name).toLowerCase();
  if (n === 'style' || n.startsWith('on') || n === 'innerhtml' || n === 'outerhtml' || n === 'srcdoc') {
    throw new Error(`forms.h: refusing to set "${name}"`);
  }
}

/** Appends children (strings become text nodes). */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Removes every child of `el`; answers something to `.append(...)` to, which
 * (like `append`) skips null/false and flattens arrays — the native
 * Element.append would write them out as "null" or "a,b".
 */
export function clear(el) {
  el.replaceChildren();
  return { append: (...children) => append(el, children), el };
}

/** Untrusted text made safe for an id (no white space, quotes or brackets). */
export function safeId(text) {
  return String(text).replace(/[^A-Za-z0-9_\-.:]/g, '_');
}

let uidCounter = 0;
/** A page-unique id with a readable prefix. */
export function uid(prefix = 'el') {
  uidCounter += 1;
  return `${safeId(prefix)}-u${uidCounter}`;
}

/**
 * Paragraphs of connector-written text: blank lines split paragraphs,
 * single newlines are soft wraps, `backticks` become <code>.
 */
export function richText(text, tag = 'p', props = {}) {
  return String(text ?? '')
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .filter(Boolean)
    .map((p) => h(tag, props, ...inlineCode(p)));
}

/** One line with `backtick` spans as <code> (an unmatched backtick stays text). */
export function inlineCode(text) {
  const parts = String(text ?? '').split('`');
  if (parts.length % 2 === 0) return [String(text)];
  return parts.map((part, i) => (i % 2 === 1 ? h('code', { text: part }) : part)).filter((p) => p !== '');
}

/**
 * A console route as a hash link: href('runner', [], {connection: 'x'}) is
 * `#/runner?connection=x` (the server serves one page; routes live in the hash).
 */
export function href(name, params = [], query = {}) {
  const path = [name, ...params].map((p) => encodeURIComponent(String(p))).join('/');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const text = q.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

/** The page heading; app.js moves focus to it after navigation. */
export function pageTitle(text) {
  return h('h1', { tabIndex: -1, class: 'page-title' }, text);
}

/** A button (type=button unless told otherwise). */
export function button(label, props = {}) {
  return h('button', { type: 'button', ...props }, label);
}

/** A <dl> of [term, description] pairs; empty descriptions are skipped. */
export function definitionList(pairs, props = {}) {
  const dl = h('dl', { class: ['pairs', props.class] });
  for (const [term, desc] of pairs) {
    if (desc === undefined || desc === null || desc === '') continue;
    dl.append(h('div', { class: 'pair' }, h('dt', {}, term), h('dd', {}, desc)));
  }
  return dl;
}

/** Local date and time of Unix milliseconds, as a <time>. */
export function timeMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return h('span', {}, '—');
  const d = new Date(Number(ms));
  return h('time', { dateTime: d.toISOString() }, d.toLocaleString());
}

/** Local date and time of Unix seconds, as a <time>. */
export function timeSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(Number(s))) return h('span', {}, '—');
  return timeMs(Number(s) * 1000);
}

/** "1 item" / "3 items". */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

// The API's state names in words (lowercase, as the API and the CLI say them).
const STATE_WORDS = {
  ready: 'ready',
  'needs-reauthorization': 'needs reauthorization',
  'needs-approval': 'needs approval',
  error: 'error',
  active: 'active',
  paused: 'paused',
  ok: 'ok',
};

/** A text badge for a connection or subscription state (words, not colour alone). */
export function stateBadge(state) {
  const word = STATE_WORDS[state] || String(state);
  const tone = state === 'ready' || state === 'active' || state === 'ok' ? 'good' : state === 'paused' ? 'neutral' : 'warn';
  return h('span', { class: ['badge', `badge-${tone}`], dataset: { state: String(state) } }, word);
}

/**
 * An error box: our sentence for a flow builder, then what the server
 * said (its own message) and any details, all as text.
 */
export function errorBox(err, props = {}) {
  const { summary, detail, extra } = describeError(err);
  const box = h('div', { class: ['error-box', props.class], id: props.id, dataset: { testid: props.testid || 'error' } });
  box.append(h('p', { class: 'error-summary' }, summary));
  if (detail) box.append(h('p', { class: 'error-detail' }, h('span', { class: 'label' }, 'Server said: '), detail));
  for (const line of extra || []) box.append(h('p', { class: 'error-detail' }, line));
  return box;
}

/** A message box: tone is info, success or warn. */
export function note(content, tone = 'info', props = {}) {
  return h('div', { class: ['note', `note-${tone}`, props.class], id: props.id, dataset: props.dataset }, content);
}

/** A list of problems with buttons that move focus to each field. */
export function problemList(title, problems) {
  return h('div', { class: 'problems' },
    h('p', {}, title),
    h('ul', {}, problems.map((p) => h('li', {},
      p.message, ' ',
      p.focus ? button(`Go to ${p.label}`, { class: ['link-button'], on: { click: () => p.focus() } }) : null))));
}

/** A "Loading…" line. */
export function loading(what = 'Loading…') {
  return h('p', { class: 'loading' }, what);
}

// ---------------------------------------------------------------- JSON tree

/**
 * A collapsible tree of a JSON value: a <details>/<summary> per object and
 * array, scalars as typed text. Children are built when a node is first
 * opened, so a large output stays quick; levels above `openDepth` start open.
 */
export function jsonTree(value, { openDepth = 3 } = {}) {
  return h('div', { class: 'json-tree' }, treeNode(null, value, 0, openDepth));
}

function treeNode(key, value, depth, openDepth) {
  const keyEl = key === null ? null : h('span', { class: 'jt-key' }, typeof key === 'number' ? `[${key}]` : String(key));
  if (value !== null && typeof value === 'object') {
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (entries.length === 0) {
      return h('div', { class: 'jt-leaf' }, keyEl, keyEl ? ': ' : null, h('span', { class: 'jt-empty' }, isArray ? '[] empty list' : '{} empty object'));
    }
    const meta = isArray ? `list, ${plural(entries.length, 'item')}` : `object, ${plural(entries.length, 'field')}`;
    const details = h('details', { class: 'jt-node' }, h('summary', {}, keyEl, keyEl ? ' ' : null, h('span', { class: 'jt-meta' }, meta)));
    let built = false;
    const build = () => {
      if (built) return;
      built = true;
      const list = h('ul', { class: 'jt-children' });
      for (const [k, v] of entries) list.append(h('li', {}, treeNode(k, v, depth + 1, openDepth)));
      details.append(list);
    };
    details.addEventListener('toggle', () => { if (details.open) build(); });
    // A list shows its first items open as a sample; the rest open on demand.
    if (depth < openDepth && !(typeof key === 'number' && key >= 3)) {
      build();
      details.open = true;
    }
    return details;
  }
  return h('div', { class: 'jt-leaf' }, keyEl, keyEl ? ': ' : null, scalarView(value));
}

function scalarView(value) {
  if (value === null) return h('span', { class: 'jt-null' }, 'null');
  if (typeof value === 'string') return h('span', { class: 'jt-string' }, `"${value}"`);
  if (typeof value === 'number') return h('span', { class: 'jt-number' }, String(value));
  if (typeof value === 'boolean') return h('span', { class: 'jt-boolean' }, String(value));
  return h('span', {}, String(value));
}

/** Raw JSON in a collapsed <details>, for copying. */
export function rawJson(value, summaryText = 'Raw JSON') {
  return h('details', { class: 'raw-json' },
    h('summary', {}, summaryText),
    h('pre', { tabIndex: 0, attrs: { 'aria-label': summaryText } }, JSON.stringify(value, null, 2)));
}

// ================================================================ schemas

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const SCALARS = ['string', 'integer', 'number', 'boolean'];

/** The value at a JSON pointer (`/$defs/Phone`) of `doc`. */
function pointerGet(doc, pointer) {
  if (pointer === '' || pointer === '/') return doc;
  let at = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObj(at) && !Array.isArray(at)) return undefined;
    at = at[key];
  }
  return at;
}

/** Splits a JSON pointer into its reference tokens. */
export function pointerTokens(pointer) {
  if (!pointer) return [];
  return String(pointer).split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function mergeSchemas(a, b) {
  const out = { ...a, ...b };
  if (isObj(a.properties) || isObj(b.properties)) out.properties = { ...(a.properties || {}), ...(b.properties || {}) };
  if (Array.isArray(a.required) || Array.isArray(b.required)) out.required = [...new Set([...(a.required || []), ...(b.required || [])])];
  return out;
}

/**
 * A schema with its local `$ref` and `allOf` merged in (sibling keywords of
 * a `$ref` win: a property's own description over its type's).
 */
export function resolveSchema(schema, root, depth = 0) {
  if (schema === true || schema === undefined) return {};
  if (schema === false) return { not: {} };
  if (!isObj(schema)) return {};
  let s = schema;
  if (typeof s.$ref === 'string' && depth < 16) {
    const target = s.$ref.startsWith('#') ? pointerGet(root, s.$ref.slice(1)) : undefined;
    const { $ref, ...rest } = s;
    s = { ...resolveSchema(target, root, depth + 1), ...rest };
  }
  if (Array.isArray(s.allOf) && depth < 16) {
    const { allOf, ...rest } = s;
    let merged = {};
    for (const part of allOf) merged = mergeSchemas(merged, resolveSchema(part, root, depth + 1));
    s = mergeSchemas(merged, rest);
  }
  return s;
}

function isNullSchema(b) {
  return b.type === 'null'
    || (Array.isArray(b.type) && b.type.length === 1 && b.type[0] === 'null')
    || ('const' in b && b.const === null)
    || (Array.isArray(b.enum) && b.enum.length === 1 && b.enum[0] === null);
}

function omit(obj, key) {
  const { [key]: _dropped, ...rest } = obj;
  return rest;
}

/**
 * What kind of control a schema needs:
 *   string integer number boolean — one input
 *   enum      — a select (`options`: [{value, label}])
 *   const     — a fixed value, shown, not asked
 *   object    — a fieldset of its properties
 *   list      — an array of scalars: a textarea, one item per line
 *   multi     — an array of enum values: a checkbox group
 *   objects   — an array of objects: a list of fieldsets with Add / Remove
 *   json      — anything else (unions, free objects, `{}`): a JSON textarea
 * `nullable`: the schema also takes `null` (a "send null" checkbox).
 */
export function shapeOf(schema, root, depth = 0) {
  let s = resolveSchema(schema, root);
  let nullable = false;
  if (depth > 12) return { kind: 'json', s, nullable };
  for (const key of ['anyOf', 'oneOf']) {
    if (!Array.isArray(s[key]) || s.type !== undefined || s.properties) continue;
    const branches = s[key].map((b) => resolveSchema(b, root));
    const nonNull = branches.filter((b) => !isNullSchema(b));
    if (nonNull.length < branches.length) nullable = true;
    const rest = omit(s, key);
    if (nonNull.length > 0 && nonNull.every((b) => 'const' in b)) {
      return { kind: 'enum', s: rest, nullable, options: nonNull.map((b) => ({ value: b.const, label: b.title || b.description || null })) };
    }
    if (nonNull.length === 1) {
      s = { ...nonNull[0], ...rest };
      break;
    }
    return { kind: 'json', s, nullable, branches: nonNull };
  }
  let types = s.type === undefined ? [] : [].concat(s.type);
  if (types.includes('null')) {
    nullable = true;
    types = types.filter((t) => t !== 'null');
  }
  if (Array.isArray(s.enum)) {
    const values = s.enum.filter((v) => v !== null);
    if (values.length < s.enum.length) nullable = true;
    return { kind: 'enum', s, nullable, options: values.map((v) => ({ value: v, label: null })) };
  }
  if ('const' in s) return { kind: 'const', s, nullable };
  if (types.length === 0) {
    if (isObj(s.properties)) types = ['object'];
    else if (s.items !== undefined) types = ['array'];
  }
  if (types.length > 1) {
    // e.g. ["string", "number"]: text is accepted; the server checks the rest.
    if (types.includes('string') && types.every((t) => SCALARS.includes(t))) return { kind: 'string', s, nullable, loose: types };
    return { kind: 'json', s, nullable, types };
  }
  const t = types[0];
  if (t === 'object') {
    if (isObj(s.properties) && Object.keys(s.properties).length) return { kind: 'object', s, nullable };
    // `{type: object, additionalProperties: false}`: an object of no fields.
    if (s.additionalProperties === false) return { kind: 'object', s: { ...s, properties: {} }, nullable };
    return { kind: 'json', s, nullable, types: ['object'] };
  }
  if (t === 'array') {
    const item = s.items === undefined || s.items === true || Array.isArray(s.prefixItems)
      ? { kind: 'json', s: {} }
      : shapeOf(s.items, root, depth + 1);
    if (item.kind === 'enum' && !item.nullable) return { kind: 'multi', s, nullable, item };
    if (SCALARS.includes(item.kind) && !item.nullable) return { kind: 'list', s, nullable, item };
    if (item.kind === 'object') return { kind: 'objects', s, nullable, item };
    return { kind: 'json', s, nullable, types: ['array'] };
  }
  if (SCALARS.includes(t)) return { kind: t, s, nullable };
  return { kind: 'json', s, nullable };
}

// ---------------------------------------------------------------- checks

const patternCache = new Map();
function compilePattern(p) {
  if (!patternCache.has(p)) {
    let re = null;
    try { re = new RegExp(p, 'u'); } catch {
      try { re = new RegExp(p); } catch { re = null; }
    }
    patternCache.set(p, re);
  }
  return patternCache.get(p);
}

/** Whether `text` is a calendar date YYYY-MM-DD that exists. */
function isDate(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;

/** The schema's description as one plain sentence for a message (no `backticks`). */
function describeHint(s) {
  return s.description ? ` ${String(s.description).replace(/\s*\n\s*/g, ' ').replace(/`/g, '').trim()}` : '';
}

/** The problem with a string for its schema, in words (null when fine). */
function checkString(text, s, label) {
  const length = [...text].length; // JSON Schema counts code points
  if (Number.isFinite(s.minLength) && length < s.minLength) {
    return s.minLength === 1 ? `${label} cannot be empty.` : `${label} needs at least ${s.minLength} characters (now ${length}).`;
  }
  if (Number.isFinite(s.maxLength) && length > s.maxLength) {
    return `${label} can have at most ${s.maxLength} characters (now ${length}).`;
  }
  switch (s.format) {
    case 'date':
      if (!isDate(text)) return `${label} must be a date written YYYY-MM-DD, for example 2024-05-31.`;
      break;
    case 'date-time':
      if (!DATE_TIME.test(text) || Number.isNaN(Date.parse(text))) return `${label} must be a date and time with a time zone, for example 2024-05-31T09:00:00Z.`;
      break;
    case 'time':
      if (!/^\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?$/.test(text)) return `${label} must be a time like 09:30:00.`;
      break;
    case 'email':
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text)) return `${label} must be an email address, like name@example.com.`;
      break;
    case 'uri':
    case 'url':
      try {
        const u = new URL(text);
        if (!u.protocol) throw new Error('no scheme');
      } catch {
        return `${label} must be a full address with its scheme, like https://example.com/path.`;
      }
      break;
    case 'uuid':
      if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) return `${label} must be a UUID like 123e4567-e89b-12d3-a456-426614174000.`;
      break;
    default:
  }
  if (typeof s.pattern === 'string') {
    const re = compilePattern(s.pattern);
    if (re && !re.test(text)) return `${label} is not in the expected form.${describeHint(s) || ` It must match ${s.pattern}.`}`;
  }
  return null;
}

/** The problem with a number for its schema, in words (null when fine). */
function checkNumber(n, s, label, integer) {
  if (!Number.isFinite(n)) return `${label} must be a number.`;
  if (integer && !Number.isInteger(n)) return `${label} must be a whole number.`;
  if (Number.isFinite(s.minimum) && n < s.minimum) return `${label} must be at least ${s.minimum}.`;
  if (Number.isFinite(s.maximum) && n > s.maximum) return `${label} must be at most ${s.maximum}.`;
  if (Number.isFinite(s.exclusiveMinimum) && n <= s.exclusiveMinimum) return `${label} must be more than ${s.exclusiveMinimum}.`;
  if (Number.isFinite(s.exclusiveMaximum) && n >= s.exclusiveMaximum) return `${label} must be less than ${s.exclusiveMaximum}.`;
  if (Number.isFinite(s.multipleOf) && s.multipleOf > 0 && Math.abs(n / s.multipleOf - Math.round(n / s.multipleOf)) > 1e-9) {
    return `${label} must be a multiple of ${s.multipleOf}.`;
  }
  return null;
}

function checkItems(items, s, label) {
  if (Number.isFinite(s.minItems) && items.length < s.minItems) return `${label} needs at least ${plural(s.minItems, 'item')} (now ${items.length}).`;
  if (Number.isFinite(s.maxItems) && items.length > s.maxItems) return `${label} can have at most ${plural(s.maxItems, 'item')} (now ${items.length}).`;
  if (s.uniqueItems) {
    const seen = new Set();
    for (const item of items) {
      const key = JSON.stringify(item);
      if (seen.has(key)) return `${label} lists ${key} more than once; each item may appear only once.`;
      seen.add(key);
    }
  }
  return null;
}

/** Parses one scalar typed as text for an item or field shape. */
function parseScalar(text, kind) {
  if (kind === 'integer' || kind === 'number') {
    const n = Number(text);
    return text.trim() === '' || Number.isNaN(n) ? { error: 'must be a number' } : { value: n };
  }
  if (kind === 'boolean') {
    if (/^(true|yes)$/i.test(text)) return { value: true };
    if (/^(false|no)$/i.test(text)) return { value: false };
    return { error: 'must be true or false' };
  }
  return { value: text };
}

function checkScalar(value, shape, label) {
  if (shape.kind === 'string') return checkString(String(value), shape.s, label);
  if (shape.kind === 'integer' || shape.kind === 'number') return checkNumber(value, shape.s, label, shape.kind === 'integer');
  return null;
}

// ================================================================ forms

/**
 * A form for `schema`.
 *
 * options:
 *   idPrefix  the id of a top-level field is idPrefix + its name
 *             (`input-emp_code`); nested ones join the path with `-`
 *             (`input-primary_address-zip_code`, `input-phones-0-number`)
 *   values    initial values (e.g. a connection's current fields); schema
 *             `default`s fill the rest
 *   onChange  called after any edit
 *
 * Returns {element, read(), showViolations(violations), clearErrors(),
 * focusFirstError(), isEmpty}. `read()` checks every field, marks the bad
 * ones (aria-invalid + aria-describedby to the message) and answers
 * {ok, value, errors: [{label, message, focus}]}; `value` leaves empty
 * optional fields out.
 */
export function buildForm(schema, { idPrefix = 'input-', values, onChange } = {}) {
  const root = isObj(schema) ? schema : {};
  const ctx = { root, used: new Set(), nodes: [], onChange: onChange || (() => {}) };
  let rootShape = shapeOf(root, root);
  // An object schema without properties at the root (`{"type": "object"}`)
  // is a form of no fields, not a JSON textarea.
  if (rootShape.kind === 'json' && rootShape.types?.length === 1 && rootShape.types[0] === 'object') {
    rootShape = { kind: 'object', s: { ...rootShape.s, properties: {} }, nullable: false };
  }
  let node;
  if (rootShape.kind === 'object') {
    node = objectNode(rootShape, ctx, {
      id: `${idPrefix}form`, idPrefix, path: [], name: '', label: 'Input', fullLabel: 'The input as a whole',
      required: true, effRequired: true, value: values, top: true,
    });
  } else {
    // A schema that is not an object of fields (rare): one field for it all.
    node = fieldNode(rootShape, ctx, {
      id: `${idPrefix}value`, idPrefix, path: [], name: 'value', label: 'Value', fullLabel: 'Value',
      required: true, effRequired: true, value: values,
    });
  }
  const isEmpty = rootShape.kind === 'object' && Object.keys(rootShape.s.properties || {}).length === 0;
  const element = h('div', { class: 'generated-form' }, isEmpty ? h('p', { class: 'help-text' }, 'No fields to fill in.') : null, node.el);

  const clearErrors = () => ctx.nodes.forEach((n) => n.clearError());

  const mark = (list) => {
    const byNode = new Map();
    for (const e of list) {
      if (!byNode.has(e.node)) byNode.set(e.node, []);
      byNode.get(e.node).push(e.message);
    }
    for (const [n, messages] of byNode) n.setError(messages.join(' '));
  };

  const nodeAt = (pointer) => {
    let at = node;
    for (const token of pointerTokens(pointer)) {
      const next = at.child ? at.child(token) : null;
      if (!next) break;
      at = next;
    }
    return at;
  };

  const summary = (list) => list.map((e) => ({ label: e.node.fullLabel, message: e.message, focus: () => e.node.focus(), id: e.node.id }));

  return {
    element,
    isEmpty,
    read() {
      clearErrors();
      const r = node.read();
      mark(r.errors);
      return { ok: r.errors.length === 0, value: r.present ? r.value : (rootShape.kind === 'object' ? {} : undefined), errors: summary(r.errors) };
    },
    /** Marks the fields the API's violations point at; answers the list to show. */
    showViolations(violations) {
      clearErrors();
      const list = [];
      for (const v of violations || []) {
        let target = nodeAt(v.pointer || '');
        const message = String(v.message ?? '');
        // `"id" is a required property` at the parent: mark the field itself.
        const missing = /^"([^"]+)" is a required property/.exec(message);
        if (missing && target.child) target = target.child(missing[1]) || target;
        list.push({ node: target, message: target === node ? message : `${target.label}: ${message}`, pointer: v.pointer });
      }
      mark(list);
      return summary(list);
    },
    clearErrors,
    focusFirstError() {
      const bad = element.querySelector('[aria-invalid="true"]');
      if (bad) bad.focus();
      return !!bad;
    },
  };
}

/** An id unique within one form (a second field of the same path gets `-2`). */
function uniqueId(ctx, wanted) {
  let id = safeId(wanted);
  let n = 2;
  while (ctx.used.has(id)) id = `${safeId(wanted)}-${n++}`;
  ctx.used.add(id);
  return id;
}

function humanLabel(name, s) {
  return s.title ? String(s.title) : String(name);
}

/** The label's content: title, the field's JSON name, and "(required)". */
function labelContent(f, s) {
  const parts = [h('span', { class: 'field-title' }, f.label)];
  if (f.name && s.title && s.title !== f.name) parts.push(' ', h('code', { class: 'field-name' }, f.name));
  if (f.required) parts.push(' ', h('span', { class: 'req' }, '(required)'));
  return parts;
}

/** Short words for the constraints of a field (for help text and the catalog). */
function constraintWords(shape) {
  const s = shape.s;
  const out = [];
  const len = (min, max, unit) => {
    if (Number.isFinite(min) && Number.isFinite(max)) return min === max ? `exactly ${plural(min, unit)}` : `${min} to ${max} ${unit}s`;
    if (Number.isFinite(min)) return `at least ${plural(min, unit)}`;
    if (Number.isFinite(max)) return `at most ${plural(max, unit)}`;
    return null;
  };
  const add = (x) => { if (x) out.push(x); };
  if (shape.kind === 'string' || shape.kind === 'list') {
    const t = shape.kind === 'list' ? shape.item.s : s;
    if (!(t.minLength === 1 && !Number.isFinite(t.maxLength))) add(len(t.minLength, t.maxLength, 'character'));
  }
  const num = shape.kind === 'list' ? shape.item.s : s;
  if (['integer', 'number'].includes(shape.kind) || (shape.kind === 'list' && ['integer', 'number'].includes(shape.item.kind))) {
    if (Number.isFinite(num.minimum) && Number.isFinite(num.maximum)) add(`from ${num.minimum} to ${num.maximum}`);
    else if (Number.isFinite(num.minimum)) add(`at least ${num.minimum}`);
    else if (Number.isFinite(num.maximum)) add(`at most ${num.maximum}`);
    if (Number.isFinite(num.exclusiveMinimum)) add(`more than ${num.exclusiveMinimum}`);
    if (Number.isFinite(num.exclusiveMaximum)) add(`less than ${num.exclusiveMaximum}`);
    if (Number.isFinite(num.multipleOf)) add(`a multiple of ${num.multipleOf}`);
  }
  if (['list', 'multi', 'objects'].includes(shape.kind)) {
    add(len(s.minItems, s.maxItems, 'item'));
    if (s.uniqueItems) add('no duplicates');
  }
  return out;
}

/** Help under a label: description, constraints, format, example, default. */
function helpBlock(f, shape, extra = []) {
  const s = shape.s;
  const bits = [];
  if (s.description) bits.push(...richText(s.description, 'p', { class: 'help-text' }));
  const words = constraintWords(shape);
  const fmt = s.format && FORMAT_WORDS[s.format];
  const line = [];
  if (fmt) line.push(fmt);
  if (words.length) line.push(words.join(', '));
  const ex = Array.isArray(s.examples) && s.examples.length ? s.examples[0] : undefined;
  if (ex !== undefined && typeof ex !== 'object') line.push(`example: ${ex}`);
  if (s.default !== undefined && typeof s.default !== 'object') line.push(`default: ${s.default}`);
  if (line.length) bits.push(h('p', { class: 'help-rules' }, capitalize(line.join('; ')) + '.'));
  bits.push(...extra);
  if (!bits.length) return null;
  return h('div', { class: 'help', id: `${f.id}-help` }, bits);
}

const FORMAT_WORDS = {
  date: 'a date, YYYY-MM-DD',
  'date-time': 'a date and time with time zone, e.g. 2024-05-31T09:00:00Z',
  time: 'a time, HH:MM:SS',
  email: 'an email address',
  uri: 'a full address (URL)',
  url: 'a full address (URL)',
  uuid: 'a UUID',
};

function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/**
 * The description of a field: its help and, when it is invalid, the error
 * message, in one element (`<id>-desc`, holding `<id>-help` and
 * `<id>-error`) that the control's aria-describedby names. The message
 * sits between the help and the control, where it is seen before typing.
 */
function descBlock(id, help) {
  const errorEl = h('p', { class: 'field-error', id: `${id}-error`, hidden: true, dataset: { testid: 'field-error' } });
  const el = h('div', { class: 'desc', id: `${id}-desc` }, help, errorEl);
  return {
    el,
    errorEl,
    show(message) {
      errorEl.textContent = message;
      errorEl.hidden = false;
    },
    hide() {
      errorEl.textContent = '';
      errorEl.hidden = true;
    },
  };
}

/**
 * A field outside a generated form (nickname, secrets, sign-in, …), with
 * the same label / description / message wiring. `help` is text or nodes.
 */
export function plainField({ id, label, control, help = null, required = false, extra = null }) {
  const helpEl = help ? h('div', { class: 'help', id: `${id}-help` }, typeof help === 'string' ? richText(help, 'p', { class: 'help-text' }) : help) : null;
  const desc = descBlock(id, helpEl);
  control.setAttribute('aria-describedby', desc.el.id);
  const el = h('div', { class: 'field' },
    h('label', { for: id, class: 'field-label' }, label, required ? [' ', h('span', { class: 'req' }, '(required)')] : null),
    desc.el, control, extra);
  return {
    el,
    setError(message) {
      if (!message) return this.clearError();
      desc.show(message);
      control.setAttribute('aria-invalid', 'true');
      return undefined;
    },
    clearError() {
      desc.hide();
      control.removeAttribute('aria-invalid');
    },
  };
}

/**
 * The frame every generated field shares: label, description (help and
 * message), control(s). `controls` get aria-invalid / aria-describedby.
 */
function frame(ctx, f, shape, { control, controls = [control], labelled = true, extraHelp = [], after = [] }) {
  const desc = descBlock(f.id, helpBlock(f, shape, extraHelp));
  const el = h('div', { class: ['field', `field-${shape.kind}`], dataset: { field: f.path.join('/') } });
  if (labelled) el.append(h('label', { for: f.id, class: 'field-label' }, labelContent(f, shape.s)));
  el.append(desc.el, control, ...after);
  for (const c of controls) c.setAttribute('aria-describedby', desc.el.id);
  return {
    el,
    desc: desc.el,
    setError(message) {
      desc.show(message);
      for (const c of controls) c.setAttribute('aria-invalid', 'true');
    },
    clearError() {
      desc.hide();
      for (const c of controls) c.removeAttribute('aria-invalid');
    },
  };
}

/** Builds the node for one field of any kind. */
function fieldNode(shape, ctx, f) {
  const build = {
    string: stringNode, integer: numberNode, number: numberNode, boolean: booleanNode, enum: enumNode,
    const: constNode, object: objectNode, list: listNode, multi: multiNode, objects: objectsNode, json: jsonNode,
  }[shape.kind] || jsonNode;
  const node = build(shape, ctx, f);
  ctx.nodes.push(node);
  return node;
}

/**
 * Common wiring of a leaf: live checks as the user types (after the first
 * edit or blur), "required" on blur, and an optional "send null" checkbox.
 */
function leaf(ctx, f, shape, { control, controls, readRaw, labelled, extraHelp }) {
  let nullBox = null;
  const after = [];
  if (shape.nullable && shape.kind !== 'json') {
    const nullId = `${f.id}-null`;
    nullBox = h('input', { type: 'checkbox', id: nullId, class: 'null-box', checked: f.value === null });
    after.push(h('div', { class: 'check null-choice' }, nullBox, h('label', { for: nullId }, 'Send null (clear this value)')));
  }
  const fr = frame(ctx, f, shape, { control, controls, labelled, extraHelp, after });
  const all = controls || [control];
  const setDisabled = () => { if (nullBox) for (const c of all) c.disabled = nullBox.checked; };
  setDisabled();
  let touched = false;
  const node = {
    el: fr.el,
    id: f.id,
    label: f.label,
    fullLabel: f.fullLabel,
    setError: fr.setError,
    clearError: fr.clearError,
    focus: () => (all[0].disabled && nullBox ? nullBox : all[0]).focus(),
    child: null,
    read() {
      if (nullBox && nullBox.checked) return { present: true, value: null, errors: [] };
      const r = readRaw();
      if (!r.present) return { present: false, errors: [] };
      if (r.error) return { present: true, errors: [{ node, message: r.error }] };
      return { present: true, value: r.value, errors: [] };
    },
  };
  const live = () => {
    const r = node.read();
    if (r.errors.length) fr.setError(r.errors[0].message);
    else if (!r.present && f.effRequired && touched) fr.setError(`${f.label} is required.`);
    else fr.clearError();
  };
  for (const c of all) {
    c.addEventListener('input', () => { live(); ctx.onChange(); });
    c.addEventListener('change', () => { touched = true; live(); ctx.onChange(); });
    c.addEventListener('blur', () => { touched = true; live(); });
  }
  if (nullBox) nullBox.addEventListener('change', () => { setDisabled(); live(); ctx.onChange(); });
  return node;
}

function initial(f, s) {
  if (f.value !== undefined) return f.value;
  return s.default;
}

function stringNode(shape, ctx, f) {
  const s = shape.s;
  const v = initial(f, s);
  const long = (Number.isFinite(s.maxLength) && s.maxLength > 300) || /\n/.test(typeof v === 'string' ? v : '');
  const type = s.format === 'email' ? 'email' : (s.format === 'uri' || s.format === 'url') ? 'url' : 'text';
  const placeholder = Array.isArray(s.examples) && typeof s.examples[0] === 'string'
    ? `e.g. ${s.examples[0]}`
    : { date: 'YYYY-MM-DD', 'date-time': 'YYYY-MM-DDTHH:MM:SSZ', time: 'HH:MM:SS' }[s.format];
  const control = long
    ? h('textarea', { id: f.id, name: f.id, rows: 4, required: f.effRequired, spellcheck: false })
    : h('input', { id: f.id, name: f.id, type, required: f.effRequired, autocomplete: 'off', spellcheck: false, placeholder });
  if (typeof v === 'string' || typeof v === 'number') control.value = String(v);
  return leaf(ctx, f, shape, {
    control,
    readRaw() {
      const text = control.value;
      if (text === '') return { present: false };
      return { present: true, value: text, error: checkString(text, s, f.label) };
    },
  });
}

function numberNode(shape, ctx, f) {
  const s = shape.s;
  const integer = shape.kind === 'integer';
  const control = h('input', {
    id: f.id, name: f.id, type: 'number', required: f.effRequired, autocomplete: 'off',
    step: integer ? (Number.isFinite(s.multipleOf) ? String(s.multipleOf) : '1') : 'any',
    attrs: { inputmode: integer ? 'numeric' : 'decimal', min: Number.isFinite(s.minimum) ? s.minimum : null, max: Number.isFinite(s.maximum) ? s.maximum : null },
  });
  const v = initial(f, s);
  if (typeof v === 'number') control.value = String(v);
  return leaf(ctx, f, shape, {
    control,
    readRaw() {
      const text = control.value;
      if (text === '') {
        return control.validity && control.validity.badInput
          ? { present: true, error: `${f.label} must be a number.` }
          : { present: false };
      }
      const n = Number(text);
      return { present: true, value: n, error: checkNumber(n, s, f.label, integer) };
    },
  });
}

/**
 * A required boolean, or one with a default, is a checkbox (always sent).
 * An optional one without a default has three states — not set, true,
 * false — so it is a select: leaving it out and sending false differ.
 */
function booleanNode(shape, ctx, f) {
  const s = shape.s;
  const v = initial(f, s);
  if (f.required || s.default !== undefined || typeof f.value === 'boolean') {
    const control = h('input', { type: 'checkbox', id: f.id, name: f.id, checked: v === true });
    const node = leaf(ctx, f, shape, {
      control,
      labelled: false,
      readRaw: () => ({ present: true, value: control.checked }),
    });
    // Checkbox first, then its label, on one line.
    const label = h('label', { for: f.id, class: 'field-label' }, labelContent(f, s));
    node.el.insertBefore(h('div', { class: 'check' }, control, label), node.el.firstChild);
    return node;
  }
  const control = h('select', { id: f.id, name: f.id },
    h('option', { value: '' }, '— not set —'),
    h('option', { value: 'true' }, 'Yes (true)'),
    h('option', { value: 'false' }, 'No (false)'));
  if (typeof v === 'boolean') control.value = String(v);
  return leaf(ctx, f, shape, {
    control,
    readRaw: () => (control.value === '' ? { present: false } : { present: true, value: control.value === 'true' }),
  });
}

/** An enum value as an option's value text: a string as is, anything else as JSON. */
function optionValue(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A label for an enum option: the value, and its description when it adds something. */
function optionText(o) {
  const value = typeof o.value === 'string' ? o.value : JSON.stringify(o.value);
  if (!o.label) return value;
  const plain = (t) => String(t).toLowerCase().replace(/[^a-z0-9]/g, '');
  return plain(o.label) === plain(value) ? value : `${value} — ${o.label}`;
}

function enumNode(shape, ctx, f) {
  const s = shape.s;
  const v = initial(f, s);
  const control = h('select', { id: f.id, name: f.id, required: f.effRequired });
  const hasDefault = shape.options.some((o) => sameJson(o.value, v));
  if (!(f.required && hasDefault)) control.append(h('option', { value: '' }, f.required ? '— choose —' : '— not set —'));
  // An option's value is the enum value as text (so a test or a person can
  // pick "production"); which JSON value it stands for is its data-index.
  shape.options.forEach((o, i) => control.append(h('option', { value: optionValue(o.value), dataset: { index: i } }, optionText(o))));
  const at = shape.options.findIndex((o) => sameJson(o.value, v));
  control.selectedIndex = at >= 0 ? [...control.options].findIndex((op) => op.dataset.index === String(at)) : 0;
  return leaf(ctx, f, shape, {
    control,
    readRaw() {
      const op = control.selectedOptions[0];
      if (!op || op.dataset.index === undefined) return { present: false };
      return { present: true, value: shape.options[Number(op.dataset.index)].value };
    },
  });
}

function constNode(shape, ctx, f) {
  const el = h('div', { class: ['field', 'field-const'], dataset: { field: f.path.join('/') } },
    h('p', { class: 'field-label', id: f.id }, labelContent(f, shape.s)),
    h('p', { class: 'help-text' }, 'Always ', h('code', {}, JSON.stringify(shape.s.const)), '.'));
  return {
    el, id: f.id, label: f.label, fullLabel: f.fullLabel, child: null,
    setError() {}, clearError() {}, focus() {},
    read: () => (f.required ? { present: true, value: shape.s.const, errors: [] } : { present: false, errors: [] }),
  };
}

function jsonPlaceholder(shape) {
  const t = shape.types?.[0];
  if (t === 'object') return '{"name": "value"}';
  if (t === 'array') return '["first", "second"]';
  return '"text", 42, true, {"name": "value"} or ["a", "b"]';
}

/** What a JSON field takes, in words (from its union branches or types). */
function jsonExpectation(shape) {
  if (shape.branches && shape.branches.length) {
    const names = shape.branches.map((b) => typeWords(shapeOf(b, {}))).filter(Boolean);
    return `Enter JSON: ${[...new Set(names)].join(' or ')}${shape.nullable ? ' or null' : ''}.`;
  }
  if (shape.types && shape.types.length) return `Enter JSON: ${shape.types.map((t) => (t === 'object' ? 'an object' : t === 'array' ? 'a list' : t)).join(' or ')}.`;
  return 'Enter any JSON value.';
}

function jsonNode(shape, ctx, f) {
  const s = shape.s;
  const control = h('textarea', { id: f.id, name: f.id, rows: 3, class: 'mono', spellcheck: false, required: f.effRequired, placeholder: jsonPlaceholder(shape) });
  const v = initial(f, s);
  if (v !== undefined) control.value = JSON.stringify(v, null, 2);
  const extra = [h('p', { class: 'help-rules' }, jsonExpectation(shape))];
  return leaf(ctx, f, shape, {
    control,
    extraHelp: extra,
    readRaw() {
      const text = control.value.trim();
      if (text === '') return { present: false };
      let value;
      try {
        value = JSON.parse(text);
      } catch (e) {
        return { present: true, error: `${f.label} is not valid JSON: ${e.message}. Text needs "double quotes", e.g. "abc".` };
      }
      const t = shape.types?.length === 1 ? shape.types[0] : null;
      if (t === 'object' && !isObj(value) && !(value === null && shape.nullable)) return { present: true, error: `${f.label} must be a JSON object, like {"name": "value"}.` };
      if (t === 'array' && !Array.isArray(value) && !(value === null && shape.nullable)) return { present: true, error: `${f.label} must be a JSON list, like ["a", "b"].` };
      return { present: true, value };
    },
  });
}

/** An array of scalars: a textarea, one item per line. */
function listNode(shape, ctx, f) {
  const s = shape.s;
  const item = shape.item;
  const control = h('textarea', { id: f.id, name: f.id, rows: 3, spellcheck: false, required: f.effRequired });
  const v = initial(f, s);
  if (Array.isArray(v)) control.value = v.map((x) => String(x)).join('\n');
  const words = { string: 'text', integer: 'a whole number', number: 'a number', boolean: 'true or false' }[item.kind];
  const itemRules = [];
  if (item.s.pattern) itemRules.push(`each must match ${item.s.pattern}`);
  if (item.s.format && FORMAT_WORDS[item.s.format]) itemRules.push(`each ${FORMAT_WORDS[item.s.format]}`);
  const extra = [h('p', { class: 'help-rules' }, `One item per line (${words})${itemRules.length ? `; ${itemRules.join('; ')}` : ''}.`)];
  return leaf(ctx, f, shape, {
    control,
    extraHelp: extra,
    readRaw() {
      const lines = control.value.split(/\r?\n/).map((l) => l.trim());
      const items = [];
      for (let i = 0; i < lines.length; i += 1) {
        if (lines[i] === '') continue;
        const p = parseScalar(lines[i], item.kind);
        const where = `${f.label}, line ${i + 1}`;
        if (p.error) return { present: true, error: `${where} ${p.error}.` };
        const problem = checkScalar(p.value, item, where);
        if (problem) return { present: true, error: problem };
        if (item.kind === 'integer' && !Number.isInteger(p.value)) return { present: true, error: `${where} must be a whole number.` };
        items.push(p.value);
      }
      if (!items.length) return { present: false };
      return { present: true, value: items, error: checkItems(items, s, f.label) };
    },
  });
}

/** An array of enum values: a group of checkboxes. */
function multiNode(shape, ctx, f) {
  const s = shape.s;
  const v = initial(f, s);
  const chosen = Array.isArray(v) ? v : [];
  const boxes = shape.item.options.map((o, i) => h('input', {
    type: 'checkbox', id: uniqueId(ctx, `${f.id}-${typeof o.value === 'string' ? o.value : i}`), value: optionValue(o.value),
    dataset: { index: i }, checked: chosen.some((c) => sameJson(c, o.value)),
  }));
  const group = h('div', { class: 'check-group' }, boxes.map((b, i) => h('div', { class: 'check' }, b, h('label', { for: b.id }, optionText(shape.item.options[i])))));
  const legend = h('legend', { class: 'field-label' }, labelContent(f, s));
  const fieldset = h('fieldset', { class: 'group', id: f.id }, legend, group);
  const node = leaf(ctx, f, shape, {
    control: fieldset,
    controls: boxes,
    labelled: false,
    readRaw() {
      const values = boxes.filter((b) => b.checked).map((b) => shape.item.options[Number(b.dataset.index)].value);
      if (!values.length) return { present: false };
      return { present: true, value: values, error: checkItems(values, s, f.label) };
    },
  });
  // The description sits inside the fieldset, under its legend.
  const desc = node.el.querySelector('.desc');
  if (desc) legend.after(desc);
  fieldset.setAttribute('aria-describedby', desc.id);
  node.focus = () => boxes[0] && boxes[0].focus();
  return node;
}

/** A nested object: a fieldset of its properties (the root: no fieldset). */
function objectNode(shape, ctx, f) {
  const s = shape.s;
  const required = new Set(Array.isArray(s.required) ? s.required : []);
  const values = isObj(f.value) ? f.value : (isObj(s.default) ? s.default : {});
  const children = [];
  const body = h('div', { class: 'fields' });
  // Required fields first (stable: otherwise in the schema's order).
  const entries = Object.entries(s.properties || {});
  const ordered = [...entries.filter(([n]) => required.has(n)), ...entries.filter(([n]) => !required.has(n))];
  for (const [name, sub] of ordered) {
    const sshape = shapeOf(sub, ctx.root);
    if (sshape.s.readOnly === true) continue; // the service fills it; not for input
    const label = humanLabel(name, sshape.s);
    const path = [...f.path, name];
    const childNode = fieldNode(sshape, ctx, {
      id: uniqueId(ctx, `${f.idPrefix}${path.join('-')}`),
      idPrefix: f.idPrefix,
      path,
      name,
      label,
      fullLabel: f.top ? label : `${f.fullLabel} › ${label}`,
      required: required.has(name),
      effRequired: required.has(name) && f.effRequired,
      value: values[name],
    });
    children.push({ name, node: childNode, required: required.has(name) });
    body.append(childNode.el);
  }
  // Messages about the object as a whole (e.g. "fill in at least 2 fields").
  const help = !f.top && s.description ? h('div', { class: 'help', id: `${f.id}-help` }, richText(s.description, 'p', { class: 'help-text' })) : null;
  const desc = descBlock(f.id, help);
  let el;
  if (f.top) {
    el = h('div', { class: 'form-root', id: f.id, tabIndex: -1 }, desc.el, body);
  } else {
    el = h('fieldset', { class: ['group', 'field', 'field-object'], id: f.id, tabIndex: -1, dataset: { field: f.path.join('/') } },
      h('legend', { class: 'field-label' }, labelContent(f, s)), desc.el, body);
  }
  el.setAttribute('aria-describedby', desc.el.id);
  const focusEl = el;
  const node = {
    el, id: f.id, label: f.label, fullLabel: f.fullLabel,
    child: (token) => children.find((c) => c.name === token)?.node || null,
    setError: (message) => desc.show(message),
    clearError: () => desc.hide(),
    focus: () => {
      const first = children[0]?.node;
      if (first && !f.top) first.focus(); else focusEl.focus();
    },
    read() {
      const value = {};
      const errors = [];
      const missing = [];
      let any = false;
      for (const c of children) {
        const r = c.node.read();
        if (r.present) {
          any = true;
          if (!r.errors.length) value[c.name] = r.value;
        } else if (c.required) {
          missing.push(c);
        }
        errors.push(...r.errors);
      }
      if (!any && !f.required) return { present: false, errors: [] };
      for (const c of missing) errors.push({ node: c.node, message: `${c.node.label} is required.` });
      const count = Object.keys(value).length;
      if (!errors.length && Number.isFinite(s.minProperties) && count < s.minProperties) {
        errors.push({ node, message: `Fill in at least ${plural(s.minProperties, 'field')}${f.top ? '' : ` of ${f.label}`} (now ${count}).` });
      }
      if (!errors.length && Number.isFinite(s.maxProperties) && count > s.maxProperties) {
        errors.push({ node, message: `Fill in at most ${plural(s.maxProperties, 'field')}${f.top ? '' : ` of ${f.label}`} (now ${count}).` });
      }
      return { present: true, value, errors };
    },
  };
  ctx.nodes.push(node);
  return node;
}

/** An array of objects: a fieldset per item, with Add and Remove buttons. */
function objectsNode(shape, ctx, f) {
  const s = shape.s;
  const itemShape = shape.item;
  const itemWord = itemShape.s.title ? String(itemShape.s.title) : 'item';
  const items = []; // {node, el, legend, removeBtn}
  let serial = 0;
  const list = h('div', { class: 'items' });
  const addBtn = button(`Add ${itemWord === 'item' ? 'an item' : itemWord} to ${f.label}`, { id: `${f.id}-add`, class: 'secondary' });
  const desc = descBlock(f.id, helpBlock(f, shape));
  const el = h('fieldset', { class: ['group', 'field', 'field-objects'], id: f.id, tabIndex: -1, dataset: { field: f.path.join('/') } },
    h('legend', { class: 'field-label' }, labelContent(f, s)), desc.el, list, addBtn);
  el.setAttribute('aria-describedby', desc.el.id);

  const renumber = () => items.forEach((it, i) => {
    it.legendText.textContent = `${capitalize(itemWord)} ${i + 1}`;
    it.removeBtn.textContent = `Remove ${itemWord} ${i + 1}`;
    it.node.fullLabel = `${f.fullLabel} › ${itemWord} ${i + 1}`;
  });

  const addItem = (value) => {
    const index = serial++;
    const itemNode = objectNode(itemShape, ctx, {
      id: uniqueId(ctx, `${f.id}-${index}`), idPrefix: f.idPrefix, path: [...f.path, String(index)], name: String(index),
      label: `${capitalize(itemWord)} ${items.length + 1}`, fullLabel: `${f.fullLabel} › ${itemWord} ${items.length + 1}`,
      required: true, effRequired: f.effRequired, value,
    });
    // Ids of an item's fields use a serial number, so they stay stable when
    // an earlier item is removed; pointers use the item's position.
    const legendText = itemNode.el.querySelector('legend .field-title');
    const removeBtn = button('Remove', { class: ['secondary', 'remove-item'] });
    itemNode.el.append(removeBtn);
    const entry = { node: itemNode, el: itemNode.el, legendText, removeBtn };
    removeBtn.addEventListener('click', () => {
      const at = items.indexOf(entry);
      items.splice(at, 1);
      entry.el.remove();
      ctx.nodes.splice(ctx.nodes.indexOf(itemNode), 1);
      renumber();
      (items[at] || items[at - 1])?.removeBtn.focus() || addBtn.focus();
      if (!items.length) addBtn.focus();
      ctx.onChange();
    });
    items.push(entry);
    list.append(itemNode.el);
    renumber();
    return entry;
  };
  const v = initial(f, s);
  if (Array.isArray(v)) v.forEach((x) => addItem(x));
  addBtn.addEventListener('click', () => {
    const entry = addItem(undefined);
    entry.node.focus();
    ctx.onChange();
  });

  const node = {
    el, id: f.id, label: f.label, fullLabel: f.fullLabel,
    child: (token) => items[Number(token)]?.node || null,
    setError: (message) => desc.show(message),
    clearError: () => desc.hide(),
    focus: () => (items[0] ? items[0].node.focus() : addBtn.focus()),
    read() {
      if (!items.length) return { present: false, errors: [] };
      const values = [];
      const errors = [];
      for (const it of items) {
        const r = it.node.read();
        errors.push(...r.errors);
        values.push(r.present ? r.value : {});
      }
      const problem = checkItems(values, s, f.label);
      if (problem && !errors.length) errors.push({ node, message: problem });
      return { present: true, value: values, errors };
    },
  };
  ctx.nodes.push(node);
  return node;
}

// ================================================================ schema view

/** A schema's type in words: "string (date)", "list of string", "integer or null". */
export function typeWords(shape) {
  const s = shape.s || {};
  let t;
  switch (shape.kind) {
    case 'string': t = shape.loose ? shape.loose.join(' or ') : 'string'; if (s.format) t += ` (${s.format})`; break;
    case 'integer': case 'number': case 'boolean': case 'object': t = shape.kind; break;
    case 'enum': {
      const kinds = [...new Set(shape.options.map((o) => (o.value === null ? 'null' : typeof o.value)))];
      t = `${kinds.join(' or ')}, one of ${shape.options.length}`;
      break;
    }
    case 'const': t = 'constant'; break;
    case 'list': case 'multi': t = `list of ${typeWords(shape.item).replace(/, one of \d+$/, '')}`; break;
    case 'objects': t = 'list of objects'; break;
    default:
      if (shape.branches) t = [...new Set(shape.branches.map((b) => typeWords(shapeOf(b, {}))))].join(' or ');
      else if (shape.types) t = shape.types.join(' or ');
      else t = 'any JSON';
  }
  return shape.nullable ? `${t} or null` : t;
}

function valueText(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Readable rules of one field: choices, pattern, format, lengths, default, example. */
function ruleNodes(shape) {
  const s = shape.s;
  const out = [];
  if (shape.kind === 'enum' || shape.kind === 'multi') {
    const options = shape.kind === 'enum' ? shape.options : shape.item.options;
    out.push(h('li', {}, 'One of: ', options.map((o, i) => [i ? ', ' : '', h('code', {}, valueText(o.value)), o.label && optionText(o) !== valueText(o.value) ? ` (${o.label})` : ''])));
  }
  const pat = shape.kind === 'list' ? shape.item.s.pattern : s.pattern;
  if (typeof pat === 'string') out.push(h('li', {}, shape.kind === 'list' ? 'Each item matches ' : 'Pattern: ', h('code', {}, pat)));
  const fmt = shape.kind === 'list' ? shape.item.s.format : s.format;
  if (fmt && FORMAT_WORDS[fmt]) out.push(h('li', {}, `Format: ${FORMAT_WORDS[fmt]}`));
  for (const w of constraintWords(shape)) out.push(h('li', {}, capitalize(w)));
  if (s.default !== undefined) out.push(h('li', {}, 'Default: ', h('code', {}, JSON.stringify(s.default))));
  if (shape.kind === 'const') out.push(h('li', {}, 'Always ', h('code', {}, JSON.stringify(s.const))));
  if (Array.isArray(s.examples) && s.examples.length) out.push(h('li', {}, 'Example: ', h('code', {}, valueText(s.examples[0]))));
  if (s.deprecated) out.push(h('li', {}, 'Deprecated'));
  if (shape.kind === 'json' && isObj(s.additionalProperties)) out.push(h('li', {}, `Any keys, each value ${typeWords(shapeOf(s.additionalProperties, {}))}`));
  return out;
}

/** Notes on a schema's root rules a form cannot show per field ("Give exactly one of: id or emp_code"). */
export function schemaNotes(schema) {
  return combinatorNotes(resolveSchema(schema, schema));
}

/** "Give exactly one of: id, or emp_code" for constraint-only unions of `required` sets. */
function combinatorNotes(s) {
  const notes = [];
  for (const [key, word] of [['oneOf', 'exactly one of'], ['anyOf', 'at least one of']]) {
    const branches = Array.isArray(s[key]) ? s[key] : [];
    const sets = branches.map((b) => (isObj(b) && Array.isArray(b.required) ? b.required : null));
    if (branches.length && sets.every(Boolean)) {
      notes.push(h('p', { class: 'sv-note' }, `Give ${word}: `, sets.map((set, i) => [i ? ' or ' : '', set.map((n, j) => [j ? ' + ' : '', h('code', {}, n)])])));
    }
  }
  return notes;
}

/**
 * A schema as a readable list of fields: name, type, required, title,
 * description, choices, pattern, lengths, default, nested fields.
 */
export function schemaView(schema, { emptyText = 'No fields.' } = {}) {
  const root = isObj(schema) ? schema : {};
  const shape = shapeOf(root, root);
  const wrap = h('div', { class: 'schema-view' });
  if (shape.s.description) wrap.append(...richText(shape.s.description, 'p', { class: 'sv-desc' }));
  wrap.append(...combinatorNotes(shape.s));
  if (shape.kind === 'object') {
    wrap.append(fieldList(shape, root, 0));
  } else if (shape.kind === 'objects') {
    wrap.append(h('p', {}, 'A list; each item has:'), fieldList(shape.item, root, 0));
  } else if (shape.kind === 'json' && shape.types?.[0] === 'object' && !isObj(shape.s.additionalProperties)) {
    wrap.append(h('p', { class: 'sv-empty' }, emptyText));
  } else {
    wrap.append(h('p', {}, 'A single value: ', h('span', { class: 'sv-type' }, typeWords(shape))), h('ul', { class: 'sv-rules' }, ruleNodes(shape)));
  }
  return wrap;
}

function fieldList(shape, root, depth) {
  const s = shape.s;
  const required = new Set(Array.isArray(s.required) ? s.required : []);
  const entries = Object.entries(s.properties || {});
  if (!entries.length) return h('p', { class: 'sv-empty' }, 'No fields.');
  const ul = h('ul', { class: 'schema-fields' });
  for (const [name, sub] of entries) {
    const ps = shapeOf(sub, root);
    const li = h('li', { class: 'sv-field' });
    li.append(h('p', { class: 'sv-head' },
      h('code', { class: 'sv-name' }, name), ' ',
      h('span', { class: 'sv-type' }, typeWords(ps)),
      required.has(name) ? [' ', h('span', { class: ['tag', 'tag-required'] }, 'required')] : null,
      ps.s.readOnly ? [' ', h('span', { class: 'tag' }, 'read-only')] : null));
    if (ps.s.title && ps.s.title !== name) li.append(h('p', { class: 'sv-title' }, String(ps.s.title)));
    if (ps.s.description) li.append(...richText(ps.s.description, 'p', { class: 'sv-desc' }));
    const rules = ruleNodes(ps);
    if (rules.length) li.append(h('ul', { class: 'sv-rules' }, rules));
    if (depth < 6) {
      if (ps.kind === 'object') {
        li.append(...combinatorNotes(ps.s), fieldList(ps, root, depth + 1));
      } else if (ps.kind === 'objects') {
        li.append(h('p', { class: 'sv-note' }, 'Each item has:'), fieldList(ps.item, root, depth + 1));
      }
    }
    ul.append(li);
  }
  return ul;
}
