import { findScenario } from '../catalogue.js';
import type { Scenario } from '../scenario.js';
import type { Trace } from '../trace.js';
import { compareTraces, summarize } from './compare.js';
import { CompareError, type Comparison, type ScenarioComparison, type SkippedComparison } from './types.js';

/**
 * Runs a scenario on the model: its trace, or why the model does not run it (a step on node:net,
 * a descriptor table of processes). Pure: the model needs no I/O.
 */
export type ModelRunner = (sc: Scenario) => Trace | { skipped: string };

/**
 * The model against each kernel trace: every scenario of `kernel` run on the model and compared.
 * A trace of a scenario the catalogue does not know, or that the model skips, is listed as skipped
 * with the reason; so is a pair {@link compareTraces} refuses (steps that are not the same).
 */
export function compareWithModel(kernel: readonly Trace[], runModel: ModelRunner): Comparison {
  const scenarios: ScenarioComparison[] = [];
  const skipped: SkippedComparison[] = [];
  for (const k of kernel) {
    const sc = findScenario(k.scenario);
    if (sc === undefined) {
      skipped.push({ scenario: k.scenario, reason: 'not a scenario of this catalogue' });
      continue;
    }
    const m = runModel(sc);
    if ('skipped' in m) {
      skipped.push({ scenario: k.scenario, reason: `not run on the model: ${m.skipped}` });
      continue;
    }
    try {
      scenarios.push(compareTraces(k, m));
    } catch (e) {
      if (!(e instanceof CompareError)) throw e;
      skipped.push({ scenario: k.scenario, reason: `not comparable: ${e.message}` });
    }
  }
  return summarize(scenarios, skipped);
}
