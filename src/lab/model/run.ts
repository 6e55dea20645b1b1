/**
 * The lab's model backend: a scenario's steps run on the pure TCP model (src/model) in virtual
 * time, producing the trace the kernel backend produces (kernel/run.ts) — observations per step,
 * call results with errnos, segments, transitions, resets, socket errors — judged by the same
 * claim checks. No root, no processes, no real timers: waits, timeouts and the settle pause after
 * each call are advances of the model's clock, so tcp_fin_timeout = 60 s costs microseconds.
 */
import { errnoNumber, type CapturedSegment, type SocketOwner, type TcpState } from '../../tcp/index.js';
import { tupleKey } from '../../tcp/address.js';
import { MAX_TIMER_MS } from '../../tcp/time.js';
import { LOOPBACK_MSS, World, type Endpoint, type Process } from '../../model/index.js';
import type { ActorOp, CallResult, CallValue, Step } from '../ops.js';
import { resolveStep } from '../ops.js';
import { runSysctls, type Scenario } from '../scenario.js';
import { ScenarioSkipped } from '../errors.js';
import { judgeTrace, notesAndFindings } from '../judge/index.js';
import { samePicture, socketLabel, stepAt, type ObservedSocket, type Snapshot, type StepRecord, type Trace, type TraceReset, type TraceSocketError, type TraceTransition } from '../trace.js';
import { stepFailed, stepRecord } from '../step-record.js';
import { modelSysctls } from './sysctls.js';

/**
 * How long one send() of a `fill` lasts on the model, virtual ms. Estimated, not measured: a 64 KiB
 * send(MSG_DONTWAIT) copies and queues skbs for some tens of µs on the kernel (no per-call time is
 * recorded: the lab's whole fill step, 5 calls, took 22 ms with the runner's round trips). What
 * matters is that it exceeds the model's loopback RTT (0.02 ms), so the first skb's ACK lands
 * before the next send(): values 0.021..2 tried give the recorded fills' 10240 B, 0.019 gives 8192.
 */
const FILL_SEND_MS = 0.05;
import { MODEL_UNCOVERED_CLAIMS, modelSkipReason } from './coverage.js';

/** What the trace's `env.kernel` says for a model run. */
export const MODEL_KERNEL = 'model (Linux 6.18 rules, src/model)';

/** The model's ephemeral-port slot, as a lab namespace's (port-slots.ts: 512 ports). */
const PORT_SLOT: readonly [number, number] = [32768, 33279];

/** Virtual pause after each call before observing, ms, as the kernel runner's settle. */
const SETTLE_MS = 10;
/**
 * Virtual time each step's closing observation takes, ms: the kernel runner reads /proc and asks
 * every peer after each step, and its recorded actor steps last a median 26 ms (the 359 in
 * test/fixtures/traces; 10 ms of it settle); the scenarios' waits were sized with that pace.
 */
const OBSERVE_MS = 10;

export interface ModelRunOptions {
  /** Sysctls over the scenario's own, by kernel name (`net.ipv4.tcp_fin_timeout`); see MODEL_SYSCTLS. */
  sysctls?: Record<string, number>;
  /**
   * Round-trip time of the model's loopback, ms: each direction delays segments by half of it
   * (default 0.02: loopback's ~0.01 ms one way). At most 2^31−1.
   */
  rttMs?: number;
  /** Seed of the model's PRNG (ISNs, port choice). Default 1. */
  seed?: number;
  /**
   * A recorded run's pace, to follow it step by step (a kernel trace's `startMs` and
   * `after.atMs`): step i starts no earlier than `pace[i].startMs` and its closing picture is taken
   * no earlier than `pace[i].atMs`, virtual ms from the first step. Steps past the list keep the
   * model's own pace.
   */
  pace?: readonly { startMs: number; atMs?: number }[];
  /** Called after each step. */
  onStep?: (rec: StepRecord) => void;
}

/** A socket a process holds, under the scenario's name (a shared socket: one entry per holder). */
interface Held {
  name: string;
  actor: string;
  p: Process;
  fd: number;
  ep: Endpoint;
}

