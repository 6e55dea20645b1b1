/**
 * The differential check (issue 11): two traces of one scenario — the kernel's and the model's —
 * compared step by step, fact by fact. Pure: traces in, a comparison out.
 *
 * What is compared, and how the two are matched up:
 * - steps by index (the scenario is the same, so step i is the same call on both);
 * - sockets by the scenario's names (`c`, `~c`, `L`); a socket without a name by its address,
 *   ports written as offsets into the scenario's port range;
 * - a socket's transitions, and a connection's segments (both directions, in order), aligned by
 *   their longest common subsequence, so one missing segment is one mismatch;
 * - a segment's time as packetdrill checks it: the gap since the last event (the latest of the
 *   previous segment of the connection both sent, the start of the latest call, and a state change
 *   of either end), within max(4 ms, 12.5 % of the kernel's gap).
 */
import { flagWords, type CapturedSegment } from '../../tcp/index.js';
import type { CallResult, CallValue, Step } from '../ops.js';
import { socketLabel, type StepRecord, type Trace, type TraceTransition } from '../trace.js';
import { align } from './align.js';
import { reasonFor, type GapContext, type MismatchFacts } from './reasons.js';
import { withinTolerance } from './tolerance.js';
import { CompareError, FACT_KINDS, type Comparison, type FactKind, type Mismatch, type ScenarioComparison, type SkippedComparison, type Tally } from './types.js';

const NONE = '—';

export function emptyTallies(): Record<FactKind, Tally> {
  return Object.fromEntries(FACT_KINDS.map((k) => [k, { compared: 0, agreed: 0 }])) as Record<FactKind, Tally>;
}

/** `127.0.0.1:18479` → `127.0.0.1:lo+47` when the port lies in the scenario's range, so two runs' unnamed sockets meet. */
function portFree(addr: string, ports: [number, number] | null): string {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (ports === null || !(port >= ports[0] && port <= ports[1])) return addr;
  return `${addr.slice(0, i)}:lo+${port - ports[0]}`;
}

/** A socket label that can be compared across runs: the scenario's name, else its addresses without their run's ports. */
function stableLabel(label: string, t: Trace): string {
  if (!label.includes(':')) return label;
  return label
    .split('>')
    .map((a) => portFree(a, t.env.ports))
    .join('>');
}

/**
 * The scenario's name for the end `addr` talking to `peer` (`c`, `~c`, `s`); a listener's name
 * for a connection it never accepted (a SYN it dropped), else the address without its run's port.
 */
function endName(addr: string, peer: string, t: Trace): string {
  const named = socketLabel(addr, peer, t.addresses, t.remotes);
  if (named !== null) return named;
  const listener = Object.keys(t.addresses).find((n) => t.addresses[n] === addr && t.remotes[n] === undefined);
  return listener ?? portFree(addr, t.env.ports);
}

/** The end name ({@link endName}) of the socket a transition names (`c`, `~c`, `local>remote`). */
function transitionEnd(label: string, t: Trace): string {
  const tuple = /^(.+:\d+)>(.+:\d+)$/.exec(label);
  if (tuple) return endName(tuple[1] as string, tuple[2] as string, t);
  const bare = label.startsWith('~') ? label.slice(1) : label;
  const a = t.addresses[bare];
  const r = t.remotes[bare];
  if (a === undefined || r === undefined) return label;
  return label.startsWith('~') ? endName(r, a, t) : endName(a, r, t);
}

/** Fields of an object value, in a fixed order, as `k=v` words. */
function fields(v: CallValue | undefined, keys: readonly string[]): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return '';
  return keys
    .filter((k) => v[k] !== undefined)
    .map((k) => `${k}=${JSON.stringify(v[k])}`)
    .join(' ');
}

/**
 * The part of a call's value that TCP decides, as compared: bytes and EOF of a read or drain, bytes
 * written, a listen's backlog, SO_ERROR, epoll's bits, counters, a connect scan's outcome, TCP_INFO's
 * state and unacked. Addresses, ports, descriptors and timings are left out (they differ by run).
 */
