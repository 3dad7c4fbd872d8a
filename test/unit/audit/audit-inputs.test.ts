import { AUDIT_INPUT_LIMITS, auditInputsOf } from '../../../src/audit/audit-record';
import { subjectFromClaims } from '../../../src/policy/subject';

const allow = { decision: 'allow', reasonCode: 'ALLOWED' } as const;
const guid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('the decision inputs an audit record keeps', () => {
  it('keeps the subject as policies saw it and only the claims they read, plus acrs and amr', () => {
    const subject = subjectFromClaims({
      oid: guid(1),
      tid: guid(2),
      roles: ['R'],
      scp: 'a b',
      groups: [guid(3)],
      acrs: ['c1'],
      department: 'sales',
      email: 'x@example.com',
      upn: 'x@example.com',
    });
    const inputs = auditInputsOf(subject, ['department', 'email', 'missing'], allow, true);
    expect(inputs).toEqual({
      decided: 'allow',
      reason: 'ALLOWED',
      roles: ['R'],
      scopes: ['a', 'b'],
      groups: [guid(3)],
      idtyp: 'user',
      dpop: true,
      // `email` never reaches a subject, so it is kept as absent; an absent claim is null.
      claims: { acrs: ['c1'], department: 'sales', email: null, missing: null },
    });
    expect(JSON.stringify(inputs)).not.toContain('example.com');
  });

  it('keeps no claims object of its own when none is read', () => {
    const inputs = auditInputsOf(
      subjectFromClaims({ oid: guid(1), tid: guid(2), roles: ['R'] }),
      [],
      allow,
      false,
    );
    expect(inputs.claims).toEqual({});
    expect(inputs).not.toHaveProperty('dpop');
    expect(inputs).not.toHaveProperty('unrecorded');
  });

  it('marks, and does not keep, groups past the cap and claim values past their bound', () => {
    const groups = Array.from({ length: AUDIT_INPUT_LIMITS.groups + 1 }, (_, i) => guid(i));
    const subject = subjectFromClaims({
      oid: guid(1),
      tid: guid(2),
      roles: ['R'],
      groups,
      long: 'x'.repeat(AUDIT_INPUT_LIMITS.claimChars + 1),
      many: Array.from({ length: AUDIT_INPUT_LIMITS.claimItems + 1 }, (_, i) => `v${i}`),
      nested: [{ a: 1 }],
      object: { a: 1 },
      fits: 'x'.repeat(AUDIT_INPUT_LIMITS.claimChars),
    });
    const inputs = auditInputsOf(subject, ['fits', 'long', 'many', 'nested', 'object'], allow, false);
    expect(inputs.groups).toBeUndefined();
    expect(inputs.groupsCapped).toBe(true);
    expect(inputs.unrecorded).toEqual(['long', 'many', 'nested']);
    // An object-valued claim only ever satisfies `exists`: `{}` decides exactly as it did.
    expect(inputs.claims).toEqual({ fits: 'x'.repeat(AUDIT_INPUT_LIMITS.claimChars), object: {} });
  });

  it("keeps Entra's groups-overage marker, not the partial groups", () => {
    const subject = subjectFromClaims({
      oid: guid(1),
      tid: guid(2),
      roles: ['R'],
      groups: [guid(3)],
      _claim_names: { groups: 'src1' },
    });
    const inputs = auditInputsOf(subject, [], { decision: 'deny', reasonCode: 'GROUPS_OVERAGE' }, false);
    expect(inputs).toMatchObject({ decided: 'deny', reason: 'GROUPS_OVERAGE', groupsOverage: true });
    expect(inputs.groups).toBeUndefined();
  });
});
