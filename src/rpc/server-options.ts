/**
 * Options of the rpc server and their validation. Every option is checked once, at
 * construction, and a bad value throws with a message that names the option (undici's style):
 * a typo in a timeout should fail at start-up, not on the first idle connection an hour later.
 */
import { checkClock, checkDurationMs, systemClock, type Clock } from './clock.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './frame.js';

/** Exponential backoff between accept() attempts that failed for lack of descriptors (seed 001-f). */
export interface AcceptBackoff {
  /** First wait after a failure, ms. Default 10. */
  initialMs?: number;
  /** Longest wait, ms; each further failure doubles the wait up to this. Default 1000. */
  maxMs?: number;
}

/** TCP keepalive for accepted connections (peers that vanish without FIN or RST). */
export interface ServerKeepalive {
  /** Idle time before the first probe, ms (the kernel takes whole seconds; rounded up). */
  idleMs: number;
  /** Time between probes, ms (rounded up to seconds). */
  intervalMs: number;
  /** Unanswered probes before the kernel drops the connection (ETIMEDOUT). */
  count: number;
}

/** Options of {@link createServer}. Durations are milliseconds, sizes bytes. */
export interface ServerOptions {
  /**
   * A connection with no call in flight for this long gets GOAWAY(IDLE) (seed 002-g). 0 turns
   * idle reaping off. Announced to clients in SETTINGS so they can retire connections first.
   * Default 60 000.
   */
  idleTimeoutMs?: number;
  /**
   * After a GOAWAY, how long the server waits for the client to close its side before it
   * half-closes with shutdown(SHUT_WR) (seed 003-e). Default 2000.
   */
  drainMs?: number;
  /**
   * After the server's shutdown(SHUT_WR) (or after reading EOF with answers still unsent), how
   * long it keeps reading and discarding before it gives up and resets the connection. Default 5000.
   */
  finalCloseMs?: number;
  /** Connections served at once; one more is accepted only to be told GOAWAY(TOO_MANY_CONNECTIONS). Default 10 000. */
  maxConnections?: number;
  /** Calls running at once on one connection; one more is answered OVERLOADED, unrun. Default 128. */
  maxInFlight?: number;
  /** Longest a handler may take, ms; a request's own (shorter) deadline wins. Default 30 000. */
  handlerTimeoutMs?: number;
  /** Largest frame payload read or written, bytes (16 .. 2^32−1). Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Waits between accept() attempts failing with EMFILE/ENFILE/ENOBUFS/ENOMEM. */
  acceptBackoffMs?: AcceptBackoff;
  /** listen(2) backlog: connections the kernel queues before accept(). Default 511 (as Node). */
  backlog?: number;
  /** SO_KEEPALIVE with these timings on every accepted connection; null (default) leaves the kernel's default (off). */
  keepalive?: ServerKeepalive | null;
  /** TCP_USER_TIMEOUT on every accepted connection, ms (RFC 5482); null (default) leaves it unset. */
  userTimeoutMs?: number | null;
  /**
   * Server-wide budget of buffered bytes: partial inbound frames plus answers waiting in sockets
   * beyond their high-water mark (clients not reading), across all connections. Past it the server
   * stops reading every connection (backpressure) until it is back under 3/4 of it; a request
   * read meanwhile is answered OVERLOADED unrun, an answer that would not fit is dropped (ERROR
   * RESPONSE_DROPPED: the handler ran). Bytes, at least 64 KiB. Default 256 MiB.
   */
  maxBufferedBytes?: number;
  /** Time and timers (tests pass a virtual clock). Default {@link systemClock}. */
  clock?: Clock;
}

/** {@link ServerOptions} with every default filled in. */
export interface ResolvedServerOptions {
  idleTimeoutMs: number;
  drainMs: number;
  finalCloseMs: number;
  maxConnections: number;
  maxInFlight: number;
  handlerTimeoutMs: number;
  maxPayloadBytes: number;
  acceptBackoffMs: { initialMs: number; maxMs: number };
  backlog: number;
  keepalive: ServerKeepalive | null;
  userTimeoutMs: number | null;
  maxBufferedBytes: number;
  clock: Clock;
}

