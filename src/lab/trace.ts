import { flagWords, type CapturedSegment, type ErrnoName, type RstReason, type SocketObservation, type SocketOwner, type TcpState } from '../tcp/index.js';
import type { CallResult, CallValue, Step } from './ops.js';
import type { ClaimNote, Finding, Verdict } from './scenario.js';

/** A socket of the scenario at one moment, with the scenario's name for it. */
export interface ObservedSocket extends SocketObservation {
  /**
   * The scenario's name for this end: `c`, `L`, `srv#1`; `~c` for the far end of `c` when that
   * end has no name of its own (a connection still in the accept queue).
   */
  label: string;
  /** The actor whose process holds it, or null. */
  actor: string | null;
  /** Every process holding it: more than one when a descriptor is shared (seed 003-f). */
  holders: SocketOwner[];
  /** False for a socket a process still holds but that has left the kernel's table (CLOSE). */
  inTable: boolean;
}

/** One picture of every socket of the scenario. */
export interface Snapshot {
  /** ms since the scenario started. */
  atMs: number;
  sockets: ObservedSocket[];
}

export interface StepRecord {
  index: number;
  label: string | null;
  actor: string | null;
  step: Step;
  /** How the step reads in a report: `client: write c "ping"`. */
  text: string;
  result: CallResult;
  /** ms since the scenario started. */
  startMs: number;
  /**
   * When the step started, CLOCK_REALTIME ms since the epoch with a µs fraction: the clock of the
   * packets' and the tracepoints' timestamps, so every event falls in exactly one step.
   */
  startEpochMs: number;
  durationMs: number;
  /** The sockets right after the step. */
  after: Snapshot;
  /** For `watch` steps: every distinct picture seen. */
  watched?: Snapshot[];
  /** Indices into `Trace.segments` of the packets seen during this step. */
  segments: number[];
}

export interface TraceEnv {
  backend: 'kernel' | 'model';
  /** Network namespace name, or null when run in the host namespace. */
  netns: string | null;
  kernel: string;
  sysctls: Record<string, number>;
  /** Why packets were not captured, when they were not. */
  captureNote: string | null;
  /** Why state transitions and RST reasons were not traced, when they were not. */
  traceNote: string | null;
  /** The namespace's local-port range (`ip_local_port_range`): every port of the scenario lies in it. */
  ports: [number, number] | null;
  actors: Record<string, { pid: number }>;
  /** Model runs only: the loopback round-trip time asked for (`--rtt-ms`), ms. */
  rttMs?: number;
}

/**
 * One state change of one socket, from the `sock:inet_sock_set_state` tracepoint: the passing
 * states too (SYN_RECV, FIN_WAIT1, CLOSING, LAST_ACK), which happen inside a syscall or a softirq
 * where no snapshot can see them. The kernel traces no move into TIME_WAIT: `tcp_time_wait()`
 * hands the connection to a timewait socket and the full socket goes to CLOSE.
 */
export interface TraceTransition {
  /** CLOCK_REALTIME ms since the epoch (µs fraction). */
  epochMs: number;
  /** The scenario's name for the socket (`c`, `~c`, `L`), or `local>remote` when it never had one. */
  socket: string;
  from: TcpState;
  to: TcpState;
  /** Index of the step during which it happened. */
  step: number;
}

/** A RST the kernel sent (`tcp:tcp_send_reset`) or took in (`tcp:tcp_receive_reset`). */
export interface TraceReset {
  epochMs: number;
  /** The scenario's name for the socket that sent or received it (for a RST sent with no socket: its would-be local end). */
  socket: string;
  direction: 'sent' | 'received';
  /** The kernel's reason (`TCP_ABORT_ON_CLOSE`); `null` for a received RST and where the kernel gives none. */
  reason: RstReason | null;
  /** The sending socket's state, when the kernel reports one. */
  state: TcpState | null;
  step: number;
}

