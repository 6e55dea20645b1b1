/**
 * One accepted connection of the rpc server: frames in, handler calls, answers out, and the
 * teardown that never leaves CLOSE_WAIT and never loses or repeats a call (docs/protocol.md).
 *
 * The teardown paths, each with the TCP fact it rests on:
 *
 * - **Peer EOF** (the client closed or half-closed, seeds 002-i, 002-j): read() returned 0. Finish
 *   the calls in flight, write their answers (a half-closed client still reads, 004-j), then
 *   end() — our FIN follows the answers — and close. The socket spends no time in CLOSE_WAIT
 *   beyond the calls' own run time, and TIME_WAIT lands on the client, which closed first.
 *
 * - **Idle** (seed 002-g): after idleTimeoutMs with no call in flight, GOAWAY(lastId = highest id
 *   read) — and keep the connection open, because a request may already be on the wire (003-i's
 *   race). Requests above lastId are answered REFUSED unrun. The client closes first; we read
 *   EOF and take the path above.
 *
 * - **Drain expired**: the client has not closed drainMs after the GOAWAY. shutdown(SHUT_WR), not
 *   close() (seed 003-e): the FIN goes out, the socket stays readable, so a late write from the
 *   client is ACKed instead of answered with RST — close() with unread data, or data arriving
 *   after close(), makes tcp_close()/tcp_rcv_state_process() in net/ipv4 send RST (002-c, 003-c,
 *   004-e, 004-g). We keep reading and discarding until the client closes, or reset at
 *   finalCloseMs.
 *
 * Why that drain is safe, i.e. avoiding the trap a half-closing server sets: a client that reads
 * EOF from a server that half-closed and kept reading cannot tell from TCP whether its last
 * request was run (003-j). Here it can: we shut down only with nothing in flight, so every call
 * with id ≤ lastId was answered before our FIN, and every call above lastId was never run — the
 * bytes read after the SHUT_WR are discarded unparsed. EOF after a GOAWAY is thus never
 * ambiguous for the calls the GOAWAY covers.
 */
import type { Socket } from 'node:net';

import { fdOf, setKeepalive, setLinger, setUserTimeout } from '../sys/index.js';
import { formatEndpoint } from '../tcp/address.js';
import { nodeErrorCode } from '../tcp/errno.js';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
  encodeError,
  encodeGoaway,
  encodePing,
  encodeResponse,
  encodeSettings,
  type ErrorCodeName,
  type Frame,
  type GoawayReasonName,
} from './frame.js';
import type { ClockTimer } from './clock.js';
import { StateMachine } from './state.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { Handler, HandlerContext, RpcRequest, ServerStats } from './types.js';

/** Why a connection's socket was reset (SO_LINGER 0) rather than closed. */
export type ResetReason = 'final-deadline' | 'server-close-deadline' | 'injected';

/** Event payloads a connection reports to its server (and the server re-emits). */
export interface ConnectionEvents {
  goaway: { connectionId: number; lastId: number; reason: GoawayReasonName };
  refused: { connectionId: number; id: number; method: string };
  protocolError: { connectionId: number; error: FrameError };
  halfClose: { connectionId: number };
  reset: { connectionId: number; reason: ResetReason; peerClosed: boolean };
  /**
   * The socket is closed. `peerClosedFirst`: the client's FIN came before ours (TIME_WAIT is
   * the client's). `discardedBytes`: read and dropped after our SHUT_WR or a protocol error.
   */
  connectionClose: { connectionId: number; peerClosedFirst: boolean; errno: string | null; discardedBytes: number };
}

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly options: ResolvedServerOptions;
  readonly handler: Handler;
  readonly stats: ServerStats;
  emit<K extends keyof ConnectionEvents>(event: K, payload: ConnectionEvents[K]): void;
  /** The socket is gone (after 'close'). */
  closed(conn: ServerConnection): void;
  /** This connection's buffered bytes (partial frame + unsent answers) changed by `delta`. */
  account(delta: number): void;
  /** The server-wide buffer budget (`maxBufferedBytes`) is spent: read nothing more, run nothing new. */
  overBudget(): boolean;
  /** Whether `bytes` more would take the server past `maxBufferedBytes`. */
  wouldExceedBudget(bytes: number): boolean;
}

