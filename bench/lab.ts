/**
 * lab: the whole catalogue's wall time on the kernel with packet capture (an AF_PACKET socket per
 * scenario) and tracing (a tracefs instance per scenario), against the same catalogue without
 * either, measured alternately in the same run. Each run also counts what the verdicts rest on:
 * claims left `unverified` (without capture, those that need packets), segments and traced events.
 *
 * Needs root (network namespaces, AF_PACKET, tracefs); without it the bench says so and exits 1.
 * Environment knobs: LAB_REPS (default 2: four catalogue runs, about a minute and a half).
 */
import { CATALOGUE } from '../src/lab/catalogue.js';
import { isRoot } from '../src/lab/kernel/netns.js';
import { runLab, type LabResult } from '../src/lab/run-lab.js';
import { envInt, measureInterleaved, ratiosAgainstAnchors, type BenchOptions, type BenchResult } from './lib.js';

const WITH = 'catalogue, capture + tracing';
const WITHOUT = 'catalogue, neither';

interface Counted {
  unverified: number;
  failed: number;
  segments: number;
  events: number;
}

function count(r: LabResult): Counted {
  const traces = r.outcomes.flatMap((o) => (o.status === 'ran' ? [o.trace] : []));
  return {
    unverified: r.verdicts.filter((v) => v.verdict === 'unverified').length,
    failed: r.outcomes.filter((o) => o.status === 'failed').length,
    segments: traces.reduce((n, t) => n + (t.segments?.length ?? 0), 0),
    events: traces.reduce((n, t) => n + (t.transitions?.length ?? 0) + (t.resets?.length ?? 0) + (t.errors?.length ?? 0), 0),
  };
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  if (!isRoot()) throw new Error('the lab bench needs root (network namespaces, AF_PACKET, tracefs)');
  const reps = envInt('LAB_REPS', 2);
  const concurrency = 2;
  const last: Record<string, Counted> = {};
  const once = (label: string, on: boolean) => async (): Promise<number> => {
    const r = await runLab(CATALOGUE, { capture: on, trace: on, concurrency });
    last[label] = count(r);
    opts.progress(`${label}: ${(r.durationMs / 1000).toFixed(1)} s, ${last[label].unverified} unverified, ${last[label].failed} failed`);
    return r.outcomes.length;
  };
  const rows = await measureInterleaved(
    [
      { label: WITHOUT, anchor: true, fn: once(WITHOUT, false) },
      { label: WITH, fn: once(WITH, true) },
    ],
    { reps, warmup: 0, progress: opts.progress },
  );
  const w = last[WITH];
  const wo = last[WITHOUT];
  return {
    bench: 'lab',
    title: 'the whole lab catalogue on this kernel, with and without packet capture and tracing',
    params: { scenarios: CATALOGUE.length, reps, concurrency },
    rows,
    ratios: ratiosAgainstAnchors(rows, [WITH]),
    notes: [],
    tables: [
      {
        title: 'what the verdicts rest on (last run of each)',
        head: ['run', 'claims unverified', 'scenarios failed', 'segments captured', 'events traced'],
        rows: [
          [WITH, w?.unverified ?? '-', w?.failed ?? '-', w?.segments ?? '-', w?.events ?? '-'],
          [WITHOUT, wo?.unverified ?? '-', wo?.failed ?? '-', wo?.segments ?? '-', wo?.events ?? '-'],
        ],
      },
    ],
  };
}
