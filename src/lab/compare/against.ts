import { findScenario } from '../catalogue.js';
import { ScenarioSkipped } from '../errors.js';
import { runOnModel } from '../model/run.js';
import type { Scenario } from '../scenario.js';
import type { Trace } from '../trace.js';
import { compareTraces, summarize } from './compare.js';
import { CompareError, type Comparison, type ScenarioComparison, type SkippedComparison } from './types.js';

/**
 * The model backend ({@link runOnModel}) run as the kernel's trace ran: with its sysctls, and at
 * its pace (each step starts, and is observed, at the kernel's virtual time), so a segment's time
 * since the last call means the same on both. Its trace, or why the model does not run the
 * scenario (a step on node:net, a descriptor table of processes). Pure: the model needs no I/O.
 */
function pacedModel(sc: Scenario, kernel: Trace): Trace | { skipped: string } {
  try {
    return runOnModel(sc, { sysctls: kernel.env.sysctls, pace: kernel.steps.map((s) => ({ startMs: s.startMs, atMs: s.after.atMs })) });
  } catch (e) {
    if (e instanceof ScenarioSkipped) return { skipped: e.reason };
    throw e;
  }
}

/**
 * The model against each kernel trace: every scenario of `kernel` run on the model and compared.
 * Each runs as the kernel's did (its sysctls, its pace). A trace of a scenario the catalogue does
 * not know, or that the model skips, is listed as skipped
 * with the reason; so is a pair {@link compareTraces} refuses (steps that are not the same).
 * `onPair` sees each pair compared (for the side-by-side pictures).
 */
export function compareWithModel(kernel: readonly Trace[], onPair?: (kernel: Trace, model: Trace) => void): Comparison {
  const scenarios: ScenarioComparison[] = [];
  const skipped: SkippedComparison[] = [];
  for (const k of kernel) {
    const sc = findScenario(k.scenario);
    if (sc === undefined) {
      skipped.push({ scenario: k.scenario, reason: 'not a scenario of this catalogue' });
      continue;
    }
    const m = pacedModel(sc, k);
    if ('skipped' in m) {
      skipped.push({ scenario: k.scenario, reason: `not run on the model: ${m.skipped}` });
      continue;
    }
    try {
      scenarios.push(compareTraces(k, m));
      onPair?.(k, m);
    } catch (e) {
      if (!(e instanceof CompareError)) throw e;
      skipped.push({ scenario: k.scenario, reason: `not comparable: ${e.message}` });
    }
  }
  return summarize(scenarios, skipped);
}
