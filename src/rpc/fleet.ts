/**
 * A client's view of many servers: one pool per endpoint (pool.ts, the same pool a single-server
 * client uses), a pick policy (pick.ts), a resolver asked again on an interval and after failures
 * (resolver.ts), and each endpoint's lifecycle (endpoint.ts) moved by one guarded transition:
 *
 * - a connection attempt that fails with no ready connection left ejects the endpoint; after a
 *   backoff (backoffMs, growing with ejections in a row) one probe connection is opened, and its
 *   SETTINGS put the endpoint back in rotation;
 * - GOAWAY(SHUTDOWN) — the server's `close()`, a rolling restart — drains the endpoint: calls it
 *   refused (REFUSED, above GOAWAY lastId) or that never reached it are re-sent elsewhere by the
 *   same outcome rules as a single pool's (send.ts), whatever the method; calls it may have run
 *   follow rule 3. An endpoint the resolver stops listing drains the same way. The draining pool
 *   is retired beside a fresh one: an endpoint still listed is probed at once on the fresh pool,
 *   so a new process already listening on the port (SO_REUSEPORT) serves without waiting for the
 *   old connections' calls;
 * - with no endpoint in rotation, calls wait (bounded by maxQueue) until one comes back, their
 *   deadline, or `waitForEndpointMs`, and then fail with processed 'no'.
 */
import { backoffMs, type BackoffPolicy } from './backoff.js';
import type { ClockTimer } from './clock.js';
import type { ClientConnection } from './connection.js';
import { ENDPOINT_TRANSITIONS, endpointKey, type EndpointAddress, type EndpointState, type EndpointStats } from './endpoint.js';
import { RpcError } from './errors.js';
import { onAbort } from './abort.js';
import { remainingMs } from './outcome.js';
import { pickEndpoint, type PickPolicy } from './pick.js';
import { emptyStats, Pool, type PoolSettings, type PoolSnapshot } from './pool.js';
import { DEFAULT_RESOLVE_INTERVAL_MS, resolveOnce, type Resolver } from './resolver.js';
import { sendWithRules } from './send.js';
import { StateMachine } from './state.js';
import { dropWaiter, rejectWaiters, settleWaiter, type Waiter as QueuedWaiter } from './waiter.js';
import type { Call, CloseReason, PoolStats } from './types.js';

/** Fleet settings, resolved from ClientOptions. Durations ms. */
export interface FleetSettings extends PoolSettings {
  /** Where endpoints come from: a fixed list, or a resolver asked now and again. */
  source: { kind: 'static'; endpoints: readonly EndpointAddress[] } | { kind: 'resolver'; resolver: Resolver };
  pick: PickPolicy;
  /** Longest a call waits for an endpoint in rotation (its own deadline may be sooner). */
  waitForEndpointMs: number;
  /** Wait before probing an ejected endpoint, by ejections in a row. */
  ejection: BackoffPolicy;
}

/**
 * How long a draining endpoint's connections may take to finish their calls before they are
 * destroyed, ms. The server resets them sooner (its drainMs + finalCloseMs, 7 s by default); this
 * only bounds a server that never does.
 */
const DRAIN_TIMEOUT_MS = 60_000;

/**
 * Removed endpoints listed in the stats (the most recent). A resolver whose addresses churn would
 * otherwise grow the list for ever; older ones live on only in the summed counters.
 */
const REMOVED_KEPT = 64;

/** Re-resolving after a failed connect waits at least this long after the previous resolution, ms. */
const RERESOLVE_MIN_GAP_MS = 1_000;

/**
 * Counters of one endpoint's lifecycle, which outlive its pools (a drained endpoint gets a fresh
 * pool). Attempts and connect failures are counted by each pool (Pool.counts) and summed.
 */
interface EndpointCounters {
  ejections: number;
  probes: number;
  probesFailed: number;
  drains: number;
}

