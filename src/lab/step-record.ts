import { ScenarioFailed } from './errors.js';
import type { CallResult, Step } from './ops.js';
import { stepText } from './report/step-text.js';
import type { Snapshot, StepRecord } from './trace.js';

// What every backend (kernel, model) records of a step once it has run, and how a step that
// could not run ends the scenario: one shape, so a report cannot tell the backends apart by it.

/** When a step ran, in the backend's own clock (see StepRecord's fields for units). */
export type StepTiming = Pick<StepRecord, 'startMs' | 'startEpochMs' | 'durationMs'>;

/**
 * The record of step `index` as it ran (`resolved`: a watch sized by a sysctl has its length),
 * its result, when it ran, and the sockets after it.
 */
export function stepRecord(index: number, resolved: Step, result: CallResult, timing: StepTiming, after: Snapshot, watched: Snapshot[] | undefined): StepRecord {
  return {
    index,
    label: resolved.label ?? null,
    actor: resolved.actor ?? null,
    step: resolved,
    text: stepText(resolved),
    result,
    ...timing,
    after,
    ...(watched ? { watched } : {}),
    segments: [],
  };
}

/** The ScenarioFailed for step `resolved` throwing `err`, with the steps recorded before it. */
export function stepFailed(scenario: string, resolved: Step, err: unknown, records: StepRecord[]): ScenarioFailed {
  return new ScenarioFailed(scenario, `${stepText(resolved)}: ${err instanceof Error ? err.message : String(err)}`, records);
}
