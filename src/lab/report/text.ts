/**
 * The lab's report for people: terminal text, at most {@link DEFAULT_WIDTH} columns unless asked
 * wider. Per scenario: its title and summary, a compact timeline (a socket's row only when
 * something about it changed), each connection's sequence diagram, and its findings.
 */
import { pc } from './colour.js';
import type { CallResult, CallValue } from '../ops.js';
import type { Verdict, VerdictKind } from '../scenario.js';
import type { ObservedSocket, StepRecord, Trace } from '../trace.js';
import { groupByConnection, renderSequenceDiagram, defaultEnds, type DiagramEnds } from './diagram.js';

/** Columns of the report by default. */
export const DEFAULT_WIDTH = 120;

/** A call's outcome in a few characters: `ok`, `ok: 4`, `EPIPE + SIGPIPE`, `EOF`. */
export function resultText(r: CallResult): string {
  if (!r.ok) return `${r.errno ?? 'failed'}${r.sigpipe ? ' + SIGPIPE' : ''}${r.value !== undefined ? ` (${valueText(r.value)})` : ''}`;
  if (r.value === undefined || r.value === null) return 'ok';
  return `ok: ${valueText(r.value)}${r.sigpipe ? ' + SIGPIPE' : ''}`;
}

function valueText(v: CallValue): string {
  if (Array.isArray(v)) return v.length ? v.map(valueText).join(' ') : 'none';
  if (v !== null && typeof v === 'object') {
    if ('eof' in v && 'bytes' in v) {
      if (v.eof === true && v.bytes === 0) return 'EOF (0)';
      const text = typeof v.text === 'string' && v.text.length <= 16 && /^[\x20-\x7e]*$/.test(v.text) ? ` "${v.text}"` : '';
      return `${v.bytes} B${text}${v.eof === true ? ' then EOF' : ''}`;
    }
    if ('bytes' in v && 'elapsedMs' in v) {
      return `${String(v.bytes)} B in ${Number(v.elapsedMs).toFixed(2)} ms${'unacked' in v ? `, unacked ${String(v.unacked)} after` : ''}`;
    }
    if ('code' in v || 'signal' in v) return v.signal ? `killed by ${String(v.signal)}` : `exit ${String(v.code)}`;
    if ('state' in v && 'unacked' in v) return `${String(v.state)}, unacked ${String(v.unacked)}, rtt ${String(v.rttMs)} ms`;
    return JSON.stringify(v);
  }
  return String(v);
}

function ownerText(s: ObservedSocket, actorsByPid: ReadonlyMap<number, string>): string {
  if (s.holders.length === 0) return s.owner ? `${s.actor ?? s.owner.command}(${s.owner.pid})` : '-';
  return s.holders.map((h) => `${actorsByPid.get(h.pid) ?? h.command}(${h.pid})`).join('+');
}

const VERDICT_COLOUR: Record<VerdictKind, (s: string) => string> = {
  confirmed: pc.green,
  contradicted: pc.red,
  partly: pc.magenta,
  unverified: pc.yellow,
};

/** A verdict word in its colour. */
export function verdictWord(v: VerdictKind): string {
  return VERDICT_COLOUR[v](v);
}

/**
 * Wraps `text` to `width` columns: the first line starts after `first` characters already
 * printed, the following lines are indented by `indent` spaces. Words longer than a line are cut.
 */
export function wrap(text: string, width: number, indent: number, first = indent): string[] {
  const lines: string[] = [];
  let line = '';
  let room = Math.max(10, width - first);
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let w = word;
    while (w.length > Math.max(10, width - indent)) {
      if (line) {
        lines.push(line);
        line = '';
        room = width - indent;
      }
      lines.push(w.slice(0, room));
      w = w.slice(room);
      room = width - indent;
    }
    if (!line) line = w;
    else if (line.length + 1 + w.length <= room) line += ` ${w}`;
    else {
      lines.push(line);
      line = w;
      room = width - indent;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : `${' '.repeat(indent)}${l}`));
}

/** A verdict as wrapped lines: `001-c contradicted: …`, continued under the evidence. */
export function verdictLine(v: Verdict, width = DEFAULT_WIDTH, indent = 2): string {
  const head = `${v.claim} ${v.verdict}: `;
  const body = wrap(v.observed, width, indent + 6, indent + head.length);
  return `${' '.repeat(indent)}${pc.bold(v.claim)} ${verdictWord(v.verdict)}: ${body.join('\n')}`;
}

