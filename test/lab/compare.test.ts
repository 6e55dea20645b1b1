/**
 * The differential check's core (src/lab/compare) on recorded kernel traces: a trace against an
 * altered copy of itself must lose exactly the altered facts, name them with their step, socket
 * and values, and give each the reason its evidence supports; timing tolerance at its edges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { align, compareTraces, CompareError, FACT_KINDS, summarize, toleranceMs, withinTolerance } from '../../src/lab/compare/index.js';
import type { Trace } from '../../src/lab/trace.js';
import { MODEL_GAPS, type MismatchFacts } from '../../src/lab/compare/reasons.js';
import { recorded } from './helpers.js';

const copy = (t: Trace): Trace => structuredClone(t);

test('a trace against itself: every fact of every kind agrees', () => {
  const t = recorded('close-unread-data');
  const r = compareTraces(t, copy(t));
  assert.deepEqual(r.mismatches, []);
  assert.equal(r.agreed, r.compared);
  for (const k of FACT_KINDS) assert.ok(r.kinds[k].compared > 0, `${k} compared`);
  // 18 steps × their sockets: the sum of in-table sockets over the steps.
  const sockets = t.steps.reduce((n, s) => n + s.after.sockets.filter((x) => x.inTable).length, 0);
  assert.equal(r.kinds.state.compared, sockets);
  assert.equal(r.kinds.segment.compared, t.segments!.length);
  assert.equal(r.kinds.transition.compared, t.transitions!.length);
});

test('an altered errno: one result fact lost, named with its step, socket and both values', () => {
  const k = recorded('close-unread-data');
  const m = copy(k);
  const step = m.steps.find((s) => s.text === 'client: read c1 (non-blocking)')!;
  assert.equal(step.result.errno, 'ECONNRESET');
  step.result = { ok: false, errno: 'EPIPE' };
  const base = compareTraces(k, copy(k));
  const r = compareTraces(k, m);
  assert.equal(r.compared, base.compared);
  assert.equal(r.agreed, base.agreed - 1);
  assert.equal(r.kinds.result.agreed, base.kinds.result.agreed - 1);
  assert.deepEqual(
    r.mismatches.map(({ kind, step: s, socket, kernel, model, reason }) => ({ kind, step: s, socket, kernel, model, gap: reason.gap })),
    [{ kind: 'result', step: step.index, socket: 'c1', kernel: 'ECONNRESET', model: 'EPIPE', gap: 'unexplained' }],
  );
});

test('an altered state and Recv-Q: one fact of each kind lost at that step', () => {
  const k = recorded('close-unread-data');
  const m = copy(k);
  const rec = m.steps[10]!;
  const s1 = rec.after.sockets.find((s) => s.label === 'c1')!;
  s1.state = 'CLOSE_WAIT';
  s1.recvQ += 3;
  const r = compareTraces(k, m);
  assert.deepEqual(
    r.mismatches.map((x) => `${x.kind} ${x.step} ${x.socket}: ${x.kernel} / ${x.model}`),
    [`state 10 c1: ESTABLISHED / CLOSE_WAIT`, `recvQ 10 c1: Recv-Q 0 / Recv-Q 3`],
  );
});

/** The model copy without segment `i` (step indices renumbered). */
function withoutSegment(t: Trace, i: number): Trace {
  const m = copy(t);
  m.segments!.splice(i, 1);
  for (const s of m.steps) s.segments = s.segments.filter((x) => x !== i).map((x) => (x > i ? x - 1 : x));
  return m;
}

test('a segment the model did not send: one segment mismatch, the rest still aligned', () => {
  const k = recorded('close-unread-data');
  // Segment 12: c0's ACK of s0's FIN.
  const seg = k.segments![12]!;
  assert.deepEqual(seg.flags, ['ACK']);
  const r = compareTraces(k, withoutSegment(k, 12));
  assert.equal(r.kinds.segment.compared, k.segments!.length);
  assert.equal(r.kinds.segment.agreed, k.segments!.length - 1);
  assert.equal(r.kinds.segmentTime.compared, k.segments!.length - 1);
  assert.deepEqual(
    r.mismatches.map((x) => `${x.kind} ${x.step} ${x.socket}: ${x.kernel} / ${x.model}`),
    ['segment 9 c0>s0: c0→s0 ACK seq 8 ack 2 len 0 / —'],
  );
});

test('a segment with another ack: one mismatch, kernel and model side by side', () => {
  const k = recorded('close-unread-data');
  const m = copy(k);
  m.segments![12]!.ack = 1;
  const r = compareTraces(k, m);
  assert.deepEqual(
    r.mismatches.map((x) => `${x.kind} ${x.socket}: ${x.kernel} / ${x.model}`),
    ['segment c0>s0: c0→s0 ACK seq 8 ack 2 len 0 / c0→s0 ACK seq 8 ack 1 len 0'],
  );
});

