// A Keycloak stand-in for the console's end-to-end test: realm `staff`,
// Keycloak's own OpenID Connect paths, RS256 tokens shaped like Keycloak's,
// authorization code + PKCE (S256 required and really checked), refresh
// token rotation, client credentials for a confidential service client,
// RP-initiated logout, and the part of the admin REST API (`/admin/realms/…`)
// the service reads through its resolver account: users, clients, realm and
// client roles with their holders, groups by path with members and children,
// each guarded by the caller's realm-management roles as Keycloak does.
// Plain Node: node:http and node:crypto only.
//
//   import { startKeycloak } from './keycloak.mjs';
//   const kc = await startKeycloak({ allowedOrigins: ['http://127.0.0.1:18480'] });
//   kc.issuer, kc.counters, kc.mint({ username: 'alice' }), await kc.stop();
//
// Also runnable alone: `node e2e/keycloak.mjs [port] [allowed-origin]`.
import http from 'node:http';
import crypto from 'node:crypto';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const uuid = () => crypto.randomUUID();
const now = () => Math.floor(Date.now() / 1000);

const DEFAULT_USERS = [
  { username: 'admin', password: 'admin', name: 'Ada Admin', email: 'admin@example.org', roles: ['AWE_ADMIN'] },
  { username: 'viewer', password: 'viewer', name: 'Vic Viewer', email: 'viewer@example.org', roles: ['AWE_VIEWER'] },
  // Approvers named by the test policy's user rules; no console role.
  { username: 'alice', password: 'alice', name: 'Alice Officer', email: 'alice@example.org', roles: [] },
  { username: 'bob', password: 'bob', name: 'Bob Officer', email: 'bob@example.org', roles: [] },
  { username: 'director-x', password: 'director-x', name: 'Dana Director', email: 'director-x@example.org', roles: [] },
];

// What the admin API lists: realm roles, a client with roles, a group tree
// (Keycloak 23+ answers top-level groups, and with `search` the branches
// leading to matches).
const DEFAULT_DIRECTORY = {
  realmRoles: [
    { name: 'registry-approver', description: 'Approves registry change requests', users: ['alice', 'bob'] },
    { name: 'finance-officer', description: 'Signs off disbursements', users: [], groups: ['/finance/approvers'] },
  ],
  clients: [
    { clientId: 'registry-portal', name: 'Social registry portal', roles: [{ name: 'district-reviewer', description: 'Reviews a district', users: ['alice'] }] },
  ],
  groups: [
    { name: 'finance', subGroups: [{ name: 'approvers', members: ['alice', 'bob'] }, { name: 'clerks', members: [] }] },
    { name: 'directors', members: ['director-x'] },
  ],
};

// The realm-management role each admin listing needs (any one of them).
const ADMIN_ROLES = {
  users: ['view-users', 'manage-users', 'query-users'],
  clients: ['view-clients', 'manage-clients', 'query-clients'],
  roles: ['view-realm', 'manage-realm'],
  groups: ['view-users', 'manage-users', 'query-groups'],
};