class Endpoint {
  readonly address: EndpointAddress;
  readonly key: string;
  readonly lifecycle = new StateMachine<EndpointState>('active', ENDPOINT_TRANSITIONS);
  /** The current pool: the only one new calls and probes use. */
  pool: Pool;
  /** Earlier pools still draining (their calls in flight finish); counted into `past` when gone. */
  readonly retiring = new Set<Pool>();
  /** In the resolver's latest answer. Decides where a drain ends: ejected (probed back) or removed. */
  listed = true;
  /** Ejections (and drains) since it was last in rotation: the probe backoff's exponent. */
  inRow = 0;
  timer: ClockTimer | null = null;
  /** The last connect failure, for the error of calls that found no endpoint. */
  lastError: RpcError | null = null;
  readonly counters: EndpointCounters = { ejections: 0, probes: 0, probesFailed: 0, drains: 0 };
  /** Connection counters of its earlier pools. */
  readonly past: PoolStats = emptyStats();
  /** Attempt and connect-failure counts of its earlier pools. */
  readonly pastCounts: Pool['counts'] = { attempts: 0, connectFailures: 0 };

  constructor(address: EndpointAddress, pool: (ep: Endpoint) => Pool) {
    this.address = address;
    this.key = endpointKey(address);
    this.pool = pool(this);
  }

  get state(): EndpointState {
    return this.lifecycle.state;
  }

  /** The current pool, then the retiring ones. */
  get pools(): Pool[] {
    return [this.pool, ...this.retiring];
  }
}

interface Waiter extends QueuedWaiter {
  resolve: () => void;
}

/**
 * The fleet's own life: `new` until the first call asks the resolver (a fixed list of endpoints
 * needs no start and stays `new`), `running` from then (re-resolving on its interval and after
 * failures), `closing` once close() was called. One state instead of `started`/`closing` flags.
 */
type FleetPhase = 'new' | 'running' | 'closing';

const FLEET_TRANSITIONS: Readonly<Record<FleetPhase, readonly FleetPhase[]>> = {
  new: ['running', 'closing'],
  running: ['closing'],
  closing: [],
};

/** Adds the connection counters of `from` to `into`. */
function addConnectionCounters(into: PoolStats, from: PoolStats): void {
  into.connectionsOpened += from.connectionsOpened;
  into.connectionsClosed += from.connectionsClosed;
  into.goawaysReceived += from.goawaysReceived;
  into.illegalTransitions += from.illegalTransitions;
  for (const [reason, n] of Object.entries(from.connectionsClosedBy) as [CloseReason, number][]) into.connectionsClosedBy[reason] += n;
}

/** What an endpoint's earlier pools left, and its own lifecycle counters; nothing for a lone pool. */
interface EndpointHistory {
  readonly past: PoolStats;
  readonly pastCounts: Pool['counts'];
  readonly counters: EndpointCounters;
  readonly illegalTransitions: number;
}

const NO_HISTORY: EndpointHistory = {
  past: emptyStats(),
  pastCounts: { attempts: 0, connectFailures: 0 },
  counters: { ejections: 0, probes: 0, probesFailed: 0, drains: 0 },
  illegalTransitions: 0,
};

/**
 * One endpoint's row of `client.stats().endpoints`: its live pools' figures plus what its earlier
 * pools left. The single-endpoint client (`host`/`port`) gives its one pool and no history.
 */
export function endpointRow(address: EndpointAddress, state: EndpointState, pools: readonly Pool[], history: EndpointHistory = NO_HISTORY): EndpointStats {
  const now = emptyStats();
  for (const pool of pools) addConnectionCounters(now, pool.stats);
  const counts = { ...history.pastCounts };
  for (const pool of pools) addCounts(counts, pool.counts);
  return {
    host: address.host,
    port: address.port,
    state,
    attempts: counts.attempts,
    load: pools.reduce((n, pool) => n + pool.load, 0),
    ready: pools.reduce((n, pool) => n + pool.ready, 0),
    connectionsOpened: history.past.connectionsOpened + now.connectionsOpened,
    connectionsClosed: history.past.connectionsClosed + now.connectionsClosed,
    connectFailures: counts.connectFailures,
    goawaysReceived: history.past.goawaysReceived + now.goawaysReceived,
    ejections: history.counters.ejections,
    probes: history.counters.probes,
    probesFailed: history.counters.probesFailed,
    drains: history.counters.drains,
    illegalTransitions: history.illegalTransitions,
  };
}

