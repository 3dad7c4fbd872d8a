/**
 * Time as a dependency. Everything that compares against "now" (token lifetimes, caches,
 * refresh intervals, rate limits) takes a Clock, so tests move time instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Whole seconds since the Unix epoch: the unit of JWT and SAS times. */
export function nowSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}

/** A clock that only moves when told to: for tests and benchmarks. */
export class ManualClock implements Clock {
  constructor(private ms: number = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}
