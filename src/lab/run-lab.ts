import { CLAIMS } from './claims.js';
import { runOnKernel, type KernelRunOptions } from './kernel/run.js';
import { runOnModel } from './model/run.js';
import { ScenarioFailed, ScenarioSkipped } from './errors.js';
import { judgeLab, type ClaimJudgement, type ScenarioOutcome } from './judge/index.js';
import type { Finding, Scenario, Verdict } from './scenario.js';
import type { StepRecord } from './trace.js';

export interface LabProgress {
  scenarioStarted?: (sc: Scenario, index: number, total: number) => void;
  scenarioDone?: (outcome: ScenarioOutcome) => void;
  step?: (sc: Scenario, rec: StepRecord) => void;
}

export type { ScenarioOutcome };

/** Where the scenarios run: the real kernel (namespaces, processes, root for the full picture) or the model (src/model, virtual time). */
export type LabBackend = 'kernel' | 'model';

export interface LabRunOptions extends KernelRunOptions {
  /** Default `kernel`. */
  backend?: LabBackend;
  /** Model only: the loopback round-trip time, ms (each direction delays by half). */
  rttMs?: number;
  progress?: LabProgress;
  /** Kernel only: scenarios at once (default 2); the model runs them one after another in-process. */
  concurrency?: number;
  allClaims?: boolean;
}

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
 * Runs scenarios on the kernel, `concurrency` at a time (default 2), or on the model
 * (`backend: 'model'`), outcomes in the given order, and judges each claim once (`allClaims`:
 * every claim of SEEDS.md, else those the scenarios judge). A scenario that throws is recorded as
 * failed (its processes and namespace are already gone) and the run goes on.
 */
export async function runLab(scenarios: readonly Scenario[], opts: LabRunOptions = {}): Promise<LabResult> {
  const started = performance.now();
  const outcomes: ScenarioOutcome[] = new Array<ScenarioOutcome>(scenarios.length);
  // Each scenario has its own namespace, so a few can run at once without seeing each other;
  // most of a scenario's time is waiting for kernel timers, not CPU.
  const concurrency = opts.backend === 'model' ? 1 : Math.max(1, Math.min(opts.concurrency ?? 2, scenarios.length));
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
  return { outcomes, ...judgeLab(scenarios, outcomes, opts.allClaims === true), durationMs: Math.round(performance.now() - started) };
}

async function runOne(sc: Scenario, opts: LabRunOptions): Promise<ScenarioOutcome> {
  try {
    const onStep = (rec: StepRecord): void => opts.progress?.step?.(sc, rec);
    const trace =
      opts.backend === 'model'
        ? runOnModel(sc, { ...(opts.sysctls ? { sysctls: opts.sysctls } : {}), ...(opts.rttMs !== undefined ? { rttMs: opts.rttMs } : {}), onStep })
        : await runOnKernel(sc, { ...opts, onStep });
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
