/**
 * Typed failures of rpc calls. Every failure says whether the server may have run the call
 * (`processed`), because that — not the errno — decides whether a retry is safe (seed 003-j:
 * the kernel cannot tell the caller whether a request was processed; the protocol must).
 */

/**
 * Whether the server ran (or may have run) the handler for a failed call:
 * - `'no'`: proven not run — never written, or refused by GOAWAY/REFUSED/OVERLOADED. Safe to retry.
 * - `'maybe'`: written, and the connection failed before any answer. Retry only if idempotent.
 * - `'yes'`: the handler ran and reported a failure. Retrying repeats its effects.
 */
export type Processed = 'no' | 'maybe' | 'yes';

/** Every `RpcError.code`. */
export type RpcErrorCode =
  /** The server refused the call unrun (GOAWAY lastId below its id, or closing). */
  | 'REFUSED'
  /** The connection had its maximum of calls in flight; the call was not run. */
  | 'OVERLOADED'
  /** The call's deadline passed before an answer arrived. */
  | 'DEADLINE_EXCEEDED'
  /** The handler threw; its message is carried. */
  | 'HANDLER_FAILED'
  /** The call was cancelled by the caller (AbortSignal) or by a hedge that won elsewhere. */
  | 'CANCELLED'
  /** The connection broke (EOF, ECONNRESET, EPIPE, ETIMEDOUT) after the call was written. */
  | 'CONNECTION_LOST'
  /** No connection could be made (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT, EMFILE …). */
  | 'CONNECT_FAILED'
  /** connect() reached its own port: local address = remote address (seed 004-m). */
  | 'SELF_CONNECT'
  /** The pool's wait queue is full (backpressure): the call was not started. */
  | 'QUEUE_FULL'
  /** The client was closed before the call could be sent. */
  | 'CLIENT_CLOSED'
  /** The peer sent bytes that are not a valid frame, or a frame that breaks the protocol. */
  | 'PROTOCOL_ERROR'
  /** The request or response exceeds the maximum payload size (a response: the handler ran, processed 'yes'). */
  | 'FRAME_TOO_LARGE'
  /** The retry interceptor's budget (token bucket) had no token for another attempt. */
  | 'RETRY_BUDGET_EXHAUSTED'
  /** The handler ran; the server dropped its answer because its buffer budget (maxBufferedBytes) was full. */
  | 'RESPONSE_DROPPED'
  /** The resolver failed or answered something that is not a non-empty list of `{ host, port }`. */
  | 'RESOLVE_FAILED'
  /** No endpoint was in rotation (all ejected, draining or unresolved) for `waitForEndpointMs`. */
  | 'NO_ENDPOINT';

const ADVICE: Record<RpcErrorCode, string> = {
  REFUSED: 'not run by the server; safe to retry on another connection',
  OVERLOADED: 'not run by the server; retry after a backoff or raise the server\'s maxInFlight',
  DEADLINE_EXCEEDED: 'raise the deadline or find why the server is slow; retry only an idempotent call',
  HANDLER_FAILED: 'the server ran the call and its handler failed; see the message',
  CANCELLED: 'the caller gave up on the call',
  CONNECTION_LOST: 'the server may have run the call; retry only if it is idempotent',
  CONNECT_FAILED: 'check that the server listens at that address; not run, safe to retry later',
  SELF_CONNECT: 'nothing listens on that port and the client connected to itself; start the server or fix the port',
  QUEUE_FULL: 'too many calls waiting for a connection; slow down or raise maxConnections/maxQueue',
  CLIENT_CLOSED: 'the client was closed; create a new one',
  PROTOCOL_ERROR: 'the peer does not speak this protocol (or is broken); check the address',
  FRAME_TOO_LARGE: 'the payload exceeds maxPayloadBytes on one side; send less or raise the limit on both',
  RETRY_BUDGET_EXHAUSTED: 'too many retries recently; the server is likely unhealthy',
  RESPONSE_DROPPED: 'the server ran the call but could not buffer its answer (clients not reading their answers filled its budget); retry only if idempotent',
  RESOLVE_FAILED: 'check the resolver (DNS name, or your function): it must answer a non-empty list of { host, port }',
  NO_ENDPOINT: 'every endpoint refused connections or was shutting down; not run, safe to retry once one is back',
};

/** A failed rpc call, with what the server may have done and what to do about it. */
export class RpcError extends Error {
  readonly code: RpcErrorCode;
  /** Whether the server ran (or may have run) the call. */
  readonly processed: Processed;
  /** The errno name behind a connection failure (`ECONNRESET`, `EPIPE`, `ECONNREFUSED` …), or `'EOF'`. */
  readonly errno: string | null;
  /** What to do, one sentence. */
  readonly advice: string;
  /** Attempts made (1 + retries), when known. */
  attempts: number;
  /** The message without the code prefix and the advice suffix. */
  readonly detail: string;

  constructor(code: RpcErrorCode, message: string, opts: { processed: Processed; errno?: string | null; attempts?: number; cause?: unknown }) {
    super(`${code}: ${message} (server ${processedText(opts.processed)}; ${ADVICE[code]})`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RpcError';
    this.code = code;
    this.processed = opts.processed;
    this.errno = opts.errno ?? null;
    this.advice = ADVICE[code];
    this.attempts = opts.attempts ?? 1;
    this.detail = message;
  }
}

function processedText(p: Processed): string {
  return p === 'no' ? 'did not run it' : p === 'maybe' ? 'may have run it' : 'ran it';
}
