/**
 * The retry interceptor (seed 003-k): re-issues a failed call with exponential backoff and
 * jitter, within a retry budget and the call's one deadline.
 *
 * It sits above the pool, which already re-sends what provably did not run (transparent retries,
 * rules 1–2) and, for idempotent calls, what a broken connection lost (rule 3). This interceptor
 * is for what remains: failures the pool gave up on, and answers the application wants retried.
 * The design follows gRPC's retry policy (proposal A6): attempts counted from the first, backoff
 * random in (0, min(initial × multiplier^(n−1), max)] by default, and throttling so that retries
 * cannot multiply the load on a server that is already failing.
 */
import { backoffMs, type BackoffPolicy } from '../backoff.js';
import { checkDurationMs, systemClock, type Clock } from '../clock.js';
import { RpcError, type Processed } from '../errors.js';
import { pause, remainingMs, withProcessed, worse } from '../outcome.js';
import type { Call, Interceptor } from '../types.js';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Capacity of the bucket, tokens; it starts full. One retry costs one token. */
  tokens: number;
  /** Tokens added per second of wall time (0: none). */
  refillPerSecond?: number;
  /**
   * Tokens added per call that goes through the interceptor (0: none). With 0.1, retries stay
   * at about 10 % of calls in the long run, the ratio gRPC A6 throttling aims at.
   */
  perCall?: number;
  /** The clock the refill reads. Default {@link systemClock}. */
  clock?: Clock;
}

/**
 * A token bucket of retries, shareable between several retry interceptors (one budget per
 * server is the usual choice). Retries take tokens; time and calls put them back.
 */
export class RetryBudget {
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly perCall: number;
  private level: number;
  private at: number;
  private readonly clock: Clock;

  constructor(o: RetryBudgetOptions) {
    if (!(Number.isFinite(o.tokens) && o.tokens >= 0)) throw new RangeError(`retry budget: tokens must be a finite number >= 0, got ${o.tokens}`);
    const refill = o.refillPerSecond ?? 0;
    const perCall = o.perCall ?? 0;
    if (!(Number.isFinite(refill) && refill >= 0)) throw new RangeError(`retry budget: refillPerSecond must be a finite number >= 0, got ${o.refillPerSecond}`);
    if (!(Number.isFinite(perCall) && perCall >= 0)) throw new RangeError(`retry budget: perCall must be a finite number >= 0, got ${o.perCall}`);
    this.capacity = o.tokens;
    this.refillPerSecond = refill;
    this.perCall = perCall;
    this.level = o.tokens;
    this.clock = o.clock ?? systemClock;
    this.at = this.clock.now();
  }

  /** Tokens available now. */
  get available(): number {
    this.refill();
    return this.level;
  }

  /** Credits one call (`perCall` tokens). */
  deposit(): void {
    this.refill();
    this.level = Math.min(this.capacity, this.level + this.perCall);
  }

  /** Takes one token for a retry; false when fewer than one is left. */
  tryWithdraw(): boolean {
    this.refill();
    // Tolerance for sums of fractions (ten deposits of 0.1 make 0.9999999999999999).
    if (this.level < 1 - 1e-9) return false;
    this.level = Math.max(0, this.level - 1);
    return true;
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.refillPerSecond > 0) this.level = Math.min(this.capacity, this.level + ((now - this.at) / 1000) * this.refillPerSecond);
    this.at = now;
  }
}

/** Options of {@link retry}. Durations ms. */
export interface RetryOptions {
  /** Attempts including the first (default 3; at least 1). */
  maxAttempts?: number;
  /** Backoff ceiling before the first retry, ms (default 50). */
  initialBackoffMs?: number;
  /** Largest backoff ceiling, ms (default 2000). */
  maxBackoffMs?: number;
  /** Growth of the ceiling per retry (default 2; at least 1). */
  multiplier?: number;
  /**
   * Share of the ceiling that is random, 0..1 (default 1: full jitter, delay uniform in
   * (0, ceiling], as gRPC A6; 0: exactly the ceiling).
   */
  jitter?: number;
  /**
   * The retry budget: a {@link RetryBudget} (shared), options for a new one, or null for none.
   * Default: 10 tokens, 1 per second, 0.1 per call.
   */
  budget?: RetryBudget | RetryBudgetOptions | null;
  /**
   * Whether a failure is worth another attempt. Default {@link defaultRetryOn}. It is asked only
   * after the hard rules allow a retry: never past the deadline, never after the caller aborted,
   * never for a non-idempotent call the server may have run.
   */
  retryOn?: (err: unknown, call: Call) => boolean;
}

