/**
 * The hedge interceptor: for idempotent calls, sends another copy of the call when the first has
 * not answered within `delayMs`, takes the first success and cancels the rest (CANCEL frames),
 * trading a little extra load for the tail latency of a slow server or connection (gRPC A6
 * hedging; Dean & Barroso, "The Tail at Scale").
 */
import { RpcError, type Processed } from '../errors.js';
import { remainingMs, withProcessed, worse } from '../outcome.js';
import type { Interceptor } from '../types.js';

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /** Time after each attempt starts before the next copy is sent, ms (>= 0). */
  delayMs: number;
  /** Copies in all, including the first (default 2; 1..5, the cap gRPC applies). */
  maxAttempts?: number;
}

/**
 * Hedges idempotent calls. A non-idempotent call passes through unchanged, with one attempt:
 * running it twice would not be harmless, and hedging runs it twice by design.
 *
 * - The first RESPONSE wins; the other attempts are aborted, which sends CANCEL for those already
 *   written.
 * - An attempt that failed with `processed: 'yes'` (the handler ran and answered an error) is an
 *   answer: it ends the call, as in gRPC where a non-retryable status commits.
 * - An attempt that failed otherwise (refused, lost connection, timeout) does not end the call:
 *   the next copy starts at once if any is left, and the call fails only when every copy failed,
 *   with the last error and the strongest `processed` of them all.
 * - No copy starts after the deadline or after the caller aborted.
 */
export function hedge(options: HedgeOptions): Interceptor {
  const { delayMs } = options;
  const maxAttempts = options.maxAttempts ?? 2;
  if (!(typeof delayMs === 'number' && Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`hedge: delayMs must be a finite number >= 0, got ${delayMs}`);
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= 5)) throw new RangeError(`hedge: maxAttempts must be an integer in 1..5, got ${maxAttempts}`);

  return (call, next) => {
    if (!call.idempotent || maxAttempts === 1) return next(call);
    return new Promise<Buffer>((resolve, reject) => {
      const controllers: AbortController[] = [];
      let launched = 0;
      let running = 0;
      let settled = false;
      let worst: Processed = 'no';
      let attempts = 0;
      let lastError: unknown = null;
      let timer: NodeJS.Timeout | null = null;

      const finish = (): void => {
        settled = true;
        if (timer) clearTimeout(timer);
        call.signal?.removeEventListener('abort', onCallerAbort);
        for (const ac of controllers) ac.abort();
      };
      const failAll = (err: unknown): void => {
        finish();
        reject(err instanceof RpcError ? withProcessed(err, worst, attempts) : err);
      };
      const onCallerAbort = (): void => {
        // Attempts see the abort through their own signals and reject CANCELLED; if none is
        // running (between copies) there is nothing to wait for.
        if (running === 0 && !settled) failAll(new RpcError('CANCELLED', 'the caller aborted the call', { processed: 'no' }));
      };
      call.signal?.addEventListener('abort', onCallerAbort, { once: true });

      const schedule = (): void => {
        if (timer) clearTimeout(timer);
        timer = null;
        if (settled || launched >= maxAttempts) return;
        timer = setTimeout(launch, delayMs);
      };
      function launch(): void {
        if (settled || launched >= maxAttempts) return;
        if (call.signal?.aborted || remainingMs(call.deadline) <= 0) {
          if (running === 0) failAll(lastError ?? new RpcError('DEADLINE_EXCEEDED', 'the deadline passed before a hedged copy could start', { processed: 'no' }));
          return;
        }
        const ac = new AbortController();
        controllers.push(ac);
        const signal = call.signal ? AbortSignal.any([call.signal, ac.signal]) : ac.signal;
        const n = launched++;
        running++;
        next({ ...call, signal, attempt: call.attempt + n, hedge: n > 0 }).then(
          (body) => {
            running--;
            if (settled) return;
            finish();
            resolve(body);
          },
          (err: unknown) => {
            running--;
            if (settled) return;
            if (err instanceof RpcError) {
              worst = worse(worst, err.processed);
              attempts += err.attempts;
            }
            lastError = err;
            const answered = !(err instanceof RpcError) || err.processed === 'yes';
            if (answered || call.signal?.aborted) {
              failAll(err);
              return;
            }
            if (launched < maxAttempts) {
              launch();
              schedule();
            } else if (running === 0) {
              failAll(err);
            }
          },
        );
        schedule();
      }
      launch();
    });
  };
}
