import type { StepRecord } from './trace.js';

/*
 * How a scenario run can end other than with a trace, for every backend (kernel, model).
 */

/** A scenario that broke while running (a peer died, a call was impossible): not a finding. */
export class ScenarioFailed extends Error {
  constructor(
    readonly scenario: string,
    readonly reason: string,
    /** The steps that completed before it broke, for the report. */
    readonly steps: StepRecord[],
  ) {
    super(`${scenario} failed at step ${steps.length}: ${reason}`);
    this.name = 'ScenarioFailed';
  }
}

/** A scenario that cannot run here, and why (not root, no pidfd rights …). Not a failure. */
export class ScenarioSkipped extends Error {
  constructor(
    readonly scenario: string,
    readonly reason: string,
  ) {
    super(`${scenario} skipped: ${reason}`);
    this.name = 'ScenarioSkipped';
  }
}
