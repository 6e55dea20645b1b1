/**
 * A virtual {@link Clock} for tests: time moves only when the test calls `advance()`, timers
 * fire in order of their due time, and `random()` returns the values the test queued (else 0.5),
 * so a test can assert an exact delay instead of a wall-clock one with slack.
 */
import type { Clock, ClockTimer } from '../../src/rpc/index.js';

interface Pending extends ClockTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class VirtualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: Pending[] = [];
  /** Values random() returns next, in order; 0.5 once they run out. */
  readonly draws: number[] = [];
  /** Every delay asked of setTimeout, in order (ms). */
  readonly requested: number[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    this.requested.push(ms);
    const t: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false, unref: () => t, ref: () => t };
    this.#timers.push(t);
    return t;
  }

  clearTimeout(timer: ClockTimer): void {
    (timer as Pending).cancelled = true;
  }

  random(): number {
    return this.draws.length > 0 ? (this.draws.shift() as number) : 0.5;
  }

  /** Timers not yet fired nor cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /**
   * Moves time forward by `ms`, firing each timer due on the way at its own time, and lets the
   * promise jobs each one starts run (a few event-loop turns) before the next fires.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      await settle();
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.#now = due.at;
      due.fn();
    }
    this.#now = until;
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    await settle();
  }
}

/** Lets pending promise jobs and immediates run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
