/**
 * The clock the rpc client, pool, outcome rules and interceptors read: the time, timers and
 * randomness. Injected (`ClientOptions.clock`, `ServerOptions.clock`) so that tests can drive a
 * virtual clock and assert exact delays instead of checking wall-clock timing with slack.
 */

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

/** Node's timers hold at most 2^31−1 ms; a longer delay fires after 1 ms (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * Checks a duration against what a timer can hold.
 * @param where the option's name as the user wrote it, e.g. `createClient: idleTimeoutMs`.
 * @throws RangeError naming `where` for a non-number, NaN, a value below `min` or above 2^31−1 ms.
 */
export function checkDurationMs(where: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > MAX_TIMER_MS) {
    throw new RangeError(`${where} must be a number of ms in ${min}..${MAX_TIMER_MS} (2^31−1, the longest a timer holds), got ${String(v)}`);
  }
  return v;
}
