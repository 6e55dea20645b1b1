/**
 * One client connection of tcp-teardown rpc (docs/protocol.md): a TCP socket that is always
 * read, a frame decoder, and the calls in flight on it, keyed by request id.
 *
 * The connection does not retry anything. For every call it reports an {@link Outcome} that
 * states what the wire proves — never written, refused unrun, lost after the write, answered —
 * and the pool (pool.ts) applies the outcome rules to it.
 *
 * Why the connection keeps its own write queue instead of handing every frame to
 * `socket.write()`: Node buffers writes it cannot pass to the kernel yet and later sends several
 * of them with one writev; the write callback of a batch fires only when the whole batch is in the
 * kernel. If the connection then dies, the callback cannot say which frames of the batch already
 * reached the peer. So at most one `socket.write()` is outstanding; frames behind it stay in our
 * own queue, where they provably have not left the process. On failure, a frame in our queue is
 * "never written" (rule 1, retried anywhere), a frame in the outstanding write or already written
 * is "may have been read" (rule 3). No frame is ever called unwritten while a byte of it may be in
 * the kernel.
 */
import net from 'node:net';
import {
  FrameDecoder,
  FrameError,
  MAX_REQUEST_ID,
  encodeCancel,
  encodePing,
  encodeRequest,
  encodeSettings,
  type ErrorCodeName,
  type Frame,
  type GoawayReasonName,
} from './frame.js';
import { RpcError, type Processed, type RpcErrorCode } from './errors.js';
import type { Call, CloseReason } from './types.js';
import { onAbort } from './abort.js';
import { MAX_TIMER_MS, type Clock, type ClockTimer } from './clock.js';
import type { UnrunWhy } from './resend.js';
import { StateMachine } from './state.js';
import { fdOf, setKeepalive, setUserTimeout, type KeepaliveOptions } from '../sys/index.js';
import { formatEndpoint } from '../tcp/address.js';

/** Calls per connection when neither the user nor the server's SETTINGS says otherwise. */
export const DEFAULT_MAX_IN_FLIGHT = 128;

/** What one attempt of a call on one connection proved. */
export type Outcome =
  /** The server answered with a body. */
  | { kind: 'response'; body: Buffer }
  /**
   * The server provably did not run the call: it never left this process (`not-written`), its id
   * is above a GOAWAY's lastId (`goaway`), or the server answered REFUSED / OVERLOADED.
   */
  | { kind: 'unrun'; why: UnrunWhy; error: RpcError }
  /** The call was (or may have been) written, then the connection failed before any answer. */
  | { kind: 'lost'; error: RpcError }
  /** Settled for good: an ERROR answer, the caller's deadline or cancel, a local limit. */
  | { kind: 'final'; error: RpcError };

/** The connection's settings, resolved from ClientOptions by the client. Durations ms. */
export interface ConnectionSettings {
  host: string;
  port: number;
  localAddress: string | undefined;
  localPort: number | undefined;
  /** TCP connect + the server's SETTINGS frame. */
  connectTimeoutMs: number;
  keepalive: KeepaliveOptions | null;
  /** TCP_USER_TIMEOUT; null leaves the system default. */
  userTimeoutMs: number | null;
  /** Largest payload this side accepts and sends. */
  maxPayloadBytes: number;
  /** The user's cap on calls in flight; null: the server's SETTINGS value, else 128. */
  maxInFlight: number | null;
  /** Own idle timeout; 0 for none. */
  idleTimeoutMs: number;
  /** Subtracted from the server's idle hint. */
  idleMarginMs: number;
  /** Whether the server's idle hint (SETTINGS, GOAWAY) shortens the idle timeout at all. */
  useServerIdleHint: boolean;
  /** 0 for none. */
  maxLifetimeMs: number;
  /** After our FIN, how long to wait for the server's FIN before destroying the socket. */
  closeWaitMs: number;
  /** Time and timers (deadlines are absolute values of `clock.now()`). */
  clock: Clock;
}

/** How a connection reports to its pool. */
export interface ConnectionHooks {
  /** The TCP handshake completed (counted as an opened connection). */
  opened(c: ClientConnection): void;
  /** SETTINGS arrived: the connection takes calls. */
  ready(c: ClientConnection): void;
  /** Load dropped or the connection stopped taking calls: the pool may hand out or open. */
  capacity(c: ClientConnection): void;
  /** A GOAWAY arrived (`beforeReady`: instead of service, e.g. TOO_MANY_CONNECTIONS). */
  goaway(c: ClientConnection, reason: GoawayReasonName, beforeReady: boolean): void;
  /**
   * The connection is gone. `error` makes the error that says why it never became ready (connect
   * failure, self-connect, GOAWAY before SETTINGS), a fresh one per call waiting for it; null
   * after a normal close.
   */
  closed(c: ClientConnection, reason: CloseReason, error: (() => RpcError) | null, info: { opened: boolean; wasReady: boolean }): void;
}

