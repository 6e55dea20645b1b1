import { StateTimeline, type TcpTraceEvent } from '../trace/index.js';
import { rstReasonMeaning, type RstReason } from '../tcp/rst-reason.js';
import type { TcpState } from '../tcp/state.js';

/**
 * `teardown trace`'s unit, as bcc's tcpstates shows it: one state transition with the time the
 * socket spent in the state it leaves, or one RST with the kernel's reason.
 */
export type TraceLine = TraceTransition | TraceReset;

/** Who caused an event, when it is known. */
export interface TraceProcess {
  pid: number;
  /** `/proc/PID/comm` when readable at the time, else null. */
  command: string | null;
  /**
   * `event`: the task that ran the transition itself (a syscall: connect, listen, close,
   * shutdown); `socket`: the task that last acted on this socket, for a transition the kernel ran
   * on its own (a segment arriving, a timer).
   */
  from: 'event' | 'socket';
}

/** A state transition. */
export interface TraceTransition {
  kind: 'state';
  /** Wall-clock time, ms since the epoch (µs fraction). */
  epochMs: number;
  local: string;
  remote: string;
  from: TcpState;
  to: TcpState;
  /** ms spent in `from`; null when the tracer did not see the socket enter it (it was there before). */
  inPreviousMs: number | null;
  process: TraceProcess | null;
}

/** A RST sent or received. */
export interface TraceReset {
  kind: 'rst-sent' | 'rst-received';
  epochMs: number;
  local: string | null;
  remote: string | null;
  /** State of the socket when it sent the RST (sent only); null when none. */
  state: TcpState | null;
  /** The kernel's reason (sent only, Linux >= 6.10), e.g. `TCP_ABORT_ON_CLOSE`. */
  reason: RstReason | null;
  /** One sentence on the reason. */
  meaning: string | null;
  process: TraceProcess | null;
}

/** Filters of `teardown trace`: each given one must match. */
export interface TraceFilter {
  /** Local or remote port is one of these. */
  ports?: readonly number[];
  /** A transition from or to one of these states (a RST: the state it was sent in). */
  states?: readonly TcpState[];
  /** The process (from the event or the socket) is one of these. */
  pids?: readonly number[];
}

/**
 * Transitions a task makes by a syscall on its own socket, so the event's pid is the owner:
 * connect() → SYN_SENT, listen() → LISTEN, close()/shutdown() → FIN_WAIT1 or LAST_ACK, close()
 * of a listener or an unconnected socket → CLOSE. The others run in softirq or timer context,
 * where the pid is whatever the CPU happened to run (tcp_rcv_state_process(), tcp_time_wait()).
 */
export function isProcessContext(from: TcpState, to: TcpState): boolean {
  return to === 'SYN_SENT' || to === 'LISTEN' || to === 'FIN_WAIT1' || to === 'LAST_ACK' || (to === 'CLOSE' && (from === 'LISTEN' || from === 'SYN_SENT'));
}

/** Options of {@link TransitionTracker}. */
export interface TransitionTrackerOptions {
  /** Sockets remembered at most (the oldest are forgotten first); default 100 000. */
  maxSockets?: number;
  /** The command of a pid (`/proc/PID/comm`), or null; injected so the tracker stays pure in tests. */
  commandOf?: (pid: number) => string | null;
}

interface SocketMemory {
  state: TcpState;
  pid: number | null;
}

/**
 * Turns the tracer's events into {@link TraceLine}s: the time in the previous state from trace/'s
 * {@link StateTimeline}, and, per socket (its kernel address), its state and the process that last
 * acted on it. Memory is bounded: a socket is forgotten when it reaches CLOSE, and the oldest
 * beyond `maxSockets` are dropped.
 */
export class TransitionTracker {
  readonly #sockets = new Map<bigint, SocketMemory>();
  readonly #timeline: StateTimeline;
  readonly #max: number;
  readonly #commandOf: (pid: number) => string | null;

