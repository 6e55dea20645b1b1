import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pc } from '../lab/report/colour.js';
import { CATALOGUE, findScenario } from '../lab/catalogue.js';
import { CLAIMS } from '../lab/claims.js';
import { isRoot } from '../lab/kernel/netns.js';
import { DEFAULT_WIDTH, renderTrace, TIMELINE_LEGEND, timeline, timelineHeader, verdictWord, wrap } from '../lab/report/text.js';
import { standardOutput } from './output.js';
import { checkPictureOutputs, outputDir, writePictures, type PictureOptions } from './pictures.js';
import { runLab, uncoveredClaims, type LabBackend, type LabResult } from '../lab/run-lab.js';
import { parseSysctl, SysctlError } from '../lab/model/sysctls.js';
import { modelCoverage, modelSkipReason, type UncoveredClaim } from '../lab/model/coverage.js';
import type { ScenarioFinding } from '../lab/judge/index.js';
import type { Trace } from '../lab/trace.js';

export interface LabCommandOptions extends PictureOptions {
  list?: boolean;
  json?: boolean;
  capture: boolean;
  trace: boolean;
  /** Directory for one `<scenario>.json` full trace each. */
  record?: string;
  /** Directory for one `<scenario>.pcap` each. */
  pcap?: string;
  /** Lines as long as they come (default: at most 120 columns). */
  wide?: boolean;
  /** Where the scenarios run (default `kernel`). */
  backend?: LabBackend;
  /** `NAME=VALUE` sysctls for every scenario (validated against MODEL_SYSCTLS). */
  sysctl?: string[];
  /** Model only: the loopback's round-trip time, ms. */
  rttMs?: number;
}

/** The catalogue as data: each scenario with its article, title, summary, and the claims it judges. */
function listing(): object {
  return {
    scenarios: CATALOGUE.map((sc) => ({
      id: sc.id,
      article: sc.article,
      title: sc.title,
      summary: sc.summary,
      claims: Object.keys(sc.checks),
      notes: Object.keys(sc.notes ?? {}),
      findings: (sc.findings ?? []).map((f) => ({ id: f.id, fact: f.fact, claims: f.claims ?? [] })),
      sysctls: sc.sysctls ?? {},
      /** Why `--backend model` skips it, or null when the model runs it. */
      modelSkipped: modelSkipReason(sc),
    })),
    uncovered: uncoveredClaims(CATALOGUE),
  };
}

/**
 * `teardown lab [ids...] [--list] [--json] [--no-capture] [--no-trace] [--record DIR] [--pcap DIR] [--html FILE] [--svg DIR] [--mermaid DIR] [--wide]
 * [--backend kernel|model] [--sysctl NAME=VALUE]... [--rtt-ms N]`.
 * @returns the exit code: 0 when every scenario ran (a contradicted claim is a finding, not a
 *   failure), 1 when a scenario failed, 2 on bad usage.
 */
