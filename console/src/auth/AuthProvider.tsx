import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { UserManager } from 'oidc-client-ts';
import { api, call, setTokenSource } from '../api/client';
import type { ConsoleConfig } from '../api/types';
import { errorText } from '../lib/errors';
import { decodeClaims, mintDevToken, rolesOf } from '../lib/token';
import { BASENAME } from '../paths';

export interface SessionUser {
  token: string;
  id: string;
  name: string;
  roles: string[];
  isAdmin: boolean;
  /** Admin or viewer: may read the console at all. */
  canRead: boolean;
}

interface AuthState {
  config: ConsoleConfig | null;
  configError: string | null;
  /** False until the config and any stored session have been read. */
  ready: boolean;
  user: SessionUser | null;
  /** The service refused the token (401) since it was issued. */
  refused: boolean;
  signInDev(name: string, roles: string[]): void;
  /** OIDC: redirect to the issuer, coming back to `from`. */
  signInOidc(from: string): Promise<void>;
  /** OIDC: finish the redirect; resolves to the page the user wanted. */
  completeOidc(): Promise<string>;
  signOut(): Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);
const DEV_KEY = 'awe.console.devToken';

/** The session a token gives; `profile` (the ID token's claims) fills a name the access token lacks. */
function sessionFromToken(token: string, profile?: { name?: string; preferred_username?: string }): SessionUser | null {
  const decoded = decodeClaims(token);
  if (!decoded) return null;
  const claims = { ...decoded, name: decoded.name ?? profile?.name, preferred_username: decoded.preferred_username ?? profile?.preferred_username };
  if (claims.exp && claims.exp * 1000 < Date.now()) return null;
  const roles = rolesOf(claims);
  const id = claims.preferred_username || claims.sub || 'unknown';
  return {
    token,
    id,
    name: claims.name?.trim() || id,
    roles,
    isAdmin: roles.includes('AWE_ADMIN'),
    canRead: roles.includes('AWE_ADMIN') || roles.includes('AWE_VIEWER'),
  };
}

interface ConfigEnvelope {
  response?: { console?: Partial<ConsoleConfig>; keycloak?: { issuer?: string; portal_client_id?: string } } | null;
}

/** The console's sign-in settings; older services lack `console`: derive them from the effective config. */
async function loadConfig(): Promise<ConsoleConfig> {
  // The OpenAPI document leaves the config's shape open.
  const env = (await call(api.GET('/v1/awe/config'))) as unknown as ConfigEnvelope;
  const c = env.response?.console;
  if (c?.auth_mode === 'dev' || c?.auth_mode === 'oidc') {
    return { auth_mode: c.auth_mode, issuer: c.issuer ?? '', client_id: c.client_id ?? '', service_version: c.service_version ?? '' };
  }
  const kc = (env.response as { effective?: { keycloak?: { issuer?: string; portal_client_id?: string } } } | null)?.effective?.keycloak;
  const issuer = kc?.issuer ?? '';
  return { auth_mode: issuer ? 'oidc' : 'dev', issuer, client_id: kc?.portal_client_id ?? 'awe-admin-portal', service_version: '' };
}

async function makeUserManager(config: ConsoleConfig): Promise<UserManager> {
  const { UserManager, WebStorageStateStore } = await import('oidc-client-ts');
  const origin = window.location.origin;
  return new UserManager({
    authority: config.issuer,
    client_id: config.client_id,
    redirect_uri: `${origin}${BASENAME}/signed-in`,
    post_logout_redirect_uri: `${origin}${BASENAME}/sign-in`,
    response_type: 'code',
    scope: 'openid profile email',
    automaticSilentRenew: true,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const [ready, setReady] = useState(false);
  const [user, setUser] = useState<SessionUser | null>(null);
  const [refused, setRefused] = useState(false);
  const manager = useRef<UserManager | null>(null);
  const userRef = useRef<SessionUser | null>(null);
  userRef.current = user;

  useEffect(() => {
    setTokenSource(
      () => userRef.current?.token ?? null,
      () => {
        if (userRef.current) setRefused(true);
      },
    );
  }, []);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const cfg = await loadConfig();
        if (cancelled) return;
        setConfig(cfg);
        if (cfg.auth_mode === 'oidc') {
          window.sessionStorage.removeItem(DEV_KEY);
          const um = await makeUserManager(cfg);
          manager.current = um;
          const update = (u: { access_token: string; profile?: { name?: string; preferred_username?: string } } | null) => {
            setUser(u ? sessionFromToken(u.access_token, u.profile) : null);
            setRefused(false);
          };
          um.events.addUserLoaded(update);
          um.events.addUserUnloaded(() => update(null));
          um.events.addAccessTokenExpired(() => update(null));
          // A failed renewal leaves the session to expire: say so where an operator looks.
          um.events.addSilentRenewError((e) => console.error(`AWE console: the sign-in could not be renewed: ${e.message}`));
          const existing = await um.getUser();
          if (!cancelled) update(existing && !existing.expired ? existing : null);
        } else {
          const stored = window.sessionStorage.getItem(DEV_KEY);
          if (stored) setUser(sessionFromToken(stored));
        }
      } catch (e) {
        if (!cancelled) setConfigError(errorText(e));
      } finally {
        if (!cancelled) setReady(true);
      }
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  const signInDev = useCallback(
    (name: string, roles: string[]) => {
      if (config?.auth_mode !== 'dev') throw new Error('Dev sign-in is only available in dev auth mode');
      const token = mintDevToken(name, roles);
      window.sessionStorage.setItem(DEV_KEY, token);
      setUser(sessionFromToken(token));
      setRefused(false);
    },
    [config],
  );

  const signInOidc = useCallback(async (from: string) => {
    if (!manager.current) throw new Error('OIDC is not configured');
    await manager.current.signinRedirect({ state: { from } });
  }, []);

  const completeOidc = useCallback(async () => {
    if (!manager.current) throw new Error('OIDC is not configured');
    const u = await manager.current.signinRedirectCallback();
    setUser(sessionFromToken(u.access_token, u.profile));
    const state = u.state as { from?: unknown } | undefined;
    return typeof state?.from === 'string' && state.from.startsWith('/') ? state.from : '/';
  }, []);

  const signOut = useCallback(async () => {
    window.sessionStorage.removeItem(DEV_KEY);
    const um = manager.current;
    setUser(null);
    setRefused(false);
    if (um) {
      try {
        await um.signoutRedirect();
      } catch {
        await um.removeUser();
      }
    }
  }, []);

  const value = useMemo<AuthState>(
    () => ({ config, configError, ready, user, refused, signInDev, signInOidc, completeOidc, signOut }),
    [config, configError, ready, user, refused, signInDev, signInOidc, completeOidc, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}

/** True when the signed-in user may change state; viewers get no write controls. */
export function useIsAdmin(): boolean {
  return useAuth().user?.isAdmin ?? false;
}
