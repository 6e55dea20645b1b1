import Table from 'cli-table3';

import type { DoctorReport } from './doctor.js';
import type { Finding, Severity } from './findings.js';
import { NO_PAINT, renderSockets, type Paint, type RenderSocketsOptions } from './render-sockets.js';

export { NO_PAINT, ownerCell, renderSockets, timerText, type Paint, type RenderSocketsOptions } from './render-sockets.js';

const SEVERITY_PAINT: Record<Severity, keyof Paint> = { info: 'cyan', warning: 'yellow', critical: 'red' };

function isProcessRef(v: unknown): v is { pid: number; command: string } {
  return typeof v === 'object' && v !== null && 'pid' in v && 'command' in v && Object.keys(v).length === 2;
}

function valueText(key: string, v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (key.endsWith('Ms') && typeof v === 'number') return `${(v / 1000).toFixed(1)}s`;
  if (key === 'ratio' && typeof v === 'number') return `${(v * 100).toFixed(1)}%`;
  if (isProcessRef(v)) return `${v.command}(${v.pid})`;
  if (Array.isArray(v)) {
    if (v.length === 0) return '-';
    return v.map((x: unknown) => (isProcessRef(x) ? `${x.command}(${x.pid})` : typeof x === 'object' && x !== null ? Object.values(x).join('×') : String(x))).join(',');
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length === 0 ? '-' : entries.map(([k, x]) => `${k}=${String(x)}`).join(',');
  }
  return String(v);
}

/** A finding's evidence on one line: `count 3 · localPorts 8080 · oldestSeen 12.0s`. */
export function evidenceText(evidence: object): string {
  return Object.entries(evidence)
    .map(([k, v]) => `${k.endsWith('Ms') ? k.slice(0, -2) : k} ${valueText(k, v)}`)
    .join(' · ');
}

/** Options of {@link renderFinding} and {@link renderReport}. */
export interface RenderReportOptions {
  paint?: Paint;
  /** Sockets listed under each finding (default 5; the rest are counted). */
  socketsPerFinding?: number;
  /** Terminal width the findings table wraps to, columns (default 120). */
  width?: number;
}

/** One finding: severity, id and claim, title, evidence, advice, and its first sockets. */
export function renderFinding(f: Finding, opts: RenderReportOptions & Pick<RenderSocketsOptions, 'ages' | 'agesAtLeast'> = {}): string {
  const paint = opts.paint ?? NO_PAINT;
  const n = opts.socketsPerFinding ?? 5;
  const sev = paint[SEVERITY_PAINT[f.severity]](paint.bold(f.severity.toUpperCase().padEnd(8)));
  const lines = [
    `${sev} ${paint.bold(f.id)}${f.claim === null ? '' : paint.dim(`  [seed ${f.claim}]`)}`,
    `  ${f.title}`,
    paint.dim(`  evidence: ${evidenceText(f.evidence)}`),
    `  ${paint.green('do:')} ${f.advice}`,
  ];
  if (f.sockets.length > 0) {
    lines.push(
      renderSockets(f.sockets.slice(0, n), {
        paint,
        owners: true,
        indent: 4,
        ...(opts.ages === undefined ? {} : { ages: opts.ages }),
        ...(opts.agesAtLeast === undefined ? {} : { agesAtLeast: opts.agesAtLeast }),
      }),
    );
    const total = 'count' in f.evidence && typeof f.evidence.count === 'number' ? Math.max(f.evidence.count, f.sockets.length) : f.sockets.length;
    if (total > n) lines.push(paint.dim(`    … and ${total - n} more`));
  }
  return lines.join('\n');
}

const BORDERLESS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

/** The findings at a glance: severity, id, seed claim, title (wrapped). */
function findingsTable(r: DoctorReport, paint: Paint, width: number): string {
  const idWidth = Math.max(7, ...r.findings.map((f) => f.id.length));
  const table = new Table({
    head: ['severity', 'finding', 'seed', 'what'].map((h) => paint.cyan(h)),
    chars: BORDERLESS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
    colWidths: [8, idWidth, 5, Math.max(30, width - 8 - idWidth - 5 - 3 * BORDERLESS.middle.length)],
    wordWrap: true,
  });
  for (const f of r.findings) table.push([paint[SEVERITY_PAINT[f.severity]](f.severity), f.id, f.claim ?? '-', f.title]);
  return table
    .toString()
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .join('\n');
}

/** The whole report, for a person: header, limits, watch trends, findings, summary line. */
export function renderReport(r: DoctorReport, opts: RenderReportOptions = {}): string {
  const paint = opts.paint ?? NO_PAINT;
  const out: string[] = [];
  const states = Object.entries(r.states).map(([s, n]) => `${s} ${n}`).join(', ');
  out.push(
    `${paint.bold('teardown doctor')}  ${r.takenAt}  ${r.scanned.sockets} sockets${states ? ` (${states})` : ''}` +
      paint.dim(`; ${r.scanned.ownersScanned ? `${r.scanned.pids} processes scanned` : 'owners not scanned'}, ${r.durationMs} ms, source ${r.source}`),
  );
  if (r.namespaces !== undefined) out.push(`  namespaces: ${r.namespaces.map((n) => `${n.label} (${n.sockets} sockets${n.pid === null ? '' : `, pid ${n.pid} ${n.command ?? ''}`.trimEnd()})`).join(', ')}`);
  for (const l of r.limits) out.push(paint.yellow(`  limit: ${l}`));
  if (r.watch !== undefined) {
    const w = r.watch;
    out.push(
      `  watch: scan ${w.samples}${w.samples > 1 ? `, ${(w.spanMs / 1000).toFixed(1)} s` : ''}; CLOSE_WAIT ${w.closeWaitTotal.join(' → ')}; ` +
        (w.agesFrom === 'trace' ? 'ages from traced transitions (≥: older than the tracer)' : 'ages since first seen (≥: already there at the first scan)'),
    );
    const moving = w.rates.filter((x) => x.totalDelta > 0);
    if (moving.length > 0) {
      out.push(`  kernel counters rising: ${moving.map((x) => `${x.key.split('.')[1] as string} +${x.totalDelta}${x.perSecond === null ? '' : ` (${x.perSecond.toFixed(1)}/s)`}`).join(', ')}`);
    }
  }
  out.push('');
  if (r.findings.length > 1) out.push(findingsTable(r, paint, opts.width ?? 120), '');
  for (const f of r.findings) out.push(renderFinding(f, { ...opts, ...(r.watch === undefined ? {} : { ages: r.watch.ages, agesAtLeast: r.watch.agesAtLeast }) }), '');
  const count = (s: Severity): number => r.findings.filter((f) => f.severity === s).length;
  const summary =
    r.findings.length === 0
      ? paint.green('no findings')
      : `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}: ${paint.red(`${count('critical')} critical`)}, ${paint.yellow(`${count('warning')} warning`)}, ${count('info')} info`;
  out.push(`${summary} ${paint.dim(`(exit ${r.exitCode})`)}`);
  return `${out.join('\n')}\n`;
}

