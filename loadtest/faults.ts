/**
 * The fault schedule: each fault starts and stops at a fraction of the run's progress, and its
 * window (wall-clock start and end) is recorded so an answer can be judged by when it happened.
 */
import type { FaultKind } from './scenario';

/** When each fault runs, as fractions of the run (requests sent, or time for `--duration`). */
export interface FaultPlan {
  readonly kind: FaultKind;
  readonly from: number;
  readonly to: number;
}

/**
 * The default schedule. Cosmos DB comes last because the embedded server cannot be restarted
 * with its data: its window lasts to the end of the run (docs/loadtest.md).
 */
export const DEFAULT_FAULT_PLAN: readonly FaultPlan[] = [
  { kind: 'downstream-slow', from: 0.15, to: 0.27 },
  { kind: 'downstream-dead', from: 0.35, to: 0.47 },
  { kind: 'idp-down', from: 0.55, to: 0.67 },
  { kind: 'cosmos-down', from: 0.88, to: 1 },
];

/**
 * Answers a fault may cause a little after it ends are still the fault's: a request that was
 * queued behind it, or a pooled connection to the dead downstream that is found closed.
 */
export const FAULT_GRACE_MS = 750;

/** How to start and stop each fault. */
export type FaultActions = Record<FaultKind, { inject(): Promise<void>; heal(): Promise<void> }>;

/** One fault as it happened. Times are `performance.now()` milliseconds. */
export interface FaultWindow {
  readonly kind: FaultKind;
  readonly plannedFrom: number;
  readonly plannedTo: number;
  startedAt: number;
  /** Undefined while the fault lasts (Cosmos DB: to the end of the run). */
  endedAt: number | undefined;
  /** Answers the fault caused (a fault answer of one of its cases). */
  observed: number;
}

/**
 * Starts and stops faults as the run progresses. Transitions run one at a time on their own
 * chain; requests never wait for them.
 */
export class FaultController {
  readonly windows: FaultWindow[] = [];
  private readonly pending: FaultPlan[];
  private readonly active: { plan: FaultPlan; window: FaultWindow }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private transitions = 0;
  private failure: Error | undefined;

  constructor(
    plan: readonly FaultPlan[],
    private readonly actions: FaultActions,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.pending = [...plan].sort((a, b) => a.from - b.from);
  }

  /**
   * Called as the run progresses (0..1): starts and stops what is due. Returns a promise while a
   * transition is under way; the caller holds its next request until then, so every window
   * starts and ends where the plan says, however short the run.
   */
  advance(progress: number): Promise<void> | undefined {
    while (this.pending.length > 0 && this.pending[0]!.from <= progress) {
      const plan = this.pending.shift()!;
      const window: FaultWindow = {
        kind: plan.kind,
        plannedFrom: plan.from,
        plannedTo: plan.to,
        startedAt: this.clock(),
        endedAt: undefined,
        observed: 0,
      };
      this.windows.push(window);
      this.active.push({ plan, window });
      this.enqueue(async () => {
        window.startedAt = this.clock();
        await this.actions[plan.kind].inject();
      });
    }
    for (const entry of [...this.active]) {
      if (entry.plan.to >= 1 || entry.plan.to > progress) continue;
      this.active.splice(this.active.indexOf(entry), 1);
      this.enqueue(async () => {
        await this.actions[entry.plan.kind].heal();
        entry.window.endedAt = this.clock();
      });
    }
    return this.transitions > 0 ? this.chain : undefined;
  }

  /** Waits for transitions under way; rethrows the first that failed (the run is then void). */
  async settled(): Promise<void> {
    await this.chain;
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * The fault windows a request that ran from `start` to `end` overlapped (with the grace after
   * each window's end).
   */
  overlapping(start: number, end: number): FaultWindow[] {
    return this.windows.filter(
      (w) => start <= (w.endedAt === undefined ? Infinity : w.endedAt + FAULT_GRACE_MS) && end >= w.startedAt,
    );
  }

  private enqueue(step: () => Promise<void>): void {
    this.transitions++;
    this.chain = this.chain
      .then(step)
      .catch((err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.transitions--);
  }
}
