/**
 * Every claim check on the kernel traces recorded on Linux 6.18 (test/fixtures/traces, made with
 * `teardown lab --record test/fixtures/traces`): runs without root and without the kernel, so a
 * machine that cannot run the lab still exercises every check's logic. Re-judging a recorded trace
 * must give the verdicts and the evidence recorded with it; a trace altered in one fact must move
 * the verdict or the evidence with that fact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOGUE, findScenario } from '../../src/lab/catalogue.js';
import { judgeTrace } from '../../src/lab/judge/index.js';
import { renderTrace } from '../../src/lab/report/text.js';
import type { Trace } from '../../src/lab/trace.js';
import { recorded } from './helpers.js';


function verdictOf(trace: Trace, claim: string): { verdict: string; observed: string } {
  const sc = findScenario(trace.scenario);
  assert.ok(sc, trace.scenario);
  const v = judgeTrace(sc, trace).find((x) => x.claim === claim);
  assert.ok(v, `${trace.scenario} has no check for ${claim}`);
  return v;
}

for (const sc of CATALOGUE) {
  test(`recorded ${sc.id}: every check re-judges to the recorded verdict and evidence`, () => {
    const trace = recorded(sc.id);
    assert.equal(trace.scenario, sc.id);
    assert.ok(trace.segments !== null, `${sc.id} was recorded without packets: ${trace.env.captureNote}`);
    assert.ok(trace.transitions !== null, `${sc.id} was recorded without transitions: ${trace.env.traceNote}`);
    assert.deepEqual(
      judgeTrace(sc, trace).map((v) => [v.claim, v.verdict, v.observed]),
      trace.verdicts.map((v) => [v.claim, v.verdict, v.observed]),
    );
    assert.deepEqual(Object.keys(sc.checks).sort(), trace.verdicts.map((v) => v.claim).sort(), 'every check of the scenario has a recorded verdict');
    // The report renders from the trace alone.
    assert.match(renderTrace(trace), new RegExp(`━━ ${sc.id}`));
  });
}

test('every RST the kernel sent in the recorded catalogue has its reason on the segment and in resets', () => {
  let rsts = 0;
  for (const sc of CATALOGUE) {
    const trace = recorded(sc.id);
    for (const seg of trace.segments ?? []) {
      if (!seg.flags.includes('RST')) continue;
      rsts++;
      assert.ok(seg.rstReason, `${sc.id}: RST ${seg.src} > ${seg.dst} at ${seg.timeMs} ms has no reason`);
    }
    for (const r of trace.resets ?? []) if (r.direction === 'sent') assert.ok(r.reason !== null, `${sc.id}: a sent RST without reason`);
  }
  assert.ok(rsts > 10, `the catalogue sends RSTs (${rsts} seen)`);
});

// Altered traces: the verdict and the evidence follow the trace, never a fixed string.

test('001-c follows the far end’s state: a recorded CLOSE_WAIT changed to ESTABLISHED is contradicted, and the evidence says ESTABLISHED', () => {
  const trace = recorded('accept-never-called');
  assert.equal(verdictOf(trace, '001-c').verdict, 'confirmed');
  const far = trace.steps.find((s) => s.label === 'client closed')?.after.sockets.find((s) => s.label === '~c');
  assert.ok(far);
  far.state = 'ESTABLISHED';
  const v = verdictOf(trace, '001-c');
  assert.equal(v.verdict, 'contradicted');
  assert.match(v.observed, /~c ESTABLISHED/);
});

test('004-e follows the packets and the kernel’s reason: another reason shows in the evidence; a FIN instead of the RST contradicts', () => {
  const trace = recorded('close-unread-data');
  const before = verdictOf(trace, '004-e');
  assert.equal(before.verdict, 'confirmed');
  assert.match(before.observed, /RST\+ACK \(TCP_ABORT_ON_CLOSE\)/);
  const rst = (trace.segments ?? []).find((s) => s.flags.includes('RST') && s.rstReason === 'TCP_ABORT_ON_CLOSE');
  assert.ok(rst);
  rst.rstReason = 'TCP_ABORT_ON_MEMORY';
  assert.match(verdictOf(trace, '004-e').observed, /RST\+ACK \(TCP_ABORT_ON_MEMORY\)/);
  rst.flags = ['FIN', 'ACK'];
  delete rst.rstReason;
  assert.equal(verdictOf(trace, '004-e').verdict, 'contradicted');
});

test('004-n reads the traced transitions: without FIN_WAIT1 → CLOSING it is contradicted; untraced, it falls back to the packets and says so', () => {
  const trace = recorded('self-connect');
  const traced = verdictOf(trace, '004-n');
  assert.equal(traced.verdict, 'confirmed');
  assert.match(traced.observed, /SYN_SENT → SYN_RECV, SYN_RECV → ESTABLISHED, .*FIN_WAIT1 → CLOSING, CLOSING → CLOSE/);
  assert.match(traced.observed, /packets S S\. \. then F\. \./);
  const altered = structuredClone(trace);
  altered.transitions = (altered.transitions ?? []).filter((x) => !(x.from === 'FIN_WAIT1' && x.to === 'CLOSING'));
  assert.equal(verdictOf(altered, '004-n').verdict, 'contradicted');
  const untraced = structuredClone(trace);
  untraced.transitions = null;
  untraced.env.traceNote = 'transitions not traced: not root';
  const v = verdictOf(untraced, '004-n');
  assert.equal(v.verdict, 'confirmed');
  assert.match(v.observed, /transitions not traced: not root: the passing states are inferred from the packets/);
});

test('the report of every recorded scenario fits 120 columns; --wide lets lines run', () => {
  for (const sc of CATALOGUE) {
    const text = renderTrace(recorded(sc.id)).replace(/\x1b\[[0-9;]*m/g, '');
    for (const line of text.split('\n')) assert.ok([...line].length <= 120, `${sc.id}: ${[...line].length} columns: ${line}`);
  }
  const wide = renderTrace(recorded('pool-low-rate'), { width: 400 }).split('\n');
  assert.ok(wide.some((l) => [...l].length > 120), 'a wide report has lines over 120 columns');
});

test('the timeline lists a socket only when it changed, and names a RST’s reason among what the tracepoints saw', () => {
  const text = renderTrace(recorded('close-unread-data')).replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(text, /s1 sent RST \(TCP_ABORT_ON_CLOSE\)/);
  // L is LISTEN from step 0 and its row returns only when its accept queue changes.
  const rowsOfL = text.split('\n').filter((l) => / L {6}LISTEN /.test(l)).length;
  const steps = recorded('close-unread-data').steps.length;
  assert.ok(rowsOfL > 0 && rowsOfL < steps, `L listed ${rowsOfL} times over ${steps} steps`);
});
