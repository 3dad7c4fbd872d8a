/**
 * What checking a DPoP proof costs per request, one thread, alternating rounds, medians
 * (docs/performance.md, docs/mobile.md):
 *
 * - `proof check, repeated key`: a client's proofs carry the same header (its key): the key is
 *   parsed once and every proof costs a signature verification, JSON and the `htu` comparison;
 * - `proof check, new key each time`: a different client on every request: the key is imported too;
 * - `replay memory`: this instance's `jti` memory in front of the shared store (the Cosmos DB write
 *   is measured per process by the proxy bench's `gateway-dpop` variant);
 * - refusals, each proof with a key of its own (nothing cached): a hostile RSA key (3072 bits,
 *   e = n - 2, which cost 6.6 ms a proof before RSA keys were limited), and a new ES256 key with a
 *   bad signature (the refusal that does the most work: the key imported, the signature checked).
 *   No refusal may cost more than a successful check with a new key.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { verifyDpopProof } from '../src/dpop/dpop-proof';
import { MemoryReplayStore, replayKey } from '../src/dpop/replay-store';
import { dpopProof } from './servers';

const CALLS = 4_000;
const ROUNDS = 5;
const URL_ = 'https://gateway.example.net/api/proxy/orders/customers/42/orders';
const TOKEN = `sv=1&sr=orders&sp=r&st=1&se=2&skn=k1&sid=${'a'.repeat(22)}&jkt=${'b'.repeat(43)}&sig=${'c'.repeat(43)}`;

/** A client's private key, as the proxy bench's DPoP client holds it. */
const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function microsPerCall(inputs: readonly string[], fn: (input: string) => unknown): number {
  const start = performance.now();
  for (const input of inputs) fn(input);
  return ((performance.now() - start) * 1000) / inputs.length;
}

/** A proof whose `jwk` is a 3072-bit "RSA key" with e = n - 2, a distinct one every call. */
function hostileRsaProof(iat: number): string {
  const n = randomBytes(384);
  n[0] = n[0]! | 0x80;
  n[383] = n[383]! | 1;
  const e = Buffer.from(n);
  e[383]! -= 2;
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const jwk = { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') };
  const claims = { jti: randomBytes(16).toString('base64url'), htm: 'GET', htu: URL_, iat };
  return `${b64({ typ: 'dpop+jwt', alg: 'RS256', jwk })}.${b64(claims)}.${randomBytes(384).toString('base64url')}`;
}

/** Runs the DPoP benchmark; returns µs per call. */
export function benchDpop(): Promise<Record<string, number>> {
  const now = Math.floor(Date.now() / 1000); // the proofs' iat: the run takes seconds, the window 2 minutes
  const expectation = {
    method: 'GET',
    urls: [URL_],
    accessToken: TOKEN,
    now,
    maxAgeSeconds: 60,
    skewSeconds: 60,
  };
  const check = (p: string) => verifyDpopProof(p, expectation);
  const key = newKey();
  const repeated = Array.from({ length: CALLS }, () => dpopProof(key, 'GET', URL_, TOKEN));
  const fresh = Array.from({ length: CALLS / 4 }, () => dpopProof(newKey(), 'GET', URL_, TOKEN));
  const hostile = Array.from({ length: CALLS / 4 }, () => hostileRsaProof(now));
  const badSignature = fresh.map((p) => `${p.slice(0, p.lastIndexOf('.'))}.${'A'.repeat(86)}`);
  const refuse = (p: string) => {
    try {
      check(p);
    } catch {
      return;
    }
    throw new Error('a proof the bench meant to be refused was accepted');
  };
  const memory = new MemoryReplayStore({ now: () => now * 1000 });
  const keys = repeated.map((_, i) => replayKey('b'.repeat(43), `jti-${i}`));
  const runs: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    (runs['proof check, repeated key (µs)'] ??= []).push(microsPerCall(repeated, check));
    (runs['proof check, new key each time (µs)'] ??= []).push(microsPerCall(fresh, check));
    (runs['refusal, hostile RSA key: 3072 bits, e = n - 2 (µs)'] ??= []).push(microsPerCall(hostile, refuse));
    (runs['refusal, new ES256 key, bad signature (µs)'] ??= []).push(microsPerCall(badSignature, refuse));
    (runs['replay memory, per proof (µs)'] ??= []).push(
      microsPerCall(keys, (k) => memory.remember(`${round}${k}`, now + 120)),
    );
  }
  return Promise.resolve(
    Object.fromEntries(
      Object.entries(runs).map(([name, values]) => [name, Number(median(values).toFixed(1))]),
    ),
  );
}
