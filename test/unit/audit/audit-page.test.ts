import { AUDIT_COLUMNS, auditRecordOf, toAuditRow, type AuditInput } from '../../../src/audit/audit-record';
import { auditRecordsOf } from '../../../src/audit/cosmos-audit-store';

const input: AuditInput = {
  correlationId: 'c-1',
  operation: 'proxy',
  oid: 'user-1',
  tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
  azp: 'app-1',
  credential: 'sas',
  inputs: null,
  resource: 'orders',
  action: 'read',
  path: '/customers/42',
  decision: 'allow',
  policies: ['p1', 'p2'],
  reasonCode: 'ALLOWED',
  status: 200,
  latencyMs: 3,
};

describe('audit pages (records stored as rows)', () => {
  it('read back every member of every record, exactly', () => {
    const rows = [
      toAuditRow(input, Date.UTC(2026, 10, 24, 23, 59, 59, 999)),
      toAuditRow({ ...input, oid: null, policies: [] }, Date.UTC(2026, 10, 24)),
    ];
    const records = rows.map(auditRecordOf);
    expect(records[1]).toEqual({
      ...input,
      oid: null,
      policies: [],
      id: rows[1]![0],
      pk: '2026-11-24:0',
      time: '2026-11-24T00:00:00.000Z',
      ts: Date.UTC(2026, 10, 24),
    });
    const page = { pk: records[0]!.pk, columns: AUDIT_COLUMNS, rows };
    // Same partition for the comparison: the page's pk is every record's.
    expect(auditRecordsOf(page)).toEqual(records.map((r) => ({ ...r, pk: page.pk })));
  });

  it('follow the columns the page names, in its order', () => {
    const record = auditRecordOf(toAuditRow(input, Date.UTC(2026, 10, 24, 12)));
    const columns = [...AUDIT_COLUMNS].reverse();
    const page = { pk: record.pk, columns, rows: [columns.map((c) => record[c])] };
    expect(auditRecordsOf(page)).toEqual([record]);
  });

  it('are smaller than the records as objects', () => {
    const row = toAuditRow(input, Date.UTC(2026, 10, 24, 12));
    expect(JSON.stringify(row).length).toBeLessThan(0.75 * JSON.stringify(auditRecordOf(row)).length);
  });
});
