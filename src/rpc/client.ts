/**
 * The tcp-teardown rpc client: a connection pool that notices a server's FIN or RST on an idle
 * connection when it arrives (003-h), retires connections before the server would (002-g),
 * detects a connection to itself (004-m), and never re-sends a call the server may have run
 * unless the caller declared it idempotent (003-j; docs/protocol.md "What the client may
 * conclude"). Calls pass through a chain of interceptors (003-k) before they reach the pool.
 */
import { checkClock, checkDurationMs, systemClock, type Clock } from './clock.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, MAX_METHOD_BYTES } from './frame.js';
import { RpcError } from './errors.js';
import { Pool, type PoolSettings, type PoolSnapshot } from './pool.js';
import { endpointRow, Fleet, type FleetSettings } from './fleet.js';
import { checkEndpoints, type EndpointAddress, type EndpointStats } from './endpoint.js';
import { PICK_POLICIES, type PickPolicy } from './pick.js';
import type { Resolver } from './resolver.js';
import type { BackoffPolicy } from './backoff.js';
import { chain } from './interceptors/index.js';
import type { Call, ClientStats, Interceptor } from './types.js';
import type { KeepaliveOptions } from '../sys/index.js';

export type { PoolSnapshot } from './pool.js';
export type { ConnectionSnapshot, ConnectionState } from './connection.js';

/** One server: `host` (default `127.0.0.1`) and `port`. */
export interface SingleServerTarget {
  /** Server address (name or IP). Default `127.0.0.1`. */
  host?: string;
  /** Server port, 1..65535. */
  port: number;
  endpoints?: undefined;
  resolver?: undefined;
}

/** A fixed list of servers, one pool each. */
export interface EndpointsTarget {
  /** Non-empty; duplicates are dropped. */
  endpoints: readonly EndpointAddress[];
  host?: undefined;
  port?: undefined;
  resolver?: undefined;
}

/** Servers a resolver answers: {@link dnsResolver}, or your own async function. */
export interface ResolverTarget {
  /** Asked at the first call, every `resolver.intervalMs` (default 30 000), and after connects fail. */
  resolver: Resolver;
  host?: undefined;
  port?: undefined;
  endpoints?: undefined;
}

/**
 * Options of {@link createClient}: where the servers are (exactly one of `port`, `endpoints`,
 * `resolver`) and how to talk to them. Durations ms, sizes bytes. Validated at construction.
 */
export type ClientOptions = ClientCommonOptions & (SingleServerTarget | EndpointsTarget | ResolverTarget);

/** Options of {@link createClient} whatever the target. */
export interface ClientCommonOptions {
  /**
   * With `endpoints` or `resolver`: which endpoint gets a call. `'p2c'` (default): the one with
   * fewer calls in flight of two drawn at random; `'round-robin'`: each in turn.
   */
  pick?: PickPolicy;
  /**
   * With `endpoints` or `resolver`: how long a call waits when no endpoint is in rotation (all
   * ejected, draining, or none resolved yet) before it fails NO_ENDPOINT, processed 'no' (its own
   * deadline, if sooner, fails it DEADLINE_EXCEEDED). Such calls count against `maxQueue`.
   * Default 10 000.
   */
  waitForEndpointMs?: number;
  /**
   * With `endpoints` or `resolver`: an endpoint whose connection attempt fails with no ready
   * connection left is ejected, then probed with one connection after `initialMs` (doubling per
   * ejection in a row, capped at `maxMs`, jittered to (½, 1] of that). Default `{ initialMs: 50, maxMs: 5000 }`.
   */
  ejection?: { initialMs?: number; maxMs?: number };
  /** Source address to bind (rarely needed). */
  localAddress?: string;
  /**
   * Source port to bind (rarely needed). Equal to `port` on the same host with nothing listening,
   * the kernel connects the socket to itself (seed 004-m); the client detects it: SELF_CONNECT.
   */
  localPort?: number;
  /** Most connections at once, including ones connecting or draining (per endpoint). Default 8. */
  maxConnections?: number;
  /**
   * Most calls waiting for a connection (per endpoint; and, separately, calls waiting for an
   * endpoint in rotation); one more fails QUEUE_FULL (processed 'no'). Default 1024.
   */
  maxQueue?: number;
  /** Cap on calls in flight per connection. Default: the server's SETTINGS maxInFlight, else 128. */
  maxInFlightPerConnection?: number;
  /** Close a connection idle this long; 0: only the server's hint applies. Default 30 000. */
  idleTimeoutMs?: number;
  /**
   * Subtracted from the idle timeout the server announces in SETTINGS, so the client closes first
   * (TIME_WAIT on the client, no call crossing the server's GOAWAY). Default 1000.
   */
  idleMarginMs?: number;
  /**
   * Let the server's announced idle timeout shorten ours (default true). False leaves every idle
   * close to the server's GOAWAY — the race of seed 003-i, which the protocol must then win alone
   * (bench/idle-reap measures both).
   */
  useServerIdleHint?: boolean;
  /** Retire (drain, then close) connections older than this; 0: never. Default 0. */
  maxLifetimeMs?: number;
  /** TCP connect plus the server's SETTINGS frame. Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * TCP keepalive for peers that vanish without FIN or RST (values rounded up to whole seconds),
   * or false. Default `{ idleMs: 15000, intervalMs: 5000, count: 3 }`.
   */
  keepalive?: KeepaliveOptions | false;
  /**
   * TCP_USER_TIMEOUT: drop a connection whose sent data stays unacknowledged this long (RFC 5482),
   * or null for the system default. Default 30 000 (keepalive idle + interval × count).
   */
  userTimeoutMs?: number | null;
  /**
   * Largest request and response payload. Default 1 MiB (the smaller of this and the server's
   * applies to requests). Announced to the server in the client's SETTINGS frame, so an answer
   * above it fails only its own call (FRAME_TOO_LARGE, processed 'yes') instead of the connection.
   */
  maxPayloadBytes?: number;
  /** Time, timers and randomness (tests pass a virtual clock). Default {@link systemClock}. */
  clock?: Clock;
  /** Interceptors, outermost first (seed 003-k). Default none. */
  interceptors?: readonly Interceptor[];
  /**
   * Re-sends per attempt of calls the server provably did not run (never written, GOAWAY, REFUSED,
   * OVERLOADED), so a sick server cannot loop us for ever. Default 5.
   */
  maxTransparentRetries?: number;
  /** Re-sends per attempt of idempotent calls lost on a broken connection (outcome rule 3). Default 1. */
  maxIdempotentRetries?: number;
  /** After our FIN, wait this long for the server's FIN before destroying the socket. Default 2000. */
  closeWaitMs?: number;
}

