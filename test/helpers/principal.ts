import type { Principal } from '../../src/auth/principal';

/** A caller as the authenticate stage makes it: an Entra user with no roles, with the given fields. */
export function principalWith(fields: Partial<Principal> = {}): Principal {
  return {
    kind: 'entra',
    oid: 'o',
    tid: 't',
    azp: 'a',
    roles: [],
    scopes: [],
    groups: [],
    groupsOverage: false,
    idtyp: 'user',
    expiresAt: 0,
    claims: {},
    ...fields,
  };
}
