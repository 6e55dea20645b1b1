import { CLAIMS } from './claims.js';
import { runOnKernel, ScenarioFailed, ScenarioSkipped, type KernelRunOptions } from './kernel/run.js';
import { judgeClaims, type ClaimJudgement } from './judge/index.js';
import type { Finding, Scenario, Verdict } from './scenario.js';
import type { StepRecord, Trace } from './trace.js';

export interface LabProgress {
  scenarioStarted?: (sc: Scenario, index: number, total: number) => void;
  scenarioDone?: (outcome: ScenarioOutcome) => void;
  step?: (sc: Scenario, rec: StepRecord) => void;
}

/** What became of one scenario. */
export type ScenarioOutcome =
  | { scenario: string; status: 'ran'; trace: Trace }
  | { scenario: string; status: 'skipped'; reason: string }
  | { scenario: string; status: 'failed'; error: string; steps?: StepRecord[] };

export interface LabResult {
  outcomes: ScenarioOutcome[];
  /** Every verdict with the scenario that gave it. */
  verdicts: (Verdict & { scenario: string })[];
  /** Claims the selected scenarios should have judged but did not (they were skipped or failed). */
  unjudged: string[];
  /**
   * One judgement per claim in scope (every claim of SEEDS.md when the whole catalogue ran), in
   * SEEDS order: the findings of all its scenarios combined (SEEDS rules), with notes beside it.
   */
  claims: ClaimJudgement[];
  /** Kernel facts beyond the articles this run showed, each with its scenario. */
  findings: (Finding & { scenario: string })[];
  durationMs: number;
}

/**
 * Runs scenarios on the kernel, `concurrency` at a time (default 2), outcomes in the given order,
 * and judges each claim once (`allClaims`: every claim of SEEDS.md, else those the scenarios judge).
 * A scenario that throws is recorded as failed (its processes and namespace are already gone)
 * and the run goes on.
 */
export async function runLab(
  scenarios: readonly Scenario[],
  opts: KernelRunOptions & { progress?: LabProgress; concurrency?: number; allClaims?: boolean } = {},
): Promise<LabResult> {
  const started = performance.now();
  const outcomes: ScenarioOutcome[] = new Array<ScenarioOutcome>(scenarios.length);
  // Each scenario has its own namespace, so a few can run at once without seeing each other;
  // most of a scenario's time is waiting for kernel timers, not CPU.
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 2, scenarios.length));
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < scenarios.length; i = next++) {
      const sc = scenarios[i] as Scenario;
      opts.progress?.scenarioStarted?.(sc, i, scenarios.length);
      const outcome = await runOne(sc, opts);
      outcomes[i] = outcome;
      opts.progress?.scenarioDone?.(outcome);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
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
    [...CLAIMS.keys()].filter((c) => opts.allClaims === true || inScope.has(c)),
    verdicts.map((v) => ({ claim: v.claim, scenario: v.scenario, verdict: v.verdict, observed: v.observed })),
    notes,
    why,
  );
  return { outcomes, verdicts, unjudged, claims, findings, durationMs: Math.round(performance.now() - started) };
}

async function runOne(sc: Scenario, opts: KernelRunOptions & { progress?: LabProgress }): Promise<ScenarioOutcome> {
  try {
    const trace = await runOnKernel(sc, { ...opts, onStep: (rec) => opts.progress?.step?.(sc, rec) });
    return { scenario: sc.id, status: 'ran', trace };
  } catch (e) {
    if (e instanceof ScenarioSkipped) return { scenario: sc.id, status: 'skipped', reason: e.reason };
    if (e instanceof ScenarioFailed) return { scenario: sc.id, status: 'failed', error: e.message, steps: e.steps };
    return { scenario: sc.id, status: 'failed', error: e instanceof Error ? e.message : String(e) };
  }
}

/** Claims of SEEDS.md that no scenario of `catalogue` has a check for. */
export function uncoveredClaims(catalogue: readonly Scenario[]): string[] {
  const covered = new Set(catalogue.flatMap((s) => Object.keys(s.checks)));
  return [...CLAIMS.keys()].filter((c) => !covered.has(c));
}
