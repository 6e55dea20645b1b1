/**
 * Every claim check on the kernel traces recorded on Linux 6.18 (test/fixtures/traces, made with
 * `teardown lab --record test/fixtures/traces`): runs without root and without the kernel, so a
 * machine that cannot run the lab still exercises every check's logic. Re-judging a recorded trace
 * must give the verdicts and the evidence recorded with it; a trace altered in one fact must move
 * the verdict or the evidence with that fact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CATALOGUE, findScenario } from '../../src/lab/catalogue.js';
import { judgeTrace } from '../../src/lab/judge.js';
import { renderTrace } from '../../src/lab/report/text.js';
import type { Trace } from '../../src/lab/trace.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));

/** A fresh copy of the recorded trace of `id` (tests alter it). */
export function recorded(id: string): Trace {
  const path = `${DIR}${id}.json`;
  assert.ok(existsSync(path), `no recorded trace for ${id}: run teardown lab --record test/fixtures/traces`);
  return JSON.parse(readFileSync(path, 'utf8')) as Trace;
}

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
