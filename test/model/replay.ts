/**
 * Replays a recorded lab trace's scenario on the model backend (src/lab/model/run.ts), at the
 * recorded run's pace, and compares step by step the state of every named socket, the calls'
 * results and each socket's moves with the kernel's (test code only; `teardown lab --compare`
 * is the full differential check).
 */
import { readFileSync } from 'node:fs';

import { findScenario } from '../../src/lab/catalogue.js';
import { modelSkipReason } from '../../src/lab/model/coverage.js';
import { runOnModel } from '../../src/lab/model/run.js';
import type { Trace } from '../../src/lab/trace.js';

export type Fixture = Trace;

export interface StepDiff {
  step: number;
  op: string;
  label: string;
  kernel: string | null;
  model: string | null;
}

export interface ReplayReport {
  scenario: string;
  /** (step, socket) pairs compared. */
  compared: number;
  agreed: number;
  diffs: StepDiff[];
  /** Actor steps whose ok/errno agreed, of those compared. */
  results: { compared: number; agreed: number; diffs: string[] };
  /** Per socket, the kernel's and the model's sequence of moves (`A→B`), where they differ. */
  transitionDiffs: { label: string; kernel: string[]; model: string[] }[];
  /** Why the model does not run the scenario (it was not replayed), or empty. */
  unsupported: string[];
}

/** Results that depend on the process or the runtime, not on TCP: not compared. */
const UNCOMPARED_RESULTS = new Set(['epoll', 'info', 'exit', 'kill', 'closeOnEof', 'counters', 'connectScan']);

export function loadFixture(path: string): Fixture {
  return JSON.parse(readFileSync(path, 'utf8')) as Fixture;
}

export function replay(f: Fixture): ReplayReport {
  const report: ReplayReport = { scenario: f.scenario, compared: 0, agreed: 0, diffs: [], results: { compared: 0, agreed: 0, diffs: [] }, transitionDiffs: [], unsupported: [] };
  const sc = findScenario(f.scenario);
  if (sc === undefined) throw new Error(`fixture of unknown scenario ${f.scenario}`);
  const why = modelSkipReason(sc, f.env.sysctls);
  if (why !== null) {
    report.unsupported.push(why);
    return report;
  }
  const m = runOnModel(sc, { sysctls: f.env.sysctls, pace: f.steps.map((s) => ({ startMs: s.startMs, atMs: s.after.atMs })) });

  for (const rec of f.steps) {
    const mine = m.steps[rec.index];
    if (mine === undefined) throw new Error(`${f.scenario}: the model ran no step ${rec.index}`);
    const st = rec.step;
    if (st.actor !== undefined && !UNCOMPARED_RESULTS.has(st.op)) {
      report.results.compared++;
      const k = rec.result;
      const r = mine.result;
      const same = k.ok === r.ok && (k.ok || k.errno === r.errno);
      if (same) report.results.agreed++;
      else report.results.diffs.push(`step ${rec.index} ${st.op} ${'sock' in st ? st.sock : ''}: kernel ${k.errno ?? 'ok'}, model ${r.ok ? 'ok' : r.errno}`);
    }
    // States per label of the sockets in the kernel's table.
    const states = (sockets: Trace['steps'][number]['after']['sockets']): Map<string, string> => new Map(sockets.filter((s) => s.inTable).map((s) => [s.label, s.state]));
    const kernel = states(rec.after.sockets);
    const model = states(mine.after.sockets);
    for (const label of new Set([...kernel.keys(), ...model.keys()])) {
      report.compared++;
      const k = kernel.get(label) ?? null;
      const md = model.get(label) ?? null;
      if (k === md) report.agreed++;
      else report.diffs.push({ step: rec.index, op: st.op, label, kernel: k, model: md });
    }
  }

  if (f.transitions !== null && m.transitions !== null) {
    const moves = (ts: NonNullable<Trace['transitions']>): Map<string, string[]> => {
      const out = new Map<string, string[]>();
      for (const t of ts) out.set(t.socket, [...(out.get(t.socket) ?? []), `${t.from}→${t.to}`]);
      return out;
    };
    const k = moves(f.transitions);
    const md = moves(m.transitions);
    // Sockets named by their 4-tuple differ in port numbers between the runs: only named ones compare.
    const named = (label: string): boolean => !label.includes('>');
    for (const label of new Set([...k.keys(), ...md.keys()].filter(named))) {
      const a = k.get(label) ?? [];
      const b = md.get(label) ?? [];
      if (a.join() !== b.join()) report.transitionDiffs.push({ label, kernel: a, model: b });
    }
  }
  return report;
}
