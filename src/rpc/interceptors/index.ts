/**
 * Client interceptors (seed 003-k): a gRPC-style chain of `(call, next) => Promise<Buffer>`.
 * The first interceptor in the list is the outermost. A typical order is
 * `[deadline(...), retry(...), hedge(...)]`: one deadline over everything, retries of whole
 * hedged calls. Users write their own with the same signature.
 */
import type { Call, Interceptor, Next } from '../types.js';

export { retry, RetryBudget, defaultRetryOn, type RetryOptions, type RetryBudgetOptions } from './retry.js';
export { hedge, type HedgeOptions } from './hedge.js';
export { deadline, type DeadlineOptions } from './deadline.js';

/**
 * Composes `interceptors` around `terminal` (the pool): `interceptors[0]` runs first and its
 * `next` is `interceptors[1]`, …, the last one's `next` is `terminal`. A value an interceptor
 * returns synchronously or throws is turned into a promise.
 */
export function chain(interceptors: readonly Interceptor[], terminal: Next): Next {
  let next: Next = terminal;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    const ic = interceptors[i] as Interceptor;
    const inner = next;
    next = (call: Call) => {
      try {
        return Promise.resolve(ic(call, inner));
      } catch (e) {
        return Promise.reject(e);
      }
    };
  }
  return next;
}
