/**
 * Deadlines of proxied calls: one shared timer for all of them instead of a timer per call.
 *
 * Why: every proxied call needs a deadline over its whole exchange (headers and body), and most
 * calls finish long before it. A Node timer per call costs an allocation, a heap insert and a
 * removal each; here a deadline is a node appended to the list of its duration (a resource's
 * `timeoutMs`: a handful of distinct values), so each list is sorted by expiry by construction,
 * adding and cancelling are O(1), and one timer is armed for the earliest head. This is the
 * design of Node's own timer lists.
 *
 * Time comes from the injected {@link Clock}, and {@link DeadlineWheel.check} fires whatever is
 * due: tests move a manual clock and call it, instead of waiting for real time to pass.
 */
import { systemClock, type Clock } from '../clock';

/** A pending deadline; {@link DeadlineWheel.cancel} it when the call finishes first. */
export interface Deadline {
  readonly expiresAt: number;
}

interface Node extends Deadline {
  expiresAt: number;
  onExpire: (() => void) | undefined;
  prev: Node | undefined;
  next: Node | undefined;
  list: List | undefined;
}

interface List {
  head: Node | undefined;
  tail: Node | undefined;
}

export class DeadlineWheel {
  private readonly lists = new Map<number, List>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private closed = false;

  constructor(private readonly clock: Clock = systemClock) {}

  /** Calls `onExpire` once, `durationMs` from now, unless cancelled first. */
  add(durationMs: number, onExpire: () => void): Deadline {
    let list = this.lists.get(durationMs);
    if (list === undefined) {
      list = { head: undefined, tail: undefined };
      this.lists.set(durationMs, list);
    }
    const node: Node = {
      expiresAt: this.clock.now() + durationMs,
      onExpire,
      prev: list.tail,
      next: undefined,
      list,
    };
    if (list.tail === undefined) list.head = node;
    else list.tail.next = node;
    list.tail = node;
    if (node.expiresAt < this.armedFor) this.arm(node.expiresAt);
    return node;
  }

  /** Cancels a deadline; a no-op when it already fired or was cancelled. */
  cancel(deadline: Deadline): void {
    const node = deadline as Node;
    const list = node.list;
    if (list === undefined) return;
    if (node.prev === undefined) list.head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) list.tail = node.prev;
    else node.next.prev = node.prev;
    node.list = node.prev = node.next = node.onExpire = undefined;
    // The armed timer may now be early; it finds nothing due and re-arms for what is left.
  }

  /** Fires every deadline due at the clock's now, then arms the timer for the next one. */
  check(): void {
    const now = this.clock.now();
    const due: (() => void)[] = [];
    let next = Infinity;
    for (const list of this.lists.values()) {
      let node = list.head;
      while (node !== undefined && node.expiresAt <= now) {
        const following: Node | undefined = node.next;
        if (node.onExpire !== undefined) due.push(node.onExpire);
        node.list = node.prev = node.next = node.onExpire = undefined;
        node = following;
      }
      list.head = node;
      if (node === undefined) list.tail = undefined;
      else {
        node.prev = undefined;
        if (node.expiresAt < next) next = node.expiresAt;
      }
    }
    this.armedFor = Infinity;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (next !== Infinity) this.arm(next);
    for (const onExpire of due) onExpire();
  }

  /** Stops the timer; deadlines still pending never fire. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.lists.clear();
  }

  private arm(at: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.check(), Math.max(0, at - this.clock.now()));
    this.timer.unref();
  }
}
