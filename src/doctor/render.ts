import Table from 'cli-table3';

import type { SocketObservation, SocketOwner, SocketTimer } from '../tcp/observation.js';
import { ssAlias } from '../tcp/state.js';
import type { DoctorReport } from './doctor.js';
import type { Finding, Severity } from './findings.js';
import { ageKey } from './watch.js';

/**
 * Colour functions the renderers use. picocolors' `createColors()` fits; the default paints
 * nothing. The CLI decides (colours only on a terminal).
 */
export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
}

const plain = (s: string): string => s;
/** No colours. */
export const NO_PAINT: Paint = { bold: plain, dim: plain, red: plain, yellow: plain, green: plain, cyan: plain };

/** Options of {@link renderSockets}. */
export interface RenderSocketsOptions {
  paint?: Paint;
  /** Add the Process column (ss -p). */
  owners?: boolean;
  /** ms each socket has been seen, by `ageKey`: adds a `Seen` column. */
  ages?: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
  /** Every holder of sockets held by several descriptors (fork, SCM_RIGHTS), by inode: all are shown. */
  holders?: ReadonlyMap<number, readonly SocketOwner[]>;
  /** Indent every line by this many spaces. */
  indent?: number;
}

/** A timer as the lab prints it: `time_wait 59.9s`, `retransmit 0.2s (3)`, or empty. */
export function timerText(t: SocketTimer): string {
  if (t.kind === 'none') return '';
  return `${t.kind} ${(t.remainingMs / 1000).toFixed(1)}s${t.retransmits > 0 ? ` (${t.retransmits})` : ''}`;
}

/**
 * The owner column: `node,pid=1234,fd=5` (ss -p's fields), `-` when no file holds the socket
 * (inode 0: never accepted, orphaned, TIME_WAIT), `?` when a file does but no readable process;
 * every holder, space-separated, when `holders` lists several (a socket shared after fork()).
 */
export function ownerCell(s: SocketObservation, holders?: ReadonlyMap<number, readonly SocketOwner[]>): string {
  const all = s.inode === 0 ? undefined : holders?.get(s.inode);
  if (all !== undefined && all.length > 1) return all.map((o) => `${o.command},pid=${o.pid},fd=${o.fd}`).join(' ');
  if (s.owner !== null) return `${s.owner.command},pid=${s.owner.pid},fd=${s.owner.fd}`;
  return s.inode === 0 ? '-' : '?';
}

function ageOf(ages: RenderSocketsOptions['ages'], s: SocketObservation): number | undefined {
  if (ages === undefined) return undefined;
  const k = ageKey(s);
  return ages instanceof Map ? ages.get(k) : (ages as Readonly<Record<string, number>>)[k];
}

/**
 * Sockets as `ss -tan[p]o` shows them: State (ss's spelling), Recv-Q, Send-Q (bytes; on LISTEN
 * the accept queue and backlog), Local and Peer Address:Port, Process (with `owners`), Timer.
 *
 * Linear in the number of rows (cli-table3 is not: 2 000 rows take a second, a busy server's
 * 40 000 take minutes), so `teardown ss` stays fast on any machine.
 */
export function renderSockets(sockets: readonly SocketObservation[], opts: RenderSocketsOptions = {}): string {
  const paint = opts.paint ?? NO_PAINT;
  const withAge = opts.ages !== undefined;
  const head = ['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', ...(opts.owners ? ['Process'] : []), 'Timer', ...(withAge ? ['Seen'] : [])];
  const right = head.map((h) => h === 'Recv-Q' || h === 'Send-Q' || h === 'Seen');
  const rows: string[][] = sockets.map((s) => {
    const age = ageOf(opts.ages, s);
    return [
      ssAlias(s.state),
      String(s.recvQ),
      String(s.sendQ),
      s.local,
      s.remote,
      ...(opts.owners ? [ownerCell(s, opts.holders)] : []),
      timerText(s.timer),
      ...(withAge ? [age === undefined ? '' : `${(age / 1000).toFixed(1)}s`] : []),
    ];
  });
  const widths = head.map((h) => h.length);
  for (const r of rows) for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] as number, (r[i] as string).length);
  const indent = ' '.repeat(opts.indent ?? 0);
  const line = (cells: readonly string[], paintCell: (i: number, padded: string) => string): string =>
    (indent + cells.map((c, i) => paintCell(i, right[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ')).replace(/\s+$/, '');
  const out = [line(head, (_i, c) => paint.cyan(c))];
  rows.forEach((r, k) => {
    const s = sockets[k] as SocketObservation;
    out.push(
      line(r, (i, c) => {
        if (i === 0 && (s.state === 'CLOSE_WAIT' || s.state === 'FIN_WAIT2')) return paint.yellow(c);
        if (i === 1 && s.recvQ > 0 && s.state !== 'LISTEN') return paint.bold(c);
        if (opts.owners && i === 5 && s.owner === null) return paint.dim(c);
        return c;
      }),
    );
  });
  return out.join('\n');
}

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
export function renderFinding(f: Finding, opts: RenderReportOptions & { ages?: RenderSocketsOptions['ages'] } = {}): string {
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
    lines.push(renderSockets(f.sockets.slice(0, n), { paint, owners: true, indent: 4, ...(opts.ages === undefined ? {} : { ages: opts.ages }) }));
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
  for (const l of r.limits) out.push(paint.yellow(`  limit: ${l}`));
  if (r.watch !== undefined) {
    const w = r.watch;
    out.push(`  watch: scan ${w.samples}${w.samples > 1 ? `, ${(w.spanMs / 1000).toFixed(1)} s` : ''}; CLOSE_WAIT ${w.closeWaitTotal.join(' → ')}`);
    const moving = w.rates.filter((x) => x.totalDelta > 0);
    if (moving.length > 0) {
      out.push(`  kernel counters rising: ${moving.map((x) => `${x.key.split('.')[1] as string} +${x.totalDelta}${x.perSecond === null ? '' : ` (${x.perSecond.toFixed(1)}/s)`}`).join(', ')}`);
    }
  }
  out.push('');
  if (r.findings.length > 1) out.push(findingsTable(r, paint, opts.width ?? 120), '');
  for (const f of r.findings) out.push(renderFinding(f, { ...opts, ...(r.watch === undefined ? {} : { ages: r.watch.ages }) }), '');
  const count = (s: Severity): number => r.findings.filter((f) => f.severity === s).length;
  const summary =
    r.findings.length === 0
      ? paint.green('no findings')
      : `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}: ${paint.red(`${count('critical')} critical`)}, ${paint.yellow(`${count('warning')} warning`)}, ${count('info')} info`;
  out.push(`${summary} ${paint.dim(`(exit ${r.exitCode})`)}`);
  return `${out.join('\n')}\n`;
}

