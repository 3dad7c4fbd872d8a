import type { AuditInput } from '../../src/audit/audit-record';

/** One decision to record, as the audit tests need it: an allowed read, with the given fields. */
export function auditInput(fields: Partial<AuditInput> & Pick<AuditInput, 'correlationId'>): AuditInput {
  return {
    operation: 'proxy',
    oid: 'user-1',
    tid: 't',
    azp: 'a',
    credential: 'entra',
    resource: 'orders',
    action: 'read',
    path: '/x',
    decision: 'allow',
    policies: [],
    reasonCode: 'ALLOWED',
    status: 200,
    latencyMs: 1,
    inputs: null,
    ...fields,
  };
}