function valueFact(step: Step, v: CallValue | undefined): string {
  if (v === undefined || v === null) return '';
  switch (step.op) {
    case 'read':
    case 'drain':
      return fields(v, ['bytes', 'eof']);
    case 'write':
      return typeof v === 'number' ? `${v} B` : fields(v, ['bytes', 'code', 'signal']);
    case 'listen':
    case 'soError':
      return String(v);
    case 'epoll':
      return Array.isArray(v) ? [...v].map(String).sort().join(' ') : '';
    case 'counters':
      return typeof v === 'object' && !Array.isArray(v) ? fields(v, Object.keys(v).sort()) : '';
    case 'connectScan':
      return fields(v, ['tries', 'selfConnects', 'refused']);
    case 'info':
      return fields(v, ['state', 'unacked']);
    case 'exit':
    case 'kill':
      return fields(v, ['code', 'signal']);
    default:
      return '';
  }
}

/** A call's outcome as compared: ok or errno, SIGPIPE, and the part of its value TCP decides ({@link valueFact}). */
export function resultFact(step: Step, r: CallResult): string {
  const pipe = r.sigpipe ? ' + SIGPIPE' : '';
  const value = valueFact(step, r.value);
  return `${r.ok ? 'ok' : (r.errno ?? 'failed')}${pipe}${value ? ` ${value}` : ''}`;
}

/** A segment as compared: `S.` flags, relative seq/ack, length, and the RST's reason when traced. */
function segmentFact(s: CapturedSegment, t: Trace): { key: string; text: string; from: string; to: string } {
  const from = endName(s.src, s.dst, t);
  const to = endName(s.dst, s.src, t);
  const body = `${flagWords(s.flags)} seq ${s.seq ?? '?'} ack ${s.ack ?? NONE} len ${s.length}`;
  return { key: `${from}>${to} ${body}`, text: `${from}→${to} ${body}${s.rstReason ? ` (${s.rstReason})` : ''}`, from, to };
}

/** Steps that are calls (an actor's), whose start is an event a segment's time may follow. */
const isCall = (rec: StepRecord): boolean => rec.actor !== null && rec.step.actor !== undefined;

class ScenarioCompare {
  readonly out: ScenarioComparison;
  readonly #ctx: GapContext;

  constructor(
    readonly kernel: Trace,
    readonly model: Trace,
  ) {
    this.#ctx = { kernel, model };
    this.out = { scenario: kernel.scenario, kinds: emptyTallies(), compared: 0, agreed: 0, mismatches: [], notes: [] };
  }

  fact(kind: FactKind, agreed: boolean, m: Omit<MismatchFacts, 'kind'> & { kernel: string; model: string }): void {
    const t = this.out.kinds[kind];
    t.compared++;
    this.out.compared++;
    if (agreed) {
      t.agreed++;
      this.out.agreed++;
      return;
    }
    const { kernel: _k, model: _m, ...rest } = m;
    const facts: MismatchFacts = { kind, ...rest };
    const mismatch: Mismatch = {
      scenario: this.out.scenario,
      kind,
      step: m.step,
      socket: m.sockets.length > 1 ? m.sockets.join('>') : (m.sockets[0] ?? null),
      kernel: m.kernel,
      model: m.model,
      reason: reasonFor(facts, this.#ctx),
    };
    this.out.mismatches.push(mismatch);
  }

  run(): ScenarioComparison {
    const { kernel, model } = this;
    if (kernel.scenario !== model.scenario) throw new CompareError(`not the same scenario: ${kernel.scenario} and ${model.scenario}`);
    const steps = Math.min(kernel.steps.length, model.steps.length);
    for (let i = 0; i < steps; i++) {
      const k = kernel.steps[i] as StepRecord;
      const m = model.steps[i] as StepRecord;
      if (k.step.op !== m.step.op || k.actor !== m.actor) {
        throw new CompareError(`${kernel.scenario}: step ${i} is ${k.text} in one trace and ${m.text} in the other`);
      }
      this.#step(k, m);
    }
    for (const extra of kernel.steps.slice(steps)) this.fact('result', false, { step: extra.index, sockets: [], kernel: extra.text, model: 'step not run' });
    if (model.steps.length > steps) this.out.notes.push(`the model ran ${model.steps.length - steps} more steps than the kernel's trace has`);
    this.#transitions();
    this.#segments();
    return this.out;
  }

  #step(k: StepRecord, m: StepRecord): void {
    if (k.actor !== null) {
      const sock = 'sock' in k.step && typeof k.step.sock === 'string' ? [k.step.sock] : [];
      const kr = resultFact(k.step, k.result);
      const mr = resultFact(m.step, m.result);
      this.fact('result', kr === mr, { step: k.index, sockets: sock, kernel: kr, model: mr });
    }
    const sockets = (rec: StepRecord, t: Trace): Map<string, { state: string; recvQ: number; sendQ: number }> => {
      const map = new Map<string, { state: string; recvQ: number; sendQ: number }>();
      for (const s of rec.after.sockets) {
        if (!s.inTable) continue;
        let label = stableLabel(s.label, t);
        for (let n = 2; map.has(label); n++) label = `${stableLabel(s.label, t)}#${n}`;
        map.set(label, { state: s.state, recvQ: s.recvQ, sendQ: s.sendQ });
      }
      return map;
    };
    const ks = sockets(k, this.kernel);
    const ms = sockets(m, this.model);
    for (const label of [...new Set([...ks.keys(), ...ms.keys()])].sort()) {
      const a = ks.get(label);
      const b = ms.get(label);
      this.fact('state', a?.state === b?.state, { step: k.index, sockets: [label], kernel: a?.state ?? 'not in the tables', model: b?.state ?? 'not in the tables' });
      if (a === undefined || b === undefined) continue;
      this.fact('recvQ', a.recvQ === b.recvQ, { step: k.index, sockets: [label], kernel: `Recv-Q ${a.recvQ}`, model: `Recv-Q ${b.recvQ}` });
      this.fact('sendQ', a.sendQ === b.sendQ, { step: k.index, sockets: [label], kernel: `Send-Q ${a.sendQ}`, model: `Send-Q ${b.sendQ}` });
    }
  }