const SYNCHRONIZED = new Set<TcpState>(['ESTABLISHED', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'CLOSE_WAIT', 'CLOSING', 'LAST_ACK', 'TIME_WAIT']);

/**
 * Runs one scenario on the model and judges every claim on its trace. Synchronous and
 * deterministic: virtual time, a seeded PRNG; the trace depends only on the scenario and the
 * options (but `durationMs`, the wall time the run took).
 * @throws ScenarioSkipped when the scenario needs what the model lacks ({@link modelSkipReason}).
 * @throws ScenarioFailed when a step cannot be carried out (a socket name never made): a scenario bug.
 * @throws RangeError for an `rttMs` outside 0..2^31−1 or a sysctl outside the model's range.
 */
export function runOnModel(sc: Scenario, opts: ModelRunOptions = {}): Trace {
  const why = modelSkipReason(sc, opts.sysctls);
  if (why !== null) throw new ScenarioSkipped(sc.id, why);
  const rtt = opts.rttMs ?? 0.02;
  if (!Number.isFinite(rtt) || rtt < 0 || rtt > MAX_TIMER_MS) throw new RangeError(`rttMs ${rtt}: need 0..${MAX_TIMER_MS}`);
  const started = performance.now();
  const run = new ModelRun(sc, opts, rtt);
  const trace = run.run();
  trace.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
  // A claim the model is known to get wrong is reported as such, with the model's own finding.
  trace.verdicts = judgeTrace(sc, trace).map((v) => {
    const why = MODEL_UNCOVERED_CLAIMS[v.claim];
    return why === undefined ? v : { claim: v.claim, verdict: 'unverified' as const, observed: `not covered by the model: ${why} (the model's run: ${v.verdict}: ${v.observed})` };
  });
  Object.assign(trace, notesAndFindings(sc, trace));
  return trace;
}

/** Virtual ms rounded to the µs, so times print without float noise. */
const us = (ms: number): number => Math.round(ms * 1000) / 1000;

class ModelRun {
  readonly w: World;
  readonly sysctls: Record<string, number>;
  readonly ports: [number, number];
  readonly procs = new Map<string, Process>();
  readonly held: Held[] = [];
  readonly addresses: Record<string, string> = {};
  readonly remotes: Record<string, string> = {};
  readonly #byTuple = new Map<string, string>();
  readonly #listeners = new Map<string, string>();
  readonly #unconnected = new Map<string, string>();

  constructor(
    readonly sc: Scenario,
    readonly opts: ModelRunOptions,
    rttMs: number,
  ) {
    this.sysctls = runSysctls(sc, opts.sysctls);
    const known = modelSysctls(this.sysctls);
    if (!known.ok) throw new ScenarioSkipped(sc.id, `needs sysctl ${known.unknown}, which the model does not honour`);
    const high = sc.localPorts === undefined ? PORT_SLOT[1] : Math.min(PORT_SLOT[1], PORT_SLOT[0] + sc.localPorts - 1);
    this.ports = [PORT_SLOT[0], high];
    this.w = new World({ seed: opts.seed ?? 1, link: { delayMs: rttMs / 2 }, host: { sysctls: { ...known.sysctls, ip_local_port_range: this.ports } } });
    for (const a of sc.actors) this.procs.set(a, this.w.host.spawn(a));
  }

  get now(): number {
    return this.w.clock.nowMs;
  }

