// A Keycloak stand-in for the console's end-to-end test: realm `staff`,
// Keycloak's own OpenID Connect paths, RS256 tokens shaped like Keycloak's,
// authorization code + PKCE (S256 required and really checked), refresh
// token rotation, client credentials for a confidential service client and
// RP-initiated logout. Plain Node: node:http and node:crypto only.
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
 * serviceClients ({ clientId: { secret, roles } }).
 */
export async function startKeycloak(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const realm = options.realm ?? 'staff';
  const portalClientId = options.portalClientId ?? 'awe-admin-portal';
  const audience = options.audience ?? 'awe';
  const allowedOrigins = new Set(options.allowedOrigins ?? []);
  const lifespan = options.accessTokenLifespan ?? 300;
  const refreshLifespan = options.refreshTokenLifespan ?? 1800;
  const users = new Map((options.users ?? DEFAULT_USERS).map((u) => [u.username, { id: uuid(), ...u }]));
  const serviceClients = options.serviceClients ?? { registry: { secret: 'registry-secret', roles: [] } };
  for (const [clientId, c] of Object.entries(serviceClients)) c.id = c.id ?? uuid();

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
  };
  const codes = new Map(); // code → { used, clientId, redirectUri, challenge, nonce, user, sessionState, scope, exp }
  const refreshTokens = new Map(); // jti → { user, clientId, sessionState, scope, nonce, exp, used }
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

  function accessClaims(user, { clientId = portalClientId, sessionState, scope = 'openid profile email', lifetime = lifespan, extra = {} } = {}) {
    const t = now();
    return {
      exp: t + lifetime,
      iat: t,
      auth_time: t,
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

  function tokenResponse(user, { clientId, sessionState, scope, nonce, withId = true }) {
    const access = accessClaims(user, { clientId, sessionState, scope });
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
      refreshTokens.set(jti, { user, clientId, sessionState, scope, nonce, exp: t + refreshLifespan, used: false });
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
      user, sessionState, scope: p.scope, exp: now() + 60,
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
        return json(res, 200, tokenResponse(entry.user, { clientId, sessionState: entry.sessionState, scope: entry.scope, nonce: entry.nonce }));
      }
      case 'refresh_token': {
        const claims = verifyOwnJwt(form.refresh_token);
        const entry = claims && refreshTokens.get(claims.jti);
        if (!entry || claims.typ !== 'Refresh') return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
        if (entry.clientId !== clientId) return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token. Token client and authorized client don\'t match');
        if (entry.used) return oauthError(res, 400, 'invalid_grant', 'Maximum allowed refresh token reuse exceeded');
        entry.used = true; // rotation: each refresh token works once
        counters.refreshes += 1;
        return json(res, 200, tokenResponse(entry.user, { clientId, sessionState: entry.sessionState, scope: entry.scope, nonce: undefined }));
      }
      case 'client_credentials': {
        const client = serviceClients[clientId];
        if (!client || client.secret !== secret) return oauthError(res, 401, 'unauthorized_client', 'Invalid client or Invalid client credentials');
        counters.clientCredentials += 1;
        const user = { id: client.id, username: `service-account-${clientId}`, roles: client.roles ?? [] };
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
    jwksUrl: `${issuer}/protocol/openid-connect/certs`,
    portalClientId,
    audience,
    counters,
    log,
    users,
    allowOrigin(origin) {
      allowedOrigins.add(origin);
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
