import { ManualClock } from '../../../src/clock';
import { DpopVerifier } from '../../../src/dpop/dpop-verifier';
import {
  LayeredReplayStore,
  MemoryReplayStore,
  replayKey,
  type ReplayStore,
} from '../../../src/dpop/replay-store';
import { MemoryLogger } from '../../../src/logger';
import { DpopKey } from '../../helpers/dpop';
import { expectGatewayError } from '../../helpers/entra';

const T0 = 1_800_000_000_000;

describe('MemoryReplayStore', () => {
  it('accepts a key once until it expires, then again', () => {
    const clock = new ManualClock(T0);
    const store = new MemoryReplayStore(clock);
    expect(store.remember('a', T0 / 1000 + 120)).toBe(true);
    expect(store.remember('a', T0 / 1000 + 120)).toBe(false);
    clock.advance(119_000);
    expect(store.remember('a', T0 / 1000 + 240)).toBe(false);
    clock.advance(1_000);
    expect(store.remember('a', T0 / 1000 + 240)).toBe(true);
  });

  it('stays within its bound: expired keys are swept first, then the oldest are forgotten', () => {
    const clock = new ManualClock(T0);
    const store = new MemoryReplayStore(clock, 3);
    store.remember('old', T0 / 1000 + 1);
    clock.advance(2_000);
    store.remember('b', T0 / 1000 + 100);
    store.remember('c', T0 / 1000 + 100);
    expect(store.remember('d', T0 / 1000 + 100)).toBe(true); // 'old' expired: swept
    expect(store.remember('c', T0 / 1000 + 100)).toBe(false);
    expect(store.remember('e', T0 / 1000 + 100)).toBe(true); // full of live keys: 'b' forgotten
    expect(store.remember('b', T0 / 1000 + 100)).toBe(true);
  });
});

describe('LayeredReplayStore', () => {
  it('answers a replay to the same instance from memory, and asks the shared store otherwise', async () => {
    const asked: string[] = [];
    const shared: ReplayStore = {
      firstUse: (key) => {
        asked.push(key);
        return Promise.resolve(key !== 'seen-elsewhere');
      },
    };
    const store = new LayeredReplayStore(new MemoryReplayStore(new ManualClock(T0)), shared);
    expect(await store.firstUse('k', T0 / 1000 + 60)).toBe(true);
    expect(await store.firstUse('k', T0 / 1000 + 60)).toBe(false);
    expect(await store.firstUse('seen-elsewhere', T0 / 1000 + 60)).toBe(false);
    expect(asked).toEqual(['k', 'seen-elsewhere']);
  });
});

describe('replayKey', () => {
  it('is a Cosmos DB-safe id that differs by key and by jti', () => {
    const k = replayKey('jkt-1', 'a/b?c#d\\e');
    expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(replayKey('jkt-2', 'a/b?c#d\\e')).not.toBe(k);
    expect(replayKey('jkt-1', 'other')).not.toBe(k);
  });
});

describe('DpopVerifier', () => {
  const key = DpopKey.generate();
  const url = 'https://gateway.example.net/api/token';
  const proof = () => key.proof({ htm: 'POST', htu: url, iat: T0 / 1000, jti: 'jti-0123456789' });

  it('fails closed (503 ERR_STORE_UNAVAILABLE) when the replay store does not answer', async () => {
    const logger = new MemoryLogger();
    const verifier = new DpopVerifier({
      clock: new ManualClock(T0),
      logger,
      skewSeconds: 60,
      replay: { firstUse: () => Promise.reject(new Error('Cosmos DB is down')) },
    });
    await expectGatewayError(
      verifier.verify(proof(), { method: 'POST', urls: [url] }, 'token'),
      'ERR_STORE_UNAVAILABLE',
    );
    expect(logger.entries.map((e) => e.event)).toContain('dpop.replay_store_failed');
  });

  it('reports a replay as ERR_DPOP_PROOF_REPLAYED on a resource and as invalid_dpop_proof at the token endpoint', async () => {
    const verifier = new DpopVerifier({
      clock: new ManualClock(T0),
      logger: new MemoryLogger(),
      skewSeconds: 60,
      replay: new MemoryReplayStore(new ManualClock(T0)),
    });
    const p = proof();
    await verifier.verify(p, { method: 'POST', urls: [url] }, 'token');
    const atToken = await expectGatewayError(
      verifier.verify(p, { method: 'POST', urls: [url] }, 'token'),
      'ERR_TOKEN_DPOP_PROOF_INVALID',
    );
    expect(atToken.message).toMatch(/used before/);
    await expectGatewayError(
      verifier.verify(p, { method: 'POST', urls: [url] }, 'resource'),
      'ERR_DPOP_PROOF_REPLAYED',
    );
  });
});