/**
 * A server connection's life (see the file comment for the TCP facts behind each step):
 * - `serving`: reading requests and running calls; the idle timer runs while nothing is in flight;
 * - `draining`: GOAWAY sent; calls up to lastId are answered, later ones REFUSED; waiting for the
 *   client's FIN until drainMs;
 * - `shutting`: drainMs passed without the client's FIN: shutdown(SHUT_WR) once nothing is in flight;
 * - `broken`: a protocol error; every byte read from now on is discarded; SHUT_WR once nothing is in flight;
 * - `write-shut`: our FIN is out (SHUT_WR); reading and discarding until the client's FIN or finalCloseMs;
 * - `peer-ended`: the client's FIN was read; the calls in flight finish and are answered;
 * - `ending`: end() after the client's FIN; the socket is destroyed once the answers are flushed;
 * - `closed`: the socket is gone.
 */
export type ServerConnectionState = 'serving' | 'draining' | 'shutting' | 'broken' | 'write-shut' | 'peer-ended' | 'ending' | 'closed';

/** The legal moves; anything else is refused and recorded (grpc-js transitionToState, smoltcp set_state). */
export const SERVER_CONNECTION_TRANSITIONS: Readonly<Record<ServerConnectionState, readonly ServerConnectionState[]>> = {
  serving: ['draining', 'broken', 'peer-ended', 'closed'],
  draining: ['shutting', 'broken', 'peer-ended', 'closed'],
  shutting: ['write-shut', 'broken', 'peer-ended', 'closed'],
  broken: ['write-shut', 'peer-ended', 'closed'],
  'write-shut': ['ending', 'closed'],
  'peer-ended': ['ending', 'closed'],
  ending: ['closed'],
  closed: [],
};

/** States in which bytes read are dropped unparsed (after a protocol error or our SHUT_WR). */
function discards(s: ServerConnectionState): boolean {
  return s === 'broken' || s === 'write-shut';
}

/** States after our FIN was queued (shutdown(SHUT_WR) or end()): nothing more may be written. */
function writeShut(s: ServerConnectionState): boolean {
  return s === 'write-shut' || s === 'ending' || s === 'closed';
}

/** How a connection starts: serving, or accepted only to be told to go away. */
export type ConnectionMode = 'serve' | 'over-limit' | 'server-closing';

interface InFlight {
  controller: AbortController | null;
  timer: ClockTimer | null;
}

/** Reason given to a handler's AbortSignal. */
export class CallAbortedError extends Error {
  constructor(readonly code: 'DEADLINE_EXCEEDED' | 'CANCELLED' | 'CONNECTION_CLOSED', message: string) {
    super(message);
    this.name = 'CallAbortedError';
  }
}

export class ServerConnection {
  readonly id: number;
  readonly remote: string;
  readonly mode: ConnectionMode;
  readonly #socket: Socket;
  readonly #host: ConnectionHost;
  readonly #decoder: FrameDecoder;
  readonly #inFlight = new Map<number, InFlight>();
  /** The lifecycle; moves refused by #transition are recorded on it. */
  readonly lifecycle = new StateMachine<ServerConnectionState>('serving', SERVER_CONNECTION_TRANSITIONS);
  /** Answers of this tick are batched into one writev (cork until the next tick). */
  #corked = false;
  /** Highest request id read; ids must increase (docs/protocol.md, "Request ids"). */
  #highestId = 0;
  /** lastId of the GOAWAY sent, null before any. */
  #goawayLastId: number | null = null;
  /** The client's SETTINGS maxPayloadBytes (0: none given), null before its SETTINGS (or without one). */
  #clientMaxPayload: number | null = null;
  /** Why reading is paused; the socket reads only when none holds. */
  readonly #pausedBy = { unreadAnswers: false, budget: false, stall: false };
  /** Recorded when the client's FIN is read: it came before ours (TIME_WAIT is the client's). */
  #peerClosedFirst = false;
  /** Recorded when the client's FIN is read (the state says it too, until write-shut/ending/closed). */
  #sawPeerEnd = false;
  /** Bytes read and dropped after our SHUT_WR or a protocol error. */
  #discardedBytes = 0;
  /** Bytes counted against the server's budget now (partial frame + answers the client has not taken). */
  #accounted = 0;
  /** Answers queued in the socket beyond its high-water mark (the client is not reading). */
  #unsentBytes = 0;
  #errno: string | null = null;
  #idleTimer: ClockTimer | null = null;
  #drainTimer: ClockTimer | null = null;
  #finalTimer: ClockTimer | null = null;

