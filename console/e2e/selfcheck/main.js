// A stand-in console used only to check the harness itself (sign-in through
// oidc-client-ts against the Keycloak stand-in, the static server, axe):
//   npm run e2e:selfcheck
import { UserManager } from 'oidc-client-ts';

const BASE = '/v1/awe/admin/-/';
const config = (await (await fetch('/v1/awe/config')).json()).response.console;
const um = new UserManager({
  authority: config.issuer,
  client_id: config.client_id,
  redirect_uri: `${location.origin}${BASE}signed-in`,
  post_logout_redirect_uri: `${location.origin}${BASE}`,
  scope: 'openid profile email',
  response_type: 'code',
});

function render(user, policies) {
  const links = ['Overview', 'Policies', 'Requests', 'Tasks', 'Delegations', 'Deliveries', 'Callback secrets', 'Audit log'];
  const paths = ['', 'policies', 'requests', 'tasks', 'delegations', 'deliveries', 'secrets', 'audit'];
  document.body.innerHTML = `<header><nav aria-label="Main">${links.map((l, i) => `<a href="${BASE}${paths[i]}">${l}</a>`).join(' ')}</nav></header>
<main><h1>Overview</h1><p>Signed in as <span id="who"></span>; ${policies} policies.</p></main>`;
  document.getElementById('who').textContent = user.profile.preferred_username;
}

let user;
if (location.pathname === `${BASE}signed-in`) {
  user = await um.signinRedirectCallback();
  history.replaceState(null, '', BASE);
} else {
  user = await um.getUser();
  if (!user || user.expired) {
    await um.signinRedirect();
  }
}
if (user) {
  const r = await fetch('/v1/awe/policies', { headers: { Authorization: `Bearer ${user.access_token}` } });
  if (!r.ok) throw new Error(`GET /v1/awe/policies: ${r.status}`);
  render(user, (await r.json()).length);
}
