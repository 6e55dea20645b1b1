/**
 * The verdict of every claim across the scenarios of one lab run, by the SEEDS rules: the same for
 * a live run (`teardown lab`) and for traces read back from files (`teardown report --from DIR`).
 */
import { CLAIMS } from '../claims.js';
import type { Finding, Scenario, Verdict } from '../scenario.js';
import type { StepRecord, Trace } from '../trace.js';
import { judgeClaims, type ClaimJudgement } from './claims.js';

/** What became of one scenario. */
export type ScenarioOutcome =
  | { scenario: string; status: 'ran'; trace: Trace }
  | { scenario: string; status: 'skipped'; reason: string }
  | { scenario: string; status: 'failed'; error: string; steps?: StepRecord[] };

/** Every claim judged across the scenarios of a run. */
export interface LabJudgement {
  /** Every verdict with the scenario that gave it. */
  verdicts: (Verdict & { scenario: string })[];
  /** Claims the selected scenarios should have judged but did not (they were skipped or failed). */
  unjudged: string[];
  /** One judgement per claim in scope, in SEEDS order, its scenarios' findings combined, notes beside it. */
  claims: ClaimJudgement[];
  /** Kernel facts beyond the articles the run showed, each with its scenario. */
  findings: (Finding & { scenario: string })[];
}

/**
 * Judges every claim in scope from the outcomes of `scenarios` (pure): the verdicts recorded in
 * each trace, combined per claim ({@link judgeClaims}); each scenario's notes, and its findings
 * as notes beside the claims they bear on.
 * @param allClaims every claim of SEEDS.md is in scope, else those the scenarios judge or note.
 */
export function judgeLab(scenarios: readonly Pick<Scenario, 'id' | 'checks' | 'notes'>[], outcomes: readonly ScenarioOutcome[], allClaims: boolean): LabJudgement {
  const verdicts = outcomes.flatMap((o) => (o.status === 'ran' ? o.trace.verdicts.map((v) => ({ ...v, scenario: o.scenario })) : []));
  const judged = new Set(verdicts.map((v) => v.claim));
  const inScope = new Set(scenarios.flatMap((s) => Object.keys(s.checks)));
  const unjudged = [...CLAIMS.keys()].filter((c) => inScope.has(c) && !judged.has(c));
  const ran = outcomes.flatMap((o) => (o.status === 'ran' ? [o] : []));
  const findings = ran.flatMap((o) => (o.trace.findings ?? []).map((f) => ({ ...f, scenario: o.scenario })));
  const notes = [
    ...ran.flatMap((o) => (o.trace.notes ?? []).map((n) => ({ claim: n.claim, note: `${o.scenario}: ${n.note}` }))),
    // The finding itself is printed once, in its own section; beside the claim, its fact and where to read more.
    ...findings.flatMap((f) => f.claims.map((claim) => ({ claim, note: `finding ${f.id} (${f.scenario}): ${f.fact}` }))),
  ];
  for (const s of scenarios) for (const c of Object.keys(s.notes ?? {})) inScope.add(c);
  const why = (claim: string): string => {
    const by = scenarios.filter((s) => claim in s.checks).map((s) => s.id);
    const gone = outcomes.filter((o) => by.includes(o.scenario) && o.status !== 'ran').map((o) => `${o.scenario} ${o.status}`);
    return gone.length > 0 ? `not judged: ${gone.join(', ')}` : 'no scenario judges it yet';
  };
  const claims = judgeClaims(
    [...CLAIMS.keys()].filter((c) => allClaims || inScope.has(c)),
    verdicts.map((v) => ({ claim: v.claim, scenario: v.scenario, verdict: v.verdict, observed: v.observed })),
    notes,
    why,
  );
  return { verdicts, unjudged, claims, findings };
}
