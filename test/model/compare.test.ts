/**
 * The model held against every committed kernel trace (test/fixtures/traces, Linux 6.18), as
 * `teardown lab --compare` does it — runnable without root: at least 95 % of the compared facts
 * agree, and every remaining mismatch is put down to a known gap of the model with its evidence.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { compareWithModel, FACT_KINDS } from '../../src/lab/compare/index.js';
import { readRecordedTraces } from '../../src/lab/report/recorded.js';

const dir = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));

/** Scenarios the model must reproduce exactly: states, call results and transitions. */
const EXACT = ['close-unread-data', 'three-vs-four-way', 'self-connect'];

test(`${EXACT.join(', ')}: no state, call result or transition differs from the kernel's`, () => {
  const c = compareWithModel(readRecordedTraces(dir).filter((t) => EXACT.includes(t.scenario)));
  assert.deepEqual(c.skipped, []);
  assert.deepEqual(c.scenarios.map((s) => s.scenario).sort(), [...EXACT].sort());
  for (const s of c.scenarios) {
    assert.ok(s.kinds.state.compared > 0 && s.kinds.result.compared > 0, s.scenario);
    assert.deepEqual(s.mismatches.filter((m) => m.kind === 'state' || m.kind === 'result' || m.kind === 'transition').map((m) => `step ${m.step} ${m.kind} ${m.socket}: kernel ${m.kernel} · model ${m.model}`), [], s.scenario);
  }
});

test('the model against every committed kernel trace: >= 95 % of facts agree (and of each kind), every mismatch has a known reason', (t) => {
  const c = compareWithModel(readRecordedTraces(dir));
  for (const s of c.scenarios) {
    t.diagnostic(`${s.scenario}: ${s.agreed}/${s.compared} (${((100 * s.agreed) / s.compared).toFixed(1)} %)`);
  }
  for (const s of c.skipped) t.diagnostic(`skipped ${s.scenario}: ${s.reason}`);
  for (const k of FACT_KINDS) t.diagnostic(`${k}: ${c.kinds[k].agreed}/${c.kinds[k].compared}`);
  for (const s of c.scenarios) {
    for (const m of s.mismatches) t.diagnostic(`mismatch ${m.scenario} step ${m.step} ${m.kind} ${m.socket ?? ''}: kernel ${m.kernel} · model ${m.model} — ${m.reason.text}`);
  }
  t.diagnostic(`overall: ${c.agreed}/${c.compared} (${((100 * c.agreed) / c.compared).toFixed(2)} %); by reason ${JSON.stringify(c.reasons)}`);
  assert.ok(c.scenarios.length >= 15, `only ${c.scenarios.length} scenarios compared`);
  for (const k of FACT_KINDS) assert.ok(c.kinds[k].compared > 0, `no ${k} fact compared`);
  // States and queues outnumber the rest; each kind must hold on its own too.
  for (const k of FACT_KINDS) assert.ok(c.kinds[k].agreed / c.kinds[k].compared >= 0.95, `${k}: ${c.kinds[k].agreed}/${c.kinds[k].compared}`);
  assert.ok(c.agreed / c.compared >= 0.95, `overall agreement ${c.agreed}/${c.compared}`);
  // At the recorded runs' pace every per-step socket state agrees (docs/model.md).
  assert.equal(c.kinds.state.agreed, c.kinds.state.compared, 'every per-step socket state agrees');
  const unexplained = c.scenarios.flatMap((s) => s.mismatches).filter((m) => m.reason.gap === 'unexplained');
  assert.deepEqual(
    unexplained.map((m) => `${m.scenario} step ${m.step} ${m.kind} ${m.socket}: kernel ${m.kernel} · model ${m.model}`),
    [],
  );
});
