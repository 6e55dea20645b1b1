/**
 * A call parked in a queue (the pool's, waiting for a connection; the fleet's, waiting for an
 * endpoint) is settled exactly once, by whichever comes first: its turn, its deadline timer, its
 * abort signal, or the queue's owner giving up. These helpers are that once-only rule, shared by
 * pool.ts and fleet.ts.
 */
import type { Clock, ClockTimer } from './clock.js';
import type { RpcError } from './errors.js';

export interface Waiter {
  done: boolean;
  reject: (e: RpcError) => void;
  /** Its deadline (or wait cap) timer, if it has one. */
  timer: ClockTimer | null;
  /** Removes its abort listener, if it has one. */
  offAbort: (() => void) | null;
}

/** Marks `w` settled and stops its timer and abort listener; false when it already was settled. */
export function settleWaiter(w: Waiter, clock: Pick<Clock, 'clearTimeout'>): boolean {
  if (w.done) return false;
  w.done = true;
  if (w.timer !== null) clock.clearTimeout(w.timer);
  w.offAbort?.();
  return true;
}

/** Takes `w` out of `queue` and rejects it with `err`, unless it was already settled. */
export function dropWaiter<W extends Waiter>(queue: W[], w: W, err: RpcError, clock: Pick<Clock, 'clearTimeout'>): void {
  if (!settleWaiter(w, clock)) return;
  const i = queue.indexOf(w);
  if (i >= 0) queue.splice(i, 1);
  w.reject(err);
}

/** Rejects every waiter of `waiting` not yet settled with a fresh `make()` (the caller empties its queue). */
export function rejectWaiters(waiting: readonly Waiter[], make: () => RpcError, clock: Pick<Clock, 'clearTimeout'>): void {
  for (const w of waiting) if (settleWaiter(w, clock)) w.reject(make());
}