function escapeHtml(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Starts the stand-in. Options: port (0 = any), host, realm, portalClientId,
 * audience (extra `aud` entry, as a Keycloak audience mapper adds),
 * allowedOrigins (redirect_uri and CORS), users, accessTokenLifespan (s),
 * serviceClients ({ clientId: { secret, roles, clientRoles: { client: [role] } } }),
 * directory (roles, clients and groups the admin API lists; users are `users`).
 */
export async function startKeycloak(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const realm = options.realm ?? 'staff';
  const portalClientId = options.portalClientId ?? 'awe-admin-portal';
  const audience = options.audience ?? 'awe';
  const allowedOrigins = new Set(options.allowedOrigins ?? []);
  let lifespan = options.accessTokenLifespan ?? 300;
  const refreshLifespan = options.refreshTokenLifespan ?? 1800;
  const users = new Map((options.users ?? DEFAULT_USERS).map((u) => [u.username, { id: uuid(), ...u }]));
  const serviceClients = options.serviceClients ?? { registry: { secret: 'registry-secret', roles: [] } };
  for (const [clientId, c] of Object.entries(serviceClients)) c.id = c.id ?? uuid();
  const directory = buildDirectory(options.directory ?? DEFAULT_DIRECTORY);

  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = b64url(crypto.randomBytes(16));
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, kty: 'RSA', alg: 'RS256', use: 'sig' };

  const counters = {
    authorizeRequests: 0,
    authorizeRejected: 0,
    loginFailures: 0,
    codesIssued: 0,
    codesRedeemed: 0,
    pkceVerified: 0,
    pkceFailures: 0,
    invalidGrants: 0,
    refreshes: 0,
    clientCredentials: 0,
    tokensIssued: 0,
    jwksFetches: 0,
    discoveryFetches: 0,
    userinfo: 0,
    logouts: 0,
    adminCalls: 0,
    adminRefused: 0,
  };
  const codes = new Map(); // code → { used, clientId, redirectUri, challenge, nonce, user, sessionState, scope, authTime, exp }
  const refreshTokens = new Map(); // jti → { user, clientId, sessionState, scope, nonce, authTime, exp, used }
  const log = [];

  let issuer = '';
  const paths = {
    auth: `/realms/${realm}/protocol/openid-connect/auth`,
    token: `/realms/${realm}/protocol/openid-connect/token`,
    certs: `/realms/${realm}/protocol/openid-connect/certs`,
    userinfo: `/realms/${realm}/protocol/openid-connect/userinfo`,
    logout: `/realms/${realm}/protocol/openid-connect/logout`,
    wellKnown: `/realms/${realm}/.well-known/openid-configuration`,
  };

  function sign(claims) {
    const header = { alg: 'RS256', typ: 'JWT', kid };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = crypto.sign('RSA-SHA256', Buffer.from(input), privateKey);
    return `${input}.${b64url(sig)}`;
  }

  // `authTime`: when the user signed in; a refresh keeps it, as Keycloak does (clients check it).
  function accessClaims(user, { clientId = portalClientId, sessionState, scope = 'openid profile email', lifetime = lifespan, authTime, extra = {} } = {}) {
    const t = now();
    return {
      exp: t + lifetime,
      iat: t,
      auth_time: authTime ?? t,
      jti: uuid(),
      iss: issuer,
      aud: [audience, 'account'].filter(Boolean),
      sub: user.id,
      typ: 'Bearer',
      azp: clientId,
      sid: sessionState,
      session_state: sessionState,
      acr: '1',
      'allowed-origins': [...allowedOrigins],
      realm_access: { roles: ['default-roles-staff', 'offline_access', 'uma_authorization', ...(user.realmRoles ?? [])] },
      resource_access: {
        [portalClientId]: { roles: [...(user.roles ?? [])] },
        account: { roles: ['manage-account', 'view-profile'] },
        ...Object.fromEntries(Object.entries(user.clientRoles ?? {}).map(([client, roles]) => [client, { roles: [...roles] }])),
      },
      scope,
      email_verified: Boolean(user.email),
      name: user.name,
      preferred_username: user.username,
      given_name: user.name?.split(' ')[0],
      family_name: user.name?.split(' ').slice(1).join(' '),
      email: user.email,
      ...extra,
    };
  }

  function tokenResponse(user, { clientId, sessionState, scope, nonce, authTime = now(), withId = true }) {
    const access = accessClaims(user, { clientId, sessionState, scope, authTime });
    const t = now();
    const body = {
      access_token: sign(access),
      expires_in: lifespan,
      refresh_expires_in: refreshLifespan,
      token_type: 'Bearer',
      'not-before-policy': 0,
      session_state: sessionState,
      scope,
    };
    if (withId) {
      body.id_token = sign({
        exp: access.exp, iat: t, auth_time: access.auth_time, jti: uuid(), iss: issuer, aud: clientId, sub: user.id,
        typ: 'ID', azp: clientId, nonce, sid: sessionState, session_state: sessionState, at_hash: atHash(body.access_token),
        acr: '1', email_verified: Boolean(user.email), name: user.name, preferred_username: user.username, email: user.email,
      });
    }
    if (sessionState) {
      const jti = uuid();
      refreshTokens.set(jti, { user, clientId, sessionState, scope, nonce, authTime, exp: t + refreshLifespan, used: false });
      body.refresh_token = sign({ exp: t + refreshLifespan, iat: t, jti, iss: issuer, aud: issuer, sub: user.id, typ: 'Refresh', azp: clientId, sid: sessionState, scope });
    }
    counters.tokensIssued += 1;
    return body;
  }

  function atHash(token) {
    const d = crypto.createHash('sha256').update(token).digest();
    return b64url(d.subarray(0, 16));
  }

  function verifyOwnJwt(token) {
    const parts = String(token ?? '').split('.');
    if (parts.length !== 3) return null;
    const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
    if (!ok) return null;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (claims.exp && claims.exp < now()) return null;
    return claims;
  }

  function cors(req, res) {
    const origin = req.headers.origin;
    if (origin && allowedOrigins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      res.setHeader('Access-Control-Max-Age', '600');
    }
  }

  function json(res, status, body, headers = {}) {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', Pragma: 'no-cache', ...headers });
    res.end(JSON.stringify(body));
  }

  function oauthError(res, status, error, description) {
    counters.invalidGrants += error === 'invalid_grant' ? 1 : 0;
    log.push({ at: new Date().toISOString(), error, description });
    json(res, status, { error, error_description: description });
  }

  function redirectAllowed(uri) {
    try {
      const u = new URL(uri);
      return allowedOrigins.has(u.origin);
    } catch {
      return false;
    }
  }

  function page(res, status, title, body) {
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      // As Keycloak's login pages: no form-action (Chromium applies it to the redirect after the POST).
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;background:#f0f0f0;color:#151515;margin:0}main{max-width:28rem;margin:4rem auto;background:#fff;padding:2rem;border-top:4px solid #0066cc}
label{display:block;margin-top:1rem;font-weight:600}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box;border:1px solid #6a6e73}
button{margin-top:1.5rem;width:100%;padding:.6rem;font-size:1rem;background:#0066cc;color:#fff;border:0}p.error{color:#a30000;border-left:3px solid #c9190b;padding-left:.5rem}</style>
</head><body><main>${body}</main></body></html>`);
  }

  function loginPage(res, params, error) {
    const hidden = Object.entries(params)
      .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
      .join('');
    page(res, error ? 401 : 200, `Sign in to ${realm}`, `<h1 id="kc-page-title">Sign in to your account</h1>
${error ? `<p class="error" role="alert" id="input-error">${escapeHtml(error)}</p>` : ''}
<form id="kc-form-login" method="post" action="${escapeHtml(paths.auth)}">${hidden}
<label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" autofocus required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="kc-login" name="login">Sign In</button></form>`);
  }

  const AUTH_PARAMS = ['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'response_mode', 'prompt', 'login_hint'];

  function checkAuthParams(p) {
    if (p.client_id !== portalClientId) return `Client not found: ${p.client_id ?? ''}`;
    if (!p.redirect_uri || !redirectAllowed(p.redirect_uri)) return 'Invalid parameter: redirect_uri';
    if (p.response_type !== 'code') return 'Unsupported response_type';
    if (p.code_challenge_method !== 'S256') return 'Missing parameter: code_challenge_method (S256 is required)';
    if (!p.code_challenge || !/^[A-Za-z0-9_-]{43,128}$/.test(p.code_challenge)) return 'Invalid parameter: code_challenge';
    if (!String(p.scope ?? '').split(' ').includes('openid')) return 'Missing openid scope';
    return null;
  }

  async function authorize(req, res, url) {
    counters.authorizeRequests += 1;
    let p;
    if (req.method === 'POST') p = Object.fromEntries(new URLSearchParams(await readBody(req)));
    else p = Object.fromEntries(url.searchParams);
    const problem = checkAuthParams(p);
    if (problem) {
      counters.authorizeRejected += 1;
      return page(res, 400, 'We are sorry...', `<h1>We are sorry...</h1><p class="error" role="alert">${escapeHtml(problem)}</p>`);
    }
    const params = Object.fromEntries(AUTH_PARAMS.filter((k) => p[k] !== undefined).map((k) => [k, p[k]]));
    if (req.method !== 'POST') return loginPage(res, params);
    const user = users.get(String(p.username ?? ''));
    if (!user || user.password !== p.password) {
      counters.loginFailures += 1;
      return loginPage(res, params, 'Invalid username or password.');
    }
    const code = `${uuid()}.${uuid()}.${uuid()}`;
    const sessionState = uuid();
    codes.set(code, {
      used: false, clientId: p.client_id, redirectUri: p.redirect_uri, challenge: p.code_challenge, nonce: p.nonce,
      user, sessionState, scope: p.scope, authTime: now(), exp: now() + 60,
    });
    counters.codesIssued += 1;
    const target = new URL(p.redirect_uri);
    const q = { code, state: p.state, session_state: sessionState, iss: issuer };
    if (p.response_mode === 'fragment') {
      target.hash = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined)).toString();
    } else {
      for (const [k, v] of Object.entries(q)) if (v !== undefined) target.searchParams.set(k, v);
    }
    res.writeHead(302, { Location: target.toString(), 'Cache-Control': 'no-store' });
    res.end();
  }

  function clientAuth(req, form) {
    const h = req.headers.authorization;
    if (h?.startsWith('Basic ')) {
      const [id, secret] = Buffer.from(h.slice(6), 'base64').toString('utf8').split(':');
      return { clientId: decodeURIComponent(id ?? ''), secret: decodeURIComponent(secret ?? '') };
    }
    return { clientId: form.client_id, secret: form.client_secret };
  }

  async function token(req, res) {
    if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'HTTP method not allowed');
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const { clientId, secret } = clientAuth(req, form);
    switch (form.grant_type) {
      case 'authorization_code': {
        if (clientId !== portalClientId) return oauthError(res, 401, 'unauthorized_client', 'Invalid client');
        const entry = codes.get(form.code);
        if (!entry) return oauthError(res, 400, 'invalid_grant', 'Code not valid');
        if (entry.used) return oauthError(res, 400, 'invalid_grant', 'Code already used');
        entry.used = true; // one try, as Keycloak: a failed redemption burns the code too
        if (entry.exp < now()) return oauthError(res, 400, 'invalid_grant', 'Code is expired');
        if (entry.clientId !== clientId) return oauthError(res, 400, 'invalid_grant', 'Auth error');
        if (entry.redirectUri !== form.redirect_uri) return oauthError(res, 400, 'invalid_grant', 'Incorrect redirect_uri');
        const verifier = String(form.code_verifier ?? '');
        const computed = b64url(crypto.createHash('sha256').update(verifier).digest());
        if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || computed !== entry.challenge) {
          counters.pkceFailures += 1;
          return oauthError(res, 400, 'invalid_grant', 'PKCE verification failed: Code mismatch');
        }
        counters.pkceVerified += 1;
        counters.codesRedeemed += 1;
        return json(res, 200, tokenResponse(entry.user, { clientId, sessionState: entry.sessionState, scope: entry.scope, nonce: entry.nonce, authTime: entry.authTime }));
      }
      case 'refresh_token': {
        const claims = verifyOwnJwt(form.refresh_token);
        const entry = claims && refreshTokens.get(claims.jti);
        if (!entry || claims.typ !== 'Refresh') return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
        if (entry.clientId !== clientId) return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token. Token client and authorized client don\'t match');
        if (entry.used) return oauthError(res, 400, 'invalid_grant', 'Maximum allowed refresh token reuse exceeded');
        entry.used = true; // rotation: each refresh token works once
        counters.refreshes += 1;
        return json(res, 200, tokenResponse(entry.user, { clientId, sessionState: entry.sessionState, scope: entry.scope, nonce: undefined, authTime: entry.authTime }));
      }
      case 'client_credentials': {
        const client = serviceClients[clientId];
        if (!client || client.secret !== secret) return oauthError(res, 401, 'unauthorized_client', 'Invalid client or Invalid client credentials');
        counters.clientCredentials += 1;
        const user = { id: client.id, username: `service-account-${clientId}`, roles: client.roles ?? [], clientRoles: client.clientRoles };
        const access = accessClaims(user, { clientId, scope: 'profile email', extra: { clientId, clientHost: '127.0.0.1', name: undefined, email: undefined, email_verified: false } });
        counters.tokensIssued += 1;
        return json(res, 200, { access_token: sign(access), expires_in: lifespan, refresh_expires_in: 0, token_type: 'Bearer', 'not-before-policy': 0, scope: 'profile email' });
      }
      default:
        return oauthError(res, 400, 'unsupported_grant_type', `Unsupported grant_type: ${form.grant_type}`);
    }
  }

  function userinfo(req, res) {
    counters.userinfo += 1;
    const claims = verifyOwnJwt(String(req.headers.authorization ?? '').replace(/^Bearer /i, ''));
    if (!claims || claims.typ !== 'Bearer') return json(res, 401, { error: 'invalid_token' }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    const { sub, name, preferred_username, email, email_verified, given_name, family_name } = claims;
    return json(res, 200, { sub, name, preferred_username, email, email_verified, given_name, family_name });
  }

  async function logout(req, res, url) {
    counters.logouts += 1;
    const p = req.method === 'POST' ? Object.fromEntries(new URLSearchParams(await readBody(req))) : Object.fromEntries(url.searchParams);
    const hint = p.id_token_hint ? verifyOwnJwt(p.id_token_hint) : null;
    if (hint?.sid) for (const e of refreshTokens.values()) if (e.sessionState === hint.sid) e.used = true;
    const to = p.post_logout_redirect_uri;
    if (to) {
      if (!redirectAllowed(to)) return page(res, 400, 'We are sorry...', '<h1>We are sorry...</h1><p class="error" role="alert">Invalid redirect uri</p>');
      const target = new URL(to);
      if (p.state) target.searchParams.set('state', p.state);
      res.writeHead(302, { Location: target.toString() });
      return res.end();
    }
    return page(res, 200, 'Signed out', '<h1>You are logged out</h1>');
  }

  // ------------------------------------------------------------ admin REST API

  function buildDirectory(d) {
    const groups = [];
    const walk = (g, parent) => {
      const node = { id: uuid(), name: g.name, path: `${parent}/${g.name}`, members: g.members ?? [], children: [] };
      groups.push(node);
      node.children = (g.subGroups ?? []).map((c) => walk(c, node.path));
      return node;
    };
    const top = (d.groups ?? []).map((g) => walk(g, ''));
    const role = (r, containerId, clientRole) => ({ id: uuid(), name: r.name, description: r.description, users: r.users ?? [], groups: r.groups ?? [], containerId, clientRole });
    const realmId = uuid();
    return {
      top,
      groups,
      realmRoles: (d.realmRoles ?? []).map((r) => role(r, realmId, false)),
      clients: (d.clients ?? []).map((c) => {
        const id = uuid();
        return { id, clientId: c.clientId, name: c.name, roles: (c.roles ?? []).map((r) => role(r, id, true)) };
      }),
    };
  }

  const userRep = (u) => {
    const [firstName, ...rest] = String(u.name ?? '').split(' ');
    return {
      id: u.id, username: u.username, firstName: firstName || undefined, lastName: rest.join(' ') || undefined, email: u.email,
      emailVerified: Boolean(u.email), enabled: u.enabled !== false, createdTimestamp: 1764547200000,
    };
  };
  const roleRep = (r) => ({ id: r.id, name: r.name, description: r.description, composite: false, clientRole: r.clientRole, containerId: r.containerId });
  const clientRep = (c) => ({ id: c.id, clientId: c.clientId, name: c.name, enabled: true, publicClient: false, protocol: 'openid-connect' });
  // A group as Keycloak 23+ lists it: subGroups only where a search put them.
  const groupRep = (g, subGroups = []) => ({ id: g.id, name: g.name, path: g.path, subGroupCount: g.children.length, subGroups, attributes: {}, realmRoles: [], clientRoles: {} });
  const contains = (q, ...fields) => fields.some((f) => String(f ?? '').toLowerCase().includes(q));

  /** `first`/`max` as Keycloak applies them (max defaults to 100 for users, unlimited elsewhere). */
  function paged(items, params, defaultMax = Infinity) {
    const first = Math.max(0, Number(params.get('first') ?? 0) || 0);
    const max = params.has('max') ? Math.max(0, Number(params.get('max')) || 0) : defaultMax;
    return items.slice(first, first + max);
  }

  function adminAllowed(req, kind) {
    const claims = verifyOwnJwt(String(req.headers.authorization ?? '').replace(/^Bearer /i, ''));
    if (!claims || claims.typ !== 'Bearer') return 401;
    const held = claims.resource_access?.['realm-management']?.roles ?? [];
    return ADMIN_ROLES[kind].some((r) => held.includes(r)) ? 200 : 403;
  }

  const usersNamed = (names) => names.map((n) => users.get(n)).filter(Boolean);
  const groupMembers = (g) => usersNamed(g.members);

  function admin(req, res, url, rest) {
    const parts = rest.split('/').filter(Boolean).map(decodeURIComponent);
    const kind = { users: 'users', clients: 'clients', roles: 'roles', groups: 'groups', 'group-by-path': 'groups' }[parts[0]];
    if (!kind || req.method !== 'GET') return json(res, 404, { error: 'Not Found' });
    counters.adminCalls += 1;
    const allowed = adminAllowed(req, kind);
    if (allowed !== 200) {
      counters.adminRefused += 1;
      return json(res, allowed, { error: allowed === 401 ? 'HTTP 401 Unauthorized' : 'HTTP 403 Forbidden' });
    }
    const q = url.searchParams;
    const search = (q.get('search') ?? '').toLowerCase();
    const notFound = (what) => json(res, 404, { error: `${what} not found` });
    const roleHolders = (role, sub) => {
      if (sub === 'users') return json(res, 200, paged(usersNamed(role.users).map(userRep), q, 100));
      if (sub === 'groups') return json(res, 200, paged(role.groups.map((p) => directory.groups.find((g) => g.path === p)).filter(Boolean).map((g) => groupRep(g)), q));
      if (sub === undefined) return json(res, 200, roleRep(role));
      return notFound('Resource');
    };
    switch (parts[0]) {
      case 'users': {
        const all = [...users.values()].filter((u) => !search || contains(search, u.username, u.name, u.email));
        return json(res, 200, paged(all.map(userRep), q, 100));
      }
      case 'clients': {
        if (parts.length === 1) {
          const clientId = q.get('clientId');
          const all = directory.clients.filter((c) => (clientId ? c.clientId === clientId : !search || contains(search, c.clientId)));
          return json(res, 200, paged(all.map(clientRep), q));
        }
        const client = directory.clients.find((c) => c.id === parts[1]);
        if (!client) return notFound('Could not find client');
        if (parts.length === 2) return json(res, 200, clientRep(client));
        if (parts[2] !== 'roles') return notFound('Resource');
        if (parts.length === 3) return json(res, 200, paged(client.roles.filter((r) => !search || contains(search, r.name, r.description)).map(roleRep), q));
        const role = client.roles.find((r) => r.name === parts[3]);
        return role ? roleHolders(role, parts[4]) : notFound('Could not find role');
      }
      case 'roles': {
        if (parts.length === 1) return json(res, 200, paged(directory.realmRoles.filter((r) => !search || contains(search, r.name, r.description)).map(roleRep), q));
        const role = directory.realmRoles.find((r) => r.name === parts[1]);
        return role ? roleHolders(role, parts[2]) : notFound('Could not find role');
      }
      case 'group-by-path': {
        const g = directory.groups.find((x) => x.path === `/${parts.slice(1).join('/')}`);
        return g ? json(res, 200, groupRep(g)) : notFound('Group path does not exist');
      }
      case 'groups': {
        if (parts.length === 1) {
          if (!search) return json(res, 200, paged(directory.top.map((g) => groupRep(g)), q));
          // The branches that lead to a match, each matching group with its own subtree pruned likewise.
          const prune = (g) => {
            const kids = g.children.map(prune).filter(Boolean);
            return contains(search, g.name) || kids.length ? groupRep(g, kids) : null;
          };
          return json(res, 200, paged(directory.top.map(prune).filter(Boolean), q));
        }
        const g = directory.groups.find((x) => x.id === parts[1]);
        if (!g) return notFound('Could not find group by id');
        if (parts.length === 2) return json(res, 200, groupRep(g, g.children.map((c) => groupRep(c))));
        if (parts[2] === 'members') return json(res, 200, paged(groupMembers(g).map(userRep), q, 100));
        if (parts[2] === 'children') return json(res, 200, paged(g.children.map((c) => groupRep(c)), q, 10));
        return notFound('Resource');
      }
      default:
        return notFound('Resource');
    }
  }

  function discovery() {
    const base = `${issuer}/protocol/openid-connect`;
    return {
      issuer,
      authorization_endpoint: `${base}/auth`,
      token_endpoint: `${base}/token`,
      introspection_endpoint: `${base}/token/introspect`,
      userinfo_endpoint: `${base}/userinfo`,
      end_session_endpoint: `${base}/logout`,
      jwks_uri: `${base}/certs`,
      check_session_iframe: `${base}/login-status-iframe.html`,
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types_supported: ['code'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['public', 'pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      userinfo_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access', 'roles'],
      claims_supported: ['aud', 'sub', 'iss', 'auth_time', 'name', 'given_name', 'family_name', 'preferred_username', 'email', 'acr'],
      code_challenge_methods_supported: ['S256'],
      frontchannel_logout_supported: true,
      backchannel_logout_supported: false,
      request_parameter_supported: false,
    };
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, `http://${req.headers.host}`);
      cors(req, res);
      if (req.method === 'OPTIONS') {
        res.writeHead(204);
        return res.end();
      }
      switch (url.pathname) {
        case paths.wellKnown:
          counters.discoveryFetches += 1;
          return json(res, 200, discovery(), { 'Cache-Control': 'no-cache' });
        case paths.certs:
          counters.jwksFetches += 1;
          return json(res, 200, { keys: [jwk] }, { 'Cache-Control': 'no-cache' });
        case paths.auth:
          return await authorize(req, res, url);
        case paths.token:
          return await token(req, res);
        case paths.userinfo:
          return userinfo(req, res);
        case paths.logout:
          return await logout(req, res, url);
        case `/realms/${realm}`:
          return json(res, 200, { realm, 'token-service': `${issuer}/protocol/openid-connect` });
        default:
          if (url.pathname.startsWith(`/admin/realms/${realm}/`)) return admin(req, res, url, url.pathname.slice(`/admin/realms/${realm}/`.length));
          res.writeHead(404, { 'Content-Type': 'text/plain' });
          return res.end('Not Found');
      }
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(e?.stack ?? e));
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address();
  issuer = `http://${host}:${port}/realms/${realm}`;

  return {
    issuer,
    port,
    /** Where the admin REST API lives (the service's `keycloak.base_url`). */
    baseUrl: `http://${host}:${port}`,
    realm,
    jwksUrl: `${issuer}/protocol/openid-connect/certs`,
    portalClientId,
    audience,
    counters,
    log,
    users,
    allowOrigin(origin) {
      allowedOrigins.add(origin);
    },
    /** Access tokens issued from now on live this many seconds (token refresh tests). */
    setAccessTokenLifespan(seconds) {
      lifespan = seconds;
    },
    /** An access token for a user of the realm, signed with the realm's key (as if they signed in). */
    mint(username, { clientId = portalClientId, lifetime = lifespan, extra = {} } = {}) {
      const user = users.get(username);
      if (!user) throw new Error(`unknown user ${username}`);
      counters.tokensIssued += 1;
      return sign(accessClaims(user, { clientId, sessionState: uuid(), lifetime, extra }));
    },
    /** Signs arbitrary claims with the realm's key (negative tests). */
    signRaw: sign,
    stop() {
      return new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 8180);
  const origins = process.argv.slice(3);
  const kc = await startKeycloak({ port, allowedOrigins: origins.length ? origins : ['http://127.0.0.1:8080', 'http://127.0.0.1:5173'] });
  console.log(`Keycloak stand-in: issuer ${kc.issuer}`);
  console.log('users: admin/admin (AWE_ADMIN), viewer/viewer (AWE_VIEWER); client registry/registry-secret (client credentials)');
}
