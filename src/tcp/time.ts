/**
 * Node's timers hold at most 2^31−1 ms; a longer delay fires after 1 ms (with a
 * TimeoutOverflowWarning). Every duration the project takes is checked against it: rpc options,
 * the lab's `--rtt-ms` and `tcp_fin_timeout`, and the model's virtual timers, which keep Node's bound.
 */
export const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * Checks a duration against what a timer can hold: the one duration check of
 * the rpc layer and the packet capture.
 * @param where the option's name as the user wrote it, e.g. `createClient: idleTimeoutMs`.
 * @param integer whole ms only (options handed to the kernel or counted in whole ms).
 * @throws RangeError naming `where` for a non-number, NaN, a fraction when `integer`, a value below
 *   `min` or above 2^31−1 ms.
 */
export function checkDurationMs(where: string, v: unknown, min = 0, integer = false): number {
  if (typeof v !== 'number' || Number.isNaN(v) || (integer && !Number.isInteger(v)) || v < min || v > MAX_TIMER_MS) {
    const got = typeof v === 'string' ? JSON.stringify(v) : String(v);
    const range = integer ? `an integer in ${min}..${MAX_TIMER_MS} ms` : `a number of ms in ${min}..${MAX_TIMER_MS}`;
    throw new RangeError(`${where} must be ${range} (2^31−1, the longest a timer holds), got ${got}`);
  }
  return v;
}