/** An error the kernel set on a socket (`sock:inet_sk_error_report`): what the next call will return. */
export interface TraceSocketError {
  epochMs: number;
  socket: string;
  errno: ErrnoName | null;
  /** The raw error number. */
  error: number;
  step: number;
}

export interface Trace {
  scenario: string;
  title: string;
  /** What the experiment does and why (the scenario's summary). */
  summary?: string;
  article: string;
  env: TraceEnv;
  steps: StepRecord[];
  /** Every captured segment, or null when packets were not captured. */
  segments: CapturedSegment[] | null;
  /** Every state change of the scenario's sockets, in time order; null when not traced (see `env.traceNote`). */
  transitions: TraceTransition[] | null;
  /** Every RST the scenario's sockets sent or received, with the kernel's reason; null when not traced. */
  resets: TraceReset[] | null;
  /** Errors the kernel set on the scenario's sockets; null when not traced. */
  errors: TraceSocketError[] | null;
  /** Scenario socket names → `ip:port`, for reading the segments. */
  addresses: Record<string, string>;
  /** Scenario socket names → their peer's `ip:port`. */
  remotes: Record<string, string>;
  verdicts: Verdict[];
  /** Notes on claims this scenario does not judge (another runtime, another set-up). */
  notes: ClaimNote[];
  /** Kernel facts beyond the articles that this run showed, with their evidence. */
  findings: Finding[];
  durationMs: number;
}

/**
 * What a claim check reads: the trace, with lookups by step label and socket label.
 * Lookups of a label the scenario never defined throw: that is a scenario bug, not a finding.
 */
export class TraceView {
  constructor(readonly trace: Trace) {}

  step(label: string): StepRecord {
    const s = this.trace.steps.find((x) => x.label === label);
    if (!s) throw new Error(`${this.trace.scenario}: no step labelled ${JSON.stringify(label)}`);
    return s;
  }

  result(label: string): CallResult {
    return this.step(label).result;
  }

  /** The socket `name` right after step `label` (undefined when it is gone). */
  sock(label: string, name: string): ObservedSocket | undefined {
    return this.step(label).after.sockets.find((s) => s.label === name);
  }

  /** `STATE Recv-Q n`, or `gone`, for one-line evidence. */
  describe(label: string, name: string): string {
    const s = this.sock(label, name);
    if (!s) return `${name} gone`;
    const owner = s.owner ? `${s.actor ?? s.owner.command}(${s.owner.pid})` : 'no owner';
    return `${name} ${s.state} Recv-Q ${s.recvQ} Send-Q ${s.sendQ} ${owner}`;
  }

  /** Every state `name` was seen in, in order, across all snapshots (watched ones too). */
  statesOf(name: string): TcpState[] {
    const seen: TcpState[] = [];
    for (const st of this.trace.steps) {
      for (const snap of [...(st.watched ?? []), st.after]) {
        const s = snap.sockets.find((x) => x.label === name);
        if (s && seen[seen.length - 1] !== s.state) seen.push(s.state);
      }
    }
    return seen;
  }

  get captured(): boolean {
    return this.trace.segments !== null;
  }

  /** The state transitions were traced (tracefs), so passing states are known. */
  get traced(): boolean {
    return this.trace.transitions !== null;
  }

  /** Socket `name`'s traced transitions, in order (empty when not traced). */
  transitionsOf(name: string): TraceTransition[] {
    return (this.trace.transitions ?? []).filter((x) => x.socket === name);
  }

  /**
   * Every state socket `name` passed through, in order, from its traced transitions:
   * `CLOSE → SYN_SENT → SYN_RECV → ESTABLISHED …`; null when transitions were not traced.
   */
  passedStates(name: string): TcpState[] | null {
    if (!this.traced) return null;
    const out: TcpState[] = [];
    for (const x of this.transitionsOf(name)) {
      if (out.length === 0) out.push(x.from);
      else if (out[out.length - 1] !== x.from) out.push(x.from);
      out.push(x.to);
    }
    return out;
  }

