import { describe, expect, it } from 'vitest';
import { decodeClaims, mintDevToken, rolesOf } from './token';

describe('dev tokens', () => {
  it('mint an unsigned token whose claims read back', () => {
    const t = mintDevToken('Ops Admin', ['AWE_ADMIN']);
    expect(t.split('.')).toHaveLength(3);
    expect(t.endsWith('.x')).toBe(true);
    const c = decodeClaims(t)!;
    expect(c).toMatchObject({ sub: 'ops-admin', preferred_username: 'ops-admin', name: 'Ops Admin' });
    expect(rolesOf(c)).toEqual(['AWE_ADMIN']);
  });

  it('union realm and client roles', () => {
    expect(rolesOf({ realm_access: { roles: ['AWE_VIEWER'] }, resource_access: { a: { roles: ['AWE_ADMIN'] }, b: {} } }).sort()).toEqual(['AWE_ADMIN', 'AWE_VIEWER']);
  });
});