/** Default {@link ServerOptions.maxBufferedBytes}: 256 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 << 20;

function int(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`ServerOptions.${name} must be an integer in ${min}..${max}, got ${describe(value)}`);
  }
  return value;
}

/** A duration option: whole ms in min..2^31−1, what a timer holds. */
function ms(name: string, value: unknown, min: number): number {
  return checkDurationMs(`ServerOptions.${name}`, value, min, true);
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * Fills in defaults and checks every option.
 * @throws TypeError when `options` is not an object or has an unknown key;
 *   RangeError naming the option for a value out of range.
 */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`ServerOptions must be an object, got ${describe(options)}`);
  const known = new Set([
    'idleTimeoutMs',
    'drainMs',
    'finalCloseMs',
    'maxConnections',
    'maxInFlight',
    'handlerTimeoutMs',
    'maxPayloadBytes',
    'acceptBackoffMs',
    'backlog',
    'keepalive',
    'userTimeoutMs',
    'maxBufferedBytes',
    'clock',
  ]);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new TypeError(`ServerOptions has no option ${JSON.stringify(key)} (known: ${[...known].join(', ')})`);
  }
  const o = options;
  const backoff = o.acceptBackoffMs ?? {};
  if (typeof backoff !== 'object' || backoff === null) throw new TypeError(`ServerOptions.acceptBackoffMs must be an object { initialMs, maxMs }, got ${describe(backoff)}`);
  const initialMs = ms('acceptBackoffMs.initialMs', backoff.initialMs ?? 10, 1);
  const maxMs = ms('acceptBackoffMs.maxMs', backoff.maxMs ?? Math.max(1000, initialMs), 1);
  if (maxMs < initialMs) throw new RangeError(`ServerOptions.acceptBackoffMs.maxMs (${maxMs}) must be >= acceptBackoffMs.initialMs (${initialMs})`);
  let keepalive: ServerKeepalive | null = null;
  if (o.keepalive !== undefined && o.keepalive !== null) {
    if (typeof o.keepalive !== 'object') throw new TypeError(`ServerOptions.keepalive must be { idleMs, intervalMs, count } or null, got ${describe(o.keepalive)}`);
    keepalive = {
      // TCP_KEEPIDLE/TCP_KEEPINTVL take 1..32767 s and TCP_KEEPCNT 1..127 (tcp_sock_set_keep*() in net/ipv4/tcp.c).
      idleMs: int('keepalive.idleMs', o.keepalive.idleMs, 1, 32_767_000),
      intervalMs: int('keepalive.intervalMs', o.keepalive.intervalMs, 1, 32_767_000),
      count: int('keepalive.count', o.keepalive.count, 1, 127),
    };
  }
  return {
    idleTimeoutMs: ms('idleTimeoutMs', o.idleTimeoutMs ?? 60_000, 0),
    drainMs: ms('drainMs', o.drainMs ?? 2000, 0),
    finalCloseMs: ms('finalCloseMs', o.finalCloseMs ?? 5000, 0),
    maxConnections: int('maxConnections', o.maxConnections ?? 10_000, 1, 2 ** 31 - 1),
    maxInFlight: int('maxInFlight', o.maxInFlight ?? 128, 1, 2 ** 31 - 1),
    handlerTimeoutMs: ms('handlerTimeoutMs', o.handlerTimeoutMs ?? 30_000, 1),
    maxPayloadBytes: int('maxPayloadBytes', o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 16, 0xffff_ffff),
    acceptBackoffMs: { initialMs, maxMs },
    // The kernel caps it at net.core.somaxconn silently; 0 is legal (one pending connection).
    backlog: int('backlog', o.backlog ?? 511, 0, 65_535),
    keepalive,
    userTimeoutMs: o.userTimeoutMs === undefined || o.userTimeoutMs === null ? null : ms('userTimeoutMs', o.userTimeoutMs, 0),
    maxBufferedBytes: int('maxBufferedBytes', o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES, 64 << 10, Number.MAX_SAFE_INTEGER),
    clock: checkClock('ServerOptions.clock', o.clock ?? systemClock),
  };
}