/** Per-call options. */
export interface CallOptions {
  /**
   * Running the call twice is harmless. Allows a re-send after the connection broke once the call
   * was written (rule 3), retries of `processed: 'maybe'` failures, and hedging. Default false.
   */
  idempotent?: boolean;
  /**
   * Deadline over all attempts, ms from now (0 .. 2^31−1); carried to the server in the REQUEST
   * frame. 0 fails the call at once with DEADLINE_EXCEEDED, processed 'no'.
   * The call rejects with a RangeError naming timeoutMs for a negative, NaN or larger value.
   */
  timeoutMs?: number;
  /** Aborts the call (CANCEL is sent for a written call). */
  signal?: AbortSignal;
}

/** A tcp-teardown rpc client. */
export interface RpcClient {
  /**
   * Calls `method` with `body`; resolves with the response body.
   * @throws RpcError — its `processed` says whether the server may have run the call.
   */
  call(method: string, body: Uint8Array, opts?: CallOptions): Promise<Buffer>;
  /** Counters since creation (a copy). */
  stats(): ClientStats;
  /**
   * The pool right now: connections by state, calls in flight and queued (with many endpoints:
   * all their pools together; `queued` includes calls waiting for an endpoint).
   */
  pool(): PoolSnapshot;
  /** Each endpoint now: state, load, counters (the same list as `stats().endpoints`). */
  endpoints(): EndpointStats[];
  /**
   * Stops taking calls; calls still queued fail CLIENT_CLOSED (never sent); calls in flight may
   * finish for up to `timeoutMs` (default 5000); every connection is closed with our FIN first,
   * so TIME_WAIT lands on the client. Resolves when every socket is closed.
   */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

function int(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`createClient: ${name} must be an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '∞' : max}, got ${String(v)}`);
  }
  return v;
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`createClient: ${name} must be true or false, got ${String(v)}`);
  return v;
}

/** A duration option: a number of ms in min..2^31−1, what a timer holds (`integer`: whole ms). */
function ms(name: string, v: unknown, min = 0, integer = false): number {
  return checkDurationMs(`createClient: ${name}`, v, min, integer);
}

type FleetPart = Pick<FleetSettings, 'source' | 'pick' | 'waitForEndpointMs' | 'ejection'>;

/**
 * The target options: exactly one of `port` (with `host`), `endpoints`, `resolver`.
 * @returns host/port for a single server, else the fleet's part of the settings.
 */
