import type { ClaimNote, Finding, Scenario, Verdict } from '../scenario.js';
import { TraceView, type Trace } from '../trace.js';

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

/** The scenario's notes on claims it does not judge, and its findings beyond the articles, from one trace. */
export function notesAndFindings(sc: Scenario, trace: Trace): { notes: ClaimNote[]; findings: Finding[] } {
  const view = new TraceView(trace);
  const notes: ClaimNote[] = [];
  for (const [claim, check] of Object.entries(sc.notes ?? {})) {
    const note = check(view);
    if (note !== null) notes.push({ claim, note });
  }
  const findings: Finding[] = [];
  for (const f of sc.findings ?? []) {
    const evidence = f.check(view);
    if (evidence !== null) findings.push({ id: f.id, fact: f.fact, evidence, claims: f.claims ?? [] });
  }
  return { notes, findings };
}