/** Adds a pool's attempt and connect-failure counts of `from` to `into`. */
function addCounts(into: Pool['counts'], from: Pool['counts']): void {
  into.attempts += from.attempts;
  into.connectFailures += from.connectFailures;
}

/** Errors from an endpoint's pool that prove the call was not sent there, so it may go to another. */
function movable(e: RpcError): boolean {
  return e.processed === 'no' && e.code !== 'DEADLINE_EXCEEDED' && e.code !== 'CANCELLED' && e.code !== 'QUEUE_FULL';
}

export class Fleet {
  /** Call counters (the client bumps calls/succeeded/failed/retries/hedges; send.ts the resends). */
  readonly stats: PoolStats = emptyStats();
  resolutions = 0;
  resolveErrors = 0;
  private readonly s: FleetSettings;
  /** Every endpoint not yet removed, in the order first resolved. */
  private readonly endpoints = new Map<string, Endpoint>();
  /** The most recent REMOVED_KEPT removed endpoints, for stats. */
  private gone: Endpoint[] = [];
  /** Connection counters of every removed endpoint. */
  private readonly goneTotals: PoolStats = emptyStats();
  private waiters: Waiter[] = [];
  private cursor = 0;
  private readonly phase = new StateMachine<FleetPhase>('new', FLEET_TRANSITIONS);
  private closePromise: Promise<void> | null = null;
  private resolving: Promise<void> | null = null;
  private lastResolveAt = -Infinity;
  private lastResolveError: RpcError | null = null;
  private resolveTimer: ClockTimer | null = null;
  private soonTimer: ClockTimer | null = null;
  private illegalTransitions = 0;

  constructor(settings: FleetSettings) {
    this.s = settings;
    if (settings.source.kind === 'static') this.apply(settings.source.endpoints);
  }

  get closed(): boolean {
    return this.closing;
  }

  private get closing(): boolean {
    return this.phase.state === 'closing';
  }

  /** Sends one attempt of `call` through the outcome rules, each try on the endpoint picked for it. */
  send(call: Call): Promise<Buffer> {
    this.start();
    return sendWithRules(call, (c, retry) => this.acquire(c, retry), this.s, this.stats);
  }

  // ---- endpoints -----------------------------------------------------------------------------

  /**
   * The one place an endpoint's state changes. A move not in ENDPOINT_TRANSITIONS is refused —
   * the state stays — and counted; false tells the caller to stop.
   */
  private transition(ep: Endpoint, to: EndpointState, why: string): boolean {
    if (!ep.lifecycle.to(to, why)) {
      this.illegalTransitions++;
      return false;
    }
    if (to === 'active') {
      ep.inRow = 0;
      this.wake();
    }
    return true;
  }

  private newPool(ep: Endpoint): Pool {
    const pool: Pool = new Pool(
      { ...this.s, host: ep.address.host, port: ep.address.port },
      {
        goaway: (reason) => {
          // The server is going away as a whole (its close(), a restart), not one idle connection:
          // the endpoint drains. Before the connection failure this GOAWAY may cause is reported,
          // so a server that is closing is drained, not ejected.
          if (reason === 'SHUTDOWN' && ep.pool === pool) this.drain(ep, 'GOAWAY SHUTDOWN');
        },
        connectFailed: (error, readyLeft) => {
          if (ep.pool !== pool) return;
          ep.lastError = error;
          if (ep.state === 'active' && readyLeft === 0) this.eject(ep, error);
        },
      },
    );
    return pool;
  }

