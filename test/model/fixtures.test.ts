/**
 * The model against the kernel: recorded Linux 6.18 traces (test/fixtures/traces) replayed step by
 * step on the model, states compared per step and per socket.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { loadFixture, replay } from './replay.js';

const dir = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));

/** Scenarios the model must reproduce state for state. */
const EXACT = ['close-unread-data', 'three-vs-four-way', 'self-connect'];

for (const name of EXACT) {
  test(`replay ${name}: every socket's state after every step agrees with the kernel's`, () => {
    const r = replay(loadFixture(`${dir}${name}.json`));
    assert.deepEqual(r.unsupported, []);
    assert.ok(r.compared > 0);
    assert.deepEqual(r.diffs, [], `${r.agreed}/${r.compared} agreed`);
    assert.deepEqual(r.results.diffs, []);
    assert.deepEqual(r.transitionDiffs, []);
  });
}

test('replay of every fixture the model can run: agreement per scenario', (t) => {
  let compared = 0;
  let agreed = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const r = replay(loadFixture(`${dir}${file}`));
    if (r.unsupported.length > 0) {
      t.diagnostic(`${r.scenario}: not replayed (${r.unsupported.join(', ')})`);
      continue;
    }
    compared += r.compared;
    agreed += r.agreed;
    const first = r.diffs[0];
    t.diagnostic(
      `${r.scenario}: states ${r.agreed}/${r.compared}, results ${r.results.agreed}/${r.results.compared}, transition sequences differing ${r.transitionDiffs.length}` +
        (first ? `; first diff step ${first.step} (${first.op}) ${first.label}: kernel ${first.kernel}, model ${first.model}` : ''),
    );
  }
  t.diagnostic(`overall: ${agreed}/${compared} (${((100 * agreed) / compared).toFixed(1)} %)`);
  assert.ok(compared > 0);
  assert.ok(agreed / compared >= 0.9, `overall agreement ${agreed}/${compared}`);
});