export async function labCommand(ids: string[], opts: LabCommandOptions): Promise<number> {
  const out = standardOutput();
  const width = opts.wide ? Number.MAX_SAFE_INTEGER : DEFAULT_WIDTH;
  if (opts.list) {
    if (opts.json) {
      out.write(`${JSON.stringify(listing(), null, 1)}\n`);
      return 0;
    }
    for (const sc of CATALOGUE) {
      out.write(`${pc.bold(sc.id.padEnd(28))} ${sc.article}  ${sc.title}\n${' '.repeat(33)}${pc.dim(Object.keys(sc.checks).join(' '))}\n`);
    }
    return 0;
  }
  const unknown = ids.filter((id) => !findScenario(id));
  if (unknown.length > 0) {
    process.stderr.write(`teardown lab: unknown scenario ${unknown.map((u) => JSON.stringify(u)).join(', ')}\nscenarios: ${CATALOGUE.map((s) => s.id).join(', ')}\n`);
    return 2;
  }
  for (const [flag, dir] of [['--record', opts.record], ['--pcap', opts.pcap]] as const) {
    const problem = dir === undefined ? null : outputDir('lab', flag, dir);
    if (problem) {
      process.stderr.write(`${problem}\n`);
      return 2;
    }
  }
  const pictures = checkPictureOutputs('lab', opts);
  if (pictures) {
    process.stderr.write(`${pictures}\n`);
    return 2;
  }
  const backend: LabBackend = opts.backend ?? 'kernel';
  const usage = backendUsage(backend, opts);
  if (typeof usage === 'string') {
    process.stderr.write(`teardown lab: ${usage}\n`);
    return 2;
  }
  const sysctls = usage;
  const selected = ids.length > 0 ? ids.map((id) => findScenario(id)).filter((s) => s !== undefined) : [...CATALOGUE];
  const full = selected.length === CATALOGUE.length;
  if (backend === 'kernel' && !isRoot()) process.stderr.write(pc.yellow('not root: scenarios run in the host namespace, without packet capture or tracing; those needing sysctls are skipped (--backend model needs no root)\n'));
  let done = 0;
  const result = await runLab(selected, {
    backend,
    ...(Object.keys(sysctls).length > 0 ? { sysctls } : {}),
    ...(opts.rttMs !== undefined ? { rttMs: opts.rttMs } : {}),
    capture: opts.capture,
    trace: opts.trace,
    allClaims: full,
    ...(opts.pcap !== undefined ? { pcapDir: opts.pcap } : {}),
    progress: {
      scenarioStarted: (sc) => {
        if (backend === 'kernel') process.stderr.write(pc.dim(`  running ${sc.id} …\n`));
      },
      scenarioDone: (o) => {
        done++;
        // Written as each scenario ends, so an interrupted run keeps what it finished.
        if (opts.record !== undefined && o.status === 'ran') writeFileSync(join(opts.record, `${o.scenario}.json`), `${JSON.stringify(o.trace, null, 1)}\n`);
        const status = o.status === 'ran' ? pc.green(`${o.trace.durationMs} ms${backend === 'model' ? ` (virtual ${virtualMs(o.trace)} ms)` : ''}`) : o.status === 'skipped' ? pc.yellow('skipped') : pc.red('FAILED');
        process.stderr.write(`${pc.dim(`[${done}/${selected.length}]`)} ${o.scenario} ${status}\n`);
      },
    },
  });
  if (opts.html !== undefined || opts.svg !== undefined || opts.mermaid !== undefined) {
    const written = writePictures(opts, { claims: result.claims, findings: result.findings, outcomes: result.outcomes, source: 'this run' });
    process.stderr.write(pc.dim(`wrote ${written.length} picture file${written.length === 1 ? '' : 's'}${opts.html ? ` (page: ${opts.html})` : ''}\n`));
  }
  const uncovered = backend === 'model' ? modelCoverage(selected, sysctls).uncovered : null;
  out.write(opts.json ? `${JSON.stringify(jsonReport(result, backend, uncovered, sysctls, opts.rttMs), null, 1)}\n` : humanReport(result, full, width, uncovered));
  await out.drained();
  return result.outcomes.some((o) => o.status === 'failed') ? 1 : 0;
}

/**
 * The sysctls asked for with `--sysctl`, checked, or why the options do not go together: the
 * model takes any of its sysctls and an RTT; the kernel applies sysctls in each scenario's
 * namespace (root only) and cannot change loopback's delay (that needs tc/netem).
 */
function backendUsage(backend: LabBackend, opts: LabCommandOptions): Record<string, number> | string {
  const sysctls: Record<string, number> = {};
  try {
    for (const text of opts.sysctl ?? []) {
      const { name, value } = parseSysctl(text);
      sysctls[name] = value;
    }
  } catch (e) {
    if (e instanceof SysctlError) return e.message;
    throw e;
  }
  if (backend === 'kernel') {
    if (opts.rttMs !== undefined) return "--rtt-ms needs --backend model: the kernel's loopback delay cannot be set without tc/netem";
    if (Object.keys(sysctls).length > 0 && !isRoot()) return '--sysctl on the kernel needs root (each scenario sets it in a network namespace of its own); --backend model needs none';
  } else if (opts.pcap !== undefined) return "--pcap needs --backend kernel: the model's segments are in the traces (--record, --json)";
  return sysctls;
}

/** How much virtual time a model run covered, ms: the end of its last step. */
function virtualMs(t: Trace): number {
  const last = t.steps.at(-1);
  return last ? Math.round(last.startMs + last.durationMs) : 0;
}

function jsonReport(r: LabResult, backend: LabBackend, uncovered: UncoveredClaim[] | null, sysctls: Record<string, number>, rttMs: number | undefined): object {
  return {
    durationMs: r.durationMs,
    backend,
    ...(backend === 'model' ? { model: { sysctls, rttMs: rttMs ?? null, uncovered } } : { root: isRoot() }),
    claims: r.claims,
    findings: r.findings.map(({ id, fact, evidence, scenario, claims }) => ({ id, fact, evidence, scenario, claims })),
    outcomes: r.outcomes,
    verdicts: r.verdicts,
    unjudged: r.unjudged,
    uncovered: uncoveredClaims(CATALOGUE),
  };
}

/** Lines of `text` wrapped to `width`, the first starting at column `first`, the rest at `indent`. */
function block(prefix: string, text: string, width: number, indent: number, prefixWidth = prefix.length): string[] {
  const lines = wrap(text, width, indent, prefixWidth);
  return [`${prefix}${lines[0] ?? ''}`, ...lines.slice(1)];
}

