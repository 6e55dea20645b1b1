/**
 * Why the model disagrees with the kernel on a fact: the model's known gaps (docs/model.md, "Not
 * modelled yet"), each with the evidence that must be in the traces for a mismatch to be put down
 * to it. A mismatch no gap's evidence covers is `unexplained` — a bug in the model or a gap not yet
 * listed — and is never given a reason by default.
 */
import type { CapturedSegment } from '../../tcp/index.js';
import type { Step } from '../ops.js';
import type { Trace } from '../trace.js';
import type { FactKind, MismatchReason } from './types.js';

/** A mismatch before its reason: what it is about, for the gaps' evidence rules. */
export interface MismatchFacts {
  kind: FactKind;
  step: number | null;
  /** The sockets the fact is about: one for states and results, sender and receiver for segments. */
  sockets: string[];
  kernelSegment?: CapturedSegment;
  modelSegment?: CapturedSegment;
}

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
function earlierStep(m: MismatchFacts, t: Trace, pick: (s: Step) => boolean): { index: number; text: string } | null {
  const sockets = connectionOf(m, t);
  const last = m.step ?? Infinity;
  for (const rec of t.steps) {
    if (rec.index > last) break;
    const s = rec.step;
    if (!pick(s)) continue;
    const names = 'sock' in s && typeof s.sock === 'string' ? [s.sock] : [];
    if ('to' in s && typeof s.to === 'string') names.push(s.to);
    if (names.some((n) => sockets.has(n))) return { index: rec.index, text: rec.text };
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
    id: 'send-buffer',
    title: 'send-buffer limits (write never returns EAGAIN when connected), cwnd',
    evidence: (m, { kernel }) => {
      const w = earlierStep(m, kernel, (s) => s.op === 'write' && (s.fill === true || s.blocking === true));
      return w ? `step ${w.index} (${w.text}) fills the send buffer or blocks on it` : null;
    },
  },
  {
    id: 'quickack',
    title: 'TCP_QUICKACK',
    evidence: (m, { kernel }) => {
      const w = earlierStep(m, kernel, (s) => s.op === 'quickack' || (s.op === 'connect' && s.delayAck === true));
      return w ? `step ${w.index} (${w.text}) sets TCP_QUICKACK` : null;
    },
  },
  {
    id: 'nagle-cork',
    title: 'Nagle/cork (MSG_MORE)',
    evidence: (m, { kernel }) => {
      const w = earlierStep(m, kernel, (s) => s.op === 'closeOnEof' && s.more === true);
      return w ? `step ${w.index} (${w.text}) corks its data with MSG_MORE` : null;
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
export function reasonFor(m: MismatchFacts, ctx: GapContext, gaps: readonly ModelGap[] = MODEL_GAPS): MismatchReason {
  for (const g of gaps) {
    const e = g.evidence(m, ctx);
    if (e !== null) return { gap: g.id, text: `not modelled: ${g.title}; ${e}` };
  }
  return { gap: 'unexplained', text: 'unexplained: no known gap of the model covers it' };
}
