/**
 * What `x-gateway-principal` costs per proxied call, one thread, alternating rounds, medians:
 *
 * - `HMAC (former format)`: the statement as it was before it became a JWT, HMAC-SHA256 over
 *   base64url JSON with a key derived from the SAS ring: the "before" of docs/downstream-trust.md;
 * - `ES256 signed per call`: a bound statement (`boundStatement: true`), signed on every call;
 * - `ES256 reused`: the default, one signature per caller and downstream every 30 s; a repeated
 *   caller costs a map lookup.
 */
import { createHmac, createSecretKey } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Principal } from '../src/auth/principal';
import { ManualClock } from '../src/clock';
import { generateStatementKey } from '../src/config/signing-keys';
import { StatementSigner } from '../src/proxy/principal-statement';

const CALLS = 20_000;
const ROUNDS = 5;

const principal: Principal = Object.freeze({
  kind: 'entra',
  oid: '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6',
  tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
  azp: 'c0ffee00-1234-4abc-8def-000000000001',
  roles: ['Orders.Reader'],
  scopes: ['access_as_user'],
  groups: [],
  groupsOverage: false,
  idtyp: 'user',
  expiresAt: 2_000_000_000,
  claims: {},
});

/** The former statement: `base64url(JSON).base64url(HMAC-SHA256)` with a derived key. */
function hmacStatement(key: ReturnType<typeof createSecretKey>, now: number, correlationId: string): string {
  const payload = Buffer.from(
    JSON.stringify({
      v: 1,
      kid: 'k1',
      aud: 'orders',
      oid: principal.oid,
      tid: principal.tid,
      azp: principal.azp,
      roles: principal.roles,
      cid: correlationId,
      iat: now,
      exp: now + 60,
    }),
  ).toString('base64url');
  return `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
}

function microsPerCall(fn: (i: number) => unknown): number {
  for (let i = 0; i < 2_000; i++) fn(i);
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) fn(i);
  return ((performance.now() - start) * 1000) / CALLS;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Runs the statement benchmark; returns µs per statement. */
export function benchStatement(): Promise<Record<string, number | string>> {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const signer = new StatementSigner([generateStatementKey('s1')], clock);
  const hmacKey = createSecretKey(
    createHmac('sha256', Buffer.alloc(32, 1)).update('x-gateway-principal/v1').digest(),
  );
  const issuer = 'https://gw.example.net/api';
  const now = Math.floor(clock.now() / 1000);
  const samples: Record<string, number[]> = { hmac: [], bound: [], reused: [] };
  for (let round = 0; round < ROUNDS; round++) {
    samples.hmac!.push(microsPerCall((i) => hmacStatement(hmacKey, now, `corr-${i}`)));
    samples.bound!.push(
      microsPerCall((i) =>
        signer.boundStatementFor(principal, 'orders', issuer, {
          method: 'GET',
          url: `https://orders.example.net/api/orders/${i}`,
        }),
      ),
    );
    samples.reused!.push(microsPerCall(() => signer.statementFor(principal, 'orders', issuer)));
  }
  const round = (us: number) => Number(us.toFixed(2));
  return Promise.resolve({
    'HMAC statement, former format (µs per call)': round(median(samples.hmac!)),
    'ES256 signed per call, bound (µs per call)': round(median(samples.bound!)),
    'ES256 reused per caller and downstream (µs per call)': round(median(samples.reused!)),
  });
}
