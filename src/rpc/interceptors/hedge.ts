/**
 * The hedge interceptor: for idempotent calls, sends another copy of the call when the first has
 * not answered within `delayMs`, takes the first success and cancels the rest (CANCEL frames),
 * trading a little extra load for the tail latency of a slow server or connection (gRPC A6
 * hedging; Dean & Barroso, "The Tail at Scale").
 */
import { onAbort } from '../abort.js';
import { checkDurationMs, systemClock, type ClockTimer } from '../clock.js';
import { RpcError, type Processed } from '../errors.js';
import { remainingMs, withProcessed, worse } from '../outcome.js';
import type { Interceptor } from '../types.js';

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /** Time after each attempt starts before the next copy is sent, ms (0 .. 2^31−1). */
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
  const delayMs = checkDurationMs('hedge: delayMs', options.delayMs);
  const maxAttempts = options.maxAttempts ?? 2;
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= 5)) throw new RangeError(`hedge: maxAttempts must be an integer in 1..5, got ${maxAttempts}`);

  return (call, next) => {
    if (!call.idempotent || maxAttempts === 1) return next(call);
    const clock = call.clock ?? systemClock;
    return new Promise<Buffer>((resolve, reject) => {
      const controllers: AbortController[] = [];
      let launched = 0;
      let running = 0;
      let settled = false;
      let worst: Processed = 'no';
      let attempts = 0;
      let lastError: unknown = null;
      let timer: ClockTimer | null = null;

      const finish = (): void => {
        settled = true;
        if (timer) clock.clearTimeout(timer);
        offCallerAbort?.();
        for (const ac of controllers) ac.abort();
      };
      const failAll = (err: unknown): void => {
        finish();
        reject(err instanceof RpcError ? withProcessed(err, worst, attempts) : err);
      };
      // One subscription to the caller's signal per call, fanned out to the attempts' own
      // controllers. Not AbortSignal.any(): on Node 20 every combined signal stays reachable from
      // a long-lived source signal while it has a listener (see abort.ts), and each adds a listener to
      // it (MaxListenersExceededWarning above 10 calls in flight).
      const onCallerAbort = (): void => {
        for (const ac of controllers) ac.abort();
        // Attempts see the abort through their own signals and reject CANCELLED; if none is
        // running (between copies) there is nothing to wait for.
        if (running === 0 && !settled) failAll(new RpcError('CANCELLED', 'the caller aborted the call', { processed: 'no' }));
      };
      const offCallerAbort = call.signal ? onAbort(call.signal, onCallerAbort) : null;

      const schedule = (): void => {
        if (timer) clock.clearTimeout(timer);
        timer = null;
        if (settled || launched >= maxAttempts) return;
        timer = clock.setTimeout(launch, delayMs);
      };
      function launch(): void {
        if (settled || launched >= maxAttempts) return;
        if (call.signal?.aborted || remainingMs(call.deadline, clock) <= 0) {
          if (running === 0) failAll(lastError ?? new RpcError('DEADLINE_EXCEEDED', 'the deadline passed before a hedged copy could start', { processed: 'no' }));
          return;
        }
        const ac = new AbortController();
        controllers.push(ac);
        const n = launched++;
        running++;
        next({ ...call, signal: ac.signal, attempt: call.attempt + n, hedge: n > 0 }).then(
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
