/**
 * Virtual time for the model: milliseconds as a plain number, starting at 0, moved only by
 * {@link Clock.advance} / {@link Clock.runUntilIdle}. Nothing here reads a real clock.
 */

/** A handle to cancel a scheduled event. */
export interface TimerHandle {
  readonly atMs: number;
  cancelled: boolean;
}

interface Entry extends TimerHandle {
  readonly order: number;
  readonly fire: () => void;
}

/**
 * Largest delay a timer may hold, as Node's timers (2^31−1 ms): the model's own copy of src/tcp's
 * `MAX_TIMER_MS`, because the model takes nothing but types from outside src/model (its purity test).
 */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A priority queue of events at virtual times. Events at the same time run in the order they
 * were scheduled, so a run is deterministic.
 */
export class Clock {
  #now = 0;
  #order = 0;
  readonly #heap: Entry[] = [];

  /** Current virtual time, ms. */
  get nowMs(): number {
    return this.#now;
  }

  /** Events still queued (cancelled ones may still be counted until they surface). */
  get pending(): number {
    return this.#heap.length;
  }

  /**
   * When the next live event is due, ms of virtual time, or null when none is queued: lets a
   * caller wait for "something happens or the deadline passes" without stepping time blindly.
   */
  nextAtMs(): number | null {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined) return null;
      if (!top.cancelled) return top.atMs;
      this.#pop();
    }
  }

  /**
   * Runs `fire` `delayMs` from now.
   * @throws RangeError for a negative, non-finite or > 2^31−1 ms delay.
   */
  schedule(delayMs: number, fire: () => void): TimerHandle {
    if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
      throw new RangeError(`timer delay ${delayMs} ms is outside 0..${MAX_DELAY_MS}`);
    }
    const entry: Entry = { atMs: this.#now + delayMs, order: this.#order++, fire, cancelled: false };
    this.#push(entry);
    return entry;
  }

  /** Cancels a scheduled event; cancelling twice or after it ran does nothing. */
  cancel(handle: TimerHandle | null | undefined): void {
    if (handle) handle.cancelled = true;
  }

  /**
   * Moves time forward by `ms`, running every event due on the way, in time order.
   * @returns the number of events run.
   * @throws RangeError for a negative or non-finite `ms`.
   */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot advance by ${ms} ms`);
    const until = this.#now + ms;
    let ran = 0;
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.atMs > until) break;
      this.#pop();
      if (top.cancelled) continue;
      this.#now = top.atMs;
      top.fire();
      ran++;
    }
    this.#now = until;
    return ran;
  }

  /**
   * Runs events until none is left (TIME_WAIT's 60 s included), at most `maxEvents` of them.
   * @returns the number of events run.
   * @throws Error when `maxEvents` ran and events remain (a timer that re-arms forever).
   */
  runUntilIdle(maxEvents = 1_000_000): number {
    let ran = 0;
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined) return ran;
      this.#pop();
      if (top.cancelled) continue;
      if (ran >= maxEvents) throw new Error(`clock still busy after ${maxEvents} events at ${this.#now} ms`);
      this.#now = top.atMs;
      top.fire();
      ran++;
    }
  }

  #less(a: Entry, b: Entry): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!this.#less(e, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = e;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && this.#less(h[r]!, h[l]!) ? r : l;
      if (!this.#less(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