  #transitions(): void {
    const { kernel, model } = this;
    if (kernel.transitions === null || model.transitions === null) {
      this.out.notes.push(`transitions not compared: not traced in the ${kernel.transitions === null ? "kernel's" : "model's"} trace`);
      return;
    }
    const bySocket = (t: Trace): Map<string, TraceTransition[]> => {
      const map = new Map<string, TraceTransition[]>();
      for (const x of t.transitions ?? []) {
        const label = stableLabel(x.socket, t);
        map.set(label, [...(map.get(label) ?? []), x]);
      }
      return map;
    };
    const kt = bySocket(kernel);
    const mt = bySocket(model);
    for (const label of [...new Set([...kt.keys(), ...mt.keys()])].sort()) {
      const a = kt.get(label) ?? [];
      const b = mt.get(label) ?? [];
      const move = (x: TraceTransition): string => `${x.from}→${x.to}`;
      for (const row of align(a.map(move), b.map(move))) {
        const kx = row.op === 'modelOnly' ? undefined : a[row.k];
        const mx = row.op === 'kernelOnly' ? undefined : b[row.m];
        this.fact('transition', row.op === 'same', {
          step: kx?.step ?? mx?.step ?? null,
          sockets: [label],
          kernel: kx ? move(kx) : NONE,
          model: mx ? move(mx) : NONE,
        });
      }
    }
  }

  #segments(): void {
    const { kernel, model } = this;
    if (kernel.segments === null || model.segments === null) {
      this.out.notes.push(`segments not compared: not captured in the ${kernel.segments === null ? "kernel's" : "model's"} trace`);
      return;
    }
    const kConn = connections(kernel);
    const mConn = connections(model);
    for (const conn of [...new Set([...kConn.keys(), ...mConn.keys()])].sort()) {
      const a = kConn.get(conn) ?? [];
      const b = mConn.get(conn) ?? [];
      let lastK: SegmentAt | undefined;
      let lastM: SegmentAt | undefined;
      for (const row of align(
        a.map((x) => x.fact.key),
        b.map((x) => x.fact.key),
      )) {
        const kx = row.op === 'modelOnly' ? undefined : a[row.k];
        const mx = row.op === 'kernelOnly' ? undefined : b[row.m];
        const lead = kx ?? mx;
        const base = {
          step: kx?.step ?? mx?.step ?? null,
          sockets: lead ? [lead.fact.from, lead.fact.to] : [],
          key: lead?.fact.key,
          kernelOrder: a.map((x) => x.fact.key),
          modelOrder: b.map((x) => x.fact.key),
        };
        const segs = { ...(kx ? { kernelSegment: kx.seg } : {}), ...(mx ? { modelSegment: mx.seg } : {}) };
        this.fact('segment', row.op === 'same', { ...base, ...segs, kernel: kx ? kx.fact.text : NONE, model: mx ? mx.fact.text : NONE });
        if (row.op !== 'same' || kx === undefined || mx === undefined) continue;
        // The RST's reason, when both traced one.
        if (kx.seg.rstReason && mx.seg.rstReason && kx.seg.rstReason !== mx.seg.rstReason) {
          this.fact('segment', false, { ...base, ...segs, kernel: `RST reason ${kx.seg.rstReason}`, model: `RST reason ${mx.seg.rstReason}` });
        }
        const kGap = kx.seg.epochMs - Math.max(kx.callStartMs, lastK?.seg.epochMs ?? -Infinity);
        const mGap = mx.seg.epochMs - Math.max(mx.callStartMs, lastM?.seg.epochMs ?? -Infinity);
        this.fact('segmentTime', withinTolerance(kGap, mGap), {
          ...base,
          ...segs,
          kernelGapMs: kGap,
          modelGapMs: mGap,
          kernel: `${kx.fact.text} at +${kGap.toFixed(2)} ms`,
          model: `+${mGap.toFixed(2)} ms`,
        });
        lastK = kx;
        lastM = mx;
      }
    }
  }
}

