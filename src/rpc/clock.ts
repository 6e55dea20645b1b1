/**
 * The clock the rpc client, pool, outcome rules and interceptors read: the time, timers and
 * randomness. Injected (`ClientOptions.clock`, `ServerOptions.clock`) so that tests can drive a
 * virtual clock and assert exact delays instead of checking wall-clock timing with slack.
 */

import { checkDurationMs, MAX_TIMER_MS } from '../tcp/time.js';

/** A timer handle as {@link Clock.setTimeout} returns it; only {@link Clock.clearTimeout} reads it. */
export interface ClockTimer {
  /** Lets the process exit while the timer is pending (as Node's `Timeout.unref()`). */
  unref?(): unknown;
  /** Undoes `unref`. */
  ref?(): unknown;
}

/** Time, timers and randomness. All durations ms. */
export interface Clock {
  /** Monotonic time, ms (as `performance.now()`); deadlines are absolute values of this clock. */
  now(): number;
  /** Calls `fn` once after `ms` (0 .. 2^31−1) ms of this clock. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
  /** Uniform in [0, 1) (as `Math.random()`); jitter draws from it. */
  random(): number;
}

/** The real clock: `performance.now()`, Node's timers, `Math.random()`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
  random: () => Math.random(),
};

export { checkDurationMs, MAX_TIMER_MS };

/**
 * Checks that `clock` has what a {@link Clock} needs.
 * @param where the option as the user wrote it, e.g. `createClient: clock`.
 * @throws TypeError naming `where` when a method is missing.
 */
export function checkClock(where: string, clock: unknown): Clock {
  const c = clock as Partial<Clock> | null;
  if (typeof c !== 'object' || c === null || (['now', 'setTimeout', 'clearTimeout', 'random'] as const).some((k) => typeof c[k] !== 'function')) {
    throw new TypeError(`${where} must be a Clock { now, setTimeout, clearTimeout, random }`);
  }
  return c as Clock;
}