/** Options of the report. */
export interface ReportOptions {
  /** Maximum line length; default {@link DEFAULT_WIDTH}. */
  width?: number;
}

/** The full report of one scenario: summary, compact timeline, packets, and what it judged. */
export function renderTrace(t: Trace, opts: ReportOptions = {}): string {
  const width = opts.width ?? DEFAULT_WIDTH;
  const out: string[] = [];
  out.push(pc.bold(`━━ ${t.scenario}`) + pc.dim(`  (article ${t.article})  `) + t.title);
  const sysctls = Object.entries(t.env.sysctls).map(([k, v]) => `${k}=${v}`).join(', ');
  const where = `kernel ${t.env.kernel}, ${t.env.netns ? `netns ${t.env.netns}` : 'host namespace'}${sysctls ? `, ${sysctls}` : ''}, ${t.durationMs} ms`;
  out.push(pc.dim(wrap(where, width, 3, 3).map((l, i) => (i === 0 ? `   ${l}` : l)).join('\n')));
  const summary = t.summary;
  if (summary) out.push(wrap(summary, width, 3, 3).map((l, i) => (i === 0 ? `   ${l}` : l)).join('\n'));
  out.push(timeline(t.steps, new Map(Object.entries(t.env.actors).map(([name, a]) => [a.pid, name])), t, width));
  for (const note of [t.env.captureNote, t.env.traceNote]) if (note) out.push(pc.yellow(wrap(note, width, 4, 2).map((l, i) => (i === 0 ? `  ${l}` : l)).join('\n')));
  const pk = packets(t);
  if (pk) out.push(pk);
  const judged = t.verdicts.map((v) => `${v.claim} ${verdictWord(v.verdict)}`).join(', ');
  if (judged) out.push(`  ${pc.bold('judges')} ${judged}`);
  for (const f of t.findings ?? []) out.push(...wrap(`finding ${f.id}: ${f.evidence}`, width, 4, 2).map((l, i) => (i === 0 ? `  ${l}` : l)));
  return out.join('\n');
}

const COLS = { index: 2, ms: 5, step: 32, result: 14, socket: 6, state: 11, recvQ: 6, sendQ: 6, owner: 13, timer: 15 } as const;

/** What about a socket a person cares to see change: state, queues, owner, timer kind. */
function rowKey(s: ObservedSocket): string {
  return `${s.state}|${s.inTable}|${s.recvQ}|${s.sendQ}|${s.holders.map((h) => h.pid).join('+') || (s.owner?.pid ?? '-')}|${s.timer.kind}`;
}

function cell(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return align === 'right' ? t.padStart(width) : t.padEnd(width);
}

/**
 * The step-by-step timeline: call and result, what the tracepoints saw during the step, and each
 * socket whose state, queues, owner or timer changed since the step before (a socket that is
 * gone is listed once as `gone`).
 */
