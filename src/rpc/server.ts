/**
 * The rpc server (docs/protocol.md): handlers `async (request, context) => response`, served so
 * that closing a connection — idle reaping, shutdown, a broken client — never leaves CLOSE_WAIT
 * and never loses or runs twice a call.
 *
 * What lives where:
 * - accept-loop.ts / accept-worker.ts: the listener and an accept loop that survives EMFILE and
 *   ENFILE by backing off with the connection left in the kernel's queue (seed 001-f);
 * - server-connection.ts: one connection, its calls, and its teardown paths (002-g, 002-i,
 *   003-e), each explained beside its code;
 * - this file: the server as a whole: limits across connections, counters, close().
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';

import { closeRaw } from '../sys/index.js';
import { nodeErrorCode } from '../tcp/errno.js';
import { AcceptLoop, openListener } from './accept-loop.js';
import { checkDurationMs, type ClockTimer } from './clock.js';
import { ServerConnection, type ConnectionEvents, type ConnectionHost, type ConnectionMode } from './server-connection.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './server-options.js';
import type { Handler, ServerStats } from './types.js';

export { CallAbortedError, type ConnectionEvents, type ConnectionMode, type ResetReason, type ServerConnectionState } from './server-connection.js';
export type { AcceptBackoff, ResolvedServerOptions, ServerKeepalive, ServerOptions } from './server-options.js';

/** The address a server listens on. */
export interface ServerAddress {
  address: string;
  port: number;
}

/** Options of {@link RpcServer.listen}. */
export interface ListenOptions {
  /**
   * Set SO_REUSEPORT, so that another process (same user, same option) may listen on the same
   * address and port while this one runs — the new process of a rolling restart listens before
   * the old one closes, and clients see no refused connection in between. The kernel spreads new
   * connections over all such listeners. Default false. (docs/rolling-restart.md)
   */
  reusePort?: boolean;
}

/** Events of {@link RpcServer}, each with its one payload. */
export interface ServerEvents extends ConnectionEvents {
  /** listen() succeeded. */
  listening: ServerAddress;
  /** A connection was accepted; `mode` says whether it is served or only told to go away. */
  connection: { connectionId: number; remote: string; mode: ConnectionMode };
  /** accept() failed (counted in stats().acceptErrors); the next try is `backoffMs` later (0: at once). */
  acceptError: { errno: string; backoffMs: number };
  /**
   * The accept loop died for a reason other than close() — a bug, or the listening descriptor
   * closed by someone else. Without a listener it is reported with process.emitWarning(), never
   * thrown: the connections already open go on being served.
   */
  error: Error;
  /** close() finished: no listener, no connection left. */
  close: undefined;
}

type Listener<K extends keyof ServerEvents> = (payload: ServerEvents[K]) => void;

// Typed overloads for the EventEmitter methods (declaration merging with the class below).
export interface RpcServer {
  on<K extends keyof ServerEvents>(event: K, listener: Listener<K>): this;
  once<K extends keyof ServerEvents>(event: K, listener: Listener<K>): this;
  off<K extends keyof ServerEvents>(event: K, listener: Listener<K>): this;
  emit<K extends keyof ServerEvents>(event: K, payload: ServerEvents[K]): boolean;
}

type State = 'new' | 'starting' | 'listening' | 'closing' | 'closed';

/**
 * An rpc server. Create it with {@link createServer}, then {@link RpcServer.listen}.
 *
 * Events: see {@link ServerEvents} (`connection`, `goaway`, `refused`, `protocolError`,
 * `halfClose`, `reset`, `connectionClose`, `acceptError`, `listening`, `close`, `error`).
 */
