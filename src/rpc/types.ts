/**
 * The shapes shared by the rpc server, client and interceptors. Durations are milliseconds,
 * sizes bytes.
 */
import type { Clock } from './clock.js';
import type { EndpointStats } from './endpoint.js';

/** A call as the server's handler sees it. */
export interface RpcRequest {
  /** Request id on its connection (u32, increasing). */
  readonly id: number;
  readonly method: string;
  readonly body: Buffer;
  /** The caller declared the call idempotent. */
  readonly idempotent: boolean;
  /** Time the caller allowed when it sent the call, ms; null for none. */
  readonly deadlineMs: number | null;
}

/** What a handler gets besides the request. */
export interface HandlerContext {
  /** Aborted when the deadline passes, the client sends CANCEL, or the server resets the connection. */
  readonly signal: AbortSignal;
  /** The client's address, `ip:port`. */
  readonly remote: string;
  /** Server-wide connection number, 1-based. */
  readonly connectionId: number;
}

/** A server handler: returns the response body or throws (→ ERROR HANDLER_FAILED). */
export type Handler = (request: RpcRequest, context: HandlerContext) => Promise<Uint8Array> | Uint8Array;

/** A call as the client and its interceptors see it. */
export interface Call {
  readonly method: string;
  readonly body: Uint8Array;
  /** The caller declares that running the call twice is harmless; enables retries after a connection failure and hedging. */
  readonly idempotent: boolean;
  /** Absolute deadline over all attempts, ms of the client's clock (`clock.now()`); null for none. */
  readonly deadline: number | null;
  /** Aborts the call (all attempts). */
  readonly signal: AbortSignal | null;
  /** 1 for the first attempt; interceptors that re-issue a call pass `attempt + 1`. */
  readonly attempt: number;
  /** True on an attempt a hedge interceptor started in parallel (counted in `hedges`, not `retries`). */
  readonly hedge?: boolean;
  /**
   * The client's clock (time, timers, randomness); interceptors wait and draw jitter on it, so a
   * test's virtual clock drives them too. Absent on a hand-made call: the system clock.
   */
  readonly clock?: Clock;
}

/** Sends one attempt of a call (the next interceptor, or the pool at the end of the chain). */
export type Next = (call: Call) => Promise<Buffer>;

/** A gRPC-style client interceptor (seed 003-k). It may call `next` zero, one or more times. */
export type Interceptor = (call: Call, next: Next) => Promise<Buffer>;

/** Why a client connection was closed. */
export type CloseReason =
  | 'idle'
  | 'max-lifetime'
  | 'goaway'
  | 'peer-eof'
  | 'peer-reset'
  | 'error'
  | 'protocol-error'
  | 'self-connect'
  | 'client-closed';

/** Counters of one connection pool, and the client's call counts (see {@link ClientStats}). */
export interface PoolStats {
  /** Calls started by users (not attempts). */
  calls: number;
  succeeded: number;
  failed: number;
  /** Attempts re-issued by the retry/hedge interceptors. */
  retries: number;
  /**
   * Attempts re-sent by the pool because the server provably did not run them (never written, GOAWAY, REFUSED),
   * and calls kept queued after their connection was reset before SETTINGS (a closing listener's accept queue).
   */
  transparentRetries: number;
  /** Attempts re-sent by the pool after a written call's connection failed before any answer: idempotent calls only (outcome rule 3). */
  idempotentRetries: number;
  hedges: number;
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsClosedBy: Record<CloseReason, number>;
  goawaysReceived: number;
  /** State moves closed connections (and endpoints) refused as illegal (see StateMachine); a bug if ever above 0. */
  illegalTransitions: number;
}

/** Client counters since creation; connection figures summed over every endpoint. */
export interface ClientStats extends PoolStats {
  /**
   * Per endpoint, in the order they were first resolved (one, always `active`, for a `host`/`port`
   * client), then the 64 most recently removed (state `removed`; older ones count only in the sums).
   */
  endpoints: EndpointStats[];
  /** Resolver answers taken, and resolutions that failed (RESOLVE_FAILED; the list in use stays). */
  resolutions: number;
  resolveErrors: number;
}

/** Server counters since creation. */
export interface ServerStats {
  connectionsAccepted: number;
  connectionsClosed: number;
  /** Connections currently open. */
  connectionsOpen: number;
  calls: number;
  /** Requests answered REFUSED (id above a GOAWAY's lastId, or server closing): never run. */
  refused: number;
  /** Requests answered OVERLOADED (maxInFlight): never run. */
  overloaded: number;
  handlerFailures: number;
  deadlineExceeded: number;
  /** Calls the client cancelled (CANCEL) while their handler ran; answered CANCELLED. */
  cancelled: number;
  goawaysSent: number;
  /** Connections whose client sent its FIN before the server's: the good ending (TIME_WAIT on the client). */
  peerClosedFirst: number;
  /** Connections the server half-closed with shutdown(SHUT_WR) because the client did not close in drainMs. */
  halfClosedAfterDrain: number;
  /** Connections the server reset (SO_LINGER 0) at a final deadline. */
  resets: number;
  protocolErrors: number;
  /** accept() failures by errno name (EMFILE, ENFILE …). */
  acceptErrors: Record<string, number>;
  /** Connections refused at maxConnections. */
  rejectedConnections: number;
  /** Answers not sent because they exceed the client's announced maxPayloadBytes (or the server's): ERROR RESPONSE_TOO_LARGE. */
  responsesTooLarge: number;
  /** Answers dropped because the server's buffer budget (maxBufferedBytes) was full: ERROR RESPONSE_DROPPED. */
  responsesDropped: number;
  /** Bytes held now against maxBufferedBytes: partial inbound frames and answers clients have not taken. */
  bufferedBytes: number;
  /** Times the server stopped reading all connections because its buffer budget was full. */
  budgetPauses: number;
  /** State moves closed connections refused as illegal (see StateMachine); a bug if ever above 0. */
  illegalTransitions: number;
}