/** Codes that another attempt cannot fix, or that retrying would make worse. */
const NEVER: ReadonlySet<string> = new Set(['CLIENT_CLOSED', 'CANCELLED', 'FRAME_TOO_LARGE', 'RETRY_BUDGET_EXHAUSTED', 'DEADLINE_EXCEEDED', 'QUEUE_FULL']);

/**
 * The default retry predicate:
 * - `processed: 'no'` (never sent, refused unrun, no connection): retry — except codes another
 *   attempt cannot fix or that retrying would defeat (QUEUE_FULL is the client's own backpressure;
 *   DEADLINE_EXCEEDED, CANCELLED, CLIENT_CLOSED, FRAME_TOO_LARGE);
 * - `'maybe'` (written, then the connection broke): only if the call is idempotent;
 * - `'yes'` (the handler ran and failed): never — the application decides, with its own retryOn;
 * - anything that is not an RpcError: never.
 */
export function defaultRetryOn(err: unknown, call: Call): boolean {
  if (!(err instanceof RpcError)) return false;
  if (NEVER.has(err.code)) return false;
  if (err.processed === 'no') return true;
  if (err.processed === 'maybe') return call.idempotent;
  return false;
}

function positive(name: string, v: number, min: number): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= min)) throw new RangeError(`retry: ${name} must be a finite number >= ${min}, got ${v}`);
  return v;
}

/**
 * Retries failed calls (seed 003-k).
 *
 * Hard rules, which `retryOn` cannot lift:
 * - a call that failed with `processed: 'maybe'` is retried only when `call.idempotent`: the server
 *   may have run it, and EOF alone is never a licence to run a non-idempotent call again;
 * - no retry whose backoff would end past the call's deadline (one deadline over all attempts);
 * - no retry after the caller's AbortSignal fired;
 * - no retry without a budget token: the call then fails with `RETRY_BUDGET_EXHAUSTED`, whose
 *   `cause` is the last attempt's error (chosen over re-throwing that error so that a caller and
 *   its dashboards see throttling for what it is: the server is failing a lot).
 *
 * The error of the last attempt is thrown otherwise, with `processed` raised to the strongest
 * statement any attempt made (an attempt that may have run makes the whole call 'maybe') and
 * `attempts` summed over all attempts.
 */
export function retry(options: RetryOptions = {}): Interceptor {
  const maxAttempts = Math.floor(positive('maxAttempts', options.maxAttempts ?? 3, 1));
  const initial = checkDurationMs('retry: initialBackoffMs', options.initialBackoffMs ?? 50);
  const max = checkDurationMs('retry: maxBackoffMs', options.maxBackoffMs ?? 2000);
  const multiplier = positive('multiplier', options.multiplier ?? 2, 1);
  const jitter = positive('jitter', options.jitter ?? 1, 0);
  if (jitter > 1) throw new RangeError(`retry: jitter must be in 0..1, got ${jitter}`);
  if (max < initial) throw new RangeError(`retry: maxBackoffMs (${max}) must be >= initialBackoffMs (${initial})`);
  const budget =
    options.budget === null ? null : options.budget instanceof RetryBudget ? options.budget : new RetryBudget(options.budget ?? { tokens: 10, refillPerSecond: 1, perCall: 0.1 });
  const retryOn = options.retryOn ?? defaultRetryOn;
  const policy: BackoffPolicy = { initialMs: initial, maxMs: max, multiplier, jitter };

  return async (call, next) => {
    budget?.deposit();
    let worst: Processed = 'no';
    let attempts = 0;
    for (let n = 1; ; n++) {
      try {
        return await next(n === 1 ? call : { ...call, attempt: call.attempt + n - 1, hedge: false });
      } catch (err) {
        if (!(err instanceof RpcError)) throw err;
        worst = worse(worst, err.processed);
        attempts += err.attempts;
        const fail = (): RpcError => withProcessed(err, worst, attempts);
        if (n >= maxAttempts) throw fail();
        if (call.signal?.aborted) throw fail();
        // The hard rule of docs/protocol.md: a written call whose connection failed may have run.
        if (err.processed === 'maybe' && !call.idempotent) throw fail();
        if (!retryOn(err, call)) throw fail();
        const clock = call.clock ?? systemClock;
        const delay = backoffMs(policy, n, clock.random());
        if (remainingMs(call.deadline, clock) <= delay) throw fail();
        if (budget && !budget.tryWithdraw()) {
          throw new RpcError('RETRY_BUDGET_EXHAUSTED', `no retry token left after attempt ${n} failed with ${err.code}: ${err.detail}`, {
            processed: worst,
            errno: err.errno,
            attempts,
            cause: err,
          });
        }
        if (!(await pause(delay, call.signal, clock))) {
          throw withProcessed(new RpcError('CANCELLED', 'the caller aborted the call during a retry backoff', { processed: 'no', cause: err }), worst, attempts);
        }
      }
    }
  };
}
