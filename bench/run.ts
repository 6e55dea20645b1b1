/**
 * `node dist/bench/run.js <name> [--json]`: runs bench/<name>.ts's exported `run()` and prints
 * its result as a table (with each row's ratio to every anchor) or, with `--json`, as exactly
 * one JSON object on stdout. Progress goes to stderr in both modes.
 *
 * Exit status: 0 done, 1 the bench failed (message only; BENCH_DEBUG=1 adds the stack), 2 usage
 * (unknown bench, unknown option).
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { wrap } from '../src/lab/report/text.js';
import type { BenchResult, BenchRun } from './lib.js';
import { fittedTable } from './lib-table.js';

const here = fileURLToPath(new URL('.', import.meta.url));

/** Bench modules next to this file: not the harness itself, not helpers (`lib`, `lib-*`, `*-holder`, `*-server`). */
function availableBenches(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.js'))
    .map((f) => f.slice(0, -3))
    .filter((n) => n !== 'run' && n !== 'lib' && !n.startsWith('lib-') && !n.endsWith('-holder') && !n.endsWith('-server'))
    .sort();
}

function usage(message: string): never {
  const names = availableBenches();
  process.stderr.write(`${message}\nusage: node dist/bench/run.js <name> [--json]\navailable benches: ${names.length ? names.join(', ') : '(none)'}\n`);
  process.exit(2);
}

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function fmtRatio(r: number): string {
  return r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

/** Lines fit this many columns: the terminal's width, else 120 (a pipe, a log file). */
function outputWidth(): number {
  return process.stdout.isTTY && process.stdout.columns > 40 ? process.stdout.columns : 120;
}

function printHuman(result: BenchResult): void {
  const width = outputWidth();
  const anchors = result.rows.filter((r) => r.anchor);
  const withRowsPerRun = result.rows.some((r) => r.rowsPerRun !== undefined);
  const head = ['measured', 'median ms', 'p90 ms', 'min ms', 'runs', ...(withRowsPerRun ? ['rows/run'] : []), ...anchors.map((a) => `÷ ${a.label}`)];
  const rows = result.rows.map((row) => [
    row.anchor ? `${row.label} (anchor)` : row.label,
    fmtMs(row.stats.medianMs),
    fmtMs(row.stats.p90Ms),
    fmtMs(row.stats.minMs),
    String(row.stats.runs),
    ...(withRowsPerRun ? [row.rowsPerRun === undefined ? '' : String(row.rowsPerRun)] : []),
    ...anchors.map((a) => (a === row ? '1' : fmtRatio(row.stats.medianMs / a.stats.medianMs))),
  ]);
  const out: string[] = [...wrap(`${result.bench}: ${result.title}`, width, 2)];
  out.push(...wrap(Object.entries(result.params).map(([k, v]) => `${k}=${String(v)}`).join('  '), width, 2));
  if (result.rows.length > 0) out.push(fittedTable(head, rows, head.map((_, i) => (i === 0 ? 'left' : 'right')), width));
  for (const t of result.tables ?? []) {
    out.push('', ...wrap(t.title, width, 2), fittedTable(t.head, t.rows.map((r) => r.map(String)), t.head.map((_, i) => (i === 0 ? 'left' : 'right')), width));
  }
  out.push('');
  for (const r of result.ratios) out.push(...wrap(`${r.of} / ${r.to} = ${r.value.toFixed(3)} (median; below 1 is faster)`, width, 2));
  for (const n of result.notes) out.push(...wrap(`note: ${n}`, width, 2));
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  const unknownOption = rest.find((a) => a.startsWith('-'));
  if (unknownOption !== undefined) usage(`unknown option ${unknownOption}`);
  if (rest.length !== 1) usage(rest.length === 0 ? 'no bench named' : `one bench at a time, got ${rest.join(' ')}`);
  const name = rest[0] as string;
  if (!availableBenches().includes(name)) usage(`unknown bench "${name}"`);

  const mod = (await import(`./${name}.js`)) as { run?: BenchRun };
  if (typeof mod.run !== 'function') usage(`bench/${name}.ts exports no run() function`);
  const progress = (msg: string): void => {
    process.stderr.write(`[${name}] ${msg}\n`);
  };
  const result = await mod.run({ json, progress });
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else printHuman(result);
}

main().catch((err: unknown) => {
  const debug = process.env.BENCH_DEBUG === '1';
  const text = err instanceof Error ? (debug ? (err.stack ?? err.message) : err.message) : String(err);
  process.stderr.write(`bench failed: ${text}${debug ? '' : ' (BENCH_DEBUG=1 shows the stack)'}\n`);
  process.exit(1);
});
