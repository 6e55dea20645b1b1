import { accessSync, constants as fsConstants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pc } from '../lab/report/colour.js';
import { CATALOGUE, findScenario } from '../lab/catalogue.js';
import { CLAIMS } from '../lab/claims.js';
import { isRoot } from '../lab/kernel/netns.js';
import { renderTrace, timeline, verdictLine } from '../lab/report/text.js';
import { runLab, uncoveredClaims, type LabResult } from '../lab/run-lab.js';

export interface LabCommandOptions {
  list?: boolean;
  json?: boolean;
  capture: boolean;
  trace: boolean;
  /** Directory for one `<scenario>.json` full trace each. */
  record?: string;
  /** Directory for one `<scenario>.pcap` each. */
  pcap?: string;
}

/** Makes `dir` (and its parents); the reason in one line when it cannot be made or written. */
function outputDir(flag: string, dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, fsConstants.W_OK);
    return null;
  } catch (e) {
    return `teardown lab: ${flag} ${JSON.stringify(dir)}: ${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message.replace(/^\w+: /, '')}`.replace(/\s+/g, ' ').trim();
  }
}

/**
 * `teardown lab [ids...] [--list] [--json] [--no-capture] [--no-trace] [--record DIR] [--pcap DIR]`.
 * @returns the exit code: 0 when every scenario ran (a contradicted claim is a finding, not a
 *   failure), 1 when a scenario failed, 2 on bad usage.
 */
export async function labCommand(ids: string[], opts: LabCommandOptions): Promise<number> {
  if (opts.list) {
    for (const sc of CATALOGUE) {
      process.stdout.write(`${pc.bold(sc.id.padEnd(28))} ${sc.article}  ${sc.title}\n${' '.repeat(33)}${pc.dim(Object.keys(sc.checks).join(' '))}\n`);
    }
    return 0;
  }
  const unknown = ids.filter((id) => !findScenario(id));
  if (unknown.length > 0) {
    process.stderr.write(`teardown lab: unknown scenario ${unknown.map((u) => JSON.stringify(u)).join(', ')}\nscenarios: ${CATALOGUE.map((s) => s.id).join(', ')}\n`);
    return 2;
  }
  for (const [flag, dir] of [['--record', opts.record], ['--pcap', opts.pcap]] as const) {
    const problem = dir === undefined ? null : outputDir(flag, dir);
    if (problem) {
      process.stderr.write(`${problem}\n`);
      return 2;
    }
  }
  const selected = ids.length > 0 ? ids.map((id) => findScenario(id)).filter((s) => s !== undefined) : [...CATALOGUE];
  if (!isRoot()) process.stderr.write(pc.yellow('not root: scenarios run in the host namespace, without packet capture; those needing sysctls are skipped\n'));
  let done = 0;
  const result = await runLab(selected, {
    capture: opts.capture,
    trace: opts.trace,
    ...(opts.pcap !== undefined ? { pcapDir: opts.pcap } : {}),
    progress: {
      scenarioStarted: (sc) => process.stderr.write(pc.dim(`  running ${sc.id} …\n`)),
      scenarioDone: (o) => {
        done++;
        // Written as each scenario ends, so an interrupted run keeps what it finished.
        if (opts.record !== undefined && o.status === 'ran') writeFileSync(join(opts.record, `${o.scenario}.json`), `${JSON.stringify(o.trace, null, 1)}\n`);
        const status = o.status === 'ran' ? pc.green(`${o.trace.durationMs} ms`) : o.status === 'skipped' ? pc.yellow('skipped') : pc.red('FAILED');
        process.stderr.write(`${pc.dim(`[${done}/${selected.length}]`)} ${o.scenario} ${status}\n`);
      },
    },
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(jsonReport(result, selected.length === CATALOGUE.length), null, 1)}\n`);
  } else {
    process.stdout.write(humanReport(result, selected.length === CATALOGUE.length));
  }
  return result.outcomes.some((o) => o.status === 'failed') ? 1 : 0;
}

function jsonReport(r: LabResult, full: boolean): object {
  return {
    durationMs: r.durationMs,
    root: isRoot(),
    outcomes: r.outcomes,
    verdicts: r.verdicts,
    unjudged: r.unjudged,
    ...(full ? { uncovered: uncoveredClaims(CATALOGUE) } : {}),
  };
}

function humanReport(r: LabResult, full: boolean): string {
  const out: string[] = [];
  for (const o of r.outcomes) {
    if (o.status === 'ran') out.push(renderTrace(o.trace), '');
    if (o.status === 'failed') out.push(pc.red(pc.bold(`━━ ${o.scenario} FAILED`)), ...(o.steps?.length ? [timeline(o.steps)] : []), pc.red(`   ${o.error}`), '');
  }
  out.push(pc.bold('━━ summary'));
  for (const v of [...r.verdicts].sort((a, b) => a.claim.localeCompare(b.claim))) out.push(`  ${verdictLine(v)} ${pc.dim(`[${v.scenario}]`)}`);
  const count = (k: string): number => r.verdicts.filter((v) => v.verdict === k).length;
  const skipped = r.outcomes.filter((o) => o.status === 'skipped');
  const failed = r.outcomes.filter((o) => o.status === 'failed');
  for (const s of skipped) if (s.status === 'skipped') out.push(pc.yellow(`  skipped ${s.scenario}: ${s.reason}`));
  for (const f of failed) if (f.status === 'failed') out.push(pc.red(`  FAILED ${f.scenario}: ${f.error}`));
  if (r.unjudged.length) out.push(pc.yellow(`  no verdict (scenario skipped or failed): ${r.unjudged.join(' ')}`));
  if (full) {
    const uncovered = uncoveredClaims(CATALOGUE);
    if (uncovered.length) out.push(pc.yellow(`  claims no scenario judges yet: ${uncovered.join(' ')}`));
  }
  const claims = new Set(r.verdicts.map((v) => v.claim)).size;
  out.push(
    `  ${r.outcomes.length - skipped.length - failed.length} scenarios ran, ${skipped.length} skipped, ${failed.length} failed in ${(r.durationMs / 1000).toFixed(1)} s; ` +
      `${claims}/${CLAIMS.size} claims judged: ${pc.green(`${count('confirmed')} confirmed`)}, ${pc.red(`${count('contradicted')} contradicted`)}, ${pc.yellow(`${count('unverified')} unverified`)}`,
  );
  return `${out.join('\n')}\n`;
}
