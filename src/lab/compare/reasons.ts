/**
 * Why the model disagrees with the kernel on a fact: the model's known gaps (docs/model.md, "Not
 * modelled yet"), each with the evidence that must be in the traces for a mismatch to be put down
 * to it. A mismatch no gap's evidence covers is `unexplained` — a bug in the model or a gap not yet
 * listed — and is never given a reason by default.
 */
import type { CapturedSegment } from '../../tcp/index.js';
import type { Step } from '../ops.js';
import { resultField, type StepRecord, type Trace } from '../trace.js';
import type { FactKind, MismatchReason } from './types.js';

/** A mismatch before its reason: what it is about, for the gaps' evidence rules. */
export interface MismatchFacts {
  kind: FactKind;
  step: number | null;
  /** The sockets the fact is about: one for states and results, sender and receiver for segments. */
  sockets: string[];
  kernelSegment?: CapturedSegment;
  modelSegment?: CapturedSegment;
  /** For segment facts: the segment's comparison key, and every key of its connection in each trace. */
  key?: string;
  kernelOrder?: string[];
  modelOrder?: string[];
  /** For segment times: each trace's time since the last event, ms. */
  kernelGapMs?: number;
  modelGapMs?: number;
}

/** A jiffy on the lab's kernel (CONFIG_HZ=250), ms. */
const JIFFY_MS = 4;
/** `TCP_ATO_MIN`, ms. */
const TCP_ATO_MIN_MS = 40;

/** What the evidence rules may read: both traces (the kernel's steps are the scenario's). */
export interface GapContext {
  kernel: Trace;
  model: Trace;
}

/** A known gap of the model and the rule that ties a mismatch to it. */
export interface ModelGap {
  id: string;
  /** The gap as docs/model.md names it. */
  title: string;
  /** The evidence in the traces for `m`, as a phrase, or null when there is none. */
  evidence(m: MismatchFacts, ctx: GapContext): string | null;
}

/** The scenario's name for the other end of `name`'s connection (`c` ↔ `~c`, `c` ↔ `s`). */
function peersOf(name: string, t: Trace): string[] {
  const out = new Set<string>();
  const bare = name.startsWith('~') ? name.slice(1) : name;
  out.add(bare);
  out.add(`~${bare}`);
  const a = t.addresses[bare];
  const r = t.remotes[bare];
  if (a !== undefined && r !== undefined) {
    for (const n of Object.keys(t.addresses)) if (t.addresses[n] === r && t.remotes[n] === a) out.add(n);
  }
  return [...out];
}

/** Every socket of the connections `m` is about, both ends, under all their names. */
function connectionOf(m: MismatchFacts, t: Trace): Set<string> {
  const out = new Set<string>();
  for (const s of m.sockets) for (const p of peersOf(s, t)) for (const q of peersOf(p, t)) out.add(q);
  return out;
}

/** The first step at or before `m.step` that is an actor call matching `pick` on `m`'s connection. */
function earlierStep(m: MismatchFacts, t: Trace, pick: (s: Step, rec: StepRecord) => boolean): { index: number; text: string } | null {
  const sockets = connectionOf(m, t);
  const last = m.step ?? Infinity;
  for (const rec of t.steps) {
    if (rec.index > last) break;
    const s = rec.step;
    if (!pick(s, rec)) continue;
    // The socket the call is made on (not a connect's listener: other connections share it).
    if ('sock' in s && typeof s.sock === 'string' && sockets.has(s.sock)) return { index: rec.index, text: rec.text };
  }
  return null;
}

const seg = (m: MismatchFacts): CapturedSegment[] => [m.kernelSegment, m.modelSegment].filter((s): s is CapturedSegment => s !== undefined);

/**
 * The gaps, most specific first; the first whose evidence is found gives the reason. Each names
 * the "Not modelled yet" item of docs/model.md it stands for.
 */
