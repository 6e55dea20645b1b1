import { CLAIMS } from './claims.js';
import { runOnKernel, ScenarioFailed, ScenarioSkipped, type KernelRunOptions } from './kernel/run.js';
import type { Scenario, Verdict } from './scenario.js';
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
  durationMs: number;
}

/**
 * Runs scenarios one after another on the kernel. A scenario that throws is recorded as failed
 * (its processes and namespace are already gone) and the run goes on.
 */
export async function runLab(scenarios: readonly Scenario[], opts: KernelRunOptions & { progress?: LabProgress } = {}): Promise<LabResult> {
  const started = Date.now();
  const outcomes: ScenarioOutcome[] = [];
  for (const [i, sc] of scenarios.entries()) {
    opts.progress?.scenarioStarted?.(sc, i, scenarios.length);
    let outcome: ScenarioOutcome;
    try {
      const trace = await runOnKernel(sc, { ...opts, onStep: (rec) => opts.progress?.step?.(sc, rec) });
      outcome = { scenario: sc.id, status: 'ran', trace };
    } catch (e) {
      outcome =
        e instanceof ScenarioSkipped
          ? { scenario: sc.id, status: 'skipped', reason: e.reason }
          : e instanceof ScenarioFailed
            ? { scenario: sc.id, status: 'failed', error: e.message, steps: e.steps }
            : { scenario: sc.id, status: 'failed', error: e instanceof Error ? e.message : String(e) };
    }
    outcomes.push(outcome);
    opts.progress?.scenarioDone?.(outcome);
  }
  const verdicts = outcomes.flatMap((o) => (o.status === 'ran' ? o.trace.verdicts.map((v) => ({ ...v, scenario: o.scenario })) : []));
  const judged = new Set(verdicts.map((v) => v.claim));
  const inScope = new Set(scenarios.flatMap((s) => Object.keys(s.checks)));
  const unjudged = [...CLAIMS.keys()].filter((c) => inScope.has(c) && !judged.has(c));
  return { outcomes, verdicts, unjudged, durationMs: Date.now() - started };
}

/** Claims of SEEDS.md that no scenario of `catalogue` has a check for. */
export function uncoveredClaims(catalogue: readonly Scenario[]): string[] {
  const covered = new Set(catalogue.flatMap((s) => Object.keys(s.checks)));
  return [...CLAIMS.keys()].filter((c) => !covered.has(c));
}