function humanReport(r: LabResult, full: boolean, width: number, modelUncovered: UncoveredClaim[] | null): string {
  const out: string[] = [];
  // Summary first: one line per claim, its verdict coloured, the findings of its scenarios beneath.
  out.push(pc.bold('━━ claims'));
  for (const c of r.claims) {
    // Notes that point at a finding name it at the end of the evidence (its fact and evidence are
    // in the findings section); other notes are printed whole beneath.
    const refs = c.notes.filter((n) => n.startsWith('finding ')).map((n) => n.split(' ')[1] ?? n);
    const see = refs.length > 0 ? ` (see finding${refs.length > 1 ? 's' : ''} ${refs.join(', ')})` : '';
    const head = `  ${c.claim} ${c.verdict}: `;
    if (c.findings.length > 1) {
      // Several scenarios judged it: the first one's finding shares the claim's line, the others follow.
      const [firstFinding, ...rest] = c.findings as [ScenarioFinding, ...ScenarioFinding[]];
      const lead = `${head}${firstFinding.scenario} ${firstFinding.verdict}: `;
      out.push(...block(`  ${pc.bold(c.claim)} ${verdictWord(c.verdict)}: ${pc.dim(firstFinding.scenario)} ${verdictWord(firstFinding.verdict)}: `, firstFinding.observed, width, 10, lead.length));
      rest.forEach((f, i) => {
        const fh = `      ${f.scenario} ${f.verdict}: `;
        out.push(...block(`      ${pc.dim(f.scenario)} ${verdictWord(f.verdict)}: `, `${f.observed}${i === rest.length - 1 ? see : ''}`, width, 10, fh.length));
      });
    } else {
      out.push(...block(`  ${pc.bold(c.claim)} ${verdictWord(c.verdict)}: `, `${c.observed}${see}`, width, 8, head.length));
    }
    for (const n of c.notes.filter((x) => !x.startsWith('finding '))) out.push(...block(`      ${pc.cyan('note')}: `, n, width, 10, 12));
  }
  const count = (k: string): number => r.claims.filter((c) => c.verdict === k).length;
  const skipped = r.outcomes.filter((o) => o.status === 'skipped');
  const failed = r.outcomes.filter((o) => o.status === 'failed');
  const totals =
    `  ${r.outcomes.length - skipped.length - failed.length} scenarios ran, ${skipped.length} skipped, ${failed.length} failed in ${r.durationMs < 1000 ? `${Math.round(r.durationMs)} ms` : `${(r.durationMs / 1000).toFixed(1)} s`}; ` +
    `${r.claims.length}${full ? '' : ` of ${CLAIMS.size}`} claims: ${pc.green(`${count('confirmed')} confirmed`)}, ${pc.magenta(`${count('partly')} partly`)}, ` +
    `${pc.red(`${count('contradicted')} contradicted`)}, ${pc.yellow(`${count('unverified')} unverified`)}; ${r.findings.length} findings beyond the articles`;
  out.push(...block('  ', totals, width, 4), '');
  const kernels = new Set(r.outcomes.flatMap((o) => (o.status === 'ran' ? [o.trace.env.kernel] : [])));
  const kernel = kernels.size === 1 ? [...kernels][0] : undefined;
  if (kernel !== undefined) out.push(modelUncovered !== null ? `  every scenario ran on the ${kernel}, in virtual time` : `  every scenario ran on kernel ${kernel}`);
  out.push(...block('  ', TIMELINE_LEGEND, width, 2).map((l) => pc.dim(l)), timelineHeader(width), '');
  for (const o of r.outcomes) {
    // No blank line between scenarios: each starts with its ━━ title.
    if (o.status === 'ran') out.push(renderTrace(o.trace, { width, kernelShown: kernel !== undefined, headerShown: true }));
    if (o.status === 'failed') out.push(pc.red(pc.bold(`━━ ${o.scenario} FAILED`)), ...(o.steps?.length ? [timeline(o.steps)] : []), ...block('   ', o.error, width, 3));
  }
  if (r.findings.length > 0) {
    out.push('', pc.bold('━━ findings beyond the articles'));
    for (const f of r.findings) {
      out.push(...block(`  ${pc.bold(f.id)}: `, f.fact, width, 4, f.id.length + 4));
      out.push(...block(`    ${pc.dim(f.scenario)}: `, f.evidence, width, 6, f.scenario.length + 6));
    }
    out.push('');
  }
  out.push('', pc.bold('━━ summary'));
  for (const s of skipped) if (s.status === 'skipped') out.push(...block(pc.yellow(`  skipped ${s.scenario}: `), s.reason, width, 4, s.scenario.length + 11));
  for (const f of failed) if (f.status === 'failed') out.push(...block(pc.red(`  FAILED ${f.scenario}: `), f.error, width, 4, f.scenario.length + 10));
  for (const u of modelUncovered ?? []) out.push(...block(pc.yellow(`  not covered by the model ${u.claim}: `), u.reason, width, 4, u.claim.length + 28));
  if (full) {
    const uncovered = uncoveredClaims(CATALOGUE);
    if (uncovered.length) out.push(pc.yellow(`  claims no scenario judges yet: ${uncovered.join(' ')}`));
  }
  out.push(...block('  ', totals, width, 4));
  return `${out.join('\n')}\n`;
}