function resolveTarget(options: ClientOptions): { host: string; port: number; fleet: FleetPart | null } {
  const given = (['port', 'endpoints', 'resolver'] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) {
    throw new TypeError(`createClient: give exactly one of port (with host), endpoints, resolver; got ${given.length === 0 ? 'none' : given.join(' and ')}`);
  }
  if (options.port !== undefined) {
    const host = options.host ?? '127.0.0.1';
    if (typeof host !== 'string' || host.length === 0) throw new TypeError(`createClient: host must be a non-empty string, got ${String(host)}`);
    return { host, port: int('port', options.port, 1, 65535), fleet: null };
  }
  if (options.host !== undefined) throw new TypeError('createClient: host goes with port; with endpoints or resolver, each endpoint names its host');
  let source: FleetSettings['source'];
  if (options.endpoints !== undefined) {
    source = { kind: 'static', endpoints: checkEndpoints('createClient: endpoints', options.endpoints) };
  } else {
    const resolver = options.resolver as unknown;
    if (typeof resolver !== 'function') throw new TypeError('createClient: resolver must be a function () => Promise<{ host, port }[]> (e.g. dnsResolver(name, port))');
    const intervalMs = (resolver as Resolver).intervalMs;
    if (intervalMs !== undefined) ms('resolver.intervalMs', intervalMs, 1);
    source = { kind: 'resolver', resolver: resolver as Resolver };
  }
  const pick = options.pick ?? 'p2c';
  if (!PICK_POLICIES.includes(pick)) throw new RangeError(`createClient: pick must be one of ${PICK_POLICIES.join(', ')}, got ${String(pick)}`);
  const e = options.ejection === undefined ? {} : options.ejection;
  if (typeof e !== 'object' || e === null) throw new TypeError('createClient: ejection must be { initialMs, maxMs }');
  const initialMs = ms('ejection.initialMs', e.initialMs ?? 50, 1);
  const maxMs = ms('ejection.maxMs', e.maxMs ?? Math.max(5_000, initialMs), initialMs);
  const ejection: BackoffPolicy = { initialMs, maxMs, multiplier: 2, jitter: 0.5 };
  return {
    host: '',
    port: 0,
    fleet: { source, pick, waitForEndpointMs: ms('waitForEndpointMs', options.waitForEndpointMs ?? 10_000), ejection },
  };
}