  /**
   * Socket `name`'s traced path from step `from` on (default: the whole run), with the time it spent
   * in each state it passed through: `ESTABLISHED → FIN_WAIT1 47.5 ms → FIN_WAIT2 0.01 ms → CLOSE`.
   * Null when transitions were not traced; `no transition` when it made none.
   */
  pathText(name: string, from?: string): string | null {
    if (!this.traced) return null;
    const first = from === undefined ? 0 : this.step(from).index;
    const moves = this.transitionsOf(name).filter((x) => x.step >= first);
    const head = moves[0];
    if (!head) return 'no transition';
    const parts = [head.from as string];
    moves.forEach((x, i) => {
      const next = moves[i + 1];
      parts.push(next ? `${x.to} ${msText(next.epochMs - x.epochMs)}` : x.to);
    });
    return parts.join(' → ');
  }

  /** RSTs sent (or received) by socket `name` during steps `from`..`to` (default: the whole run). */
  resetsOf(name: string, direction: TraceReset['direction'], from?: string, to: string | undefined = from): TraceReset[] {
    const [a, b] = from === undefined ? [0, Infinity] : [this.step(from).index, this.step(to as string).index];
    return (this.trace.resets ?? []).filter((r) => r.socket === name && r.direction === direction && r.step >= a && r.step <= b);
  }

  /** The RSTs the kernel sent were traced (`tcp:tcp_send_reset`), so each has its reason. */
  get resetsTraced(): boolean {
    return this.trace.resets !== null;
  }

  /**
   * One segment's flags for evidence: `FIN+ACK`, a RST with the kernel's reason
   * (`RST+ACK (TCP_STATE)`), or `RST (reason not traced)` when RSTs were not traced.
   */
  words(s: CapturedSegment): string {
    if (s.rstReason) return `${flagWords(s.flags)} (${s.rstReason})`;
    if (!s.flags.includes('RST')) return flagWords(s.flags);
    return `${flagWords(s.flags)} (${this.resetsTraced ? 'no reason traced' : 'reason not traced'})`;
  }

  /** The flags of each segment for evidence ({@link words}), or `none` when there is none. */
  flagsText(segs: readonly CapturedSegment[], none = 'nothing'): string {
    return segs.length === 0 ? none : segs.map((s) => this.words(s)).join(', ');
  }

  /**
   * The RSTs socket `name` sent during steps `from`..`to`, each as evidence names it:
   * `RST+ACK (TCP_STATE)` from the captured segments; without packets, from the traced resets
   * (`RST (TCP_STATE; segment not captured)`). Null when neither was recorded: nothing is known.
   */
  rstsSent(name: string, from: string, to: string = from): string[] | null {
    if (this.captured) return this.from(name, this.segments(from, to)).filter((s) => s.flags.includes('RST')).map((s) => this.words(s));
    if (this.resetsTraced) return this.resetsOf(name, 'sent', from, to).map((r) => `RST (${r.reason ?? 'no reason given'}; segment not captured)`);
    return null;
  }

  /**
   * {@link rstsSent} as one phrase: `RST+ACK (TCP_STATE)`, `none` when no RST was seen, or
   * `unseen` when neither packets nor RSTs were recorded.
   */
  rstText(name: string, from: string, to: string = from, none = 'no RST', unseen = 'RST unseen (packets not captured, RSTs not traced)'): string {
    const r = this.rstsSent(name, from, to);
    return r === null ? unseen : r.length === 0 ? none : r.join(', ');
  }

  /** The segments seen from the start of step `from` to the end of step `to` (default: `from`). */
  segments(from: string, to: string = from): CapturedSegment[] {
    const all = this.trace.segments ?? [];
    const a = this.step(from).index;
    const b = this.step(to).index;
    const idx = this.trace.steps.filter((s) => s.index >= a && s.index <= b).flatMap((s) => s.segments);
    return idx.map((i) => all[i]).filter((s): s is CapturedSegment => s !== undefined);
  }

