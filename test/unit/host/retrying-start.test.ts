import { ManualClock } from '../../../src/clock';
import { retryingStart } from '../../../src/host/retrying-start';

describe('retryingStart', () => {
  function setup(outcomes: ('ok' | 'fail')[]) {
    const clock = new ManualClock(0);
    let attempts = 0;
    const get = retryingStart(
      () => {
        const outcome = outcomes[attempts++] ?? 'ok';
        return outcome === 'ok'
          ? Promise.resolve(`value ${attempts}`)
          : Promise.reject(new Error(`attempt ${attempts}`));
      },
      clock,
      { firstMs: 1_000, maxMs: 4_000 },
    );
    return { clock, get, attempts: () => attempts };
  }

  it('starts once and shares the value', async () => {
    const { get, attempts } = setup(['ok']);
    await expect(Promise.all([get(), get(), get()])).resolves.toEqual(['value 1', 'value 1', 'value 1']);
    expect(attempts()).toBe(1);
  });

  it('keeps a failure until the backoff passed, then tries again; success sticks', async () => {
    const { clock, get, attempts } = setup(['fail', 'fail', 'ok']);
    await expect(get()).rejects.toThrow('attempt 1');
    clock.advance(999);
    await expect(get()).rejects.toThrow('attempt 1');
    expect(attempts()).toBe(1);
    clock.advance(1);
    await expect(get()).rejects.toThrow('attempt 2');
    // The backoff doubled: 2 s now.
    clock.advance(1_999);
    await expect(get()).rejects.toThrow('attempt 2');
    clock.advance(1);
    await expect(get()).resolves.toBe('value 3');
    clock.advance(60_000);
    await expect(get()).resolves.toBe('value 3');
    expect(attempts()).toBe(3);
  });

  it('caps the backoff', async () => {
    const { clock, get, attempts } = setup(['fail', 'fail', 'fail', 'fail', 'fail']);
    for (let i = 0; i < 4; i++) {
      await get().catch(() => undefined);
      clock.advance(4_000);
    }
    await get().catch(() => undefined);
    expect(attempts()).toBe(5);
  });
});