interface SegmentAt {
  seg: CapturedSegment;
  fact: ReturnType<typeof segmentFact>;
  /** Index of the step it was seen in. */
  step: number | null;
  /** The latest event before it other than a segment: the start of the latest call, or a state change of either end, epoch ms. */
  callStartMs: number;
}

/** A trace's segments per connection (`a~b`, its two ends' names sorted), in capture order. */
function connections(t: Trace): Map<string, SegmentAt[]> {
  const stepOf = new Map<number, StepRecord>();
  for (const rec of t.steps) for (const i of rec.segments) stepOf.set(i, rec);
  const callStart = new Map<number, number>();
  let latest = t.steps[0]?.startEpochMs ?? 0;
  for (const rec of t.steps) {
    if (isCall(rec)) latest = rec.startEpochMs;
    callStart.set(rec.index, latest);
  }
  // State changes are events too: the kernel's own timestamp of a call's effect (connect()'s
  // CLOSE → SYN_SENT), later than the step's start by the runner's hand-over to the actor.
  const moves = new Map<string, number[]>();
  for (const x of t.transitions ?? []) {
    const end = transitionEnd(x.socket, t);
    moves.set(end, [...(moves.get(end) ?? []), x.epochMs]);
  }
  const lastMove = (end: string, atMs: number): number => Math.max(-Infinity, ...(moves.get(end) ?? []).filter((e) => e <= atMs));
  const out = new Map<string, SegmentAt[]>();
  (t.segments ?? []).forEach((seg, i) => {
    const fact = segmentFact(seg, t);
    const conn = [fact.from, fact.to].sort().join('~');
    const rec = stepOf.get(i);
    const call = rec ? (callStart.get(rec.index) as number) : -Infinity;
    const at: SegmentAt = { seg, fact, step: rec?.index ?? null, callStartMs: Math.max(call, lastMove(fact.from, seg.epochMs), lastMove(fact.to, seg.epochMs)) };
    out.set(conn, [...(out.get(conn) ?? []), at]);
  });
  return out;
}

/**
 * Compares the model's trace of a scenario with the kernel's, fact by fact.
 * @throws CompareError when the two are not traces of the same scenario (name or steps differ).
 */
export function compareTraces(kernel: Trace, model: Trace): ScenarioComparison {
  return new ScenarioCompare(kernel, model).run();
}

/** Several scenarios' comparisons summed: per kind, overall, and mismatches per reason. */
export function summarize(scenarios: ScenarioComparison[], skipped: SkippedComparison[] = []): Comparison {
  const kinds = emptyTallies();
  const reasons: Record<string, number> = {};
  let compared = 0;
  let agreed = 0;
  for (const s of scenarios) {
    compared += s.compared;
    agreed += s.agreed;
    for (const k of FACT_KINDS) {
      kinds[k].compared += s.kinds[k].compared;
      kinds[k].agreed += s.kinds[k].agreed;
    }
    for (const m of s.mismatches) reasons[m.reason.gap] = (reasons[m.reason.gap] ?? 0) + 1;
  }
  return { scenarios, skipped, kinds, compared, agreed, reasons };
}

/** Agreement as a share in [0, 1]; 1 when nothing was compared. */
export function agreement(t: Tally): number {
  return t.compared === 0 ? 1 : t.agreed / t.compared;
}