test('an extra transition in the model: one transition fact, the others aligned', () => {
  const k = recorded('close-unread-data');
  const m = copy(k);
  const first = m.transitions!.findIndex((x) => x.socket === 's1' || x.socket === '~c1');
  m.transitions!.splice(first + 1, 0, { ...m.transitions![first]!, from: 'SYN_RECV', to: 'CLOSE' });
  const r = compareTraces(k, m);
  assert.equal(r.kinds.transition.compared, k.transitions!.length + 1);
  assert.equal(r.kinds.transition.agreed, k.transitions!.length);
  assert.deepEqual(r.mismatches.map((x) => [x.kind, x.kernel, x.model]), [['transition', '—', 'SYN_RECV→CLOSE']]);
});

test('reasons come from evidence: a Send-Q after a blocking write the model cut short has the send-buffer evidence; before it, or after one written alike, none', () => {
  const k = recorded('blocking-write-rtt');
  const w = k.steps.find((s) => s.step.op === 'write' && s.step.blocking === true)!;
  const sock = (w.step as { sock: string }).sock;
  const gap = MODEL_GAPS.find((g) => g.id === 'send-buffer')!;
  const facts = (step: number): MismatchFacts => ({ kind: 'sendQ', step, sockets: [sock] });
  const short = copy(k);
  short.steps[w.index]!.result = { ok: false, errno: 'EAGAIN', value: { elapsedMs: 0 } };
  assert.equal(gap.evidence(facts(w.index - 1), { kernel: k, model: short }), null);
  assert.match(gap.evidence(facts(w.index + 1), { kernel: k, model: short }) ?? '', new RegExp(`step ${w.index} \\(.*\\) wrote 1 B on the kernel, 0 B on the model`));
  // The blocking write alone is no evidence: the kernel's did not sleep here, and wrote what the model's did.
  assert.equal(gap.evidence(facts(w.index + 1), { kernel: k, model: k }), null);
});

test('a fill is modelled: the same Send-Q after it, altered, is unexplained', () => {
  const k = recorded('close-unsent-data');
  const fill = k.steps.find((s) => s.step.op === 'write' && s.step.fill === true)!;
  const m = copy(k);
  m.steps[fill.index + 1]!.after.sockets.find((s) => s.label === 'c')!.sendQ += 1;
  const r = compareTraces(k, m);
  assert.deepEqual(r.mismatches.map((x) => [x.step, x.kind, x.reason.gap]), [[fill.index + 1, 'sendQ', 'unexplained']]);
});

/** The model copy with segments `i` and `i + 1` swapped (their times too, so only the order changes). */
function swapped(t: Trace, i: number): Trace {
  const m = copy(t);
  const segs = m.segments!;
  const [a, b] = [segs[i]!, segs[i + 1]!];
  [a.epochMs, b.epochMs] = [b.epochMs, a.epochMs];
  segs[i] = b;
  segs[i + 1] = a;
  return m;
}

test('timer-phase is given only to an ACK the model sent within a jiffy and the kernel well before 40 ms', () => {
  const k = recorded('close-unread-data');
  // Segment 12: c0's ACK of s0's FIN, 6.3 ms after the FIN came (the next-jiffy delayed ACK, late).
  const fin = k.transitions!.find((x) => x.socket === 'c0' && x.to === 'CLOSE_WAIT')!;
  const gap = k.segments![12]!.epochMs - fin.epochMs;
  assert.ok(gap > 4 && gap < 10, `kernel gap ${gap}`);
  const early = compareTraces(k, shifted(k, 12, 1 - gap)).mismatches;
  assert.deepEqual(early.map((x) => [x.kind, x.reason.gap]), [['segmentTime', 'timer-phase']]);
  assert.match(early[0]!.reason.text, /the model 1\.00 ms, the kernel 6\.3\d ms after the last event/);
  // The model 11 ms after: not a next-jiffy timer on its side, so no reason is known.
  const late = compareTraces(k, shifted(k, 12, 11 - gap)).mismatches;
  assert.deepEqual(late.map((x) => [x.kind, x.reason.gap]), [['segmentTime', 'unexplained']]);
});

test('call-duration needs its evidence: two segments in another order with no write-and-close step are unexplained', () => {
  const k = recorded('close-unread-data');
  // Segments 9 and 10: c0's data and s0's ACK of it, swapped.
  const r = compareTraces(k, swapped(k, 9));
  assert.ok(r.mismatches.length > 0);
  assert.deepEqual([...new Set(r.mismatches.map((x) => x.reason.gap))], ['unexplained']);
  // The same swap where the steps say a write and a close ran at one instant (three-vs-four-way step 25).
  const t = recorded('three-vs-four-way');
  const i = t.steps.find((s) => s.index === 26)!.segments[0]!;
  const s = compareTraces(t, swapped(t, i + 1));
  assert.ok(s.mismatches.length > 0);
  assert.deepEqual([...new Set(s.mismatches.map((x) => x.reason.gap))], ['call-duration']);
});

