/**
 * The client's connection pool to one server. It picks a connection for each attempt, opens
 * connections up to `maxConnections`, queues calls (bounded, FIFO) when all are busy, and backs
 * off between failed connection attempts. After every failed attempt the outcome rules
 * (docs/protocol.md, "What the client may conclude") decide whether re-sending is safe: the loop
 * is send.ts, the decision resend.ts, each rule beside its reason. A single-server client uses one
 * pool; a fleet (fleet.ts) one per endpoint, told of GOAWAY and failed connects through PoolEvents.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { onAbort } from './abort.js';
import { backoffMs, CONNECT_BACKOFF } from './backoff.js';
import type { ClockTimer } from './clock.js';
import { ClientConnection, type ConnectionSettings, type ConnectionSnapshot } from './connection.js';
import { RpcError } from './errors.js';
import type { GoawayReasonName } from './frame.js';
import { remainingMs } from './outcome.js';
import { requeueAfterConnectFailure } from './resend.js';
import { sendWithRules } from './send.js';
import { dropWaiter, rejectWaiters, settleWaiter, type Waiter as QueuedWaiter } from './waiter.js';
import type { Call, CloseReason, PoolStats } from './types.js';

/** Pool settings, resolved from ClientOptions. */
export interface PoolSettings extends ConnectionSettings {
  maxConnections: number;
  maxQueue: number;
  maxTransparentRetries: number;
  maxIdempotentRetries: number;
}

/**
 * How long a connection target lowered by GOAWAY(TOO_MANY_CONNECTIONS) stays lowered, ms. Then the
 * pool may try one more connection again (the server's other clients may have left).
 */
const LOWERED_TARGET_MS = 10_000;

/** What the pool holds right now. */
export interface PoolSnapshot {
  /** Connections that exist (connecting, ready, draining, closing). */
  open: number;
  connecting: number;
  ready: number;
  /** Draining or closing: no new calls, waiting for calls in flight, then FIN. */
  draining: number;
  inFlight: number;
  /** Calls waiting for a connection. */
  queued: number;
  /** Most connections the pool opens now: maxConnections, or lower after GOAWAY(TOO_MANY_CONNECTIONS). */
  target: number;
  /** Connection attempts that failed in a row (0 after one became ready); the next waits a backoff. */
  connectFailures: number;
  connections: ConnectionSnapshot[];
}

interface Waiter extends QueuedWaiter {
  call: Call;
  /** Times its connection was reset before SETTINGS and it stayed queued (requeueAfterConnectFailure). */
  requeues: number;
  resolve: (c: ClientConnection) => void;
}

/**
 * What a pool tells its owner beyond calls (the fleet uses them to move an endpoint through its
 * lifecycle; a single-server client passes none).
 */
export interface PoolEvents {
  /** A GOAWAY arrived on one of its connections. */
  goaway?(reason: GoawayReasonName): void;
  /**
   * A connection attempt failed before the connection became ready (not during close()).
   * @param readyLeft connections of this pool still ready.
   */
  connectFailed?(error: RpcError, readyLeft: number): void;
}

const CLOSE_REASONS: CloseReason[] = ['idle', 'max-lifetime', 'goaway', 'peer-eof', 'peer-reset', 'error', 'protocol-error', 'self-connect', 'client-closed'];

/** Fresh, zeroed client counters. */
export function emptyStats(): PoolStats {
  return {
    calls: 0,
    succeeded: 0,
    failed: 0,
    retries: 0,
    transparentRetries: 0,
    idempotentRetries: 0,
    hedges: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    connectionsClosedBy: Object.fromEntries(CLOSE_REASONS.map((r) => [r, 0])) as Record<CloseReason, number>,
    goawaysReceived: 0,
    illegalTransitions: 0,
  };
}

export class Pool {
  readonly stats: PoolStats = emptyStats();
  /** Attempts handed a connection, and connection attempts that failed before ready, since creation. */
  readonly counts = { attempts: 0, connectFailures: 0 };
  private readonly s: PoolSettings;
  private readonly conns = new Set<ClientConnection>();
  private waiters: Waiter[] = [];
  private closing = false;
  private onEmpty: (() => void) | null = null;
  private closePromise: Promise<void> | null = null;
  private closeDeadline: { at: number; timer: ClockTimer } | null = null;
  /** Connection attempts that failed in a row; reset when one becomes ready. */
  private connectFailures = 0;
  /** No connection attempt before this `clock.now()` (connection backoff). */
  private dialAfter = 0;
  private dialTimer: ClockTimer | null = null;
  /** Makes the error of the last failed connection attempt (a fresh one per call it fails). */
  private lastConnectError: (() => RpcError) | null = null;
  /** Most connections to open now; below maxConnections after GOAWAY(TOO_MANY_CONNECTIONS). */
  private target: number;
  private targetTimer: ClockTimer | null = null;