  constructor(opts: TransitionTrackerOptions = {}) {
    const max = opts.maxSockets ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxSockets must be a positive integer, got ${String(opts.maxSockets)}`);
    this.#max = max;
    this.#timeline = new StateTimeline(max);
    this.#commandOf = opts.commandOf ?? (() => null);
  }

  /** Sockets remembered now. */
  get size(): number {
    return this.#sockets.size;
  }

  /** The lines for one event (none for an error report). */
  add(e: TcpTraceEvent): TraceLine | undefined {
    if (e.kind === 'state') {
      const known = this.#sockets.get(e.skaddr);
      const own = isProcessContext(e.from, e.to) && e.pid > 0;
      const pid = own ? e.pid : (known?.pid ?? null);
      const { msInPrevious } = this.#timeline.track(e);
      const inPreviousMs = known !== undefined && known.state === e.from ? msInPrevious : null;
      this.#sockets.delete(e.skaddr); // re-inserted last: Map order is the eviction order
      if (e.to !== 'CLOSE') {
        this.#sockets.set(e.skaddr, { state: e.to, pid });
        if (this.#sockets.size > this.#max) this.#sockets.delete(this.#sockets.keys().next().value as bigint);
      }
      return {
        kind: 'state',
        epochMs: e.epochMs,
        local: e.local,
        remote: e.remote,
        from: e.from,
        to: e.to,
        inPreviousMs,
        process: pid === null ? null : { pid, command: this.#commandOf(pid), from: own ? 'event' : 'socket' },
      };
    }
    if (e.kind === 'reset-sent') {
      // An active reset (no segment provoked it: close with unread data, abort, SO_LINGER 0) runs
      // in the closing task; one answering a segment runs in softirq.
      const known = e.skaddr === 0n ? undefined : this.#sockets.get(e.skaddr);
      const own = e.skbaddr === 0n && e.pid > 0;
      const pid = own ? e.pid : (known?.pid ?? null);
      return {
        kind: 'rst-sent',
        epochMs: e.epochMs,
        local: e.local,
        remote: e.remote,
        state: e.state,
        reason: e.reason,
        meaning: e.reason === null ? null : (rstReasonMeaning(e.reason) ?? null),
        process: pid === null ? null : { pid, command: this.#commandOf(pid), from: own ? 'event' : 'socket' },
      };
    }
    if (e.kind === 'reset-received') {
      const pid = this.#sockets.get(e.skaddr)?.pid ?? null;
      return {
        kind: 'rst-received',
        epochMs: e.epochMs,
        local: e.local,
        remote: e.remote,
        state: this.#sockets.get(e.skaddr)?.state ?? null,
        reason: null,
        meaning: null,
        process: pid === null ? null : { pid, command: this.#commandOf(pid), from: 'socket' },
      };
    }
    return undefined;
  }
}

function portOf(endpoint: string | null): number {
  if (endpoint === null) return -1;
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

/** Whether a line passes the filter. Pure. */
export function matchesFilter(line: TraceLine, f: TraceFilter): boolean {
  if (f.ports !== undefined && f.ports.length > 0 && !f.ports.some((p) => portOf(line.local) === p || portOf(line.remote) === p)) return false;
  if (f.states !== undefined && f.states.length > 0) {
    const hit = line.kind === 'state' ? f.states.includes(line.from) || f.states.includes(line.to) : line.state !== null && f.states.includes(line.state);
    if (!hit) return false;
  }
  if (f.pids !== undefined && f.pids.length > 0 && (line.process === null || !f.pids.includes(line.process.pid))) return false;
  return true;
}

/** `12.345` ms as tcpstates prints it, or `-` when unknown. */
function msText(ms: number | null): string {
  return ms === null ? '-' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(3);
}

/** The column header of {@link traceLineText}. */
export const TRACE_HEADER = 'TIME          EVENT        LOCAL                  REMOTE                 OLDSTATE    -> NEWSTATE     MS        PROCESS';

/**
 * One line for a person: time of day (UTC, ms), what happened, both ends, the states, the ms
 * spent in the old state (or `-`), the process (`?` unknown; `~` when inferred from the socket).
 */
export function traceLineText(line: TraceLine): string {
  const time = new Date(line.epochMs).toISOString().slice(11, 23);
  const who = line.process === null ? '?' : `${line.process.from === 'socket' ? '~' : ''}${line.process.command ?? '?'}(${line.process.pid})`;
  const ends = `${(line.local ?? '-').padEnd(22)} ${(line.remote ?? '-').padEnd(22)}`;
  if (line.kind === 'state') return `${time}  ${'state'.padEnd(11)}  ${ends} ${line.from.padEnd(11)} -> ${line.to.padEnd(11)}  ${msText(line.inPreviousMs).padStart(8)}  ${who}`;
  const reason = line.reason === null ? '' : `  ${line.reason}${line.meaning === null ? '' : ` (${line.meaning})`}`;
  return `${time}  ${line.kind.padEnd(11)}  ${ends} ${(line.state ?? '-').padEnd(11)}                          ${who}${reason}`;
}