  constructor(socket: Socket, id: number, host: ConnectionHost, mode: ConnectionMode) {
    this.#socket = socket;
    this.id = id;
    this.#host = host;
    this.mode = mode;
    this.#decoder = new FrameDecoder(host.options.maxPayloadBytes);
    this.remote = socket.remoteAddress !== undefined ? formatEndpoint({ address: socket.remoteAddress, port: socket.remotePort ?? 0 }) : 'unknown';
    this.#applySocketOptions();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err) => {
      this.#errno = nodeErrorCode(err) ?? 'EIO';
    });
    socket.on('close', () => this.#onClose());
    socket.on('drain', () => this.#onDrain());
    if (host.overBudget()) this.setBudgetPaused(true);
  }

  get #state(): ServerConnectionState {
    return this.lifecycle.state;
  }

  /** The one place the state changes; a move not in SERVER_CONNECTION_TRANSITIONS is refused and recorded. */
  #transition(to: ServerConnectionState, why: string): boolean {
    return this.lifecycle.state === to || this.lifecycle.to(to, why);
  }


  /** The server-wide budget is spent (or freed again): stop (resume) reading this connection. */
  setBudgetPaused(paused: boolean): void {
    this.#pausedBy.budget = paused;
    this.#updateReading();
  }

  /** Reads unless a reason to pause holds; always reads while discarding (to see the FIN and ACK, not RST). */
  #updateReading(): void {
    const s = this.#socket;
    if (s.destroyed) return;
    const p = this.#pausedBy;
    if ((p.unreadAnswers || p.budget || p.stall) && !discards(this.#state)) s.pause();
    else s.resume();
  }

  /** Reports this connection's buffered bytes to the server's budget. */
  #account(): void {
    const now = this.#state === 'closed' ? 0 : this.#decoder.retainedBytes + this.#unsentBytes;
    if (now === this.#accounted) return;
    this.#host.account(now - this.#accounted);
    this.#accounted = now;
  }

  /** Sends SETTINGS (and, for a connection accepted only to be turned away, GOAWAY). */
  start(): void {
    const host = this.#host;
    const o = host.options;
    // SETTINGS first, on every connection: the client learns our idle timeout and retires the
    // connection itself before we would have to (docs/protocol.md, "Idle close").
    this.#write(encodeSettings({ idleTimeoutMs: o.idleTimeoutMs, maxPayloadBytes: o.maxPayloadBytes, maxInFlight: o.maxInFlight }));
    if (this.mode === 'over-limit') {
      host.stats.rejectedConnections++;
      this.goaway('TOO_MANY_CONNECTIONS');
    } else if (this.mode === 'server-closing') {
      this.goaway('SHUTDOWN');
    } else {
      this.#armIdle();
    }
  }

  /** Whether this connection counts against maxConnections (it was accepted to serve). */
  get serving(): boolean {
    return this.mode === 'serve';
  }

  #applySocketOptions(): void {
    // Answers are small and latency-bound; Nagle would hold them behind an ACK.
    this.#socket.setNoDelay(true);
    const { keepalive, userTimeoutMs } = this.#host.options;
    if (keepalive === null && userTimeoutMs === null) return;
    try {
      const fd = fdOf(this.#socket);
      if (keepalive !== null) setKeepalive(fd, keepalive);
      if (userTimeoutMs !== null) setUserTimeout(fd, userTimeoutMs);
    } catch {
      // The peer may have reset the connection already (EINVAL/EBADF); 'close' follows.
    }
  }

  // ---- reading ------------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (discards(this.#state)) {
      // After our SHUT_WR (003-e) or a protocol error: reading keeps the receive queue empty, so
      // the final close() finds no unread data and sends FIN rather than RST (tcp_close()).
      this.#discardedBytes += chunk.length;
      return;
    }
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.#account();
      for (const frame of err.framesBefore) {
        this.#onFrame(frame);
        if (discards(this.#state)) return;
      }
      this.#protocolError(err);
      return;
    }
    this.#account();
    for (const frame of frames) {
      this.#onFrame(frame);
      if (discards(this.#state)) return;
    }
  }

  #onFrame(f: Frame): void {
    switch (f.type) {
      case 'REQUEST': {
        if (f.id <= this.#highestId) {
          // Monotonic ids are what make GOAWAY's lastId a complete statement; a repeat or a step
          // back could be a call we already ran, so it is never run (docs/protocol.md).
          this.#protocolError(new FrameError('EPROTO', `REQUEST id ${f.id} is not greater than the previous id ${this.#highestId}`));
          return;
        }
        this.#highestId = f.id;
        if (this.#goawayLastId !== null && f.id > this.#goawayLastId) {
          // It crossed our GOAWAY on the wire. Never run: the GOAWAY already told the client so,
          // and it may be re-sending the call elsewhere right now.
          this.#host.stats.refused++;
          this.#host.emit('refused', { connectionId: this.id, id: f.id, method: f.method });
          this.#writeError(f.id, 'REFUSED', `request ${f.id} arrived after GOAWAY lastId=${this.#goawayLastId}; not run, retry on another connection`);
          return;
        }
        if (this.#inFlight.size >= this.#host.options.maxInFlight) {
          this.#host.stats.overloaded++;
          this.#writeError(f.id, 'OVERLOADED', `connection has ${this.#inFlight.size} calls in flight (maxInFlight); not run`);
          return;
        }
        if (this.#host.overBudget()) {
          // The server holds maxBufferedBytes of answers nobody reads and partial frames: reading
          // has stopped; what was read already is refused unrun rather than run into more memory.
          this.#host.stats.overloaded++;
          this.#writeError(f.id, 'OVERLOADED', `the server's buffer budget (maxBufferedBytes=${this.#host.options.maxBufferedBytes}) is full; not run`);
          return;
        }
        this.#run({ id: f.id, method: f.method, body: f.body, idempotent: f.idempotent, deadlineMs: f.deadlineMs });
        return;
      }
      case 'CANCEL': {
        // A CANCEL for a call no longer running (answered, refused, unknown) is ignored: the
        // answer, if any, is already on its way and the client drops it.
        const call = this.#inFlight.get(f.id);
        if (call === undefined) return;
        this.#host.stats.cancelled++;
        this.#finishCall(f.id, call, new CallAbortedError('CANCELLED', 'the client cancelled the call'));
        this.#writeError(f.id, 'CANCELLED', 'cancelled by the client; the handler may have had effects');
        this.#afterCall();
        return;
      }
      case 'PING':
        this.#write(encodePing('PONG', f.data));
        return;
      case 'PONG':
        return; // we send no PINGs; an unsolicited PONG is harmless
      case 'SETTINGS':
        // The client's limits, once, before its first REQUEST (docs/protocol.md, "SETTINGS").
        if (this.#clientMaxPayload !== null || this.#highestId > 0) {
          this.#protocolError(new FrameError('EPROTO', 'a client sends SETTINGS once, before its first REQUEST'));
          return;
        }
        this.#clientMaxPayload = f.maxPayloadBytes;
        return;
      default:
        // RESPONSE, ERROR, GOAWAY, SETTINGS travel server → client only.
        this.#protocolError(new FrameError('EPROTO', `${f.type} frame is sent by servers, not clients`));
    }
  }

  // ---- calls ----------------------------------------------------------------------------------

  #run(request: RpcRequest): void {
    const { stats, options, handler } = this.#host;
    const id = request.id;
    this.#clearIdle();
    if (request.deadlineMs === 0) {
      // The caller's time was already up when it sent the call. Not run; the code still says
      // "maybe" to the client, which is the conservative reading.
      stats.deadlineExceeded++;
      this.#writeError(id, 'DEADLINE_EXCEEDED', 'the request arrived with a deadline of 0 ms; not run');
      this.#afterCall();
      return;
    }
    stats.calls++;
    const limitMs = Math.min(request.deadlineMs ?? Infinity, options.handlerTimeoutMs);
    const call: InFlight = { controller: null, timer: null };
    call.timer = options.clock.setTimeout(() => {
      if (this.#inFlight.get(id) !== call) return;
      stats.deadlineExceeded++;
      this.#finishCall(id, call, new CallAbortedError('DEADLINE_EXCEEDED', `deadline of ${limitMs} ms passed`));
      this.#writeError(id, 'DEADLINE_EXCEEDED', `handler did not answer within ${limitMs} ms; it may have had effects`);
      this.#afterCall();
    }, limitMs);
    this.#inFlight.set(id, call);
    // The AbortController is made only if the handler looks at its signal: most never do, and
    // one per call is an allocation and a listener list on the hot path for nothing.
    const context: HandlerContext = {
      get signal(): AbortSignal {
        call.controller ??= new AbortController();
        return call.controller.signal;
      },
      remote: this.remote,
      connectionId: this.id,
    };
    let result: Promise<Uint8Array>;
    try {
      result = Promise.resolve(handler(request, context));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (body) => {
        if (this.#inFlight.get(id) !== call) return; // answered already (deadline, CANCEL) or connection gone
        this.#finishCall(id, call, null);
        if (!(body instanceof Uint8Array)) {
          stats.handlerFailures++;
          this.#writeError(id, 'HANDLER_FAILED', `handler returned ${body === null ? 'null' : typeof body}, not a Uint8Array`);
        } else {
          this.#answer(id, body);
        }
        this.#afterCall();
      },
      (err: unknown) => {
        if (this.#inFlight.get(id) !== call) return;
        this.#finishCall(id, call, null);
        stats.handlerFailures++;
        this.#writeError(id, 'HANDLER_FAILED', err instanceof Error ? err.message : String(err));
        this.#afterCall();
      },
    );
  }

  /**
   * Writes the handler's answer — unless it is larger than the client accepts (it would make the
   * client close the connection and fail every call on it) or than the server's buffer budget
   * has room for. Either way only this call fails, and the client learns that the handler ran.
   */
  #answer(id: number, body: Uint8Array): void {
    const { stats, options } = this.#host;
    const clientMax = this.#clientMaxPayload ?? 0;
    const limit = clientMax > 0 ? Math.min(clientMax, options.maxPayloadBytes) : options.maxPayloadBytes;
    if (body.length > limit) {
      stats.responsesTooLarge++;
      const whose = clientMax > 0 && clientMax < options.maxPayloadBytes ? "the client's announced maxPayloadBytes" : "the server's maxPayloadBytes";
      this.#writeError(id, 'RESPONSE_TOO_LARGE', `the handler ran; its answer of ${body.length} bytes exceeds ${whose} (${limit}); not sent`);
      return;
    }
    if (this.#host.wouldExceedBudget(FRAME_HEADER_BYTES + body.length)) {
      stats.responsesDropped++;
      this.#writeError(id, 'RESPONSE_DROPPED', `the handler ran; its answer of ${body.length} bytes was dropped: the server's buffer budget (maxBufferedBytes=${options.maxBufferedBytes}) is full of answers clients do not read`);
      return;
    }
    this.#write(encodeResponse(id, body, limit));
  }

  /** Removes a call from the in-flight set; aborts its signal when it ends without an answer from the handler. */
  #finishCall(id: number, call: InFlight, abort: CallAbortedError | null): void {
    this.#inFlight.delete(id);
    if (call.timer !== null) this.#host.options.clock.clearTimeout(call.timer);
    call.timer = null;
    if (abort !== null) call.controller?.abort(abort);
  }

  /** A call ended (answered): the connection may now be idle, or ready to close. */
  #afterCall(): void {
    if (this.#inFlight.size > 0 || this.#state === 'closed') return;
    this.#progress();
  }

  // ---- writing --------------------------------------------------------------------------------

  #write(frame: Buffer): void {
    const s = this.#socket;
    if (writeShut(this.#state) || s.destroyed || !s.writable) return;
    if (!this.#corked) {
      // Answers finished in the same tick leave in one writev() instead of a send() each. (This,
      // the client's batching of calls and the lazy AbortController above took bench/throughput
      // on one connection from 18k to 56k calls/s when they came in, measured together.)
      this.#corked = true;
      s.cork();
      process.nextTick(() => {
        this.#corked = false;
        s.uncork();
      });
    }
    if (!s.write(frame)) {
      // Past the socket's high-water mark: the client is not taking its answers as fast as they
      // come. Count what waits against the server's budget (below the mark it is a few KiB per
      // connection on its way to the kernel, not counted) and stop reading this client's
      // requests until it does, so one slow reader cannot make the server buffer without bound.
      this.#unsentBytes = s.writableLength;
      this.#account();
      if (!this.#pausedBy.unreadAnswers) {
        this.#pausedBy.unreadAnswers = true;
        this.#updateReading();
      }
    }
  }

  /** The socket's queue emptied into the kernel: the client reads again. */
  #onDrain(): void {
    this.#unsentBytes = 0;
    this.#account();
    this.#pausedBy.unreadAnswers = false;
    this.#updateReading();
  }

  #writeError(id: number, code: ErrorCodeName, message: string): void {
    this.#write(encodeError(id, code, message));
  }

  // ---- teardown -----------------------------------------------------------------------------

  /**
   * Sends GOAWAY(lastId = highest id read): calls up to lastId are answered, later ones refused
   * unrun. The connection stays open; the client closes first, and if it has not after drainMs,
   * we half-close (see the file comment). A second GOAWAY is not sent (lastId cannot change).
   * @returns false when one was sent already or the connection is closing anyway.
   */
  goaway(reason: GoawayReasonName): boolean {
    if (this.#goawayLastId !== null || writeShut(this.#state)) return false;
    this.#goawayLastId = this.#highestId;
    if (this.#state === 'serving') this.#transition('draining', `GOAWAY ${reason}`);
    this.#clearIdle();
    this.#write(encodeGoaway(this.#goawayLastId, reason, this.#host.options.idleTimeoutMs, goawayMessage(reason)));
    this.#host.stats.goawaysSent++;
    this.#host.emit('goaway', { connectionId: this.id, lastId: this.#goawayLastId, reason });
    if (this.#state === 'draining') {
      this.#drainTimer = this.#host.options.clock.setTimeout(() => {
        this.#drainTimer = null;
        if (this.#transition('shutting', 'drainMs passed without the client FIN')) this.#progress();
      }, this.#host.options.drainMs);
    }
    return true;
  }

  #protocolError(err: FrameError): void {
    const { stats } = this.#host;
    stats.protocolErrors++;
    this.#host.emit('protocolError', { connectionId: this.id, error: err });
    if (!this.#transition('broken', err.message)) return;
    this.#updateReading();
    this.#clearIdle();
    // The stream is no longer at a frame boundary: say so, say which calls will still be
    // answered, then close without waiting for the client (docs/protocol.md, "Frames").
    this.#writeError(0, 'PROTOCOL_ERROR', err.message);
    if (this.#goawayLastId === null) {
      this.#goawayLastId = this.#highestId;
      stats.goawaysSent++;
      this.#host.emit('goaway', { connectionId: this.id, lastId: this.#goawayLastId, reason: 'PROTOCOL_ERROR' });
    }
    this.#write(encodeGoaway(this.#goawayLastId, 'PROTOCOL_ERROR', this.#host.options.idleTimeoutMs, goawayMessage('PROTOCOL_ERROR')));
    this.#progress();
  }

  /** Takes the next teardown step that the state allows; called whenever the state changes. */
  #progress(): void {
    const state = this.#state;
    if (state === 'closed' || state === 'ending') return;
    if (this.#inFlight.size > 0) return; // answers owed: every teardown waits for them
    if (this.#sawPeerEnd) {
      // 002-i: read() returned 0 and nothing is left to answer: close. end() first so our FIN
      // follows the answers already queued; the socket is destroyed once they are flushed.
      this.#endThenDestroy();
      return;
    }
    if (state === 'shutting' || state === 'broken') {
      this.#shutWrite();
      return;
    }
    if (state === 'serving') this.#armIdle();
  }

  /** shutdown(SHUT_WR) and keep reading (seed 003-e); reset at finalCloseMs if the client never closes. */
  #shutWrite(): void {
    const afterProtocolError = this.#state === 'broken';
    if (!this.#transition('write-shut', 'nothing in flight')) return;
    if (!afterProtocolError) {
      this.#host.stats.halfClosedAfterDrain++;
      this.#host.emit('halfClose', { connectionId: this.id });
    }
    this.#socket.end(); // libuv: shutdown(fd, SHUT_WR) once the write queue is flushed
    this.#updateReading(); // we must go on reading to see the client's FIN (and to ACK, not RST)
    this.#armFinal();
  }

  #endThenDestroy(): void {
    const wasShut = writeShut(this.#state);
    if (!this.#transition('ending', 'client FIN read, nothing in flight')) return;
    const s = this.#socket;
    if (!wasShut) s.end();
    if (s.writableFinished) {
      s.destroy();
      return;
    }
    s.once('finish', () => s.destroy());
    // A client that half-closed and never reads could hold our answers (and this socket) for
    // ever behind a zero window; the final deadline bounds it.
    this.#armFinal();
  }

  #armFinal(): void {
    if (this.#finalTimer !== null) return;
    this.#finalTimer = this.#host.options.clock.setTimeout(() => {
      this.#finalTimer = null;
      this.reset('final-deadline');
    }, this.#host.options.finalCloseMs);
  }

  /**
   * Drops the connection the way a crashing or naive server would, with no GOAWAY: `close()` on
   * the descriptor (FIN, or RST when requests sit unread: tcp_close() in net/ipv4/tcp.c, 002-c).
   * Calls in flight lose their answers. For chaos tests; see {@link RpcServer.injectFault}.
   */
  crash(): void {
    if (this.#state === 'closed' || this.#socket.destroyed) return;
    this.#socket.destroy();
  }

  /** Stops reading this connection for `ms` (a stalled server: requests queue in the kernel). */
  stall(ms: number): void {
    const s = this.#socket;
    if (this.#state === 'closed' || s.destroyed) return;
    this.#pausedBy.stall = true;
    this.#updateReading();
    this.#host.options.clock.setTimeout(() => {
      this.#pausedBy.stall = false;
      this.#updateReading();
    }, ms).unref?.();
  }

  /**
   * Aborts the connection: SO_LINGER {on, 0} then close(), so tcp_close() in net/ipv4/tcp.c
   * sends RST and frees the socket at once — no FIN_WAIT2, no TIME_WAIT (RFC 9293 §3.10.4
   * ABORT). Node's resetAndDestroy() is not used because libuv refuses it once shutdown()
   * (end()) was called (uv_tcp_close_reset() returns EINVAL), which is exactly our case.
   */
  reset(reason: ResetReason): void {
    if (this.#state === 'closed' || this.#socket.destroyed) return;
    try {
      setLinger(fdOf(this.#socket), { onoff: true, seconds: 0 });
    } catch {
      // Handle already gone: destroy() below is all there is to do.
    }
    this.#host.stats.resets++;
    this.#host.emit('reset', { connectionId: this.id, reason, peerClosed: this.#sawPeerEnd });
    this.#socket.destroy();
  }

  #onEnd(): void {
    // A partial frame still in the decoder is dropped: its request was never complete, so never
    // run, and the client that sent it has left.
    this.#sawPeerEnd = true;
    // The client closed first: the good case of every path above (TIME_WAIT lands on it).
    if (!writeShut(this.#state)) {
      this.#peerClosedFirst = true;
      this.#transition('peer-ended', 'client FIN read');
    }
    this.#clearIdle();
    if (this.#drainTimer !== null) {
      this.#host.options.clock.clearTimeout(this.#drainTimer);
      this.#drainTimer = null;
    }
    this.#progress();
  }

  #onClose(): void {
    if (this.#state === 'closed' || !this.#transition('closed', 'socket closed')) return;
    this.#account();
    if (this.#peerClosedFirst) this.#host.stats.peerClosedFirst++;
    this.#clearIdle();
    for (const t of [this.#drainTimer, this.#finalTimer]) if (t !== null) this.#host.options.clock.clearTimeout(t);
    this.#drainTimer = this.#finalTimer = null;
    for (const [id, call] of [...this.#inFlight]) {
      this.#finishCall(id, call, new CallAbortedError('CONNECTION_CLOSED', 'the connection closed before the handler answered'));
    }
    this.#host.emit('connectionClose', { connectionId: this.id, peerClosedFirst: this.#peerClosedFirst, errno: this.#errno, discardedBytes: this.#discardedBytes });
    this.#host.closed(this);
  }

  #armIdle(): void {
    const ms = this.#host.options.idleTimeoutMs;
    if (ms === 0 || this.#idleTimer !== null || this.#state !== 'serving' || this.#goawayLastId !== null) return;
    // The idle clock runs only while nothing is in flight; PINGs do not reset it (a client's
    // keepalive must not keep an unused connection open for ever).
    this.#idleTimer = this.#host.options.clock.setTimeout(() => {
      this.#idleTimer = null;
      if (this.#inFlight.size === 0) this.goaway('IDLE');
    }, ms);
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) this.#host.options.clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }
}

function goawayMessage(reason: GoawayReasonName): string {
  switch (reason) {
    case 'IDLE':
      return 'idle timeout; close this connection once nothing is in flight';
    case 'SHUTDOWN':
      return 'server shutting down';
    case 'MAX_AGE':
      return 'connection reached its maximum age';
    case 'PROTOCOL_ERROR':
      return 'protocol error; the connection will be closed';
    case 'TOO_MANY_CONNECTIONS':
      return 'server is at maxConnections; connect again later';
  }
}
