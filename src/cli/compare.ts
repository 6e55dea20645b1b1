import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CATALOGUE, findScenario } from '../lab/catalogue.js';
import { agreement, compareWithModel, renderCompareHtml, renderComparison, type ComparedPair, type Comparison } from '../lab/compare/index.js';
import { isRoot } from '../lab/kernel/netns.js';
import { pc } from '../lab/report/colour.js';
import { readRecordedTraces, RecordedTracesError } from '../lab/report/recorded.js';
import { DEFAULT_WIDTH } from '../lab/report/text.js';
import { runLab } from '../lab/run-lab.js';
import type { Trace } from '../lab/trace.js';
import { standardOutput } from './output.js';
import { outputFile } from './pictures.js';

/** The kernel traces committed with the project (Linux 6.18), used when not root and no directory is given. */
const COMMITTED_TRACES = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));

/** Options of `teardown lab` that mean nothing with --compare (it runs both backends, as recorded or here). */
const NOT_WITH_COMPARE = [
  ['backend', '--backend'],
  ['sysctl', '--sysctl'],
  ['rttMs', '--rtt-ms'],
  ['record', '--record'],
  ['pcap', '--pcap'],
  ['svg', '--svg'],
  ['mermaid', '--mermaid'],
  ['list', '--list'],
] as const;

/**
 * Why these `teardown lab` options cannot go with --compare, or null when they can: --recorded
 * needs --compare; --compare runs both backends, with the kernel trace's own sysctls and pace.
 */
export function compareUsage(opts: object & { compare?: boolean; recorded?: string }): string | null {
  if (!opts.compare) return '--recorded DIR goes with --compare';
  const bad = NOT_WITH_COMPARE.filter(([key]) => {
    const v = (opts as Record<string, unknown>)[key];
    if (key === 'backend') return v !== undefined && v !== 'kernel';
    if (key === 'sysctl') return Array.isArray(v) && v.length > 0;
    return v !== undefined && v !== false;
  }).map(([, flag]) => flag);
  if (bad.length > 0) return `--compare runs the kernel and the model as the kernel's trace ran (its sysctls, its pace): ${bad.join(', ')} does not apply`;
  return null;
}

export interface CompareCommandOptions {
  /** Compare against the kernel traces recorded in this directory (`teardown lab --record DIR`) instead of running the kernel. */
  recorded?: string;
  json?: boolean;
  wide?: boolean;
  /** One HTML page: the agreement table, the kernel's and the model's ladders side by side, the mismatches. */
  html?: string;
}

/**
 * `teardown lab --compare [ids] [--recorded DIR] [--json] [--wide] [--html FILE]`: each scenario run on the
 * model and compared, fact by fact, with the kernel's trace — the kernel run now (root), or
 * recorded in DIR. Not root and no DIR: the traces committed in test/fixtures/traces, said on stderr.
 * @returns 0 when the comparison ran (agreement is a figure, not a failure); 1 when a scenario
 *   failed on the kernel; 2 on bad usage (unknown id, unreadable DIR, an id with no trace in DIR).
 */
export async function compareCommand(ids: string[], opts: CompareCommandOptions): Promise<number> {
  const out = standardOutput();
  const width = opts.wide ? Number.MAX_SAFE_INTEGER : DEFAULT_WIDTH;
  const unknown = ids.filter((id) => !findScenario(id));
  if (unknown.length > 0) {
    process.stderr.write(`teardown lab --compare: unknown scenario ${unknown.map((u) => JSON.stringify(u)).join(', ')}\nscenarios: ${CATALOGUE.map((s) => s.id).join(', ')}\n`);
    return 2;
  }
  if (opts.html !== undefined) {
    const problem = outputFile('lab', '--html', opts.html);
    if (problem) {
      process.stderr.write(`${problem}\n`);
      return 2;
    }
  }
  let dir = opts.recorded;
  if (dir === undefined && !isRoot()) {
    if (!existsSync(COMMITTED_TRACES)) {
      process.stderr.write('teardown lab --compare: not root, so the kernel cannot run here; give --recorded DIR (traces from teardown lab --record DIR)\n');
      return 2;
    }
    dir = COMMITTED_TRACES;
    process.stderr.write(pc.yellow(`not root: comparing the model with the kernel traces recorded in ${dir} (run as root to compare with this kernel now)\n`));
  }
  let kernel: Trace[];
  let source: string;
  let failed = 0;
  if (dir !== undefined) {
    try {
      kernel = readRecordedTraces(dir);
    } catch (e) {
      if (!(e instanceof RecordedTracesError)) throw e;
      process.stderr.write(`teardown lab --compare: --recorded ${e.message}\n`);
      return 2;
    }
    if (ids.length > 0) {
      const missing = ids.filter((id) => !kernel.some((t) => t.scenario === id));
      if (missing.length > 0) {
        process.stderr.write(`teardown lab --compare: no recorded trace in ${dir} for ${missing.join(', ')}\n`);
        return 2;
      }
      kernel = kernel.filter((t) => ids.includes(t.scenario));
    }
    source = `recorded in ${dir}, on ${[...new Set(kernel.map((t) => t.env.kernel))].join(', ')}`;
  } else {
    const selected = ids.length > 0 ? ids.map((id) => findScenario(id)).filter((s) => s !== undefined) : [...CATALOGUE];
    let done = 0;
    const lab = await runLab(selected, {
      progress: {
        scenarioDone: (o) => {
          done++;
          const status = o.status === 'ran' ? pc.green(`${o.trace.durationMs} ms`) : o.status === 'skipped' ? pc.yellow('skipped') : pc.red('FAILED');
          process.stderr.write(`${pc.dim(`[${done}/${selected.length}] kernel`)} ${o.scenario} ${status}\n`);
        },
      },
    });
    kernel = lab.outcomes.flatMap((o) => (o.status === 'ran' ? [o.trace] : []));
    failed = lab.outcomes.filter((o) => o.status === 'failed').length;
    for (const o of lab.outcomes) {
      if (o.status === 'skipped') process.stderr.write(pc.yellow(`kernel skipped ${o.scenario}: ${o.reason}\n`));
      if (o.status === 'failed') process.stderr.write(pc.red(`kernel FAILED ${o.scenario}: ${o.error}\n`));
    }
    source = `this run, on ${[...new Set(kernel.map((t) => t.env.kernel))].join(', ') || 'no scenario ran'}`;
  }
  const pairs: ComparedPair[] = [];
  const comparison = compareWithModel(kernel, opts.html === undefined ? undefined : (k, m) => pairs.push({ kernel: k, model: m }));
  if (opts.html !== undefined) {
    writeFileSync(opts.html, renderCompareHtml(comparison, pairs, source));
    process.stderr.write(pc.dim(`wrote ${opts.html}\n`));
  }
  out.write(opts.json ? `${JSON.stringify(jsonReport(comparison, source), null, 1)}\n` : renderComparison(comparison, { width, source }));
  await out.drained();
  return failed > 0 ? 1 : 0;
}

function jsonReport(c: Comparison, source: string): object {
  return { source, agreement: agreement(c), ...c };
}