  private eject(ep: Endpoint, error: RpcError): void {
    if (!this.transition(ep, 'ejected', `connect failed: ${error.errno ?? error.code}`)) return;
    ep.counters.ejections++;
    ep.inRow++;
    ep.lastError = error;
    ep.pool.evacuate(() => new RpcError('CONNECT_FAILED', `endpoint ${ep.key} was ejected (${error.detail}) while the call waited for a connection to it`, { processed: 'no', errno: error.errno }));
    this.scheduleProbe(ep);
    this.resolveSoon();
  }

  private scheduleProbe(ep: Endpoint): void {
    const clock = this.s.clock;
    if (ep.timer !== null) clock.clearTimeout(ep.timer);
    ep.timer = clock.setTimeout(() => {
      ep.timer = null;
      void this.probe(ep);
    }, backoffMs(this.s.ejection, Math.max(1, ep.inRow), clock.random()));
    // Probing alone does not keep the process alive; a call waiting for an endpoint does.
    ep.timer.unref?.();
  }

  private async probe(ep: Endpoint, why = 'ejection backoff over'): Promise<void> {
    if (this.closing || !this.transition(ep, 'probing', why)) return;
    ep.counters.probes++;
    const pool = ep.pool;
    const ok = await pool.probe();
    // Drained or removed meanwhile, or this pool retired and a fresh one probes now.
    if (ep.state !== 'probing' || ep.pool !== pool) return;
    if (ok) {
      this.transition(ep, 'active', 'probe connection ready');
      return;
    }
    ep.counters.probesFailed++;
    if (!this.transition(ep, 'ejected', 'probe connection failed')) return;
    ep.inRow++;
    this.scheduleProbe(ep);
    this.resolveSoon();
  }

  /**
   * No new calls to `ep`'s connections: its pool retires (closes once its calls in flight finish)
   * and a fresh pool takes its place. Calls waiting in the old pool are rejected CLIENT_CLOSED
   * (never sent) and placed by {@link acquire}. Still listed, the endpoint is probed at once on
   * the fresh pool: with SO_REUSEPORT a new process already listens on the port while the old one
   * drains (docs/rolling-restart.md, recipe B), and waiting for the old connections would hold
   * every call for the old server's longest call in flight. Nothing listening: the probe is
   * refused and the endpoint is ejected with backoff, as after any failed connect.
   */
  private drain(ep: Endpoint, why: string): void {
    if (!this.transition(ep, 'draining', why)) return;
    ep.counters.drains++;
    if (ep.timer !== null) this.s.clock.clearTimeout(ep.timer);
    ep.timer = null;
    const old = ep.pool;
    ep.retiring.add(old);
    ep.pool = this.newPool(ep);
    void old.close(DRAIN_TIMEOUT_MS, why === 'GOAWAY SHUTDOWN' ? 'goaway' : 'client-closed').then(() => this.retired(ep, old));
    if (!this.closing && ep.listed) void this.probe(ep, 'drained pool retired, still resolved: probe a fresh pool');
  }

  /** A retired pool closed its last connection. */
  private retired(ep: Endpoint, pool: Pool): void {
    ep.retiring.delete(pool);
    addConnectionCounters(ep.past, pool.stats);
    addCounts(ep.pastCounts, pool.counts);
    if (ep.state !== 'draining' || ep.retiring.size > 0) return;
    if (this.closing || !ep.listed) {
      this.transition(ep, 'removed', this.closing ? 'client closed' : 'no longer resolved');
      if (this.endpoints.get(ep.key) === ep) this.endpoints.delete(ep.key);
      void ep.pool.close(0); // the fresh pool drain() made; never used
      addCounts(ep.pastCounts, ep.pool.counts);
      addConnectionCounters(this.goneTotals, ep.past);
      this.gone.push(ep);
      if (this.gone.length > REMOVED_KEPT) this.gone = this.gone.slice(-REMOVED_KEPT);
      return;
    }
    // Listed again while it drained: only a probe says whether the address serves.
    if (!this.transition(ep, 'ejected', 'drained, listed again')) return;
    ep.inRow = Math.max(1, ep.inRow);
    this.scheduleProbe(ep);
  }

