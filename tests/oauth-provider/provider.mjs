// A real OAuth2 provider and an API protected by it, on loopback, for
// cardhost's OAuth2 end-to-end tests (host/tests/oauth_provider.rs).
//
//   node provider.mjs --client-id ID --client-secret SECRET
//
// Starts two HTTP servers on 127.0.0.1, each on a port the system picks:
//
// - the provider: oauth2-mock-server's OAuth2Server with a fresh RS256 key.
//   Its endpoints are the package's own (/authorize, /token, /revoke,
//   /jwks, ...); its access tokens are RS256 JWTs. The package accepts any
//   client, code and refresh token; through its documented event hooks this
//   script makes it hold a client to what a standard provider requires:
//   the one client given on the command line (others get invalid_client),
//   a code only once, with the redirect_uri it was issued for, and with a
//   code_verifier when it was issued with a code_challenge (the package
//   itself checks the verifier against the challenge), and refresh tokens
//   that rotate (each works once, and not after it was revoked).
// - the API: GET /me accepts only a Bearer token whose signature, issuer
//   and expiry check out against the provider's JWKS (fetched over HTTP,
//   as a resource server would), and answers the token's claims:
//   {"client_id", "scope", "sub"}; anything else gets 401. GET /stats tells
//   what both servers saw; POST /control scripts what comes next.
//
// When both listen it prints one JSON line on stdout:
//   {"provider": "http://127.0.0.1:…", "api": "http://127.0.0.1:…", …}
// It exits when its standard input closes, so it never outlives the test.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Events, OAuth2Server } from 'oauth2-mock-server';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const { values: args } = parseArgs({
  options: {
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
  },
});
if (!args['client-id'] || !args['client-secret']) {
  console.error('usage: node provider.mjs --client-id ID --client-secret SECRET');
  process.exit(2);
}
const client = { id: args['client-id'], secret: args['client-secret'] };

// What both servers saw, for GET /stats.
const stats = {
  // Token requests that reached the token endpoint's answer, by grant type.
  token_requests: {},
  // Of those, the ones answered with an error (by this script's checks).
  token_errors: [],
  // Authorization requests, with what matters of their query.
  authorize_requests: [],
  // Revocation requests: the hint, and which kind of token it named.
  revocations: [],
  // API requests: answered 200, and refused with 401.
  api: { ok: 0, unauthorized: 0 },
};
// Scripted behaviour, from POST /control.
const control = {
  // API requests to refuse with 401 invalid_token even with a good token.
  refuse_api_requests: 0,
  // Access tokens to issue with a short lifetime (JWT exp and expires_in).
  short_lived_tokens: 0,
  lifetime_secs: 1,
};

// Codes issued at /authorize: code -> {redirect_uri, pkce, used}.
const codes = new Map();
// Refresh tokens issued: token -> 'live' | 'spent' | 'revoked'.
const refreshTokens = new Map();
// Access tokens issued (to tell which kind a revocation names).
const accessTokens = new Set();
// What this script decided about a token request, when the package built
// its access token (it builds the access token first, then any ID token,
// each through the same hook): req -> {refused, lifetime}.
const verdicts = new WeakMap();

/** The client a token or revocation request authenticated as (RFC 6749 2.3.1). */
function clientOf(req, body) {
  const header = req.headers.authorization ?? '';
  if (header.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const at = decoded.indexOf(':');
    const form = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    if (at < 0) return { id: form(decoded), secret: undefined };
    return { id: form(decoded.slice(0, at)), secret: form(decoded.slice(at + 1)) };
  }
  return { id: body?.client_id, secret: body?.client_secret };
}

function authenticated(req, body) {
  const who = clientOf(req, body);
  return who.id === client.id && who.secret === client.secret;
}

/** What this script refuses in a token request, or undefined. */
function refusal(req, body) {
  if (!authenticated(req, body)) {
    return [401, 'invalid_client', 'unknown client or wrong client secret'];
  }
  switch (body.grant_type) {
    case 'authorization_code': {
      const issued = codes.get(body.code);
      if (issued === undefined) return [400, 'invalid_grant', 'unknown code'];
      if (issued.used) return [400, 'invalid_grant', 'code already used'];
      issued.used = true;
      if (body.redirect_uri !== issued.redirect_uri) {
        return [400, 'invalid_grant', 'redirect_uri differs from the authorization request'];
      }
      if (issued.pkce && body.code_verifier === undefined) {
        return [400, 'invalid_grant', 'code_verifier required (the code was issued with a code_challenge)'];
      }
      return undefined;
    }
    case 'refresh_token': {
      const state = refreshTokens.get(body.refresh_token);
      if (state !== 'live') {
        return [400, 'invalid_grant', `refresh token is ${state ?? 'unknown'}`];
      }
      // Rotation: this refresh token is spent, the answer carries the next.
      refreshTokens.set(body.refresh_token, 'spent');
      return undefined;
    }
    default:
      return undefined;
  }
}

const provider = new OAuth2Server();
await provider.issuer.keys.generate('RS256');

provider.service.on(Events.BeforeAuthorizeRedirect, (redirect, req) => {
  const q = new URL(req.url, 'http://provider').searchParams;
  stats.authorize_requests.push({
    client_id: q.get('client_id'),
    response_type: q.get('response_type'),
    redirect_uri: q.get('redirect_uri'),
    scope: q.get('scope'),
    state: q.get('state'),
    code_challenge_method: q.get('code_challenge_method'),
    code_challenge: q.get('code_challenge') !== null,
  });
  const code = redirect.url.searchParams.get('code');
  if (code !== null) {
    codes.set(code, {
      redirect_uri: q.get('redirect_uri'),
      pkce: q.get('code_challenge') !== null,
      used: false,
    });
  }
});

