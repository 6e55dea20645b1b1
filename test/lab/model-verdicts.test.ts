/**
 * The model against the kernel, claim by claim (no root): every scenario the model runs is run on
 * it, and each verdict is compared with the kernel's, re-judged from the recorded Linux 6.18 trace
 * (test/fixtures/traces). A difference fails the test unless the claim is listed in
 * MODEL_UNCOVERED_CLAIMS with its reason; every difference is printed either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CATALOGUE } from '../../src/lab/catalogue.js';
import { judgeLab, judgeTrace, type ScenarioOutcome } from '../../src/lab/judge/index.js';
import { MODEL_UNCOVERED_CLAIMS, modelCoverage, modelSkipReason } from '../../src/lab/model/coverage.js';
import { runOnModel } from '../../src/lab/model/run.js';
import { recorded } from './helpers.js';

test("every claim the model covers: the model's verdict equals the kernel's recorded one", (t) => {
  const differences: string[] = [];
  const unlisted: string[] = [];
  let compared = 0;
  let ran = 0;
  const modelOutcomes: ScenarioOutcome[] = [];
  const kernelOutcomes: ScenarioOutcome[] = [];
  for (const sc of CATALOGUE) {
    const skip = modelSkipReason(sc);
    if (skip !== null) {
      t.diagnostic(`skipped on the model: ${sc.id}: ${skip}`);
      continue;
    }
    ran++;
    const kernel = recorded(sc.id);
    kernel.verdicts = judgeTrace(sc, kernel);
    const model = runOnModel(sc);
    modelOutcomes.push({ scenario: sc.id, status: 'ran', trace: model });
    kernelOutcomes.push({ scenario: sc.id, status: 'ran', trace: kernel });
    for (const k of kernel.verdicts) {
      const m = model.verdicts.find((v) => v.claim === k.claim);
      assert.ok(m, `${sc.id}: the model gave no verdict on ${k.claim}`);
      if (k.claim in MODEL_UNCOVERED_CLAIMS) {
        t.diagnostic(`${sc.id} ${k.claim}: not covered by the model (${MODEL_UNCOVERED_CLAIMS[k.claim]})`);
        continue;
      }
      compared++;
      if (m.verdict === k.verdict) continue;
      const line = `${sc.id} ${k.claim}: kernel ${k.verdict}, model ${m.verdict} — model saw: ${m.observed}`;
      differences.push(line);
      unlisted.push(line);
    }
  }
  // Per claim, every scenario's findings combined (the SEEDS rules), as `teardown lab` reports them.
  const scenarios = CATALOGUE.filter((sc) => modelSkipReason(sc) === null);
  const byModel = judgeLab(scenarios, modelOutcomes, false).claims;
  const byKernel = judgeLab(scenarios, kernelOutcomes, false).claims;
  for (const k of byKernel) {
    const m = byModel.find((c) => c.claim === k.claim);
    if (k.claim in MODEL_UNCOVERED_CLAIMS || m?.verdict === k.verdict) continue;
    differences.push(`claim ${k.claim} combined: kernel ${k.verdict}, model ${m?.verdict ?? 'none'}`);
  }
  for (const d of differences) t.diagnostic(`DIFFERS ${d}`);
  t.diagnostic(`${ran} scenarios ran on the model, ${CATALOGUE.length - ran} skipped; ${compared} verdicts compared, ${differences.length} differ`);
  assert.ok(ran >= 20, `the model runs most of the catalogue (${ran})`);
  assert.ok(compared >= 40, `verdicts compared: ${compared}`);
  assert.deepEqual(unlisted, [], 'a verdict differs from the kernel\'s and the claim is not in MODEL_UNCOVERED_CLAIMS');
  assert.deepEqual(differences, []);
});

test('the model finds the same findings beyond the articles and notes as the kernel did', () => {
  for (const sc of CATALOGUE) {
    if (modelSkipReason(sc) !== null) continue;
    const kernel = recorded(sc.id);
    const model = runOnModel(sc);
    assert.deepEqual(model.findings.map((f) => f.id).sort(), (kernel.findings ?? []).map((f) => f.id).sort(), `${sc.id} findings`);
    assert.deepEqual(model.notes.map((n) => n.claim).sort(), (kernel.notes ?? []).map((n) => n.claim).sort(), `${sc.id} notes`);
  }
});

test('coverage: the claims the model does not judge are those of skipped scenarios, each with its reason', () => {
  const { covered, uncovered } = modelCoverage(CATALOGUE);
  assert.ok(covered.includes('004-j') && covered.includes('001-a'));
  // accept-emfile (EMFILE) is the only scenario judging 001-f, and the model skips it.
  const emfile = uncovered.find((u) => u.claim === '001-f');
  assert.ok(emfile, JSON.stringify(uncovered));
  assert.match(emfile.reason, /accept-emfile .*descriptor table/);
  for (const u of uncovered) assert.ok(!covered.includes(u.claim), `${u.claim} both covered and not`);
});
