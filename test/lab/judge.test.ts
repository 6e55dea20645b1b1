/** One verdict per claim (SEEDS rules), as a table: findings in, one verdict out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineFindings, judgeClaims, type ScenarioFinding } from '../../src/lab/judge/index.js';
import type { VerdictKind } from '../../src/lab/scenario.js';

const f = (scenario: string, verdict: VerdictKind): ScenarioFinding => ({ scenario, verdict, observed: `${scenario} saw it` });

const table: { name: string; findings: ScenarioFinding[]; verdict: VerdictKind; observed: RegExp }[] = [
  { name: 'no finding', findings: [], verdict: 'unverified', observed: /no scenario judged it/ },
  { name: 'one finding: its own words', findings: [f('a', 'confirmed')], verdict: 'confirmed', observed: /^a saw it$/ },
  { name: 'all agree', findings: [f('a', 'contradicted'), f('b', 'contradicted')], verdict: 'contradicted', observed: /^by a, b/ },
  { name: 'one confirms, one contradicts: partly, naming both', findings: [f('a', 'confirmed'), f('b', 'contradicted')], verdict: 'partly', observed: /confirmed by a; contradicted by b/ },
  { name: 'a finding that says partly', findings: [f('a', 'confirmed'), f('b', 'partly')], verdict: 'partly', observed: /confirmed by a; partly by b/ },
  { name: 'unverified adds nothing beside a judgement', findings: [f('a', 'unverified'), f('b', 'confirmed')], verdict: 'confirmed', observed: /^b saw it$/ },
  { name: 'only unverified', findings: [f('a', 'unverified'), f('b', 'unverified')], verdict: 'unverified', observed: /a: a saw it \| b: b saw it/ },
];

for (const row of table) {
  test(`combineFindings: ${row.name}`, () => {
    const r = combineFindings(row.findings);
    assert.equal(r.verdict, row.verdict);
    assert.match(r.observed, row.observed);
  });
}

test('judgeClaims: exactly one entry per claim asked for, in order; notes beside, never changing the verdict', () => {
  const out = judgeClaims(
    ['001-a', '001-f', '002-z'],
    [
      { claim: '001-f', ...f('accept-emfile', 'confirmed') },
      { claim: '001-a', ...f('accept-never-called', 'confirmed') },
      { claim: '001-a', ...f('full-backlog', 'contradicted') },
    ],
    [{ claim: '001-f', note: 'node:net accepts and closes (libuv)' }],
    (c) => `why not ${c}`,
  );
  assert.deepEqual(out.map((c) => [c.claim, c.verdict, c.findings.length, c.notes.length]), [
    ['001-a', 'partly', 2, 0],
    ['001-f', 'confirmed', 1, 1],
    ['002-z', 'unverified', 0, 0],
  ]);
  assert.equal(out[2]?.observed, 'why not 002-z');
});
