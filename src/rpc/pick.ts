/**
 * Which endpoint gets the next call: a pure function of the candidates' loads, a cursor and
 * random draws, so each policy is checked in a table (test/rpc/fleet-tables.test.ts) without sockets.
 */

/**
 * - `'p2c'`: power of two choices — draw two different endpoints at random and take the one with
 *   fewer calls in flight (Mitzenmacher, "The Power of Two Choices in Randomized Load
 *   Balancing", 2001; Envoy's and Finagle's least-request balancer). It avoids a slow endpoint as
 *   least-loaded-of-all does, without every client herding onto the same one.
 * - `'round-robin'`: each endpoint in turn, whatever its load (gRPC's `round_robin`).
 */
export type PickPolicy = 'p2c' | 'round-robin';

export const PICK_POLICIES: readonly PickPolicy[] = ['p2c', 'round-robin'];

/** What {@link pickEndpoint} chose, and the cursor to pass next time. */
export interface PickResult {
  index: number;
  cursor: number;
}

/**
 * Picks among candidates (endpoints in rotation, in a stable order).
 * @param loads calls in flight (and queued) per candidate.
 * @param cursor round-robin position (any non-negative integer; p2c passes it through).
 * @param draw uniform in [0, 1) (the client's `Clock.random`); p2c draws twice.
 * @returns null when there is no candidate.
 */
export function pickEndpoint(policy: PickPolicy, loads: readonly number[], cursor: number, draw: () => number): PickResult | null {
  const n = loads.length;
  if (n === 0) return null;
  if (policy === 'round-robin') {
    const index = cursor % n;
    return { index, cursor: index + 1 };
  }
  if (n === 1) return { index: 0, cursor };
  const a = Math.min(n - 1, Math.floor(draw() * n));
  // The second choice is drawn from the other n − 1, so the two always differ.
  let b = Math.min(n - 2, Math.floor(draw() * (n - 1)));
  if (b >= a) b++;
  // Ties go to the first draw: still uniform over the tied ones.
  return { index: (loads[b] as number) < (loads[a] as number) ? b : a, cursor };
}