test('traces of two scenarios are refused', () => {
  assert.throws(() => compareTraces(recorded('close-unread-data'), recorded('shut-rd')), CompareError);
});

test('tolerance: max(4 ms, 12.5 % of the gap), the edge itself agrees', () => {
  assert.equal(toleranceMs(0), 4);
  assert.equal(toleranceMs(32), 4);
  assert.equal(toleranceMs(80), 10);
  assert.equal(toleranceMs(-5), 4);
  assert.ok(withinTolerance(10, 14));
  assert.ok(withinTolerance(10, 6));
  assert.ok(!withinTolerance(10, 14.01));
  assert.ok(!withinTolerance(10, 5.99));
  assert.ok(withinTolerance(80, 90));
  assert.ok(withinTolerance(80, 70));
  assert.ok(!withinTolerance(80, 90.01));
  assert.ok(!withinTolerance(1000, 1125.01));
  assert.ok(withinTolerance(1000, 1125));
});

/** The model copy with segment `i` moved `ms` later, and the state changes its arrival caused with it. */
function shifted(t: Trace, i: number, ms: number): Trace {
  const m = copy(t);
  const at = m.segments![i]!.epochMs;
  m.segments![i]!.epochMs += ms;
  for (const x of m.transitions ?? []) if (x.epochMs >= at) x.epochMs += ms;
  return m;
}

test('segment time: 4 ms late agrees, 4.01 ms late does not (a short gap)', () => {
  const k = recorded('close-unread-data');
  // Segment 12 (c0's ACK of the FIN) is the last of its connection: moving it moves no other gap.
  assert.equal(compareTraces(k, shifted(k, 12, 4)).kinds.segmentTime.agreed, k.segments!.length);
  const r = compareTraces(k, shifted(k, 12, 4.01));
  assert.deepEqual(r.mismatches.map((x) => [x.kind, x.step, x.socket]), [['segmentTime', 9, 'c0>s0']]);
  assert.equal(r.kinds.segment.agreed, k.segments!.length, 'the segment itself still agrees');
});

test('segment time: 12.5 % of a long gap agrees, a little more does not', () => {
  const orig = recorded('close-unread-data');
  // Make segment 12 come 80 ms after the last event before it (c0's move to CLOSE_WAIT, as the FIN
  // arrived) in both: the tolerance is then 10 ms.
  const fin = orig.transitions!.find((x) => x.socket === 'c0' && x.to === 'CLOSE_WAIT')!;
  const k = shifted(orig, 12, fin.epochMs + 80 - orig.segments![12]!.epochMs);
  assert.equal(compareTraces(k, shifted(k, 12, 10)).mismatches.length, 0);
  assert.equal(compareTraces(k, shifted(k, 12, -10)).mismatches.length, 0);
  assert.equal(compareTraces(k, shifted(k, 12, 10.02)).mismatches.length, 1);
  assert.equal(compareTraces(k, shifted(k, 12, -10.02)).mismatches.length, 1);
});

test('summarize: per kind and per reason across scenarios', () => {
  const a = recorded('close-unread-data');
  const b = recorded('shut-rd');
  const mb = copy(b);
  mb.steps[1]!.result = { ok: false, errno: 'ECONNREFUSED' };
  const s = summarize([compareTraces(a, copy(a)), compareTraces(b, mb)], [{ scenario: 'x', reason: 'y' }]);
  assert.equal(s.compared - s.agreed, 1);
  assert.deepEqual(s.reasons, { unexplained: 1 });
  assert.equal(s.kinds.result.compared - s.kinds.result.agreed, 1);
  assert.deepEqual(s.skipped, [{ scenario: 'x', reason: 'y' }]);
});

test('align: LCS rows, differing places paired, leftovers one-sided', () => {
  assert.deepEqual(align(['a', 'b', 'c'], ['a', 'c']), [
    { op: 'same', k: 0, m: 0 },
    { op: 'kernelOnly', k: 1 },
    { op: 'same', k: 2, m: 1 },
  ]);
  assert.deepEqual(align(['a', 'x', 'c'], ['a', 'y', 'z', 'c']), [
    { op: 'same', k: 0, m: 0 },
    { op: 'differ', k: 1, m: 1 },
    { op: 'modelOnly', m: 2 },
    { op: 'same', k: 2, m: 3 },
  ]);
  assert.deepEqual(align([], ['q']), [{ op: 'modelOnly', m: 0 }]);
});
