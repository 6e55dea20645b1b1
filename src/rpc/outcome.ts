/**
 * Small helpers the client side shares (pool, interceptors): ranking what a failed call may have
 * done on the server, and waiting that honours a deadline and an AbortSignal on the injected clock.
 */
import { onAbort } from './abort.js';
import type { Clock } from './clock.js';
import { RpcError, type Processed } from './errors.js';

const RANK: Record<Processed, number> = { no: 0, maybe: 1, yes: 2 };

/**
 * The stronger of two statements about a call that was tried more than once: if any attempt may
 * have run (`'maybe'`) the call as a whole may have run, whatever later attempts say.
 */
export function worse(a: Processed, b: Processed): Processed {
  return RANK[a] >= RANK[b] ? a : b;
}

/**
 * `err` restated for the whole call: same code, message and errno, but `processed` raised to
 * `processed` when an earlier attempt already said more (an attempt that was refused after an
 * earlier one was lost on a written connection must not report `'no'`), and `attempts` set.
 * Never mutates `err` (one error object may have been handed to several calls): returns `err`
 * itself only when nothing changes, else a new RpcError whose `cause` is `err`.
 */
export function withProcessed(err: RpcError, processed: Processed, attempts?: number): RpcError {
  const p = worse(err.processed, processed);
  const n = attempts ?? err.attempts;
  if (p === err.processed && n === err.attempts) return err;
  const detail = p === err.processed ? err.detail : `${err.detail}; ${p === 'maybe' ? 'an earlier attempt may have run' : 'an earlier attempt ran'}`;
  return new RpcError(err.code, detail, { processed: p, errno: err.errno, attempts: n, cause: err });
}

/** Remaining ms until an absolute deadline on `clock`; Infinity for none. */
export function remainingMs(deadline: number | null, clock: Clock): number {
  return deadline === null ? Infinity : deadline - clock.now();
}

/**
 * Waits `ms` on `clock`. Resolves `true` when the time passed, `false` when `signal` aborted
 * first. The timer is ref'd: a call waiting to be retried keeps the process alive like the call.
 */
export function pause(ms: number, signal: AbortSignal | null, clock: Clock): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    let off: (() => void) | null = null;
    const t = clock.setTimeout(() => {
      off?.();
      resolve(true);
    }, Math.max(0, ms));
    if (signal) {
      off = onAbort(signal, () => {
        clock.clearTimeout(t);
        resolve(false);
      });
    }
  });
}