  private readonly events: PoolEvents;
  /** Probe connections (see {@link probe}) and what to tell when each is ready or gone. */
  private readonly probes = new Map<ClientConnection, (ok: boolean) => void>();

  constructor(settings: PoolSettings, events: PoolEvents = {}) {
    this.s = settings;
    this.target = settings.maxConnections;
    this.events = events;
  }

  /** Calls in flight or reserved on its connections plus calls waiting in its queue. */
  get load(): number {
    let n = this.waiters.length;
    for (const c of this.conns) n += c.load;
    return n;
  }

  /** Connections ready now. */
  get ready(): number {
    let n = 0;
    for (const c of this.conns) if (c.state === 'ready') n++;
    return n;
  }

  /**
   * Opens one connection now, whatever the connection backoff says (the fleet's probe of an
   * ejected endpoint: its own backoff already waited). Resolves true once the server's SETTINGS
   * arrived — the connection then serves calls like any other — false when it failed first.
   */
  probe(): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => this.probes.set(this.openConnection(), resolve));
  }

  /**
   * Rejects every call waiting in the queue with `make()` (processed 'no': none was sent): the
   * fleet's ejection, so it can place them elsewhere, and close(). Connections and calls in flight
   * are left alone.
   */
  evacuate(make: () => RpcError): void {
    const waiting = this.waiters;
    this.waiters = [];
    rejectWaiters(waiting, make, this.s.clock);
  }

  get closed(): boolean {
    return this.closing;
  }

  /**
   * Sends one attempt of `call` (as the interceptor chain sees it) and applies the outcome rules
   * until the call is answered or provably cannot be re-sent.
   */
  send(call: Call): Promise<Buffer> {
    return sendWithRules(call, (c, retry) => this.acquire(c, retry), this.s, this.stats);
  }

  /**
   * A connection with a slot reserved for `call`: the least loaded ready connection; else a place
   * in the FIFO queue (bounded by maxQueue) while connections open or free up. The caller must
   * hand the call to `exchange()` on it (which releases the slot).
   * @param retry a re-send of a call already admitted: it is not refused for a full queue and goes
   *   to the head of the queue (it was admitted before anything now waiting).
   */
  async acquire(call: Call, retry: boolean): Promise<ClientConnection> {
    let yielded = false;
    for (;;) {
      if (this.closing) throw new RpcError('CLIENT_CLOSED', 'the client is closed', { processed: 'no' });
      if (call.signal?.aborted) throw new RpcError('CANCELLED', 'the caller aborted the call before it was sent', { processed: 'no' });
      if (remainingMs(call.deadline, this.s.clock) <= 0) throw new RpcError('DEADLINE_EXCEEDED', 'the deadline passed before the call was sent', { processed: 'no' });
      if (this.waiters.length > 0 && !retry) break;
      const c = this.pick();
      if (!c) break;
      if (c.load === 0 && !yielded) {
        // Seed 003-i: a FIN (or RST) already in our receive queue but not yet read makes an idle
        // connection look alive. Before reusing one, let the event loop poll once, so pending
        // reads run — EOF or ECONNRESET takes the connection out of the pool — then choose again.
        // undici yields one setImmediate for this. That is not enough when the reuse is decided
        // inside an I/O callback (the usual case: the previous answer's 'data'), because the
        // check phase follows the same poll phase without a new epoll_wait; libuv stops reading
        // after a short read, so the FIN that came right behind an answer is read only in the
        // next poll. Two check-phase hops put one poll (epoll_wait with timeout 0) in between.
        // Measured on loopback, a server that answers and closes at once: with one hop every
        // second call was written into the dead connection; with two, none
        // (test/rpc/client-pool.test.ts). This narrows the race; it cannot close it — a FIN may
        // still arrive after the write — which is why GOAWAY and the outcome rules exist.
        yielded = true;
        await nextTurn();
        await nextTurn();
        continue;
      }
      c.reserve();
      this.counts.attempts++;
      return c;
    }
    if (this.conns.size === 0 && this.waiters.length === 0 && this.lastConnectError !== null && this.dialAfter > this.s.clock.now()) {
      // Backing off after failed connection attempts, with no connection alive or opening: fail
      // fast with the last attempt's error (processed 'no') rather than hold the call until the
      // next dial (gRPC's TRANSIENT_FAILURE for a call without wait-for-ready). Calls still
      // queued (re-queued after a reset before SETTINGS) mean a dial is due: join them.
      throw this.lastConnectError();
    }
    if (!retry && this.waiters.length >= this.s.maxQueue) {
      throw new RpcError('QUEUE_FULL', `${this.waiters.length} calls already wait for a connection (maxQueue=${this.s.maxQueue})`, { processed: 'no' });
    }
    return new Promise<ClientConnection>((resolve, reject) => {
      const w: Waiter = { call, done: false, requeues: 0, resolve, reject, timer: null, offAbort: null };
      if (call.deadline !== null) {
        w.timer = this.s.clock.setTimeout(
          () => dropWaiter(this.waiters, w, new RpcError('DEADLINE_EXCEEDED', 'the deadline passed while the call waited for a connection', { processed: 'no' }), this.s.clock),
          Math.max(0, remainingMs(call.deadline, this.s.clock)),
        );
      }
      if (call.signal) {
        w.offAbort = onAbort(call.signal, () =>
          dropWaiter(this.waiters, w, new RpcError('CANCELLED', 'the caller aborted the call while it waited for a connection', { processed: 'no' }), this.s.clock),
        );
      }
      if (retry) this.waiters.unshift(w);
      else this.waiters.push(w);
      this.pump();
    });
  }

  /** The ready connection with the fewest calls in flight (ties: the oldest), or null. */
  private pick(): ClientConnection | null {
    let best: ClientConnection | null = null;
    for (const c of this.conns) {
      if (!c.hasCapacity) continue;
      if (best === null || c.load < best.load) best = c;
    }
    return best;
  }

  /** Hands free slots to waiters in FIFO order, then opens connections for the rest. */
  private pump(): void {
    while (this.waiters.length > 0) {
      const c = this.pick();
      if (!c) break;
      const w = this.waiters.shift() as Waiter;
      if (!settleWaiter(w, this.s.clock)) continue;
      c.reserve();
      this.counts.attempts++;
      w.resolve(c);
    }
    if (this.closing || this.waiters.length === 0) return;
    let connectingSlots = 0;
    for (const c of this.conns) if (c.connecting) connectingSlots += c.maxInFlight;
    let need = this.waiters.length - connectingSlots;
    if (need <= 0 || this.conns.size >= this.target) return;
    const wait = this.dialAfter - this.s.clock.now();
    if (wait > 0) {
      // Backing off after a failed attempt: dial when the wait is over (if still needed).
      if (this.dialTimer === null) {
        this.dialTimer = this.s.clock.setTimeout(() => {
          this.dialTimer = null;
          this.pump();
        }, wait);
      }
      return;
    }
    if (this.connectFailures > 0) {
      // After a failure, one attempt at a time: the next only once this one succeeded or failed.
      if (connectingSlots === 0) this.openConnection();
      return;
    }
    while (need > 0 && this.conns.size < this.target) {
      const c = this.openConnection();
      need -= c.maxInFlight;
    }
  }

  /**
   * A connection attempt failed (refused, reset, timed out, turned away before SETTINGS): the
   * next one waits `backoffMs(CONNECT_BACKOFF, failures)` on the clock. Before this, a refused
   * connection was re-dialled at once: 8 093 attempts/s against a server at maxConnections.
   */
  private connectFailed(): void {
    this.connectFailures++;
    this.dialAfter = this.s.clock.now() + backoffMs(CONNECT_BACKOFF, this.connectFailures, this.s.clock.random());
  }

  /**
   * GOAWAY(TOO_MANY_CONNECTIONS): the server serves no more connections from us than we hold
   * now, so opening more only earns more refusals. Lower the target to what is alive (at least
   * 1) for LOWERED_TARGET_MS, then let the pool try again.
   */
  private lowerTarget(): void {
    let alive = 0;
    for (const c of this.conns) if (c.state === 'ready') alive++;
    this.target = Math.max(1, Math.min(this.target, alive));
    if (this.targetTimer !== null) this.s.clock.clearTimeout(this.targetTimer);
    this.targetTimer = this.s.clock.setTimeout(() => {
      this.targetTimer = null;
      this.target = this.s.maxConnections;
      this.pump();
    }, LOWERED_TARGET_MS);
    this.targetTimer.unref?.();
  }

  private openConnection(): ClientConnection {
    const c = new ClientConnection(this.s, {
      opened: () => {
        this.stats.connectionsOpened++;
      },
      ready: (conn) => {
        const probe = this.probes.get(conn);
        this.probes.delete(conn);
        probe?.(true);
        this.connectFailures = 0;
        this.dialAfter = 0;
        this.lastConnectError = null;
        this.pump();
      },
      capacity: () => this.pump(),
      goaway: (_c, reason: GoawayReasonName) => {
        this.stats.goawaysReceived++;
        if (reason === 'TOO_MANY_CONNECTIONS') this.lowerTarget();
        this.events.goaway?.(reason);
      },
      closed: (conn, reason, error, info) => this.onClosed(conn, reason, error, info),
    });
    this.conns.add(c);
    c.open();
    return c;
  }

  private onClosed(c: ClientConnection, reason: CloseReason, error: (() => RpcError) | null, info: { opened: boolean; wasReady: boolean }): void {
    this.conns.delete(c);
    const probe = this.probes.get(c);
    this.probes.delete(c);
    probe?.(false);
    this.stats.illegalTransitions += c.lifecycle.illegalCount;
    if (info.opened) {
      this.stats.connectionsClosed++;
      this.stats.connectionsClosedBy[reason]++;
    }
    if (error && !info.wasReady && !this.closing) {
      this.connectFailed();
      this.counts.connectFailures++;
      this.lastConnectError = error;
      this.events.connectFailed?.(error(), this.ready);
    }
    if (error && !info.wasReady) {
      // A connection that never became ready (refused, unreachable, self-connect, GOAWAY before
      // SETTINGS, timeout). If nothing else can serve the waiting calls — no ready connection, no
      // other connect under way — they fail now with its error (processed 'no': never sent)
      // rather than loop on a dead address; except after a reset in a closing listener's accept
      // queue (requeueAfterConnectFailure), when they stay queued for the next dial, each up to
      // maxTransparentRetries times and within its deadline. Otherwise they keep waiting.
      let alive = false;
      for (const o of this.conns) if (o.connecting || o.state === 'ready') alive = true;
      if (!alive) {
        const failure = { handshakeDone: info.opened, errno: error().errno };
        const waiting = this.waiters;
        this.waiters = [];
        for (const w of waiting) {
          if (w.done) continue;
          if (!this.closing && requeueAfterConnectFailure(failure, w.requeues, this.s)) {
            w.requeues++;
            this.stats.transparentRetries++;
            this.waiters.push(w);
          } else if (settleWaiter(w, this.s.clock)) w.reject(error());
        }
      }
    }
    this.pump();
    if (this.conns.size === 0 && this.onEmpty) this.onEmpty();
  }

  /**
   * Closes the pool: calls still queued fail CLIENT_CLOSED (never sent); calls in flight may finish
   * until `timeoutMs`; each connection closes with our FIN once idle. At the deadline the rest are
   * destroyed and their calls fail CLIENT_CLOSED ('maybe' when written). Called again (the fleet
   * drained this pool, then the client closes), it returns the same promise; a sooner deadline
   * replaces the later one.
   * @param reason why the connections are retired (counted in connectionsClosedBy).
   */
  close(timeoutMs: number, reason: CloseReason = 'client-closed'): Promise<void> {
    const clock = this.s.clock;
    const at = clock.now() + timeoutMs;
    if (this.closePromise) {
      if (this.closeDeadline !== null && at < this.closeDeadline.at) this.armCloseDeadline(at, timeoutMs);
      return this.closePromise;
    }
    this.closing = true;
    for (const t of [this.dialTimer, this.targetTimer]) if (t !== null) clock.clearTimeout(t);
    this.dialTimer = this.targetTimer = null;
    this.evacuate(() => new RpcError('CLIENT_CLOSED', 'the client was closed while the call waited for a connection', { processed: 'no' }));
    this.closePromise = new Promise<void>((resolve) => {
      this.armCloseDeadline(at, timeoutMs);
      this.onEmpty = () => {
        if (this.closeDeadline !== null) clock.clearTimeout(this.closeDeadline.timer);
        this.closeDeadline = null;
        this.onEmpty = null;
        resolve();
      };
      for (const c of [...this.conns]) c.retire(reason);
      if (this.conns.size === 0) this.onEmpty();
    });
    return this.closePromise;
  }

  private armCloseDeadline(at: number, timeoutMs: number): void {
    if (this.closeDeadline !== null) this.s.clock.clearTimeout(this.closeDeadline.timer);
    const timer = this.s.clock.setTimeout(() => {
      for (const c of [...this.conns]) c.destroy('client-closed');
    }, timeoutMs);
    this.closeDeadline = { at, timer };
  }

  snapshot(): PoolSnapshot {
    const connections = [...this.conns].map((c) => c.describe());
    let inFlight = 0;
    for (const c of connections) inFlight += c.inFlight;
    return {
      open: connections.length,
      connecting: connections.filter((c) => c.state === 'connecting' || c.state === 'handshake').length,
      ready: connections.filter((c) => c.state === 'ready').length,
      draining: connections.filter((c) => c.state === 'draining' || c.state === 'closing').length,
      inFlight,
      queued: this.waiters.length,
      target: this.target,
      connectFailures: this.connectFailures,
      connections,
    };
  }
}
