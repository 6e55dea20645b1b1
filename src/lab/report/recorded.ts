/**
 * Traces recorded with `teardown lab --record DIR`, read back and judged as the live run judged
 * them: the report of a run needs no root, no kernel, and can be made on another machine.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOGUE, findScenario } from '../catalogue.js';
import { judgeLab, type LabJudgement, type ScenarioOutcome } from '../judge/index.js';
import type { Scenario } from '../scenario.js';
import type { Trace } from '../trace.js';

/** A directory or file that cannot be read as recorded traces; `message` is one line. */
export class RecordedTracesError extends Error {
  override name = 'RecordedTracesError';
}

/** Recorded files larger than this are refused (the whole catalogue's largest is under 200 KB). */
export const MAX_TRACE_BYTES = 64 * 1024 * 1024;

function isTrace(v: unknown): v is Trace {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<Trace>;
  return typeof t.scenario === 'string' && typeof t.title === 'string' && Array.isArray(t.steps) && Array.isArray(t.verdicts) &&
    typeof t.env === 'object' && t.env !== null && typeof t.addresses === 'object' && typeof t.remotes === 'object';
}

/**
 * Every `*.json` trace in `dir`, in catalogue order (scenarios the catalogue does not know last,
 * by name).
 * @throws RecordedTracesError when `dir` cannot be read, holds no trace, or a file is not a trace.
 */
export function readRecordedTraces(dir: string): Trace[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch (e) {
    throw new RecordedTracesError(`${JSON.stringify(dir)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (names.length === 0) throw new RecordedTracesError(`${JSON.stringify(dir)}: no recorded trace (*.json) in it`);
  const traces = names.map((name) => {
    const path = join(dir, name);
    let value: unknown;
    try {
      const text = readFileSync(path, 'utf8');
      if (text.length > MAX_TRACE_BYTES) throw new RecordedTracesError(`${path}: larger than ${MAX_TRACE_BYTES} bytes`);
      value = JSON.parse(text);
    } catch (e) {
      if (e instanceof RecordedTracesError) throw e;
      throw new RecordedTracesError(`${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split('\n')[0]}`);
    }
    if (!isTrace(value)) throw new RecordedTracesError(`${path}: not a trace recorded by teardown lab --record`);
    return value;
  });
  const rank = (t: Trace): number => {
    const i = CATALOGUE.findIndex((s) => s.id === t.scenario);
    return i < 0 ? CATALOGUE.length : i;
  };
  return traces.sort((a, b) => rank(a) - rank(b) || (a.scenario < b.scenario ? -1 : 1));
}

/**
 * The lab's judgement of recorded traces: each trace's recorded verdicts combined per claim
 * ({@link judgeLab}); every claim of SEEDS.md is in scope when the whole catalogue is there.
 */
export function judgeRecorded(traces: readonly Trace[]): LabJudgement & { outcomes: ScenarioOutcome[] } {
  const outcomes: ScenarioOutcome[] = traces.map((trace) => ({ scenario: trace.scenario, status: 'ran', trace }));
  const scenarios = traces.map((t) => findScenario(t.scenario)).filter((s): s is Scenario => s !== undefined);
  const all = CATALOGUE.every((s) => traces.some((t) => t.scenario === s.id));
  return { outcomes, ...judgeLab(scenarios, outcomes, all) };
}