export const MODEL_GAPS: readonly ModelGap[] = [
  {
    id: 'sack-ofo',
    title: 'SACK and the out-of-order queue',
    evidence: (m) => {
      const s = seg(m).find((x) => (x.options?.sack?.length ?? 0) > 0);
      return s ? `the kernel's segment carries SACK blocks ${JSON.stringify(s.options?.sack)}` : null;
    },
  },
  {
    id: 'linger-timeout',
    title: 'SO_LINGER {1, n>0} blocking close',
    evidence: (m, { kernel }) => {
      const w = earlierStep(m, kernel, (s) => s.op === 'linger' && s.seconds > 0);
      return w ? `step ${w.index} (${w.text}) sets a lingering close` : null;
    },
  },
  {
    id: 'timer-phase',
    title: "the kernel's jiffy phase and timer latency (the model's 4 ms jiffies start at its virtual 0 and its timers fire on time)",
    evidence: (m) => {
      // An ACK both sent from the delayed-ACK timer armed for the next jiffy (ato 0): the model's
      // within a jiffy, the kernel's under a quarter of TCP_ATO_MIN (10 ms), so not from a 40 ms
      // delayed ACK — the same rule; the kernel's timer fired later on its clock.
      if (m.kind !== 'segmentTime' || m.kernelGapMs === undefined || m.modelGapMs === undefined) return null;
      const k = m.kernelSegment;
      const pureAck = k !== undefined && k.length === 0 && k.flags.length === 1 && k.flags[0] === 'ACK';
      if (!pureAck || m.modelGapMs > JIFFY_MS || m.kernelGapMs >= TCP_ATO_MIN_MS / 4) return null;
      return `both ACKed from the next-jiffy delayed-ACK timer: the model ${m.modelGapMs.toFixed(2)} ms, the kernel ${m.kernelGapMs.toFixed(2)} ms after the last event`;
    },
  },
  {
    id: 'send-buffer',
    title: "a blocking send() waiting for room in the send buffer (the model's blocking write takes what fits, or EAGAIN)",
    evidence: (m, { kernel, model }) => {
      // Only a blocking write that the send buffer made differ: the kernel's slept and wrote more
      // than the model's, which took what fit (or failed with EAGAIN).
      const written = (rec: StepRecord | undefined): number => (rec?.result.ok === true ? Number(resultField(rec.result, 'bytes') ?? 0) : 0);
      const w = earlierStep(m, kernel, (s, rec) => s.op === 'write' && s.blocking === true && written(rec) > written(model.steps[rec.index]));
      return w ? `step ${w.index} (${w.text}) wrote ${written(kernel.steps[w.index])} B on the kernel, ${written(model.steps[w.index])} B on the model` : null;
    },
  },
  {
    id: 'window-selection',
    title: "the kernel's receive-window selection (`__tcp_select_window()`: the model advertises rcvbuf − unread exactly)",
    evidence: (m) => {
      // __tcp_ack_snd_check() sends an ACK for more than one MSS at once only if the window it
      // would advertise is not smaller than the last one; the kernel holds it until the read.
      const s = m.modelSegment;
      if (m.kind !== 'segment' || m.kernelSegment !== undefined || s === undefined) return null;
      const pureAck = s.length === 0 && s.flags.length === 1 && s.flags[0] === 'ACK';
      const count = (order: string[] | undefined): number => (order ?? []).filter((k) => k === m.key).length;
      if (!pureAck || count(m.modelOrder) <= count(m.kernelOrder)) return null;
      return 'the model sends this ACK twice, at once with the window the unread data leaves, then as a window update on read; the kernel holds the first while its window would shrink';
    },
  },
  {
    id: 'call-duration',
    title: "the calls' own duration (the model's calls take no virtual time; one step's calls happen at one instant)",
    evidence: (m, { kernel }) => {
      if (m.kind !== 'segment' || m.step === null) return null;
      const rec = kernel.steps[m.step];
      const s = rec?.step;
      if (s?.op === 'connectScan' && s.tries > 1) return `step ${m.step} (${rec?.text}) makes ${s.tries} connects back to back`;
      const one = m.kernelSegment ?? m.modelSegment;
      const other = m.kernelSegment ? 'modelOrder' : 'kernelOrder';
      if (one === undefined || m[other] === undefined || !m[other].includes(m.key ?? '')) return null;
      const w = earlierStep(m, kernel, (x) => x.op === 'closeOnEof' && x.write !== undefined);
      if (w) return `the segment is in both traces in another order; step ${w.index} (${w.text}) writes and closes at once`;
      // A fill's send()s: the kernel's peer ACKs the first skb while the call still queues the
      // next; the model's call queues and sends its skbs at one instant.
      if (s?.op === 'write' && s.data === undefined) return `the segment is in both traces in another order; step ${m.step} (${rec?.text}) queues and sends its skbs at one instant`;
      return null;
    },
  },
  {
    id: 'zero-window',
    title: 'zero-window probes and the persist timer',
    evidence: (m) => {
      const s = seg(m).find((x) => x.window === 0 && !x.flags.includes('RST'));
      return s ? 'the segment advertises a zero window' : null;
    },
  },
];

/**
 * The reason for a mismatch: the first gap of {@link MODEL_GAPS} whose evidence the traces hold,
 * else `unexplained`.
 */
export function reasonFor(m: MismatchFacts, ctx: GapContext): MismatchReason {
  for (const g of MODEL_GAPS) {
    const e = g.evidence(m, ctx);
    if (e !== null) return { gap: g.id, text: `not modelled: ${g.title}; ${e}` };
  }
  return { gap: 'unexplained', text: 'unexplained: no known gap of the model covers it' };
}