provider.service.on(Events.BeforeTokenSigning, (token, req) => {
  // The package's access tokens name no client: add the one that asked.
  token.payload.client_id = clientOf(req, req.body).id;
  if (verdicts.has(req)) return; // the ID token
  const verdict = { refused: refusal(req, req.body ?? {}), lifetime: undefined };
  verdicts.set(req, verdict);
  if (verdict.refused === undefined && control.short_lived_tokens > 0) {
    control.short_lived_tokens -= 1;
    verdict.lifetime = control.lifetime_secs;
    token.payload.exp = Math.floor(Date.now() / 1000) + control.lifetime_secs;
  }
});

provider.service.on(Events.BeforeResponse, (response, req) => {
  const body = req.body ?? {};
  const grant = body.grant_type;
  stats.token_requests[grant] = (stats.token_requests[grant] ?? 0) + 1;
  const verdict = verdicts.get(req) ?? { refused: refusal(req, body) };
  const refused = response.statusCode === 200 ? verdict.refused : undefined;
  if (refused !== undefined) {
    const [status, error, description] = refused;
    response.statusCode = status;
    response.body = { error, error_description: description };
  }
  if (response.statusCode !== 200) {
    stats.token_errors.push({ grant_type: grant, status: response.statusCode, ...response.body });
    return;
  }
  if (verdict.lifetime !== undefined) response.body.expires_in = verdict.lifetime;
  accessTokens.add(response.body.access_token);
  if (response.body.refresh_token) refreshTokens.set(response.body.refresh_token, 'live');
});

// The package answers /revoke without reading its body: read it here, and
// let GET /stats wait for the reads under way.
const pending = new Set();
provider.service.on(Events.BeforeRevoke, (response, req) => {
  const chunks = [];
  const read = new Promise((resolve) => {
    req.on('data', (c) => chunks.push(c));
    req.on('end', resolve);
    req.on('error', resolve);
  }).then(() => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const body = Object.fromEntries(form);
    const token = body.token ?? '';
    const refresh = refreshTokens.get(token);
    let kind = 'unknown';
    if (refresh !== undefined) kind = `${refresh} refresh token`;
    else if (accessTokens.has(token)) kind = 'access token';
    if (refresh === 'live') refreshTokens.set(token, 'revoked');
    stats.revocations.push({
      token_type_hint: body.token_type_hint ?? null,
      token: kind,
      client_authenticated: authenticated(req, body),
    });
  });
  pending.add(read);
  read.finally(() => pending.delete(read));
});

await provider.start(0, '127.0.0.1');
const providerUrl = `http://127.0.0.1:${provider.address().port}`;
// The package names the issuer "localhost"; tokens name the address used.
provider.issuer.url = providerUrl;
const jwks = createRemoteJWKSet(new URL(`${providerUrl}/jwks`));

function json(res, status, value, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

function unauthorized(res, description) {
  stats.api.unauthorized += 1;
  const challenge = `Bearer error="invalid_token", error_description="${description.replace(/"/g, "'")}"`;
  json(res, 401, { error: 'invalid_token', error_description: description }, { 'www-authenticate': challenge });
}

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return text.trim() === '' ? {} : JSON.parse(text);
}

const api = http.createServer(async (req, res) => {
  try {
    const path = new URL(req.url, 'http://api').pathname;
    if (req.method === 'GET' && path === '/me') {
      const header = req.headers.authorization ?? '';
      if (!header.startsWith('Bearer ')) return unauthorized(res, 'no bearer token');
      let payload;
      try {
        ({ payload } = await jwtVerify(header.slice(7), jwks, {
          issuer: providerUrl,
          algorithms: ['RS256'],
        }));
      } catch (e) {
        return unauthorized(res, `${e.code ?? 'invalid'}: ${e.message}`);
      }
      if (control.refuse_api_requests > 0) {
        control.refuse_api_requests -= 1;
        return unauthorized(res, 'the token was revoked');
      }
      stats.api.ok += 1;
      return json(res, 200, {
        client_id: payload.client_id ?? null,
        scope: payload.scope ?? null,
        sub: payload.sub ?? null,
      });
    }
    if (req.method === 'GET' && path === '/stats') {
      await Promise.all([...pending]);
      return json(res, 200, stats);
    }
    if (req.method === 'POST' && path === '/control') {
      const body = await readJson(req);
      for (const key of Object.keys(body)) {
        if (!(key in control) || !Number.isInteger(body[key])) {
          return json(res, 400, { error: `unknown control or not an integer: ${key}` });
        }
        control[key] = body[key];
      }
      return json(res, 200, control);
    }
    return json(res, 404, { error: 'not found' });
  } catch (e) {
    return json(res, 500, { error: String(e) });
  }
});
await new Promise((resolve, reject) => api.listen(0, '127.0.0.1', resolve).on('error', reject));
const apiUrl = `http://127.0.0.1:${api.address().port}`;

const version = JSON.parse(
  readFileSync(new URL('./node_modules/oauth2-mock-server/package.json', import.meta.url), 'utf8'),
).version;
process.stdout.write(
  `${JSON.stringify({ provider: providerUrl, api: apiUrl, oauth2_mock_server: version, node: process.version })}\n`,
);

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
