import { SEVERITIES, DEFAULT_THRESHOLDS, type DiagnoseInput, type DoctorThresholds, type Finding } from './finding.js';
import { finWait1SendQ, orphans, synRecv, timeWait } from './rules/capacity.js';
import { acceptQueues, closeWait, trends } from './rules/close-wait.js';
import { makeContext } from './rules/context.js';
import { finWait2 } from './rules/fin-wait2.js';
import { kernelCounters } from './rules/kernel-counters.js';

export * from './finding.js';

/**
 * The doctor's verdict on one scan: every problem it sees, worst first, each with its evidence,
 * the seed claim it rests on and one sentence of advice. Pure: reads nothing, so it runs on
 * fixtures as on a live machine.
 *
 * @param input sockets, counters and sysctls, read beforehand (see `runDoctor`).
 * @param thresholds overrides of {@link DEFAULT_THRESHOLDS}.
 */
export function diagnose(input: DiagnoseInput, thresholds: Partial<DoctorThresholds> = {}): Finding[] {
  const ctx = makeContext(input, { ...DEFAULT_THRESHOLDS, ...thresholds });
  const found = [...closeWait(ctx), ...trends(ctx), ...finWait2(ctx), ...finWait1SendQ(ctx), ...acceptQueues(ctx), ...timeWait(ctx), ...synRecv(ctx), ...orphans(ctx), ...kernelCounters(ctx)];
  return worstFirst(found);
}

/** Stable: worst severity first, otherwise in the given order (diagnose()'s rule order). */
export function worstFirst(found: readonly Finding[]): Finding[] {
  return found.map((f, i) => ({ f, i })).sort((a, b) => SEVERITIES.indexOf(b.f.severity) - SEVERITIES.indexOf(a.f.severity) || a.i - b.i).map((x) => x.f);
}

/**
 * The exit status `teardown doctor` uses for these findings: 1 when any is `warning` or
 * `critical`, else 0 (2 is kept for usage errors).
 */
export function exitCodeFor(findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.severity !== 'info') ? 1 : 0;
}