export class RpcServer extends EventEmitter {
  /** The options in force, defaults filled in. */
  readonly options: Readonly<ResolvedServerOptions>;
  readonly #handler: Handler;
  readonly #stats: ServerStats;
  readonly #conns = new Set<ServerConnection>();
  #serving = 0;
  #nextConnectionId = 1;
  #state: State = 'new';
  #loop: AcceptLoop | null = null;
  #address: ServerAddress | null = null;
  #starting: Promise<unknown> | null = null;
  #closing: Promise<void> | null = null;
  #closeDeadline: { at: number; timer: ClockTimer } | null = null;
  #allClosed: (() => void) | null = null;
  #unref = false;
  /** Bytes buffered across all connections (see ServerOptions.maxBufferedBytes). */
  #buffered = 0;
  #overBudget = false;
  readonly #host: ConnectionHost;

  /**
   * Prefer {@link createServer}.
   * @throws TypeError when `handler` is not a function or an option is unknown;
   *   RangeError naming the option for a value out of range.
   */
  constructor(handler: Handler, options: ServerOptions = {}) {
    super();
    if (typeof handler !== 'function') throw new TypeError(`createServer(handler): handler must be a function, got ${typeof handler}`);
    this.#handler = handler;
    this.options = Object.freeze(resolveServerOptions(options));
    this.#stats = {
      connectionsAccepted: 0,
      connectionsClosed: 0,
      connectionsOpen: 0,
      calls: 0,
      refused: 0,
      overloaded: 0,
      handlerFailures: 0,
      deadlineExceeded: 0,
      cancelled: 0,
      goawaysSent: 0,
      peerClosedFirst: 0,
      halfClosedAfterDrain: 0,
      resets: 0,
      protocolErrors: 0,
      acceptErrors: {},
      rejectedConnections: 0,
      responsesTooLarge: 0,
      responsesDropped: 0,
      bufferedBytes: 0,
      budgetPauses: 0,
      illegalTransitions: 0,
    };
    this.#host = {
      options: this.options,
      handler: this.#handler,
      stats: this.#stats,
      emit: (event, payload) => {
        this.emit(event, payload as ServerEvents[typeof event]);
      },
      closed: (conn) => this.#connectionClosed(conn),
      account: (delta) => this.#account(delta),
      overBudget: () => this.#overBudget,
      wouldExceedBudget: (bytes) => this.#buffered + bytes > this.options.maxBufferedBytes,
    };
  }

  /**
   * The server-wide buffer budget (`maxBufferedBytes`). Past it every connection stops reading
   * (the kernel's receive queues and TCP flow control push back on the clients), and reading
   * resumes under 3/4 of it, so the server does not flap between the two on every answer.
   */
  #account(delta: number): void {
    this.#buffered += delta;
    const max = this.options.maxBufferedBytes;
    if (!this.#overBudget && this.#buffered > max) {
      this.#overBudget = true;
      this.#stats.budgetPauses++;
      for (const c of this.#conns) c.setBudgetPaused(true);
    } else if (this.#overBudget && this.#buffered <= max * 0.75) {
      this.#overBudget = false;
      for (const c of this.#conns) c.setBudgetPaused(false);
    }
  }

  /** Connections open now (served ones and those only being told to go away). */
  get connections(): number {
    return this.#conns.size;
  }

  /** Where the server listens; null before listen() and after close(). */
  get address(): ServerAddress | null {
    return this.#address;
  }

  /** Ids of the connections open now, oldest first (for {@link RpcServer.injectFault}). */
  connectionIds(): number[] {
    return [...this.#conns].map((c) => c.id);
  }

  /**
   * Fault injection, for chaos tests and for operators who must drop one connection:
   * - `'close'`: close the descriptor at once, no GOAWAY, answers in flight lost (a crash);
   * - `'reset'`: SO_LINGER 0 then close: RST (counted in `stats().resets`);
   * - `'stall'`: stop reading the connection for `stallMs` (default 1000) ms.
   * @returns false when no open connection has that id.
   */
  injectFault(connectionId: number, fault: 'close' | 'reset' | 'stall', stallMs = 1000): boolean {
    const conn = [...this.#conns].find((c) => c.id === connectionId);
    if (conn === undefined) return false;
    if (fault === 'close') conn.crash();
    else if (fault === 'reset') conn.reset('injected');
    else conn.stall(stallMs);
    return true;
  }

  /** A snapshot of the counters (a copy; later changes do not show in it). */
  stats(): ServerStats {
    return { ...this.#stats, connectionsOpen: this.#conns.size, bufferedBytes: this.#buffered, acceptErrors: { ...this.#stats.acceptErrors } };
  }

  /**
   * Binds, listens and starts accepting. `host` is an IP literal or a name (first address the
   * resolver gives); port 0 picks a free port.
   * @param opts see {@link ListenOptions} (`reusePort`).
   * @returns the bound address and port.
   * @throws SysError (`EADDRINUSE`, `EACCES`, `EMFILE` …) from socket/bind/listen;
   *   Error when listen() was already called or the server is closed;
   *   RangeError for a port outside 0..65535; TypeError for a non-boolean `reusePort`.
   */
  async listen(port = 0, host = '127.0.0.1', opts: ListenOptions = {}): Promise<ServerAddress> {
    if (this.#state !== 'new') throw new Error(`RpcServer.listen: the server is ${this.#state === 'starting' ? 'already starting' : this.#state}; create a new server`);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RangeError(`RpcServer.listen: port must be an integer in 0..65535, got ${port}`);
    const reusePort = opts.reusePort ?? false;
    if (typeof reusePort !== 'boolean') throw new TypeError(`RpcServer.listen: reusePort must be a boolean, got ${typeof reusePort}`);
    this.#state = 'starting';
    const starting = (async () => {
      const listener = await openListener(host, port, this.options.backlog, reusePort);
      try {
        this.#loop = await AcceptLoop.start(listener.fd, this.options.acceptBackoffMs, {
          accepted: (fd) => this.#accepted(fd),
          acceptError: (errno, backoffMs) => {
            this.#stats.acceptErrors[errno] = (this.#stats.acceptErrors[errno] ?? 0) + 1;
            this.emit('acceptError', { errno, backoffMs });
          },
          failed: (err) => this.#loopFailed(err),
        });
      } catch (err) {
        closeRaw(listener.fd);
        throw err;
      }
      if (this.#unref) this.#loop.unref();
      return { address: listener.address, port: listener.port };
    })();
    this.#starting = starting;
    try {
      const address = await starting;
      this.#address = address;
      if (this.#state === 'starting') this.#state = 'listening';
      this.emit('listening', address);
      return address;
    } catch (err) {
      if (this.#state === 'starting') this.#state = 'new';
      throw err;
    } finally {
      this.#starting = null;
    }
  }

  /**
   * Closes the server: stops listening (connections still in the kernel's accept queue are reset
   * by it, or moved to another SO_REUSEPORT listener when `net.ipv4.tcp_migrate_req` is 1; see
   * docs/rolling-restart.md), then sends GOAWAY(SHUTDOWN) on every connection, lets calls in flight finish and clients
   * close first (the idle-close path, docs/protocol.md "Server shutdown"), and at `deadlineMs`
   * resets whatever is left (SO_LINGER 0) and aborts the handlers still running.
   * Calling it again returns the same promise (a shorter deadline still applies).
   * @param opts.deadlineMs from now, ms; default drainMs + finalCloseMs.
   * @returns resolves once the listener and every connection are gone.
   * @throws RangeError for a deadline outside 0..2^31−1.
   */
  close(opts: { deadlineMs?: number } = {}): Promise<void> {
    const deadlineMs = opts.deadlineMs ?? this.options.drainMs + this.options.finalCloseMs;
    checkDurationMs('RpcServer.close: deadlineMs', deadlineMs, 0, true);
    this.#armCloseDeadline(deadlineMs);
    this.#closing ??= this.#closeNow();
    return this.#closing;
  }

  /** Lets the process exit while the server listens (as net.Server.unref()); open connections still hold it. */
  unref(): this {
    this.#unref = true;
    this.#loop?.unref();
    return this;
  }

  /** Undoes {@link RpcServer.unref}. */
  ref(): this {
    this.#unref = false;
    this.#loop?.ref();
    return this;
  }

  async #closeNow(): Promise<void> {
    this.#state = 'closing';
    // The listener leaves LISTEN first (synchronously, inside stop()), then the GOAWAYs go: every
    // reconnect a GOAWAY provokes then meets the other listener of an SO_REUSEPORT group (the new
    // process of a rolling restart) instead of landing in this one's accept queue just before it
    // is reset. New connections the loop still hands over get GOAWAY(SHUTDOWN) straight after SETTINGS.
    const stopped = this.#loop?.stop();
    for (const conn of this.#conns) conn.goaway('SHUTDOWN');
    if (this.#starting !== null) await this.#starting.catch(() => undefined);
    if (stopped !== undefined) await stopped;
    else if (this.#loop !== null) await this.#loop.stop();
    this.#loop = null;
    this.#address = null;
    if (this.#conns.size > 0) await new Promise<void>((resolve) => (this.#allClosed = resolve));
    if (this.#closeDeadline !== null) this.options.clock.clearTimeout(this.#closeDeadline.timer);
    this.#closeDeadline = null;
    this.#state = 'closed';
    this.emit('close', undefined);
  }

  #armCloseDeadline(deadlineMs: number): void {
    const clock = this.options.clock;
    const at = clock.now() + deadlineMs;
    if (this.#closeDeadline !== null) {
      if (this.#closeDeadline.at <= at) return;
      clock.clearTimeout(this.#closeDeadline.timer);
    }
    const timer = clock.setTimeout(() => {
      for (const conn of [...this.#conns]) conn.reset('server-close-deadline');
    }, deadlineMs);
    this.#closeDeadline = { at, timer };
  }

  #accepted(fd: number): void {
    let socket: net.Socket;
    try {
      // allowHalfOpen: the server, not Node, decides when its FIN goes (after the answers).
      socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
    } catch (err) {
      closeRaw(fd);
      const errno = nodeErrorCode(err) ?? 'EIO';
      this.#stats.acceptErrors[errno] = (this.#stats.acceptErrors[errno] ?? 0) + 1;
      this.emit('acceptError', { errno, backoffMs: 0 });
      return;
    }
    let mode: ConnectionMode = 'serve';
    if (this.#state === 'closing' || this.#state === 'closed') mode = 'server-closing';
    // Over the limit the connection is still accepted, only to say GOAWAY(TOO_MANY_CONNECTIONS)
    // with lastId 0: the client learns that nothing it sent will run and retries elsewhere,
    // rather than waiting in the accept queue or being reset with its request unanswered.
    else if (this.#serving >= this.options.maxConnections) mode = 'over-limit';
    if (mode === 'serve') this.#serving++;
    this.#stats.connectionsAccepted++;
    const conn = new ServerConnection(socket, this.#nextConnectionId++, this.#host, mode);
    this.#conns.add(conn);
    this.emit('connection', { connectionId: conn.id, remote: conn.remote, mode });
    conn.start();
  }

  #connectionClosed(conn: ServerConnection): void {
    if (!this.#conns.delete(conn)) return;
    this.#stats.illegalTransitions += conn.lifecycle.illegalCount;
    if (conn.serving) this.#serving--;
    this.#stats.connectionsClosed++;
    if (this.#conns.size === 0 && this.#allClosed !== null) {
      const done = this.#allClosed;
      this.#allClosed = null;
      done();
    }
  }

  #loopFailed(err: Error): void {
    this.#loop?.closeListener();
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(`rpc server stopped accepting connections: ${err.message}`, { code: 'TT_RPC_ACCEPT_LOOP' });
  }
}

/**
 * Creates an rpc server for `handler`. The handler gets each request and a context (an
 * AbortSignal aborted at the deadline, on CANCEL, or when the connection closes; the client's
 * address; the connection number) and returns the response body or throws (→ ERROR
 * HANDLER_FAILED with the error's message).
 *
 * @param options see {@link ServerOptions}; validated here.
 * @throws TypeError / RangeError naming the bad option.
 */
export function createServer(handler: Handler, options?: ServerOptions): RpcServer {
  return new RpcServer(handler, options);
}