  /** Segments sent by socket `name` (`~x`: the far end of x) among `segs`. */
  from(name: string, segs: CapturedSegment[]): CapturedSegment[] {
    const addr = this.addr(name);
    const peer = this.addr(name.startsWith('~') ? name.slice(1) : `~${name}`);
    return segs.filter((s) => s.src === addr && (peer === undefined || s.dst === peer));
  }

  /** `ip:port` of socket `name`; `~x` is the far end of x. */
  addr(name: string): string | undefined {
    return name.startsWith('~') ? this.trace.remotes[name.slice(1)] : this.trace.addresses[name];
  }
}

/*
 * Readers of a call's result, for claim checks: a read or drain returns `{ bytes, eof, text }`,
 * exit and kill `{ code, signal }`, epoll its readiness bits, write the bytes sent.
 */

/** Field `key` of a call's object value (`bytes`, `eof`, `text`, `signal` …), or undefined; failed calls may carry one too. */
export function resultField(r: CallResult, key: string): CallValue | undefined {
  const v = r.value;
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v[key] : undefined;
}

/** A read (or drain) that reached end of file: read() returned 0. */
export function readEof(r: CallResult): boolean {
  return r.ok && resultField(r, 'eof') === true;
}

/** The bytes a successful read (or drain) returned; -1 when it failed or returned no count. */
export function readBytes(r: CallResult): number {
  const n = resultField(r, 'bytes');
  return r.ok && n !== undefined ? Number(n) : -1;
}

/** A call's list value as strings: an `epoll` step's readiness bits, a `nodeEvents` step's events. */
export function resultList(r: CallResult): string[] {
  return Array.isArray(r.value) ? r.value.map(String) : [];
}

/** A duration for evidence: `47.5 ms`, `0.61 ms` under 1 ms. */
export function msText(ms: number): string {
  return `${ms < 1 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

/**
 * The scenario's name for the socket whose own end is `local` and whose peer is `remote`: a named
 * socket, `~x` for the far end of a named `x`, or `null`. A listener (no peer, remote a wildcard)
 * is found by its local address alone, and so is a socket only ever seen unconnected (SYN_SENT).
 */
export function socketLabel(local: string, remote: string, addresses: Readonly<Record<string, string>>, remotes: Readonly<Record<string, string>>): string | null {
  const names = Object.keys(addresses);
  const own = names.find((n) => addresses[n] === local && remotes[n] === remote);
  if (own) return own;
  const far = names.find((n) => addresses[n] === remote && remotes[n] === local);
  if (far) return `~${far}`;
  const unconnected = names.find((n) => addresses[n] === local && remotes[n] === undefined);
  if (unconnected === undefined) return null;
  if (/^(0\.0\.0\.0|\[::\]):0$/.test(remote)) return unconnected;
  // A socket the snapshots only saw unconnected (SYN_SENT: getpeername() fails ENOTCONN) is it,
  // unless that name is a listener (others connect to its address): then this is one of its
  // children that has no name of its own.
  const isListener = Object.values(remotes).includes(local);
  return isListener ? null : unconnected;
}

/** The index of the step running at `epochMs` (an event before the first step belongs to step 0). */
export function stepAt(stepStarts: readonly number[], epochMs: number): number {
  let k = 0;
  while (k + 1 < stepStarts.length && (stepStarts[k + 1] as number) <= epochMs) k++;
  return k;
}

/** Two pictures show the same thing (times and timers aside). */
export function samePicture(a: Snapshot, b: Snapshot): boolean {
  const key = (s: Snapshot): string => s.sockets.map((x) => `${x.label}|${x.state}|${x.recvQ}|${x.sendQ}|${x.owner?.pid ?? '-'}`).join(';');
  return key(a) === key(b);
}