  run(): Trace {
    const records: StepRecord[] = [];
    const segStarts: number[] = [];
    const transitionStarts: number[] = [];
    const errorStarts: number[] = [];
    const host = this.w.host;
    for (const [index, step] of this.sc.steps.entries()) {
      const resolved = resolveStep(step, this.sysctls);
      segStarts.push(this.w.network.segments.length);
      transitionStarts.push(host.transitions.length);
      errorStarts.push(host.errors.length);
      const pace = this.opts.pace?.[index];
      if (pace !== undefined) this.#advance(pace.startMs - this.now);
      const t0 = this.now;
      let result: CallResult;
      let watched: Snapshot[] | undefined;
      try {
        ({ result, watched } = this.#perform(resolved));
      } catch (e) {
        throw stepFailed(this.sc.id, resolved, e, records);
      }
      if (watched === undefined) this.#advance(pace?.atMs !== undefined ? pace.atMs - this.now : OBSERVE_MS);
      const after = watched?.at(-1) ?? this.#snapshot();
      // Whole ms as the kernel runner records them; the epoch field keeps the exact virtual time.
      const timing = { startMs: Math.round(t0), startEpochMs: us(t0), durationMs: Math.round(this.now - t0) };
      const rec = stepRecord(index, resolved, result, timing, after, watched);
      records.push(rec);
      this.opts.onStep?.(rec);
    }
    const segments = this.w.network.segments.map((s) => ({ ...s, timeMs: us(s.timeMs), epochMs: us(s.epochMs) }));
    // The n-th segment (transition, error) belongs to the last step that started at or before n were made.
    segments.forEach((_, i) => records[stepAt(segStarts, i)]?.segments.push(i));
    const name = (tuple: string): string => {
      const [local = '', remote = ''] = tuple.split('>');
      return socketLabel(local, remote, this.addresses, this.remotes) ?? tuple;
    };
    const transitions: TraceTransition[] = host.transitions.map((t, i) => ({ epochMs: us(t.atMs), socket: name(t.socket), from: t.from, to: t.to, step: stepAt(transitionStarts, i) }));
    const resets: TraceReset[] = [];
    segments.forEach((s, i) => {
      if (!s.flags.includes('RST')) return;
      // A RST sent with no socket behind it (NO_SOCKET) is named by its would-be local end.
      resets.push({ epochMs: s.epochMs, socket: socketLabel(s.src, s.dst, this.addresses, this.remotes) ?? tupleKey(s.src, s.dst), direction: 'sent', reason: s.rstReason ?? null, state: null, step: stepAt(segStarts, i) });
    });
    host.transitions.forEach((t, i) => {
      if (t.why.startsWith('tcp_reset()')) resets.push({ epochMs: us(t.atMs), socket: name(t.socket), direction: 'received', reason: null, state: null, step: stepAt(transitionStarts, i) });
    });
    resets.sort((a, b) => a.epochMs - b.epochMs);
    const errors: TraceSocketError[] = host.errors.map((e, i) => ({ epochMs: us(e.atMs), socket: name(e.socket), errno: e.errno, error: errnoNumber(e.errno), step: stepAt(errorStarts, i) }));
    return {
      scenario: this.sc.id,
      title: this.sc.title,
      summary: this.sc.summary,
      article: this.sc.article,
      env: {
        backend: 'model',
        netns: null,
        kernel: MODEL_KERNEL,
        sysctls: { ...this.sysctls },
        captureNote: null,
        traceNote: null,
        ports: [this.ports[0], this.ports[1]],
        actors: Object.fromEntries([...this.procs].map(([a, p]) => [a, { pid: p.pid }])),
        ...(this.opts.rttMs !== undefined ? { rttMs: this.opts.rttMs } : {}),
      },
      steps: records,
      segments: segments as CapturedSegment[],
      transitions,
      resets,
      errors,
      addresses: { ...this.addresses },
      remotes: { ...this.remotes },
      verdicts: [],
      notes: [],
      findings: [],
      durationMs: 0,
    };
  }

  // ------------------------------------------------------------ time

  /** Runs the clock until `done()` holds or `deadline` (virtual ms) passes, event by event; returns done(). */
  #waitUntil(deadline: number, done: () => boolean): boolean {
    const clock = this.w.clock;
    for (;;) {
      if (done()) return true;
      const next = clock.nextAtMs();
      if (next === null || next > deadline) {
        if (deadline > clock.nowMs) clock.advance(deadline - clock.nowMs);
        return done();
      }
      clock.advance(Math.max(0, next - clock.nowMs));
    }
  }

