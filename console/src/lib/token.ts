// Dev tokens (unsigned, read by the service without signature checks in dev
// auth mode) and reading the claims the console needs from any token.

export interface Claims {
  sub?: string;
  preferred_username?: string;
  name?: string;
  email?: string;
  exp?: number;
  realm_access?: { roles?: string[] };
  resource_access?: Record<string, { roles?: string[] }>;
}

export function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(part: string): string {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4);
  const bin = atob(b64);
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

export function decodeClaims(token: string): Claims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const claims: unknown = JSON.parse(fromBase64url(part));
    return typeof claims === 'object' && claims !== null ? (claims as Claims) : null;
  } catch {
    return null;
  }
}

/** Roles from realm_access and every client block, as the service reads them. */
export function rolesOf(claims: Claims): string[] {
  const roles = new Set(claims.realm_access?.roles ?? []);
  for (const block of Object.values(claims.resource_access ?? {})) for (const r of block?.roles ?? []) roles.add(r);
  return [...roles];
}

export const PORTAL_CLIENT = 'awe-admin-portal';

/** `ops admin` → `ops-admin`: a stable id for a typed name. */
export function slug(name: string): string {
  return name.trim().toLowerCase().replace(/[^a-z0-9._@-]+/g, '-').replace(/^-+|-+$/g, '') || 'dev-user';
}

export function mintDevToken(name: string, roles: readonly string[]): string {
  const id = slug(name);
  const claims: Claims = {
    sub: id,
    preferred_username: id,
    name: name.trim() || id,
    email: `${id}@example.org`,
    resource_access: { [PORTAL_CLIENT]: { roles: [...roles] } },
  };
  return `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}.x`;
}
