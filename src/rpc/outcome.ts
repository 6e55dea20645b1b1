/**
 * Small helpers the client side shares (pool, interceptors): ranking what a failed call may have
 * done on the server, and waiting that honours a deadline and an AbortSignal.
 */
import { performance } from 'node:perf_hooks';
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
 * earlier one was lost on a written connection must not report `'no'`). Returns `err` itself when
 * nothing changes.
 */
export function withProcessed(err: RpcError, processed: Processed, attempts?: number): RpcError {
  const p = worse(err.processed, processed);
  if (p === err.processed) {
    if (attempts !== undefined) err.attempts = attempts;
    return err;
  }
  const earlier = p === 'maybe' ? 'an earlier attempt may have run' : 'an earlier attempt ran';
  return new RpcError(err.code, `${err.detail}; ${earlier}`, {
    processed: p,
    errno: err.errno,
    attempts: attempts ?? err.attempts,
    cause: err,
  });
}

/** Remaining ms until an absolute `performance.now()` deadline; Infinity for none. */
export function remainingMs(deadline: number | null): number {
  return deadline === null ? Infinity : deadline - performance.now();
}

/**
 * Waits `ms`. Resolves `true` when the time passed, `false` when `signal` aborted first. The
 * timer is ref'd: a call waiting to be retried keeps the process alive like the call itself.
 */
export function pause(ms: number, signal: AbortSignal | null): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