  /** Takes a resolver answer: new endpoints join active, missing ones drain. */
  private apply(list: readonly EndpointAddress[]): void {
    const keys = new Set<string>();
    let added = false;
    for (const a of list) {
      const key = endpointKey(a);
      keys.add(key);
      const ep = this.endpoints.get(key);
      if (ep !== undefined) {
        ep.listed = true;
        continue;
      }
      this.endpoints.set(key, new Endpoint(a, (e) => this.newPool(e)));
      added = true;
    }
    for (const ep of this.endpoints.values()) {
      if (keys.has(ep.key)) continue;
      ep.listed = false;
      if (ep.state !== 'draining') this.drain(ep, 'no longer resolved');
    }
    if (added) this.wake();
  }

  // ---- resolution ----------------------------------------------------------------------------

  private get resolver(): Resolver | null {
    return this.s.source.kind === 'resolver' ? this.s.source.resolver : null;
  }

  private start(): void {
    if (this.phase.state !== 'new' || this.resolver === null) return;
    this.phase.to('running', 'first call: ask the resolver');
    void this.resolveNow();
  }

  private resolveNow(): Promise<void> {
    const resolver = this.resolver;
    if (resolver === null || this.closing) return Promise.resolve();
    if (this.resolving !== null) return this.resolving;
    const clock = this.s.clock;
    this.lastResolveAt = clock.now();
    this.resolving = (async () => {
      let timer: ClockTimer | null = null;
      try {
        // A resolver that never answers must not stop every later resolution: it gets
        // connectTimeoutMs, like a connection attempt.
        const late = new Promise<never>((_, reject) => {
          timer = clock.setTimeout(
            () => reject(new RpcError('RESOLVE_FAILED', `the resolver did not answer within connectTimeoutMs=${this.s.connectTimeoutMs}`, { processed: 'no', errno: 'ETIMEDOUT' })),
            this.s.connectTimeoutMs,
          );
        });
        const list = await Promise.race([resolveOnce(resolver), late]);
        this.resolutions++;
        this.lastResolveError = null;
        if (!this.closing) this.apply(list);
      } catch (e) {
        const err = e as RpcError;
        this.resolveErrors++;
        this.lastResolveError = err;
        // Nothing known at all: calls waiting cannot be served by anything; fail them with the
        // reason rather than hold them for waitForEndpointMs. With endpoints known, keep them.
        if (this.endpoints.size === 0) this.failWaiters(() => this.resolveError(err));
      } finally {
        if (timer !== null) clock.clearTimeout(timer);
        this.resolving = null;
        this.armResolveTimer(resolver);
      }
    })();
    return this.resolving;
  }

  private armResolveTimer(resolver: Resolver): void {
    if (this.closing) return;
    const clock = this.s.clock;
    if (this.resolveTimer !== null) clock.clearTimeout(this.resolveTimer);
    this.resolveTimer = clock.setTimeout(() => {
      this.resolveTimer = null;
      void this.resolveNow();
    }, resolver.intervalMs ?? DEFAULT_RESOLVE_INTERVAL_MS);
    this.resolveTimer.unref?.();
  }

  /** Re-resolves soon after a failure: at once, or RERESOLVE_MIN_GAP_MS after the last one. */
  private resolveSoon(): void {
    const resolver = this.resolver;
    if (resolver === null || this.phase.state !== 'running' || this.resolving !== null || this.soonTimer !== null) return;
    const clock = this.s.clock;
    const gap = Math.min(RERESOLVE_MIN_GAP_MS, resolver.intervalMs ?? DEFAULT_RESOLVE_INTERVAL_MS);
    const wait = this.lastResolveAt + gap - clock.now();
    if (wait <= 0) {
      void this.resolveNow();
      return;
    }
    this.soonTimer = clock.setTimeout(() => {
      this.soonTimer = null;
      void this.resolveNow();
    }, wait);
    this.soonTimer.unref?.();
  }

