/**
 * report: the HTML page of the whole catalogue written from the recorded traces
 * (test/fixtures/traces, as `teardown report --from DIR --html FILE` does in process): read, judge,
 * lay out every ladder, write. Goals: the page ≤ 2 MB, written in ≤ 1 s. Anchors measured in the
 * same run: reading and parsing the traces alone, and the terminal text report of the same traces.
 * Environment knobs: REPORT_REPS (default 20).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderHtmlReport } from '../src/lab/report/html.js';
import { renderLadderSvg } from '../src/lab/report/ladder.js';
import { judgeRecorded, readRecordedTraces } from '../src/lab/report/recorded.js';
import { renderTrace } from '../src/lab/report/text.js';
import { envInt, measureInterleaved, ratiosAgainstAnchors, type BenchOptions, type BenchResult } from './lib.js';

const TRACES = fileURLToPath(new URL('../../test/fixtures/traces/', import.meta.url));
const READ = 'read + parse the traces';
const TEXT = 'read + terminal text report';
const SVG = 'read + every ladder SVG';
const PAGE = 'read + judge + HTML page + write';
const PAGE_LIMIT_BYTES = 2 * 1024 * 1024;
const PAGE_LIMIT_MS = 1000;

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const reps = envInt('REPORT_REPS', 20);
  const dir = mkdtempSync(join(tmpdir(), 'tt-bench-report-'));
  const file = join(dir, 'lab.html');
  try {
    const scenarios = readRecordedTraces(TRACES).length;
    const rows = await measureInterleaved(
      [
        { label: READ, anchor: true, fn: () => readRecordedTraces(TRACES).length },
        { label: TEXT, anchor: true, fn: () => readRecordedTraces(TRACES).map((t) => renderTrace(t)).length },
        { label: SVG, fn: () => readRecordedTraces(TRACES).map((t) => renderLadderSvg(t)).length },
        {
          label: PAGE,
          fn: () => {
            const traces = readRecordedTraces(TRACES);
            writeFileSync(file, renderHtmlReport({ ...judgeRecorded(traces), source: TRACES }));
            return traces.length;
          },
        },
      ],
      { reps, warmup: 2, progress: opts.progress },
    );
    const bytes = statSync(file).size;
    const page = rows.find((r) => r.label === PAGE);
    const ms = page?.stats.medianMs ?? NaN;
    return {
      bench: 'report',
      title: 'the HTML page of the whole catalogue from recorded traces (teardown report --html)',
      params: { scenarios, reps, traces: 'test/fixtures/traces' },
      rows,
      ratios: ratiosAgainstAnchors(rows, [SVG, PAGE]),
      notes: ['one process, warm (2 untimed runs first); a CLI run adds Node start-up and module loading'],
      tables: [
        {
          title: 'goals',
          head: ['figure', 'measured', 'limit', 'within'],
          rows: [
            ['page size, bytes', bytes, PAGE_LIMIT_BYTES, bytes <= PAGE_LIMIT_BYTES ? 'yes' : 'NO'],
            ['page written, median ms', Number(ms.toFixed(1)), PAGE_LIMIT_MS, ms <= PAGE_LIMIT_MS ? 'yes' : 'NO'],
            ['page written, p90 ms', Number((page?.stats.p90Ms ?? NaN).toFixed(1)), PAGE_LIMIT_MS, (page?.stats.p90Ms ?? Infinity) <= PAGE_LIMIT_MS ? 'yes' : 'NO'],
          ],
        },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