  #advance(ms: number): void {
    if (ms > 0) this.w.clock.advance(ms);
  }

  // ------------------------------------------------------------ naming and observation

  /** Learns the names of every held socket, as the kernel runner's describe() + SocketNames do. */
  #learn(): void {
    for (const { name, ep } of this.held) {
      if (ep.local === '0.0.0.0:0') continue;
      this.addresses[name] = ep.local;
      // getpeername() answers only on a connected socket (not SYN_SENT, not after CLOSE).
      if (SYNCHRONIZED.has(ep.state)) {
        this.remotes[name] = ep.remote;
        this.#byTuple.set(tupleKey(ep.local, ep.remote), name);
      } else if (ep.state === 'LISTEN') this.#listeners.set(ep.local, name);
      else if (ep.state === 'SYN_SENT') this.#unconnected.set(ep.local, name);
    }
  }

  #label(local: string, remote: string, state: TcpState): string {
    if (state === 'LISTEN') return this.#listeners.get(local) ?? `listener ${local}`;
    const own = this.#byTuple.get(tupleKey(local, remote));
    if (own) return own;
    const far = this.#byTuple.get(tupleKey(remote, local));
    return far ? `~${far}` : (this.#unconnected.get(local) ?? `${local}|${remote}`);
  }

  #holders(ep: Endpoint): SocketOwner[] {
    const out: SocketOwner[] = [];
    for (const p of this.procs.values()) {
      const fd = p.exited ? null : p.fdOf(ep);
      if (fd !== null) out.push({ pid: p.pid, command: p.command, fd });
    }
    return out;
  }

  #actorOf(pid: number | undefined): string | null {
    if (pid === undefined) return null;
    for (const [a, p] of this.procs) if (p.pid === pid) return a;
    return null;
  }

  /** One picture: the host's tables with holders, plus held sockets that left them (CLOSE). */
  #snapshot(): Snapshot {
    this.#learn();
    const sockets: ObservedSocket[] = [];
    const heldEps = this.held.map((h) => h.ep);
    for (const row of this.w.host.observe()) {
      const ep = row.owner === null ? undefined : heldEps.find((e) => e.state !== 'CLOSE' && e.local === row.local && (row.state === 'LISTEN' ? e.state === 'LISTEN' : e.remote === row.remote));
      const holders = ep ? this.#holders(ep) : [];
      sockets.push({ ...row, label: this.#label(row.local, row.remote, row.state), actor: this.#actorOf(row.owner?.pid), holders, inTable: true });
    }
    const seen = new Set<Endpoint>();
    for (const h of this.held) {
      if (h.ep.state !== 'CLOSE' || seen.has(h.ep)) continue;
      seen.add(h.ep);
      const holders = this.#holders(h.ep);
      sockets.push({
        local: h.ep.local,
        remote: '-',
        state: 'CLOSE',
        recvQ: 0,
        sendQ: 0,
        owner: holders[0] ?? null,
        inode: this.w.host.inodeOf(h.ep),
        timer: { kind: 'none', remainingMs: 0, retransmits: 0 },
        label: h.name,
        actor: h.actor,
        holders,
        inTable: false,
      });
    }
    sockets.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    return { atMs: Math.round(this.now), sockets };
  }

  // ------------------------------------------------------------ steps

  #perform(step: Step): { result: CallResult; watched?: Snapshot[] } {
    if (step.actor === undefined) {
      if (step.op === 'wait') {
        this.#advance(step.ms);
        return { result: { ok: true } };
      }
      const pics: Snapshot[] = [];
      const end = this.now + step.ms;
      const keep = (pic: Snapshot): void => {
        const last = pics.at(-1);
        if (!last || !samePicture(last, pic)) pics.push(pic);
      };
      // A picture can only differ from the last one after an event ran (a timer, a segment):
      // samples with no event in between are skipped, as samePicture() would drop them anyway.
      let events = 1;
      while (this.now < end) {
        if (events > 0) keep(this.#snapshot());
        events = this.w.clock.advance(Math.min(step.everyMs, end - this.now));
      }
      keep(this.#snapshot());
      return { result: { ok: true }, watched: pics };
    }
    const p = this.procs.get(step.actor);
    if (!p) throw new Error(`no actor ${step.actor}`);
    const result = this.#call(step.actor, p, step);
    this.#advance(SETTLE_MS);
    return { result };
  }

  /** The socket `name` as `actor` holds it, or (for `connect`'s target) as anyone does. */
  #find(name: string, actor?: string): Held | undefined {
    return this.held.find((h) => h.name === name && (actor === undefined || h.actor === actor));
  }

  #sock(name: string, actor: string): Held {
    const h = this.#find(name, actor);
    if (!h) throw new Error(`${actor} holds no socket named ${name}`);
    return h;
  }

  #hold(name: string, actor: string, p: Process, fd: number): void {
    if (this.#find(name, actor)) throw new Error(`socket name ${name} is already in use`);
    this.held.push({ name, actor, p, fd, ep: p.endpoint(fd) as Endpoint });
  }

  #release(h: Held): void {
    const i = this.held.indexOf(h);
    if (i >= 0) this.held.splice(i, 1);
  }

  /** connect() finished by the deadline: the kernel's finishConnect() (EPOLLOUT, then SO_ERROR). */
  #finishConnect(p: Process, fd: number, waitMs: number): CallResult {
    // Waits on the state alone: connected() hands out a failure once, so asking it here would
    // consume the ECONNREFUSED and the answer below would be ok.
    this.#waitUntil(this.now + waitMs, () => {
      const st = p.endpoint(fd)?.state;
      return st !== 'SYN_SENT' && st !== 'SYN_RECV';
    });
    const r = p.connected(fd);
    return r.ok ? { ok: true } : { ok: false, errno: r.errno };
  }

  /**
   * `write` with `fill`, as the kernel peer does it: send(MSG_DONTWAIT) of 64 KiB at a time until
   * EAGAIN; the bytes queued, or the first other error with them. Each send() lasts
   * {@link FILL_SEND_MS} of virtual time, so loopback's ACKs of what it sent (RTT 0.02 ms) land
   * before the next one, as the kernel's `release_sock()` processes them from the backlog between
   * two calls — that ACK frees an skb and makes room (`tcp_clean_rtx_queue()`).
   */
  #fill(p: Process, fd: number): CallResult {
    const chunk = 'x'.repeat(65536);
    let total = 0;
    for (;;) {
      const r = p.write(fd, chunk);
      if (!r.ok) {
        if (r.errno === 'EAGAIN') return { ok: true, value: total };
        return { ok: false, errno: r.errno, value: total, ...(r.sigpipe ? { sigpipe: true } : {}) };
      }
      total += r.value ?? 0;
      this.#advance(FILL_SEND_MS);
    }
  }

  #readable(ep: Endpoint): boolean {
    return ep.recvBuf.length > 0 || ep.doneFlag || ep.error !== null || ep.rcvShutdown || ep.state === 'CLOSE';
  }

  #call(actor: string, p: Process, op: ActorOp): CallResult {
    switch (op.op) {
      case 'listen': {
        const fd = value(p.socket());
        this.#hold(op.sock, actor, p, fd);
        if (op.rcvbuf) p.setRcvbuf(fd, op.rcvbuf);
        const b = p.bind(fd, 0);
        if (!b.ok) return { ok: false, errno: b.errno };
        const backlog = op.backlog ?? 128;
        const r = p.listen(fd, backlog);
        return r.ok ? { ok: true, value: backlog } : { ok: false, errno: r.errno };
      }
      case 'connect': {
        const target = this.#find(op.to);
        if (!target) throw new Error(`connect to ${op.to}, which no actor holds`);
        const fd = value(p.socket());
        this.#hold(op.sock, actor, p, fd);
        if (op.rcvbuf) p.setRcvbuf(fd, op.rcvbuf);
        if (op.sndbuf) p.setSndbuf(fd, op.sndbuf);
        if (op.delayAck) p.setQuickack(fd, false);
        const r = p.connect(fd, target.ep.local);
        if (r.ok) return { ok: true };
        if (r.errno !== 'EINPROGRESS') return { ok: false, errno: r.errno };
        return this.#finishConnect(p, fd, op.waitMs ?? 1000);
      }
      case 'selfConnect': {
        const fd = value(p.socket());
        this.#hold(op.sock, actor, p, fd);
        const b = p.bind(fd, 0);
        if (!b.ok) return { ok: false, errno: b.errno };
        const r = p.connect(fd, `${this.w.host.ip}:${b.value}`);
        if (r.ok) return { ok: true };
        if (r.errno !== 'EINPROGRESS') return { ok: false, errno: r.errno };
        return this.#finishConnect(p, fd, 1000);
      }
      case 'connectScan':
        return this.#connectScan(p, op.offset, op.tries);
      case 'accept': {
        const l = this.#sock(op.sock, actor);
        let r = p.accept(l.fd);
        if (!r.ok && r.errno === 'EAGAIN' && (op.waitMs ?? 0) > 0) {
          this.#waitUntil(this.now + (op.waitMs ?? 0), () => (l.ep.listenQueues?.acceptQueue.length ?? 0) > 0);
          r = p.accept(l.fd);
        }
        if (!r.ok) return { ok: false, errno: r.errno };
        this.#hold(op.into, actor, p, r.value as number);
        return { ok: true, value: this.#sock(op.into, actor).ep.remote };
      }
      case 'write': {
        const s = this.#sock(op.sock, actor);
        if (op.fill) return this.#fill(p, s.fd);
        const data = op.data ?? 'x'.repeat(op.bytes ?? 1);
        const r = p.write(s.fd, data);
        if (op.defaultSigpipe) {
          // The child dies of SIGPIPE (no errno printed), or exits 1 with the errno, or 0.
          if (r.ok) return { ok: true, value: { code: 0, signal: null } };
          return r.sigpipe ? { ok: false, value: { code: null, signal: 'SIGPIPE' } } : { ok: false, errno: r.errno, value: { code: 1, signal: null } };
        }
        if (op.blocking) {
          // A blocking send() sleeps only when the send buffer has no room; the model does not sleep:
          // it takes what fits (a full buffer gives EAGAIN). The lab's blocking writes fit.
          if (!r.ok) return { ok: false, errno: r.errno, ...(r.sigpipe ? { sigpipe: true } : {}), value: { elapsedMs: 0 } };
          return { ok: true, value: { bytes: r.value ?? 0, elapsedMs: 0, unacked: unacked(s.ep) } };
        }
        return r.ok ? { ok: true, value: r.value ?? 0 } : { ok: false, errno: r.errno, ...(r.sigpipe ? { sigpipe: true } : {}) };
      }
      case 'read': {
        const s = this.#sock(op.sock, actor);
        const max = op.max ?? 65536;
        if (op.blocking) {
          const t0 = this.now;
          this.#waitUntil(this.now + (op.waitMs || 2000), () => this.#readable(s.ep));
          const elapsedMs = us(this.now - t0);
          const r = p.read(s.fd, max);
          if (!r.ok) return { ok: false, errno: r.errno, value: { elapsedMs } };
          const v = r.value as { bytes: number; eof: boolean; text: string };
          return { ok: true, value: { bytes: v.bytes, eof: v.bytes === 0, text: v.text.slice(0, 64), elapsedMs } };
        }
        if ((op.waitMs ?? 0) > 0) this.#waitUntil(this.now + (op.waitMs ?? 0), () => this.#readable(s.ep));
        if (op.peek && s.ep.recvBuf.length > 0) {
          // MSG_PEEK: the queued bytes, left in the queue (`tcp_recvmsg_locked()` without consuming).
          const text = s.ep.recvBuf.slice(0, max);
          return { ok: true, value: { bytes: text.length, eof: false, text: text.slice(0, 64) } };
        }
        if (op.peek && s.ep.doneFlag) return { ok: true, value: { bytes: 0, eof: true, text: '' } };
        const r = p.read(s.fd, max);
        if (!r.ok) return { ok: false, errno: r.errno };
        const v = r.value as { bytes: number; eof: boolean; text: string };
        return { ok: true, value: { bytes: v.bytes, eof: v.bytes === 0, text: v.text.slice(0, 64) } };
      }
      case 'drain': {
        const s = this.#sock(op.sock, actor);
        let total = 0;
        for (;;) {
          const r = p.read(s.fd, 1 << 20);
          if (r.ok && (r.value?.bytes ?? 0) > 0) {
            total += r.value?.bytes ?? 0;
            continue;
          }
          if (r.ok) return { ok: true, value: { bytes: total, eof: true } };
          if (r.errno !== 'EAGAIN') return { ok: false, errno: r.errno, value: { bytes: total, eof: false } };
          if (!this.#waitUntil(this.now + (op.waitMs ?? 200), () => this.#readable(s.ep))) return { ok: true, value: { bytes: total, eof: false } };
        }
      }
      case 'shutdown':
        return plain(p.shutdown(this.#sock(op.sock, actor).fd, op.how));
      case 'closeOnEof':
        this.#armCloseOnEof(this.#sock(op.sock, actor), op.write, op.more === true, op.waitMs ?? 5000);
        return { ok: true };
      case 'close': {
        const s = this.#sock(op.sock, actor);
        const r = p.close(s.fd);
        this.#release(s);
        return plain(r);
      }
      case 'linger':
        return plain(p.setLinger(this.#sock(op.sock, actor).fd, true, op.seconds));
      case 'quickack':
        return plain(p.setQuickack(this.#sock(op.sock, actor).fd, op.on));
      case 'epoll':
        return { ok: true, value: this.#epoll(this.#sock(op.sock, actor).ep, op.waitMs ?? 0) };
      case 'info':
        return { ok: true, value: tcpInfo(this.#sock(op.sock, actor).ep) };
      case 'soError': {
        const ep = this.#sock(op.sock, actor).ep;
        const e = ep.error;
        ep.error = null;
        return { ok: true, value: e ?? 0 };
      }
      case 'counters': {
        const c = this.w.host.counters as unknown as Record<string, number>;
        return { ok: true, value: Object.fromEntries(op.names.map((n) => [n, c[n] ?? -1])) };
      }
      case 'share': {
        const from = this.procs.get(op.from);
        const h = this.#find(op.sock, op.from);
        if (!from || !h) throw new Error(`share ${op.sock} from ${op.from}, which does not hold it`);
        const r = from.shareWith(h.fd, p);
        if (!r.ok) return { ok: false, errno: r.errno };
        this.#hold(op.sock, actor, p, r.value as number);
        return { ok: true, value: r.value as number };
      }
      case 'exit':
      case 'kill': {
        p.exit();
        for (const h of this.held.filter((x) => x.p === p)) this.#release(h);
        return { ok: true, value: op.op === 'exit' ? { code: 0, signal: null } : { code: null, signal: op.signal } };
      }
      default:
        throw new Error(`the model cannot run ${op.op}`);
    }
  }

  /**
   * The event-driven passive close: every 1 ms (the kernel runner's peer polls on a 1 ms timer)
   * read and drop what arrived; on EOF send `write` (MSG_MORE: queued for the FIN) and close().
   */
  #armCloseOnEof(s: Held, write: string | undefined, more: boolean, waitMs: number): void {
    const until = this.now + waitMs;
    const tick = (): void => {
      if (!this.held.includes(s)) return;
      for (;;) {
        const r = s.p.read(s.fd, 65536);
        if (r.ok && (r.value?.bytes ?? 0) > 0) continue;
        if (r.ok) {
          if (write !== undefined) s.p.write(s.fd, write, more);
          s.p.close(s.fd);
          this.#release(s);
          return;
        }
        if (r.errno !== 'EAGAIN') return;
        break;
      }
      if (this.now < until) this.w.clock.schedule(1, tick);
    };
    this.w.clock.schedule(1, tick);
  }

  /** `tcp_poll()` / `inet_csk_listen_poll()`: the readiness bits an epoll_wait would report, in bit order. */
  #epoll(ep: Endpoint, waitMs: number): string[] {
    const bits = (): string[] => {
      if (ep.state === 'LISTEN') return (ep.listenQueues?.acceptQueue.length ?? 0) > 0 ? ['EPOLLIN'] : [];
      const out = new Set<string>();
      if (ep.error !== null) out.add('EPOLLERR');
      if ((ep.rcvShutdown && ep.sndShutdown) || ep.state === 'CLOSE') out.add('EPOLLHUP');
      // tcp_poll(): RCV_SHUTDOWN gives EPOLLIN|EPOLLRDHUP, and tcp_done() after a RST sets SHUTDOWN_MASK.
      if (ep.doneFlag || ep.rcvShutdown) {
        out.add('EPOLLIN');
        out.add('EPOLLRDHUP');
      }
      if (ep.state !== 'SYN_SENT' && ep.state !== 'SYN_RECV') {
        if (ep.recvBuf.length > 0) out.add('EPOLLIN');
        out.add('EPOLLOUT'); // the send buffer always has room here; after SEND_SHUTDOWN too
      }
      return ['EPOLLIN', 'EPOLLOUT', 'EPOLLERR', 'EPOLLHUP', 'EPOLLRDHUP'].filter((b) => out.has(b));
    };
    if (waitMs > 0) this.#waitUntil(this.now + waitMs, () => bits().length > 0);
    return bits();
  }

  /** connect() to (range start + offset) with no listener, `tries` times: `{ port, tries, selfConnects, refused, sourcePorts }`. */
  #connectScan(p: Process, offset: number, tries: number): CallResult {
    const port = this.ports[0] + offset;
    let selfConnects = 0;
    let refused = 0;
    const sourcePorts: CallValue[] = [];
    for (let i = 0; i < tries; i++) {
      const fd = value(p.socket());
      const c = p.connect(fd, `${this.w.host.ip}:${port}`);
      const ep = p.endpoint(fd) as Endpoint;
      if (ep.local !== '0.0.0.0:0') sourcePorts.push(Number(ep.local.slice(ep.local.lastIndexOf(':') + 1)));
      const done = c.ok ? { ok: true as const } : c.errno === 'EINPROGRESS' ? this.#finishConnect(p, fd, 200) : { ok: false as const, errno: c.errno };
      if (done.ok) {
        selfConnects++;
        p.setLinger(fd, true, 0); // aborted: no TIME_WAIT holds the port for the next attempt
      } else if (done.errno === 'ECONNREFUSED') refused++;
      p.close(fd);
    }
    return { ok: true, value: { port, tries, selfConnects, refused, sourcePorts } };
  }
}

function value<T>(r: { ok: true; value?: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`model call failed: ${r.errno}`);
  return r.value as T;
}

function plain(r: { ok: true } | { ok: false; errno: string; sigpipe?: boolean }): CallResult {
  return r.ok ? { ok: true } : { ok: false, errno: r.errno, ...(r.sigpipe ? { sigpipe: true } : {}) };
}

/** TCP_INFO's `unacked` (`packets_out`): segments in flight, at most one MSS each. */
function unacked(ep: Endpoint): number {
  // A socket in CLOSE has nothing in flight: tcp_reset(), tcp_write_err() and tcp_disconnect()
  // purge the write queue (tcp_write_queue_purge(): packets_out = 0).
  if (ep.state === 'CLOSE') return 0;
  const inflight = ep.sndNxt - ep.sndUna;
  return inflight <= 0 ? 0 : Math.ceil(inflight / LOOPBACK_MSS);
}

/** The TCP_INFO fields the model keeps (no RTT estimate, no byte counters). */
function tcpInfo(ep: Endpoint): { [k: string]: CallValue } {
  return { state: ep.state, rtoMs: ep.rtoMs, atoMs: ep.ato, unacked: unacked(ep), notsentBytes: Math.max(0, ep.finSeq - Math.max(ep.sndNxt, ep.bufSeq)) };
}