  private resolveError(err: RpcError): RpcError {
    return new RpcError('RESOLVE_FAILED', err.detail, { processed: 'no', errno: err.errno, cause: err });
  }

  // ---- calls ---------------------------------------------------------------------------------

  /**
   * A connection with a slot reserved for `call`, on the endpoint the pick policy chose among
   * those in rotation. A failure that proves the call was not sent there (connect refused, the
   * endpoint ejected or draining while the call waited in its pool) takes that endpoint out of
   * rotation if it still is in, and picks again; each such turn removes one endpoint, so the loop
   * ends. With none in rotation, the call waits for one.
   */
  private async acquire(call: Call, retry: boolean): Promise<ClientConnection> {
    const clock = this.s.clock;
    for (;;) {
      if (this.closing) throw new RpcError('CLIENT_CLOSED', 'the client is closed', { processed: 'no' });
      if (call.signal?.aborted) throw new RpcError('CANCELLED', 'the caller aborted the call before it was sent', { processed: 'no' });
      if (remainingMs(call.deadline, clock) <= 0) throw new RpcError('DEADLINE_EXCEEDED', 'the deadline passed before the call was sent', { processed: 'no' });
      const active: Endpoint[] = [];
      for (const ep of this.endpoints.values()) if (ep.state === 'active') active.push(ep);
      const choice = pickEndpoint(
        this.s.pick,
        active.map((ep) => ep.pool.load),
        this.cursor,
        () => clock.random(),
      );
      if (choice === null) {
        if (this.endpoints.size === 0 && this.lastResolveError !== null && this.resolving === null) {
          this.resolveSoon();
          throw this.resolveError(this.lastResolveError);
        }
        await this.waitForEndpoint(call, retry);
        continue;
      }
      this.cursor = choice.cursor;
      const ep = active[choice.index] as Endpoint;
      const pool = ep.pool;
      try {
        return await pool.acquire(call, retry);
      } catch (e) {
        const err = e as RpcError;
        if (this.closing || !(err instanceof RpcError) || !movable(err)) throw err;
        // A pool retired meanwhile says nothing about the fresh one.
        if (ep.state === 'active' && ep.pool === pool) this.eject(ep, err);
      }
    }
  }

