import type { Container } from '@azure/cosmos';
import { ManualClock } from '../../../src/clock';
import { MemoryLogger } from '../../../src/logger';
import { CosmosDocumentStore } from '../../../src/store/document-store';
import { RefreshingCollection } from '../../../src/store/refreshing-collection';
import { StateRefresher } from '../../../src/store/state-refresher';

/** A container whose queries never answer, as a frozen database's do. */
const hanging = {
  items: { query: () => ({ fetchAll: () => new Promise(() => undefined) }) },
} as unknown as Container;

describe('StateRefresher with a store that hangs', () => {
  it('fails the refresh at the store deadline, logs it once, and reports degraded, then down past the bound', async () => {
    const clock = new ManualClock();
    const logger = new MemoryLogger();
    const answering = { ok: true };
    const store = new CosmosDocumentStore(hanging, 50);
    const collection = new RefreshingCollection(
      'policies',
      {
        readAll: () => (answering.ok ? Promise.resolve([]) : store.readAll()),
        changedSince: (ts: number) => (answering.ok ? Promise.resolve([]) : store.changedSince(ts)),
      },
      (doc) => ({ ok: true, value: doc.body }),
      logger,
    );
    const refresher = new StateRefresher({
      collections: [collection],
      intervalSeconds: 10,
      maxStalenessSeconds: 30,
      clock,
      logger,
      onChange: () => undefined,
    });
    await refresher.refresh();
    expect(refresher.health().status).toBe('ok');

    answering.ok = false;
    clock.advance(10_000);
    await refresher.refresh(); // settles: the store's deadline ended the hung pull
    await refresher.refresh();
    expect(logger.events().filter((e) => e === 'store.refresh_failed')).toHaveLength(1);
    expect(refresher.health()).toMatchObject({ status: 'degraded', ageSeconds: 10 });
    clock.advance(20_001);
    expect(refresher.health()).toMatchObject({ status: 'down' });
    expect(refresher.stale()).toBe(true);
  });
});