export function timeline(
  steps: readonly StepRecord[],
  actorsByPid: ReadonlyMap<number, string> = new Map(),
  events: Pick<Trace, 'transitions' | 'resets'> = { transitions: null, resets: null },
  width = DEFAULT_WIDTH,
): string {
  const stepWidth = Math.max(COLS.step, COLS.step + width - DEFAULT_WIDTH);
  const head = [
    cell('#', COLS.index, 'right'),
    cell('ms', COLS.ms, 'right'),
    cell('step', stepWidth),
    cell('result', COLS.result),
    cell('socket', COLS.socket),
    cell('state', COLS.state),
    cell('Recv-Q', COLS.recvQ, 'right'),
    cell('Send-Q', COLS.sendQ, 'right'),
    cell('owner', COLS.owner),
    'timer',
  ].join(' ');
  const lines: string[] = [pc.cyan(` ${head}`.trimEnd())];
  let before = new Map<string, string>();
  for (const s of steps) {
    const now = new Map(s.after.sockets.map((x) => [x.label, rowKey(x)]));
    const changed = s.after.sockets.filter((x) => before.get(x.label) !== now.get(x.label));
    const gone = [...before.keys()].filter((label) => !now.has(label));
    const text = [...wrap(s.text + (s.label ? `  [${s.label}]` : ''), stepWidth, 0, 0)];
    if (s.watched && s.watched.length > 1) text.push(...wrap(`(${s.watched.length} pictures)`, stepWidth, 0, 0));
    const kernel = kernelEvents(events, s.index);
    const kernelLines = kernel ? kernel.split('\n').flatMap((k) => wrap(k, stepWidth, 2, 0)) : [];
    const result = wrap(resultText(s.result), COLS.result, 0, 0);
    const rows = [
      ...changed.map((x) => [
        cell(x.label, COLS.socket),
        cell(x.inTable ? x.state : `${x.state}*`, COLS.state),
        cell(String(x.recvQ), COLS.recvQ, 'right'),
        cell(String(x.sendQ), COLS.sendQ, 'right'),
        cell(ownerText(x, actorsByPid), COLS.owner),
        x.timer.kind === 'none' ? '' : `${x.timer.kind} ${(x.timer.remainingMs / 1000).toFixed(1)}s`,
      ].join(' ')),
      ...gone.map((label) => [cell(label, COLS.socket), cell('gone', COLS.state)].join(' ')),
    ];
    const height = Math.max(text.length + kernelLines.length, result.length, rows.length, 1);
    for (let i = 0; i < height; i++) {
      const stepCell = i < text.length ? cell(text[i] as string, stepWidth) : i < text.length + kernelLines.length ? pc.magenta(cell(kernelLines[i - text.length] as string, stepWidth)) : ' '.repeat(stepWidth);
      const resultCell = cell(result[i] ?? '', COLS.result);
      const line = [
        cell(i === 0 ? String(s.index) : '', COLS.index, 'right'),
        cell(i === 0 ? String(s.startMs) : '', COLS.ms, 'right'),
        stepCell,
        s.result.ok || i >= result.length ? resultCell : pc.red(resultCell),
        rows[i] ?? '',
      ].join(' ');
      lines.push(` ${line}`.trimEnd());
    }
    before = now;
  }
  lines.push(pc.dim('   ~x = the far end of x; * = held by a process but gone from /proc/net/tcp (state from TCP_INFO);'));
  lines.push(pc.dim('   a socket is listed when its state, queues, owner or timer changed'));
  return lines.join('\n');
}

/**
 * What the tracepoints saw during step `index`, one line per socket: its passing states in order
 * (`s0 ESTABLISHED→FIN_WAIT1→FIN_WAIT2→CLOSE`), and each RST it sent with the kernel's reason.
 */
export function kernelEvents(events: Pick<Trace, 'transitions' | 'resets'>, index: number): string {
  const lines = new Map<string, string[]>();
  const line = (socket: string): string[] => {
    let l = lines.get(socket);
    if (!l) lines.set(socket, (l = []));
    return l;
  };
  for (const x of events.transitions ?? []) {
    if (x.step !== index) continue;
    const l = line(x.socket);
    if (l.length === 0 || l[l.length - 1] !== x.from) l.push(x.from);
    l.push(x.to);
  }
  const out = [...lines].map(([socket, states]) => `${socket} ${states.join('→')}`);
  for (const r of events.resets ?? []) {
    if (r.step !== index || r.direction !== 'sent') continue;
    out.push(`${r.socket} sent RST${r.reason ? ` (${r.reason})` : ''}`);
  }
  return out.join('\n');
}

function packets(t: Trace): string {
  if (!t.segments) return '';
  if (t.segments.length === 0) return pc.dim('  no TCP segments were captured');
  const out: string[] = [pc.bold('  packets')];
  // Name each end by its own 4-tuple: a listener and its accepted sockets share one address.
  const nameOf = (local: string, remote: string, fallback: string): string => {
    const own = Object.keys(t.addresses).find((n) => t.addresses[n] === local && t.remotes[n] === remote);
    if (own) return own;
    const far = Object.keys(t.addresses).find((n) => t.addresses[n] === remote && t.remotes[n] === local);
    return far ? `~${far}` : fallback;
  };
  for (const segs of groupByConnection(t.segments).values()) {
    const ends: DiagramEnds = defaultEnds(segs);
    ends.left.label = nameOf(ends.left.address, ends.right.address, ends.left.label);
    ends.right.label = nameOf(ends.right.address, ends.left.address, ends.right.label);
    const first = t.segments[0];
    out.push(renderSequenceDiagram(segs, ends, { decimals: 1, ...(first ? { originMs: first.timeMs } : {}) }).trimEnd().replace(/^/gm, '   '));
  }
  return out.join('\n');
}
