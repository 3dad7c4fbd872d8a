import type { Container } from '@azure/cosmos';
import { isGatewayError } from '../../../src/errors';
import { CosmosDocumentStore } from '../../../src/store/document-store';

/**
 * How a failed admin write is reported: refused by Cosmos DB (a 4xx) or never sent means nothing
 * changed (`ERR_STORE_UNAVAILABLE`); no answer in time, a connection lost after sending or a 5xx
 * means it may have been applied (`ERR_STORE_OUTCOME_UNKNOWN`, read before retrying). The read
 * before the write answers; the write meets the error. A stand-in for the SDK's container, since
 * these outcomes cannot be provoked on demand from a real server.
 */
const held = { id: 'p', _etag: '"1"', _ts: 1, effect: 'allow' };

function containerWhoseWrite(fails: () => Promise<never>): Container {
  return {
    item: () => ({ read: () => Promise.resolve({ resource: held, statusCode: 200 }), replace: fails }),
    items: { create: fails },
  } as unknown as Container;
}

const sdkError = (fields: Record<string, unknown>) => Object.assign(new Error('cosmos'), fields);

describe('CosmosDocumentStore: a failed write says whether it may have been applied', () => {
  it.each<[string, string, () => Promise<never>]>([
    [
      'ECONNREFUSED (never sent)',
      'ERR_STORE_UNAVAILABLE',
      () => Promise.reject(sdkError({ code: 'ECONNREFUSED' })),
    ],
    ['429 throttled', 'ERR_STORE_UNAVAILABLE', () => Promise.reject(sdkError({ code: 429 }))],
    ['403 forbidden', 'ERR_STORE_UNAVAILABLE', () => Promise.reject(sdkError({ code: 403 }))],
    ['408 request timeout', 'ERR_STORE_OUTCOME_UNKNOWN', () => Promise.reject(sdkError({ code: 408 }))],
    ['503 service unavailable', 'ERR_STORE_OUTCOME_UNKNOWN', () => Promise.reject(sdkError({ code: 503 }))],
    [
      'ECONNRESET after sending',
      'ERR_STORE_OUTCOME_UNKNOWN',
      () => Promise.reject(sdkError({ code: 'ECONNRESET' })),
    ],
    ['no answer before the deadline', 'ERR_STORE_OUTCOME_UNKNOWN', () => new Promise<never>(() => undefined)],
  ])('%s: %s', async (_case, code, fails) => {
    const store = new CosmosDocumentStore(containerWhoseWrite(fails), 50);
    for (const write of [() => store.put('p', { effect: 'deny' }), () => store.remove('p', 1)]) {
      const err = await write().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isGatewayError(err)).toBe(true);
      expect((err as { code: string }).code).toBe(code);
    }
  });

  it('never sends a write whose read answered after the deadline (the caller was told nothing changed)', async () => {
    const writes: string[] = [];
    const slowRead = {
      item: () => ({
        read: () =>
          new Promise((resolve) => setTimeout(() => resolve({ resource: held, statusCode: 200 }), 100)),
        replace: () => {
          writes.push('replace');
          return Promise.resolve({ resource: held });
        },
      }),
      items: { create: () => Promise.resolve({ resource: held }) },
    } as unknown as Container;
    const store = new CosmosDocumentStore(slowRead, 20);
    await expect(store.put('p', {})).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(writes).toEqual([]);
  });

  it('412 and 409 stay a stale ETag (412 ERR_PRECONDITION_FAILED)', async () => {
    const store = new CosmosDocumentStore(
      containerWhoseWrite(() => Promise.reject(sdkError({ code: 412 }))),
      50,
    );
    await expect(store.put('p', {})).rejects.toMatchObject({ code: 'ERR_PRECONDITION_FAILED' });
  });
});
