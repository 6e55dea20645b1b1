/**
 * The one backoff formula of the rpc layer: the pool's waits after OVERLOADED, its waits between
 * connection attempts to a server that refuses or fails them, the retry interceptor's waits and
 * the server accept loop's waits after EMFILE (no jitter) all draw from it, so "exponential,
 * capped, jittered" means the same thing everywhere.
 */

/** An exponential backoff. Durations ms. */
export interface BackoffPolicy {
  /** Ceiling of the first wait, ms (>= 0). */
  initialMs: number;
  /** Largest ceiling, ms (>= initialMs). */
  maxMs: number;
  /** Growth of the ceiling per further attempt (>= 1). */
  multiplier: number;
  /**
   * Share of the ceiling that is random, 0..1: the wait is uniform in
   * (ceiling × (1 − jitter), ceiling]. 1 is gRPC A6's full jitter, 0 no jitter.
   */
  jitter: number;
}

/**
 * The wait before try number `n + 1`, after `n` (>= 1) failures:
 * `ceiling = min(maxMs, initialMs × multiplier^(n−1))`, `wait = ceiling × (1 − jitter × draw)`.
 * Pure: `draw` is the random number in [0, 1) (the caller's `Clock.random()`).
 */
export function backoffMs(policy: BackoffPolicy, n: number, draw: number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** Math.max(0, n - 1));
  return ceiling * (1 - policy.jitter * draw);
}

/** After OVERLOADED: 10 ms, doubling, capped at 1 s, wait in (ceiling/2, ceiling]. */
export const OVERLOAD_BACKOFF: BackoffPolicy = { initialMs: 10, maxMs: 1000, multiplier: 2, jitter: 0.5 };

/**
 * Between connection attempts to a server after one failed (refused, reset, timed out, or turned
 * away with GOAWAY before SETTINGS): 50 ms, doubling, capped at 5 s, wait in (ceiling/2, ceiling].
 * A successful connection resets it. Without it a pool re-dials a server that turns it away at
 * once, thousands of times a second (gRPC's connection backoff does the same job).
 */
export const CONNECT_BACKOFF: BackoffPolicy = { initialMs: 50, maxMs: 5000, multiplier: 2, jitter: 0.5 };
