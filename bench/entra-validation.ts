/**
 * Entra validation cost on the hot path, single thread, warm key cache, against the real dev
 * identity provider on loopback (only warm-up touches the network):
 * - `missUs`: a fresh token per call (verified-token cache miss: shape, RS256, claims);
 * - `hitUs`: the same token again (a SHA-256 and a map lookup);
 * - `rawJwtVerifyKeyObjectUs` / `rawJwtVerifyPemUs`: `jsonwebtoken.verify` alone, with a
 *   KeyObject and with a PEM string, to show what the validator adds and why keys are KeyObjects.
 */
import { createPublicKey } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import { EntraTokenValidator } from '../src/auth/entra/entra-token-validator';
import { ManualClock, nowSeconds } from '../src/clock';
import { entraConfigFor, startDevIdentityProvider } from '../src/host/local/dev-identity-provider';
import { silentLogger } from '../src/logger';

const FRESH_TOKENS = 2_000;
const HIT_ITERATIONS = 200_000;

/** Microseconds per call of `fn` over `count` calls (after `warmup` untimed calls). */
async function microsPerCall(
  count: number,
  fn: (i: number) => unknown,
  warmup = Math.min(200, count),
): Promise<number> {
  for (let i = 0; i < warmup; i += 1) await fn(i);
  const start = performance.now();
  for (let i = 0; i < count; i += 1) await fn(i);
  return Number((((performance.now() - start) * 1000) / count).toFixed(2));
}

/** Runs the Entra validation benchmark; returns the measured numbers (µs per validation). */
export async function benchEntraValidation(): Promise<Record<string, number | string>> {
  // A frozen clock: no token expires during the run, and the cache policy never refetches.
  const clock = new ManualClock(Date.now());
  const idp = await startDevIdentityProvider({ clock });
  try {
    const validator = new EntraTokenValidator({
      config: entraConfigFor(idp),
      clock,
      logger: silentLogger,
      fetch: idp.fetch,
    });
    await validator.warmUp();
    if (validator.health().status !== 'ok')
      throw new Error('bench: the dev identity provider did not warm up');

    const mint = (i: number) =>
      idp.mintToken({
        oid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        roles: ['Orders.Reader'],
        groups: ['g1', 'g2'],
      });
    const warmupTokens = Array.from({ length: 200 }, (_, i) => mint(1_000_000 + i));
    const fresh = Array.from({ length: FRESH_TOKENS }, (_, i) => mint(i));
    const rawTokens = Array.from({ length: FRESH_TOKENS }, (_, i) => mint(2_000_000 + i));

    for (const token of warmupTokens) await validator.verify(token);
    const before = validator.stats.signatureVerifications;
    const missUs = await microsPerCall(fresh.length, (i) => validator.verify(fresh[i]!), 0);
    if (validator.stats.signatureVerifications - before !== fresh.length)
      throw new Error('bench: a "miss" hit the cache');

    const hitToken = fresh[0]!;
    const hitUs = await microsPerCall(HIT_ITERATIONS, () => validator.verify(hitToken));

    const pem = idp.publicKeyPem;
    const keyObject = createPublicKey(pem);
    const options = { algorithms: ['RS256' as const], clockTimestamp: nowSeconds(clock) };
    const rawJwtVerifyKeyObjectUs = await microsPerCall(rawTokens.length, (i) =>
      jwt.verify(rawTokens[i]!, keyObject, options),
    );
    const rawJwtVerifyPemUs = await microsPerCall(rawTokens.length, (i) =>
      jwt.verify(rawTokens[i]!, pem, options),
    );

    return {
      missUs,
      hitUs,
      rawJwtVerifyKeyObjectUs,
      rawJwtVerifyPemUs,
      tokenBytes: hitToken.length,
      freshTokens: FRESH_TOKENS,
      hitIterations: HIT_ITERATIONS,
      node: process.version,
    };
  } finally {
    await idp.close();
  }
}
