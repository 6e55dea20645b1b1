/**
 * The deadline interceptor: one deadline over all attempts of a call.
 */
import { checkDurationMs, systemClock } from '../clock.js';
import type { Interceptor } from '../types.js';

/** Options of {@link deadline}. */
export interface DeadlineOptions {
  /** Time a call may take from the moment it enters this interceptor, all attempts and backoffs included, ms (1 .. 2^31−1). */
  timeoutMs: number;
}

/**
 * Sets `call.deadline` to now + `timeoutMs` (on the call's clock), or keeps an earlier deadline
 * the caller set (`timeoutMs` of `client.call`). Place it before retry and hedge in the chain so
 * that one deadline covers every attempt: the retry interceptor then never sleeps past it, the
 * pool fails a call still queued at it with DEADLINE_EXCEEDED (processed 'no'), and each REQUEST
 * carries the time left when it is written (flag DEADLINE), so the server stops work nobody
 * waits for.
 * @throws RangeError for a `timeoutMs` outside 1..2^31−1 (a longer one would fire a timer at once).
 */
export function deadline(options: DeadlineOptions): Interceptor {
  const timeoutMs = checkDurationMs('deadline: timeoutMs', options.timeoutMs, 1);
  return (call, next) => {
    const at = (call.clock ?? systemClock).now() + timeoutMs;
    if (call.deadline !== null && call.deadline <= at) return next(call);
    return next({ ...call, deadline: at });
  };
}