/** Validates `options` and fills in defaults. @throws RangeError / TypeError naming the option. */
function resolveClientOptions(options: ClientOptions): PoolSettings & { interceptors: readonly Interceptor[]; fleet: FleetPart | null } {
  if (typeof options !== 'object' || options === null) throw new TypeError('createClient: options must be an object');
  const { host, port, fleet } = resolveTarget(options);
  if (options.localAddress !== undefined && (typeof options.localAddress !== 'string' || options.localAddress.length === 0)) {
    throw new TypeError(`createClient: localAddress must be a non-empty string, got ${String(options.localAddress)}`);
  }
  const localPort = options.localPort === undefined ? undefined : int('localPort', options.localPort, 1, 65535);
  let keepalive: KeepaliveOptions | null = { idleMs: 15_000, intervalMs: 5_000, count: 3 };
  if (options.keepalive === false) keepalive = null;
  else if (options.keepalive !== undefined) {
    const k = options.keepalive;
    if (typeof k !== 'object' || k === null) throw new TypeError('createClient: keepalive must be { idleMs, intervalMs, count } or false');
    keepalive = {
      idleMs: ms('keepalive.idleMs', k.idleMs, 1),
      intervalMs: ms('keepalive.intervalMs', k.intervalMs, 1),
      count: int('keepalive.count', k.count, 1, 127),
    };
  }
  const userTimeoutMs = options.userTimeoutMs === null ? null : ms('userTimeoutMs', options.userTimeoutMs ?? 30_000, 0, true);
  const clock = checkClock('createClient: clock', options.clock ?? systemClock);
  const interceptors = options.interceptors ?? [];
  if (!Array.isArray(interceptors) || interceptors.some((i) => typeof i !== 'function')) {
    throw new TypeError('createClient: interceptors must be an array of functions (call, next) => Promise<Buffer>');
  }
  const maxPayloadBytes = int('maxPayloadBytes', options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 16, 0xffff_ffff);
  return {
    host,
    port,
    localAddress: options.localAddress,
    localPort,
    maxConnections: int('maxConnections', options.maxConnections ?? 8, 1),
    maxQueue: int('maxQueue', options.maxQueue ?? 1024, 1),
    maxInFlight: options.maxInFlightPerConnection === undefined ? null : int('maxInFlightPerConnection', options.maxInFlightPerConnection, 1),
    idleTimeoutMs: ms('idleTimeoutMs', options.idleTimeoutMs ?? 30_000),
    idleMarginMs: ms('idleMarginMs', options.idleMarginMs ?? 1_000),
    useServerIdleHint: bool('useServerIdleHint', options.useServerIdleHint ?? true),
    maxLifetimeMs: ms('maxLifetimeMs', options.maxLifetimeMs ?? 0),
    connectTimeoutMs: ms('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1),
    keepalive,
    userTimeoutMs,
    maxPayloadBytes,
    maxTransparentRetries: int('maxTransparentRetries', options.maxTransparentRetries ?? 5, 0, 1000),
    maxIdempotentRetries: int('maxIdempotentRetries', options.maxIdempotentRetries ?? 1, 0, 1000),
    closeWaitMs: ms('closeWaitMs', options.closeWaitMs ?? 2_000),
    clock,
    interceptors,
    fleet,
  };
}

/**
 * Creates a client. No connection is opened (and no resolver asked) until the first call.
 *
 * With `endpoints` or `resolver`, each endpoint has its own pool; a call goes to the endpoint the
 * `pick` policy chooses among those in rotation, and a re-send under rules 1–2 may go to another
 * (a server's GOAWAY SHUTDOWN drains its endpoint; failed connects eject one until a probe
 * connection succeeds). docs/protocol.md, "Many endpoints".
 *
 * Outcome rules (docs/protocol.md; each is written next to its code in pool.ts):
 * 1. never written → re-sent anywhere (transparent retry, any method);
 * 2. above a GOAWAY's lastId, or answered REFUSED/OVERLOADED → re-sent anywhere;
 * 3. written, then the connection failed before an answer → re-sent only if idempotent, else
 *    `CONNECTION_LOST` with `processed: 'maybe'`;
 * 4. an answer is final.
 *
 * @throws RangeError / TypeError for an invalid option, naming it.
 */
export function createClient(options: ClientOptions): RpcClient {
  const settings = resolveClientOptions(options);
  const fleet = settings.fleet === null ? null : new Fleet({ ...settings, ...settings.fleet });
  const pool = fleet ?? new Pool(settings);
  const clock = settings.clock;
  const stats = pool.stats;
  const single = fleet === null ? (pool as Pool) : null;
  const endpoints = (): EndpointStats[] =>
    fleet !== null ? fleet.endpointStats() : [endpointRow({ host: settings.host, port: settings.port }, 'active', [single as Pool])];
  const send = chain(settings.interceptors, (call: Call) => {
    if (call.attempt > 1) {
      if (call.hedge) stats.hedges++;
      else stats.retries++;
    }
    return pool.send(call);
  });

  async function call(method: string, body: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    if (typeof method !== 'string' || method.length === 0) throw new TypeError(`call: method must be a non-empty string, got ${String(method)}`);
    if (Buffer.byteLength(method) > MAX_METHOD_BYTES) throw new RangeError(`call: method is ${Buffer.byteLength(method)} bytes of UTF-8; at most ${MAX_METHOD_BYTES}`);
    if (!(body instanceof Uint8Array)) throw new TypeError('call: body must be a Uint8Array (or Buffer)');
    if (opts.timeoutMs !== undefined) checkDurationMs('call: timeoutMs', opts.timeoutMs);
    stats.calls++;
    if (pool.closed) {
      stats.failed++;
      throw new RpcError('CLIENT_CLOSED', 'the client is closed', { processed: 'no' });
    }
    if (opts.timeoutMs === 0) {
      // No time at all: the call fails as a call (typed, 'no': never sent), not as a bad argument.
      stats.failed++;
      throw new RpcError('DEADLINE_EXCEEDED', 'timeoutMs is 0: the deadline passed before the call was sent', { processed: 'no' });
    }
    const c: Call = {
      method,
      body,
      idempotent: opts.idempotent === true,
      deadline: opts.timeoutMs === undefined ? null : clock.now() + opts.timeoutMs,
      signal: opts.signal ?? null,
      attempt: 1,
      clock,
    };
    try {
      const r = await send(c);
      stats.succeeded++;
      return r;
    } catch (e) {
      stats.failed++;
      throw e;
    }
  }

  return {
    call,
    stats: () => {
      const t = fleet !== null ? fleet.totals() : { ...stats, connectionsClosedBy: { ...stats.connectionsClosedBy } };
      return { ...t, endpoints: endpoints(), resolutions: fleet?.resolutions ?? 0, resolveErrors: fleet?.resolveErrors ?? 0 };
    },
    pool: () => pool.snapshot(),
    endpoints,
    close: async (opts = {}) => pool.close(ms('close timeoutMs', opts.timeoutMs ?? 5_000)),
  };
}