  /** Waits until an endpoint joins the rotation; rejects at the deadline, the wait cap, abort or close. */
  private waitForEndpoint(call: Call, retry: boolean): Promise<void> {
    if (!retry && this.waiters.length >= this.s.maxQueue) {
      return Promise.reject(new RpcError('QUEUE_FULL', `${this.waiters.length} calls already wait for an endpoint (maxQueue=${this.s.maxQueue})`, { processed: 'no' }));
    }
    this.resolveSoon();
    const clock = this.s.clock;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { done: false, resolve, reject, timer: null, offAbort: null };
      const untilDeadline = remainingMs(call.deadline, clock);
      const byDeadline = untilDeadline <= this.s.waitForEndpointMs;
      w.timer = clock.setTimeout(
        () => dropWaiter(this.waiters, w, byDeadline ? new RpcError('DEADLINE_EXCEEDED', 'the deadline passed while the call waited for an endpoint in rotation', { processed: 'no' }) : this.noEndpoint(), clock),
        Math.max(0, byDeadline ? untilDeadline : this.s.waitForEndpointMs),
      );
      if (call.signal) {
        w.offAbort = onAbort(call.signal, () => dropWaiter(this.waiters, w, new RpcError('CANCELLED', 'the caller aborted the call while it waited for an endpoint', { processed: 'no' }), clock));
      }
      if (retry) this.waiters.unshift(w);
      else this.waiters.push(w);
    });
  }

  private noEndpoint(): RpcError {
    const by: Partial<Record<EndpointState, number>> = {};
    let last: RpcError | null = this.lastResolveError;
    for (const ep of this.endpoints.values()) {
      by[ep.state] = (by[ep.state] ?? 0) + 1;
      last ??= ep.lastError;
    }
    const states = Object.entries(by).map(([s, n]) => `${n} ${s}`).join(', ') || 'none resolved';
    return new RpcError('NO_ENDPOINT', `no endpoint in rotation for waitForEndpointMs=${this.s.waitForEndpointMs} (${states})${last ? `; last failure: ${last.detail}` : ''}`, {
      processed: 'no',
      errno: last?.errno ?? null,
      cause: last ?? undefined,
    });
  }

  private failWaiters(make: () => RpcError): void {
    const waiting = this.waiters;
    this.waiters = [];
    rejectWaiters(waiting, make, this.s.clock);
  }

  /** An endpoint joined the rotation: every waiting call picks again (in queue order). */
  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) if (settleWaiter(w, this.s.clock)) w.resolve();
  }

  // ---- close and figures -----------------------------------------------------------------------

  /**
   * Stops taking calls: waiting calls fail CLIENT_CLOSED (never sent), every endpoint drains, and
   * after `timeoutMs` (ms) what is left is destroyed (as Pool.close). Called again, it returns the
   * same promise.
   */
  close(timeoutMs: number): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.phase.to('closing', 'close()');
    const clock = this.s.clock;
    for (const t of [this.resolveTimer, this.soonTimer]) if (t !== null) clock.clearTimeout(t);
    this.resolveTimer = this.soonTimer = null;
    this.failWaiters(() => new RpcError('CLIENT_CLOSED', 'the client was closed while the call waited for an endpoint', { processed: 'no' }));
    const pools: Promise<void>[] = [];
    for (const ep of [...this.endpoints.values()]) {
      if (ep.state !== 'draining') this.drain(ep, 'client closed');
      for (const pool of ep.pools) pools.push(pool.close(timeoutMs));
    }
    this.closePromise = Promise.all(pools).then(() => undefined);
    return this.closePromise;
  }

  /** Every endpoint, then the most recently removed ones (at most REMOVED_KEPT). */
  endpointStats(): EndpointStats[] {
    return [...this.endpoints.values(), ...this.gone].map((ep) =>
      endpointRow(ep.address, ep.state, ep.state === 'removed' ? [] : ep.pools, {
        past: ep.past,
        pastCounts: ep.pastCounts,
        counters: ep.counters,
        illegalTransitions: ep.lifecycle.illegalCount,
      }),
    );
  }

  /** Call counters plus connection counters summed over every endpoint and pool. */
  totals(): PoolStats {
    const t: PoolStats = { ...this.stats, connectionsClosedBy: { ...this.stats.connectionsClosedBy } };
    addConnectionCounters(t, this.goneTotals);
    for (const ep of this.endpoints.values()) {
      addConnectionCounters(t, ep.past);
      // A retiring pool's counters join `past` only when its drain ends.
      for (const pool of ep.pools) addConnectionCounters(t, pool.stats);
    }
    t.illegalTransitions += this.illegalTransitions + this.phase.illegalCount;
    return t;
  }

  /** All endpoints' pools as one (connections listed together); `queued` includes calls waiting for an endpoint. */
  snapshot(): PoolSnapshot {
    const out: PoolSnapshot = { open: 0, connecting: 0, ready: 0, draining: 0, inFlight: 0, queued: this.waiters.length, target: 0, connectFailures: 0, connections: [] };
    for (const pool of [...this.endpoints.values()].flatMap((ep) => ep.pools)) {
      const p = pool.snapshot();
      out.open += p.open;
      out.connecting += p.connecting;
      out.ready += p.ready;
      out.draining += p.draining;
      out.inFlight += p.inFlight;
      out.queued += p.queued;
      // A retiring pool opens nothing more.
      if (!pool.closed) out.target += p.target;
      out.connectFailures += p.connectFailures;
      out.connections.push(...p.connections);
    }
    return out;
  }
}