/**
 * A client connection's life. `connecting`: TCP handshake under way; `handshake`: TCP up, our
 * SETTINGS sent, waiting for the server's; `ready`: takes calls; `draining`: takes no new calls,
 * waits for those in flight (retired, or after a GOAWAY); `closing`: our FIN sent, waiting for the
 * server's; `closed`: the socket is gone.
 */
export type ConnectionState = 'connecting' | 'handshake' | 'ready' | 'draining' | 'closing' | 'closed';

/**
 * The legal moves of {@link ConnectionState}; anything else is refused and recorded by
 * `ClientConnection.transition` (as grpc-js's `Subchannel.transitionToState` refuses a move
 * from a state not in its list). Every state may fail straight to `closed`.
 */
export const CLIENT_CONNECTION_TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  connecting: ['handshake', 'closed'],
  handshake: ['ready', 'closed'],
  ready: ['draining', 'closed'],
  draining: ['closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

/** How far along its life a connection got (closed adds nothing): `opened` and `wasReady` are read from it after the close. */
const PROGRESS: Readonly<Record<ConnectionState, number>> = { connecting: 0, handshake: 1, ready: 2, draining: 3, closing: 4, closed: 0 };



interface Pending {
  readonly id: number;
  readonly call: Call;
  /**
   * `queued`: in our own queue, provably not sent; `written`: handed to socket.write() (the one
   * outstanding write or an earlier one), so the server may have read it.
   */
  state: 'queued' | 'written';
  done: boolean;
  resolve: (o: Outcome) => void;
  timer: ClockTimer | null;
  /** Unsubscribes from the caller's AbortSignal. */
  offAbort: (() => void) | null;
}

type QueueItem = { pending: Pending } | { raw: Buffer };

let serials = 0;

/** A client connection. Created and driven by the pool; not part of the public API. */
export class ClientConnection {
  /** Client-wide connection number, 1-based. */
  readonly serial = ++serials;
  /** The lifecycle; moves refused by {@link transition} are recorded on it. */
  readonly lifecycle = new StateMachine<ConnectionState>('connecting', CLIENT_CONNECTION_TRANSITIONS);
  /** The furthest state reached (by PROGRESS), so `opened`/`wasReady` survive the close. */
  #furthest = 0;

  private readonly s: ConnectionSettings;
  private readonly hooks: ConnectionHooks;
  private socket: net.Socket | null = null;
  private readonly decoder: FrameDecoder;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: QueueItem[] = [];
  private writeInProgress = false;
  private flushing = false;
  private flushScheduled = false;
  private reserved = 0;
  /** The server's SETTINGS (maxInFlight and maxPayloadBytes, 0 = no limit), null before they arrive. */
  private serverSettings: { maxInFlight: number; maxPayloadBytes: number } | null = null;
  private idleHintMs = 0;
  private drainReason: CloseReason | null = null;
  private closeReason: CloseReason | null = null;
  private connectTimer: ClockTimer | null = null;
  private idleTimer: ClockTimer | null = null;
  private lifetimeTimer: ClockTimer | null = null;
  private closeTimer: ClockTimer | null = null;
  private capacityScheduled = false;
  private readonly clock: Clock;

  constructor(settings: ConnectionSettings, hooks: ConnectionHooks) {
    this.s = settings;
    this.hooks = hooks;
    this.clock = settings.clock;
    this.decoder = new FrameDecoder(settings.maxPayloadBytes);
  }

  get state(): ConnectionState {
    return this.lifecycle.state;
  }

  /**
   * The one place the state changes. A move not in CLIENT_CONNECTION_TRANSITIONS is refused — the
   * state stays — and recorded on {@link lifecycle}; it returns false so the caller can stop.
   */
  private transition(to: ConnectionState, why: string): boolean {
    if (!this.lifecycle.to(to, why)) return false;
    this.#furthest = Math.max(this.#furthest, PROGRESS[to]);
    return true;
  }

  /** The TCP handshake completed at some point (counted as an opened connection). */
  private get opened(): boolean {
    return this.#furthest >= PROGRESS.handshake;
  }

  /** The connection took calls at some point. */
  private get wasReady(): boolean {
    return this.#furthest >= PROGRESS.ready;
  }

  /** Not yet ready: TCP or SETTINGS still awaited. */
  get connecting(): boolean {
    const s = this.lifecycle.state;
    return s === 'connecting' || s === 'handshake';
  }

  // ---- what the pool reads -------------------------------------------------------------------

  /** Calls in flight plus calls the pool reserved a slot for. */
  get load(): number {
    return this.reserved + this.pending.size;
  }

  /** min(user cap, server's SETTINGS maxInFlight); either alone; else 128. */
  get maxInFlight(): number {
    const server = this.serverSettings !== null && this.serverSettings.maxInFlight > 0 ? this.serverSettings.maxInFlight : null;
    const user = this.s.maxInFlight;
    if (user !== null && server !== null) return Math.min(user, server);
    return user ?? server ?? DEFAULT_MAX_IN_FLIGHT;
  }

  /** Ready, not draining, and below its maximum of calls in flight. */
  get hasCapacity(): boolean {
    return this.state === 'ready' && this.load < this.maxInFlight;
  }

  /** The idle timeout in force: min(own, server hint − margin), ms; Infinity for none. */
  get effectiveIdleMs(): number {
    const own = this.s.idleTimeoutMs > 0 ? this.s.idleTimeoutMs : Infinity;
    const hint = this.s.useServerIdleHint ? this.idleHintMs : 0;
    // A margin larger than the hint would close the connection the moment it is idle; then close
    // at half the hint instead, still well before the server's GOAWAY.
    const fromHint = hint > 0 ? (hint - this.s.idleMarginMs > 0 ? hint - this.s.idleMarginMs : hint / 2) : Infinity;
    return Math.min(own, fromHint);
  }

  /** Diagnostics: addresses, state, load, descriptor. */
  describe(): ConnectionSnapshot {
    const sock = this.socket;
    let fd: number | null = null;
    try {
      fd = sock ? fdOf(sock) : null;
    } catch {
      fd = null;
    }
    return {
      serial: this.serial,
      state: this.state,
      local: sock?.localAddress ? formatEndpoint({ address: sock.localAddress, port: sock.localPort ?? 0 }) : null,
      remote: sock?.remoteAddress ? formatEndpoint({ address: sock.remoteAddress, port: sock.remotePort ?? 0 }) : null,
      inFlight: this.pending.size,
      illegalTransitions: this.lifecycle.illegalCount,
      maxInFlight: this.maxInFlight,
      idleTimeoutMs: this.effectiveIdleMs,
      fd,
    };
  }

  // ---- life ----------------------------------------------------------------------------------

  /** Starts the TCP connect. */
  open(): void {
    const s = this.s;
    // allowHalfOpen: with `false`, Node answers the server's FIN by ending our side on its own
    // schedule, and writes still buffered would be flushed into a connection we have already
    // judged dead. With `true` nothing is written unless we write it; on EOF we classify the
    // calls and then destroy the socket ourselves.
    const socket = net.connect({
      host: s.host,
      port: s.port,
      localAddress: s.localAddress,
      localPort: s.localPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    this.socket = socket;
    this.connectTimer = this.clock.setTimeout(() => {
      const what = this.opened ? 'no SETTINGS frame arrived' : 'the TCP handshake did not complete';
      this.fail('error', (p) =>
        new RpcError('CONNECT_FAILED', `${what} from ${s.host}:${s.port} within connectTimeoutMs=${s.connectTimeoutMs}`, { processed: p, errno: 'ETIMEDOUT' }),
      );
    }, s.connectTimeoutMs);
    socket.on('connect', () => this.onConnect());
    // Always reading, never paused: a FIN or RST on an idle connection is seen when it arrives,
    // so the connection leaves the pool without a syscall per checkout (seed 003-h's check, done
    // continuously by the event loop instead of before each reuse; 002-i, 002-j).
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
    socket.on('close', () => this.onClose());
  }

  /**
   * Stops taking calls and closes once none is in flight (the client closes first: FIN from us,
   * TIME_WAIT on our side). A connection still connecting is destroyed.
   */
  retire(reason: CloseReason): void {
    if (this.connecting) {
      this.fail(reason, (p) => new RpcError('CLIENT_CLOSED', 'the connection was retired before it was ready', { processed: p }), true);
      return;
    }
    if (this.state !== 'ready' && this.state !== 'draining') return;
    this.drainReason ??= reason;
    if (this.state === 'ready' && this.transition('draining', `retired: ${reason}`)) {
      this.clearIdleTimer();
      this.scheduleCapacity();
    }
    this.maybeClose();
  }

  /**
   * Destroys the socket now (client close deadline). Calls still on it fail for good with
   * CLIENT_CLOSED: `'no'` when still in our queue, `'maybe'` when written.
   */
  destroy(reason: CloseReason): void {
    this.fail(reason, (p) => new RpcError('CLIENT_CLOSED', 'the client was closed while the call was on the connection', { processed: p }), true);
  }

  /** The pool reserves a slot synchronously when it picks this connection. */
  reserve(): void {
    this.reserved++;
    this.clearIdleTimer();
    this.socket?.ref();
  }

  // ---- calls ---------------------------------------------------------------------------------

  /**
   * Sends one attempt of `call` on a slot reserved with {@link reserve} and reports what
   * happened. Never rejects.
   */
  exchange(call: Call): Promise<Outcome> {
    this.reserved--;
    const final = (code: RpcErrorCode, message: string, processed: Processed = 'no'): Promise<Outcome> => {
      this.loadDropped();
      return Promise.resolve({ kind: 'final', error: new RpcError(code, message, { processed }) });
    };
    if (this.state !== 'ready' || this.nextId > MAX_REQUEST_ID) {
      // Request ids are u32 and must increase: a connection that used them all retires, like an
      // old one (HTTP/2 does the same when its stream ids run out).
      if (this.nextId > MAX_REQUEST_ID) this.retire('max-lifetime');
      this.loadDropped();
      // Rule 1: nothing was written; the call may go anywhere else.
      return Promise.resolve({
        kind: 'unrun',
        why: 'not-written',
        error: new RpcError('CONNECTION_LOST', `connection ${this.serial} stopped taking calls before the call was written`, { processed: 'no' }),
      });
    }
    if (call.signal?.aborted) return final('CANCELLED', 'the caller aborted the call before it was sent');
    if (call.deadline !== null && call.deadline - this.clock.now() <= 0) return final('DEADLINE_EXCEEDED', 'the deadline passed before the call was sent');
    const limit = this.sendLimit;
    const payload = (call.deadline !== null ? 4 : 0) + 1 + Buffer.byteLength(call.method) + call.body.length;
    if (payload > limit) {
      // Refused locally: the frame would break the peer's limit, so it never reaches the wire.
      return final('FRAME_TOO_LARGE', `request payload of ${payload} bytes exceeds the limit of ${limit} bytes (min of own maxPayloadBytes and the server's)`);
    }
    const id = this.nextId++;
    return new Promise<Outcome>((resolve) => {
      const p: Pending = { id, call, state: 'queued', done: false, resolve, timer: null, offAbort: null };
      this.pending.set(id, p);
      if (call.deadline !== null) {
        p.timer = this.clock.setTimeout(() => this.giveUp(p, 'DEADLINE_EXCEEDED'), Math.max(0, call.deadline - this.clock.now()));
      }
      if (call.signal) p.offAbort = onAbort(call.signal, () => this.giveUp(p, 'CANCELLED'));
      this.queue.push({ pending: p });
      this.scheduleFlush();
    });
  }

  /**
   * Flushes on the next tick, so calls made in the same tick leave in one write instead of a
   * syscall each (server-connection.ts's #write says what the two batchings measured). Until
   * then they are 'queued': never written, so a connection failing meanwhile re-sends them
   * anywhere (rule 1).
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** The caller's deadline passed or it aborted: settle now, and tell the server if it has the call. */
  private giveUp(p: Pending, code: 'DEADLINE_EXCEEDED' | 'CANCELLED'): void {
    if (p.done) return;
    const what = code === 'DEADLINE_EXCEEDED' ? 'the deadline passed' : 'the caller aborted';
    if (p.state === 'queued') {
      // Still in our own queue: removing it means it never reaches the server.
      this.settle(p, { kind: 'final', error: new RpcError(code, `${what} before the call was written`, { processed: 'no' }) });
      return;
    }
    // Written (or being written): the server may be running it. CANCEL asks it to stop; the
    // handler may already have had effects, so the caller is told 'maybe'.
    this.sendRaw(encodeCancel(p.id));
    this.settle(p, { kind: 'final', error: new RpcError(code, `${what} after request ${p.id} was written on connection ${this.serial}; CANCEL sent`, { processed: 'maybe' }) });
  }

  private get sendLimit(): number {
    const server = this.serverSettings?.maxPayloadBytes ?? 0;
    return server > 0 ? Math.min(this.s.maxPayloadBytes, server) : this.s.maxPayloadBytes;
  }

  private sendRaw(frame: Buffer): void {
    if (this.state !== 'ready' && this.state !== 'draining') return;
    this.queue.push({ raw: frame });
    this.flush();
  }

  /**
   * Hands everything queued to the socket as one write, once the previous write's callback has
   * fired. Request frames are encoded here, so the DEADLINE field carries the time left at the
   * moment of writing.
   */
  private flush(): void {
    if (this.flushing || this.writeInProgress || this.queue.length === 0) return;
    if (this.state !== 'ready' && this.state !== 'draining') return;
    const socket = this.socket;
    if (!socket) return;
    this.flushing = true;
    const items = this.queue;
    this.queue = [];
    const bufs: Buffer[] = [];
    const now = this.clock.now();
    for (const item of items) {
      if ('raw' in item) {
        bufs.push(item.raw);
        continue;
      }
      const p = item.pending;
      if (p.done) continue;
      let deadlineMs: number | null = null;
      if (p.call.deadline !== null) {
        deadlineMs = Math.ceil(p.call.deadline - now);
        if (deadlineMs <= 0) {
          this.settle(p, { kind: 'final', error: new RpcError('DEADLINE_EXCEEDED', 'the deadline passed before the call was written', { processed: 'no' }) });
          continue;
        }
      }
      try {
        bufs.push(encodeRequest(p.id, p.call.method, p.call.body, { idempotent: p.call.idempotent, deadlineMs, maxPayloadBytes: this.sendLimit }));
      } catch (e) {
        const code: RpcErrorCode = e instanceof FrameError ? 'FRAME_TOO_LARGE' : 'PROTOCOL_ERROR';
        this.settle(p, { kind: 'final', error: new RpcError(code, `request could not be encoded: ${(e as Error).message}`, { processed: 'no', cause: e }) });
        continue;
      }
      p.state = 'written';
    }
    this.flushing = false;
    if (bufs.length === 0) {
      this.maybeClose();
      return;
    }
    this.writeInProgress = true;
    const data = bufs.length === 1 ? (bufs[0] as Buffer) : Buffer.concat(bufs);
    socket.write(data, (err) => {
      // After a failure the calls were already classified (those of this write as written).
      if (this.state === 'closed' || this.socket !== socket) return;
      this.writeInProgress = false;
      if (err) return; // 'error' follows and fails the connection.
      this.flush();
      this.maybeUnref();
      this.maybeClose();
    });
  }

  private settle(p: Pending, o: Outcome): void {
    if (p.done) return;
    p.done = true;
    this.pending.delete(p.id);
    if (p.timer) this.clock.clearTimeout(p.timer);
    p.offAbort?.();
    if (p.state === 'queued') this.queue = this.queue.filter((it) => !('pending' in it) || it.pending !== p);
    p.resolve(o);
    this.loadDropped();
  }

  private loadDropped(): void {
    if (this.load === 0 && this.state !== 'closed') {
      if (this.state === 'ready') this.armIdleTimer();
      this.maybeUnref();
      this.maybeClose();
    }
    this.scheduleCapacity();
  }

  /** An idle connection does not keep the process alive (as undici's); it still reads. */
  private maybeUnref(): void {
    if (this.state === 'ready' && this.load === 0 && this.queue.length === 0 && !this.writeInProgress && !this.flushing) this.socket?.unref();
  }

  /** Capacity is reported after the current frame or callback, never from inside one. */
  private scheduleCapacity(): void {
    if (this.capacityScheduled) return;
    this.capacityScheduled = true;
    queueMicrotask(() => {
      this.capacityScheduled = false;
      this.hooks.capacity(this);
    });
  }

  // ---- socket events -------------------------------------------------------------------------

  private onConnect(): void {
    const socket = this.socket;
    if (!socket || !this.transition('handshake', 'TCP connected')) return;
    this.hooks.opened(this);
    // Seed 004-m: with nothing listening on a port in the ephemeral range, connect() can pick that
    // very port as its source and complete a simultaneous open with itself — an ESTABLISHED
    // connection with no server. Every frame we sent would come back to us. Local address =
    // remote address is the proof; close and say so.
    if (socket.localAddress === socket.remoteAddress && socket.localPort === socket.remotePort) {
      const ep = formatEndpoint({ address: socket.localAddress ?? '', port: socket.localPort ?? 0 });
      this.fail('self-connect', (p) =>
        new RpcError('SELF_CONNECT', `the connection to ${this.s.host}:${this.s.port} connected to itself (local = remote = ${ep}; seed 004-m)`, { processed: p }),
      );
      return;
    }
    try {
      const fd = fdOf(socket);
      // Peers that vanish without FIN or RST (power loss, a dropped route): keepalive finds an
      // idle connection dead, TCP_USER_TIMEOUT one with unacknowledged data.
      if (this.s.keepalive) setKeepalive(fd, this.s.keepalive);
      if (this.s.userTimeoutMs !== null) setUserTimeout(fd, this.s.userTimeoutMs);
    } catch (e) {
      this.fail('error', (p) =>
        new RpcError('CONNECT_FAILED', `could not set TCP keepalive / TCP_USER_TIMEOUT: ${(e as Error).message}`, { processed: p, cause: e }),
      );
      return;
    }
    // Our first frame: the largest payload we accept, so the server never sends an answer we
    // would have to reject by closing the connection (which would fail every call on it); it
    // answers such a call alone with ERROR RESPONSE_TOO_LARGE (docs/protocol.md, "SETTINGS").
    socket.write(encodeSettings({ idleTimeoutMs: this.s.idleTimeoutMs, maxPayloadBytes: this.s.maxPayloadBytes, maxInFlight: this.s.maxInFlight ?? 0 }));
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      // Well-formed frames ahead of the bad one in the same chunk are handled first (an answer
      // that arrived intact is delivered), so the outcome does not depend on how TCP split the bytes.
      for (const f of (e as { framesBefore?: Frame[] }).framesBefore ?? []) {
        if ((this.state as ConnectionState) === 'closed') break;
        this.onFrame(f);
      }
      this.protocolError((e as Error).message, e);
      return;
    }
    for (const f of frames) {
      if ((this.state as ConnectionState) === 'closed') return;
      this.onFrame(f);
    }
    // Ready only after the whole chunk: a GOAWAY that came with SETTINGS is seen before any call
    // is placed on the connection.
    if (this.serverSettings !== null && this.state === 'handshake') this.becomeReady();
  }

  private becomeReady(): void {
    if (!this.transition('ready', 'SETTINGS received')) return;
    if (this.connectTimer) this.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.s.maxLifetimeMs > 0) {
      this.lifetimeTimer = this.clock.setTimeout(() => this.retire('max-lifetime'), this.s.maxLifetimeMs);
      this.lifetimeTimer.unref?.();
    }
    this.armIdleTimer();
    this.hooks.ready(this);
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'SETTINGS':
        this.serverSettings = { maxInFlight: f.maxInFlight, maxPayloadBytes: f.maxPayloadBytes };
        this.idleHintMs = f.idleTimeoutMs;
        if (this.state === 'ready') this.armIdleTimer();
        this.scheduleCapacity();
        return;
      case 'PING':
        this.sendRaw(encodePing('PONG', f.data));
        return;
      case 'PONG':
        return;
      case 'GOAWAY':
        this.onGoaway(f.lastId, f.reason, f.idleTimeoutMs, f.message);
        return;
      case 'RESPONSE':
      case 'ERROR': {
        if (f.type === 'ERROR' && f.id === 0) {
          // About the whole connection. PROTOCOL_ERROR: the server closes after it; stop using it.
          if (f.code === 'PROTOCOL_ERROR') this.retire('protocol-error');
          return;
        }
        const p = this.pending.get(f.id);
        if (!p) {
          // A call we cancelled, or one a GOAWAY already proved unrun and we re-sent elsewhere:
          // its late answer (REFUSED, usually) is ignored. An id never sent breaks the protocol.
          if (f.id >= this.nextId) this.protocolError(`${f.type} for request ${f.id}, which was never sent`);
          return;
        }
        if (p.state === 'queued') {
          this.protocolError(`${f.type} for request ${f.id} before it was written`);
          return;
        }
        if (f.type === 'RESPONSE') {
          this.settle(p, { kind: 'response', body: f.body });
          return;
        }
        this.onCallError(p, f.code, f.message);
        return;
      }
      case 'REQUEST':
      case 'CANCEL':
        // Only a client sends these. Reading one means the peer is another client — or this very
        // socket, connected to itself (004-m) and missed by the address check.
        this.protocolError(`received a ${f.type} frame, which only clients send (is the peer a client, or this socket itself?)`);
        return;
    }
  }

  private onCallError(p: Pending, code: ErrorCodeName, message: string): void {
    const msg = message ? `: ${message}` : '';
    switch (code) {
      case 'REFUSED':
        // Rule 2: REFUSED means the handler did not run and will not (id above a GOAWAY's lastId,
        // or the server closing). The connection will not run anything new: stop choosing it.
        this.retire('goaway');
        this.settle(p, { kind: 'unrun', why: 'refused', error: new RpcError('REFUSED', `server refused request ${p.id} unrun${msg}`, { processed: 'no' }) });
        return;
      case 'OVERLOADED':
        // Rule 2: OVERLOADED is sent instead of running the handler (maxInFlight reached).
        this.settle(p, { kind: 'unrun', why: 'overloaded', error: new RpcError('OVERLOADED', `server overloaded, request ${p.id} not run${msg}`, { processed: 'no' }) });
        return;
      case 'DEADLINE_EXCEEDED':
        this.settle(p, { kind: 'final', error: new RpcError('DEADLINE_EXCEEDED', `the server's handler did not finish within the deadline${msg}`, { processed: 'maybe' }) });
        return;
      case 'HANDLER_FAILED':
        this.settle(p, { kind: 'final', error: new RpcError('HANDLER_FAILED', `handler for ${p.call.method} failed${msg}`, { processed: 'yes' }) });
        return;
      case 'CANCELLED':
        this.settle(p, { kind: 'final', error: new RpcError('CANCELLED', `the server cancelled request ${p.id}${msg}`, { processed: 'maybe' }) });
        return;
      case 'RESPONSE_TOO_LARGE':
        // The server honoured the maxPayloadBytes we announced: the handler ran, its answer was
        // too large to send, and only this call fails (the connection and its other calls stay).
        this.settle(p, { kind: 'final', error: new RpcError('FRAME_TOO_LARGE', `the answer to ${p.call.method} (request ${p.id}) is too large${msg}`, { processed: 'yes' }) });
        return;
      case 'RESPONSE_DROPPED':
        this.settle(p, { kind: 'final', error: new RpcError('RESPONSE_DROPPED', `the server dropped the answer to request ${p.id}${msg}`, { processed: 'yes' }) });
        return;
      case 'PROTOCOL_ERROR':
        // Rule 4: an answer is final. The server did not understand the stream; it closes next.
        this.retire('protocol-error');
        this.settle(p, { kind: 'final', error: new RpcError('PROTOCOL_ERROR', `server reported a protocol error for request ${p.id}${msg}`, { processed: 'maybe' }) });
        return;
    }
  }

  private onGoaway(lastId: number, reason: GoawayReasonName, idleTimeoutMs: number, message: string): void {
    if (idleTimeoutMs > 0) this.idleHintMs = idleTimeoutMs;
    this.hooks.goaway(this, reason, this.connecting);
    if (this.connecting) {
      // GOAWAY instead of service (TOO_MANY_CONNECTIONS, SHUTDOWN): no call was placed here.
      const text = `server sent GOAWAY ${reason} before the connection was ready${message ? `: ${message}` : ''}`;
      this.fail('goaway', (p) => new RpcError('REFUSED', text, { processed: p }));
      return;
    }
    if (this.state === 'ready' && this.transition('draining', `GOAWAY ${reason}`)) {
      this.drainReason ??= 'goaway';
      this.clearIdleTimer();
      this.scheduleCapacity();
    }
    // Rule 2: ids increase and lastId is the highest the server read, so a call with a higher id
    // was not read and will not be run here (the server answers it REFUSED, which we then ignore).
    // Re-sending it elsewhere at once is safe whatever the method; waiting for the REFUSED would
    // only add a round trip. Calls with id ≤ lastId stay: the server promised to answer them.
    for (const p of [...this.pending.values()]) {
      if (p.id > lastId) {
        this.settle(p, {
          kind: 'unrun',
          why: 'goaway',
          error: new RpcError('REFUSED', `request ${p.id} is above GOAWAY lastId=${lastId} (${reason}); the server will not run it`, { processed: 'no' }),
        });
      }
    }
    this.maybeClose();
  }

  private onEnd(): void {
    if (this.state === 'closing') {
      // Our FIN went first; this is the server's. Both sides are done.
      this.socket?.destroy();
      return;
    }
    if (this.state === 'closed') return;
    // The server closed (or half-closed) first. A FIN means no answer will ever come on this
    // connection; it does not say whether the server read what we wrote (003-j): a server that
    // half-closes and keeps reading may run every call it reads afterwards.
    this.fail('peer-eof', (p) =>
      p === 'no'
        ? new RpcError(this.wasReady ? 'CONNECTION_LOST' : 'CONNECT_FAILED', `the server closed connection ${this.serial} (EOF) before the call was written`, { processed: 'no', errno: 'EOF' })
        : new RpcError('CONNECTION_LOST', `the server closed connection ${this.serial} (EOF) after the call was written and before any answer`, { processed: p, errno: 'EOF' }),
    );
  }

  private onError(err: NodeJS.ErrnoException): void {
    const errno = err.code ?? 'EIO';
    if (this.state === 'closing') {
      this.socket?.destroy();
      return;
    }
    if (this.state === 'closed') return;
    if (!this.opened) {
      this.fail('error', (p) => new RpcError('CONNECT_FAILED', `connect to ${this.s.host}:${this.s.port} failed: ${errno}`, { processed: p, errno, cause: err }));
      return;
    }
    const reason: CloseReason = errno === 'ECONNRESET' || errno === 'EPIPE' ? 'peer-reset' : 'error';
    this.fail(reason, (p) =>
      p === 'no'
        ? new RpcError(this.wasReady ? 'CONNECTION_LOST' : 'CONNECT_FAILED', `connection ${this.serial} failed with ${errno} before the call was written`, { processed: 'no', errno, cause: err })
        : new RpcError('CONNECTION_LOST', `connection ${this.serial} failed with ${errno} after the call was written and before any answer`, { processed: p, errno, cause: err }),
    );
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    if (this.state === 'closing') {
      this.finish(this.closeReason ?? 'client-closed');
      return;
    }
    this.fail('error', (p) => new RpcError('CONNECTION_LOST', `connection ${this.serial} closed unexpectedly`, { processed: p }));
  }

  private protocolError(message: string, cause?: unknown): void {
    this.fail('protocol-error', (p) => new RpcError('PROTOCOL_ERROR', message, { processed: p, errno: 'EPROTO', cause }));
  }

  // ---- closing -------------------------------------------------------------------------------

  /** Draining and nothing left in flight or to write: send our FIN (the client closes first). */
  private maybeClose(): void {
    if (this.state !== 'draining') return;
    if (this.load > 0 || this.queue.length > 0 || this.writeInProgress || this.flushing) return;
    const socket = this.socket;
    if (!socket || !this.transition('closing', 'drained')) return;
    this.closeReason = this.drainReason ?? 'client-closed';
    this.clearTimers();
    socket.ref();
    socket.end();
    // We keep reading until the server's FIN; a server that never sends it costs us only an
    // orphaned FIN_WAIT2 that the kernel reaps (tcp_fin_timeout, 004-j).
    this.closeTimer = this.clock.setTimeout(() => socket.destroy(), this.s.closeWaitMs);
    this.closeTimer.unref?.();
    this.scheduleCapacity();
  }

  /**
   * The connection broke (or is being destroyed). The socket is destroyed first, so nothing more
   * leaves this process; then each call is classified by where its bytes were:
   *  - still in our queue → never written: `unrun` (rule 1), or `final` when `fatal`;
   *  - in the outstanding write or written → may have been read and run: `lost` (rule 3).
   */
  private fail(reason: CloseReason, make: (p: Processed) => RpcError, fatal = false): void {
    if (this.state === 'closed') return; // already gone: not an illegal move, a late event
    const wasConnecting = this.connecting;
    if (!this.transition('closed', `failed: ${reason}`)) return;
    this.closeReason = reason;
    this.clearTimers();
    this.socket?.destroy();
    this.queue = [];
    for (const p of [...this.pending.values()]) {
      if (p.state === 'queued') {
        const error = make('no');
        this.settle(p, fatal ? { kind: 'final', error } : { kind: 'unrun', why: 'not-written', error });
      } else {
        const error = make('maybe');
        this.settle(p, fatal ? { kind: 'final', error } : { kind: 'lost', error });
      }
    }
    this.hooks.closed(this, reason, wasConnecting ? () => make('no') : null, { opened: this.opened, wasReady: this.wasReady });
  }

  private finish(reason: CloseReason): void {
    if (this.state === 'closed' || !this.transition('closed', `closed: ${reason}`)) return;
    this.clearTimers();
    this.hooks.closed(this, reason, null, { opened: this.opened, wasReady: this.wasReady });
  }

  private armIdleTimer(): void {
    this.clearIdleTimer();
    if (this.state !== 'ready' || this.load > 0) return;
    const ms = this.effectiveIdleMs;
    if (!Number.isFinite(ms)) return;
    // The client retires its idle connections before the server would (min of own and the
    // server's hint minus a margin), so the FIN comes from us and no call crosses a GOAWAY (002-g).
    // A hint or own timeout beyond what a timer holds means "never" in practice.
    if (ms > MAX_TIMER_MS) return;
    this.idleTimer = this.clock.setTimeout(() => this.retire('idle'), Math.max(0, ms));
    this.idleTimer.unref?.();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private clearTimers(): void {
    this.clearIdleTimer();
    for (const t of [this.connectTimer, this.lifetimeTimer, this.closeTimer]) if (t) this.clock.clearTimeout(t);
    this.connectTimer = this.lifetimeTimer = null;
    if (this.state === 'closed') this.closeTimer = null;
  }
}

/** One connection as {@link ClientConnection.describe} reports it. */
export interface ConnectionSnapshot {
  serial: number;
  state: ConnectionState;
  /** `ip:port`, or null before the connect completes. */
  local: string | null;
  remote: string | null;
  inFlight: number;
  maxInFlight: number;
  /** The idle timeout in force, ms (Infinity: none). */
  idleTimeoutMs: number;
  /** The socket's descriptor (for getsockopt and the doctor), or null. */
  fd: number | null;
  /** State moves the connection refused as illegal (a bug if ever above 0). */
  illegalTransitions: number;
}
