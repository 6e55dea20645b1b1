import type { Scenario, Verdict } from './scenario.js';
import { TraceView, type Trace } from './trace.js';

/**
 * Every claim's verdict for one recorded trace: each of the scenario's checks applied to it. The
 * same function judges a live run and a trace read back from a file (`teardown lab --record`,
 * test/fixtures/traces), so a check's logic runs without root, without the kernel.
 * @throws Error when a check throws: that is a scenario bug (a label it never defined), not a finding.
 */
export function judgeTrace(sc: Scenario, trace: Trace): Verdict[] {
  const view = new TraceView(trace);
  return Object.entries(sc.checks).map(([claim, check]) => ({ claim, ...check(view) }));
}
