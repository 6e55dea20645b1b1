/**
 * The deadline interceptor: one deadline over all attempts of a call.
 */
import { performance } from 'node:perf_hooks';
import type { Interceptor } from '../types.js';

/** Options of {@link deadline}. */
export interface DeadlineOptions {
  /** Time a call may take from the moment it enters this interceptor, all attempts and backoffs included, ms (> 0). */
  timeoutMs: number;
}

/**
 * Sets `call.deadline` to now + `timeoutMs`, or keeps an earlier deadline the caller set
 * (`timeoutMs` of `client.call`). Place it before retry and hedge in the chain so that one
 * deadline covers every attempt: the retry interceptor then never sleeps past it, the pool fails
 * a call still queued at it with DEADLINE_EXCEEDED (processed 'no'), and each REQUEST carries the
 * time left when it is written (flag DEADLINE), so the server stops work nobody waits for.
 */
export function deadline(options: DeadlineOptions): Interceptor {
  const { timeoutMs } = options;
  if (!(typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new RangeError(`deadline: timeoutMs must be a finite number > 0, got ${timeoutMs}`);
  }
  return (call, next) => {
    const at = performance.now() + timeoutMs;
    if (call.deadline !== null && call.deadline <= at) return next(call);
    return next({ ...call, deadline: at });
  };
}
