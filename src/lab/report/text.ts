/**
 * The lab's report for people: terminal text, at most {@link DEFAULT_WIDTH} columns unless asked
 * wider. Per scenario: its title and summary, a compact timeline (a socket's row only when
 * something about it changed), each connection's sequence diagram, and its findings.
 */
import { pc } from './colour.js';
import type { CallResult, CallValue } from '../ops.js';
import type { Verdict, VerdictKind } from '../scenario.js';
import { socketLabel, type ObservedSocket, type Snapshot, type StepRecord, type Trace } from '../trace.js';
import { groupByConnection, renderSequenceDiagram, defaultEnds, type DiagramEnds } from './diagram.js';
import { flagString } from '../../tcp/segment.js';

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

/** Who holds a socket: the actor's name (its pid is in the scenario's header), else `command(pid)`; `-` for none. */
function ownerText(s: ObservedSocket, actorsByPid: ReadonlyMap<number, string>): string {
  if (s.holders.length === 0) return s.owner ? (s.actor ?? `${s.owner.command}(${s.owner.pid})`) : '-';
  return s.holders.map((h) => actorsByPid.get(h.pid) ?? `${h.command}(${h.pid})`).join('+');
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
  /** The kernel release is printed once above (the whole run's), not per scenario. */
  kernelShown?: boolean;
  /** The timeline's column heads are printed once above (with the legend), not per scenario. */
  headerShown?: boolean;
}

/** The full report of one scenario: summary, compact timeline, packets, and what it judged. */
export function renderTrace(t: Trace, opts: ReportOptions = {}): string {
  const width = opts.width ?? DEFAULT_WIDTH;
  const out: string[] = [];
  const title = `━━ ${t.scenario}  (article ${t.article})  `;
  out.push(pc.bold(`━━ ${t.scenario}`) + pc.dim(`  (article ${t.article})  `) + wrap(t.title, width, 3, title.length).join('\n'));
  const sysctls = Object.entries(t.env.sysctls).map(([k, v]) => `${k}=${v}`).join(', ');
  const model = t.env.backend === 'model';
  const env = [opts.kernelShown ? '' : model ? t.env.kernel : `kernel ${t.env.kernel}`, t.env.netns || model ? '' : 'host namespace', t.env.rttMs !== undefined ? `RTT ${t.env.rttMs} ms` : '', sysctls].filter(Boolean).join(', ');
  out.push(wrap(`${t.summary ?? ''}${env ? ` [${env}]` : ''}`, width, 3, 3).map((l, i) => (i === 0 ? `   ${l}` : l)).join('\n'));
  out.push(timeline(t.steps, new Map(Object.entries(t.env.actors).map(([name, a]) => [a.pid, name])), t, width, opts.headerShown !== true));
  for (const note of [t.env.captureNote, t.env.traceNote]) if (note) out.push(pc.yellow(wrap(note, width, 4, 2).map((l, i) => (i === 0 ? `  ${l}` : l)).join('\n')));
  const pk = packets(t);
  if (pk) out.push(pk);
  return out.join('\n');
}

const COLS = { index: 2, ms: 5, step: 53, socket: 6, state: 11, recvQ: 5, sendQ: 5, owner: 9, timer: 15 } as const;

/** What about a socket a person cares to see change: state, queues, owner, timer kind. */
function rowKey(s: ObservedSocket): string {
  return `${s.state}|${s.inTable}|${s.recvQ}|${s.sendQ}|${s.holders.map((h) => h.pid).join('+') || (s.owner?.pid ?? '-')}|${s.timer.kind}`;
}

function cell(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return align === 'right' ? t.padStart(width) : t.padEnd(width);
}

/** One socket's row in the timeline: what changed about it in a step. */
export interface TimelineSocketRow {
  label: string;
  /** `ESTABLISHED`; `gone` when no socket with its 4-tuple is left. */
  state: string;
  /** False for a socket held by a process but gone from /proc/net/tcp (state from TCP_INFO). */
  inTable: boolean;
  recvQ: number | null;
  sendQ: number | null;
  /** Actor name(s) or `command(pid)`; `-` for none. */
  owner: string;
  /** `time_wait 59.9s`, or empty. */
  timer: string;
}

/** One step of the compact timeline, as data (the terminal and the HTML report both draw it). */
export interface TimelineRow {
  index: number;
  /** ms since the scenario started. */
  startMs: number;
  /** How the call reads: `client: write c "ping"`. */
  text: string;
  /** The scenario's name for the moment, or null. */
  label: string | null;
  /** What follows the call: `(3 pictures, the last at 2140 ms)`, ` → EPIPE + SIGPIPE`; empty for a plain success. */
  tail: string;
  ok: boolean;
  /** What the tracepoints saw that the rows do not show, one line per socket or RST. */
  kernel: string[];
  /** The sockets whose state, queues, owner or timer changed, then those now gone. */
  sockets: TimelineSocketRow[];
}

/**
 * The compact timeline's rows: each step with its result, what the tracepoints saw during it, and
 * each socket whose state, queues, owner or timer changed since the step before (a socket that is
 * gone is listed once as `gone`). A pause during which nothing changed is left out.
 */
export function timelineRows(
  steps: readonly StepRecord[],
  actorsByPid: ReadonlyMap<number, string> = new Map(),
  events: Pick<Trace, 'transitions' | 'resets'> = { transitions: null, resets: null },
): TimelineRow[] {
  const out: TimelineRow[] = [];
  let before = new Map<string, string>();
  let beforeTuples = new Map<string, string>();
  for (const s of steps) {
    const now = new Map(s.after.sockets.map((x) => [x.label, rowKey(x)]));
    const tuples = new Map(s.after.sockets.map((x) => [x.label, `${x.local}>${x.remote}`]));
    // A listener whose accept queue only grew or shrank is not repeated (each queued connection
    // has its own ~x row), unless the queue is full: then the count itself is the news.
    const listenerQueueOnly = (x: ObservedSocket): boolean => {
      const was = before.get(x.label)?.split('|');
      const is = now.get(x.label)?.split('|');
      return x.state === 'LISTEN' && was !== undefined && is !== undefined && x.recvQ < x.sendQ &&
        was.filter((_, i) => i !== 2).join('|') === is.filter((_, i) => i !== 2).join('|');
    };
    const changed = s.after.sockets.filter((x) => before.get(x.label) !== now.get(x.label) && !listenerQueueOnly(x));
    // Gone: no socket with that 4-tuple is left (a queued `~c` accepted as `s` is renamed, not gone).
    const present = new Set(tuples.values());
    const gone = [...beforeTuples].filter(([label, tuple]) => !now.has(label) && !present.has(tuple)).map(([label]) => label);
    // When the last change was seen: how long into the watch a state passed (a timeout's length).
    const pictures = s.watched && s.watched.length > 1 ? ` (${s.watched.length} pictures, the last at ${(s.watched.at(-1) as Snapshot).atMs} ms)` : '';
    // A successful call's value alone (`→ 4`, `→ 7 B "rsp1"`); a failure's errno (`→ EPIPE + SIGPIPE`).
    const result = resultText(s.result).replace(/^ok: /, '');
    const kernel = kernelEvents(events, s.index, (label) => before.get(label)?.split('|')[0], (label) => now.get(label)?.split('|')[0]);
    const sockets: TimelineSocketRow[] = [
      ...changed.map((x) => ({ label: x.label, state: x.state, inTable: x.inTable, recvQ: x.recvQ, sendQ: x.sendQ, owner: ownerText(x, actorsByPid), timer: timerText(x) })),
      ...gone.map((label) => ({ label, state: 'gone', inTable: true, recvQ: null, sendQ: null, owner: '', timer: '' })),
    ];
    const quiet = (s.step.op === 'wait' || s.step.op === 'watch') && s.result.ok && sockets.length === 0 && !kernel;
    before = now;
    beforeTuples = tuples;
    if (quiet) continue;
    out.push({
      index: s.index,
      startMs: s.startMs,
      text: s.text,
      label: s.label,
      tail: `${pictures}${result === 'ok' ? '' : ` → ${result}`}`,
      ok: s.result.ok,
      kernel: kernel ? kernel.split('\n') : [],
      sockets,
    });
  }
  return out;
}

/**
 * The step-by-step timeline as terminal text ({@link timelineRows}): call and result, what the
 * tracepoints saw during the step, and each socket that changed.
 */
export function timeline(
  steps: readonly StepRecord[],
  actorsByPid: ReadonlyMap<number, string> = new Map(),
  events: Pick<Trace, 'transitions' | 'resets'> = { transitions: null, resets: null },
  width = DEFAULT_WIDTH,
  header = true,
): string {
  const stepWidth = Math.max(COLS.step, COLS.step + width - DEFAULT_WIDTH);
  const lines: string[] = header ? [timelineHeader(width)] : [];
  for (const s of timelineRows(steps, actorsByPid, events)) {
    // The step's label (the scenario's name for the moment) when it fits on the line; the call
    // and its result always show.
    const labelled = `${s.text}${s.label ? ` [${s.label}]` : ''}${s.tail}`;
    const text = wrap(labelled.length <= stepWidth ? labelled : `${s.text}${s.tail}`, stepWidth, 2, 0);
    const kernelLines = s.kernel.flatMap((k) => wrap(k, stepWidth, 2, 0));
    const gone = s.sockets.filter((x) => x.state === 'gone').map((x) => x.label);
    const rows = s.sockets.filter((x) => x.state !== 'gone').map((x) =>
        [
            cell(x.label, COLS.socket),
            cell(x.inTable ? x.state : `${x.state}*`, COLS.state),
            cell(String(x.recvQ), COLS.recvQ, 'right'),
            cell(String(x.sendQ), COLS.sendQ, 'right'),
            cell(x.owner, COLS.owner),
            x.timer,
          ].join(' '),
    );
    const rowWidth = COLS.socket + COLS.state + COLS.recvQ + COLS.sendQ + COLS.owner + COLS.timer + 5;
    // Every socket that left the table in this step, on one row.
    if (gone.length > 0) rows.push(...wrap(`${gone.join(' ')} gone`, rowWidth, 0, 0));
    // The tracepoint lines go under the step text or under the socket rows, whichever is shorter.
    const kernelRight = s.kernel.flatMap((k) => wrap(k, rowWidth, 2, 0));
    const left = Math.max(text.length + kernelLines.length, rows.length, 1);
    const right = Math.max(text.length, rows.length + kernelRight.length, 1);
    const onRight = right < left;
    const leftLines = onRight ? text.map((t) => ({ t, kernel: false })) : [...text.map((t) => ({ t, kernel: false })), ...kernelLines.map((t) => ({ t, kernel: true }))];
    const rightLines = onRight ? [...rows, ...kernelRight.map((k) => pc.magenta(k))] : rows;
    const paint = s.ok ? (x: string): string => x : pc.red;
    for (let i = 0; i < Math.min(left, right); i++) {
      const l = leftLines[i];
      const stepCell = l === undefined ? ' '.repeat(stepWidth) : l.kernel ? pc.magenta(cell(l.t, stepWidth)) : paint(cell(l.t, stepWidth));
      const line = [cell(i === 0 ? String(s.index) : '', COLS.index, 'right'), cell(i === 0 ? String(s.startMs) : '', COLS.ms, 'right'), stepCell, rightLines[i] ?? ''].join(' ');
      lines.push(` ${line}`.trimEnd());
    }
  }
  return lines.join('\n');
}

/** The timeline's column heads (printed once above a whole run's timelines). */
export function timelineHeader(width = DEFAULT_WIDTH): string {
  const stepWidth = Math.max(COLS.step, COLS.step + width - DEFAULT_WIDTH);
  const head = [
    cell('#', COLS.index, 'right'),
    cell('ms', COLS.ms, 'right'),
    cell('step → result (ok unless shown)', stepWidth),
    cell('socket', COLS.socket),
    cell('state', COLS.state),
    cell('RecvQ', COLS.recvQ, 'right'),
    cell('SendQ', COLS.sendQ, 'right'),
    cell('owner', COLS.owner),
    'timer',
  ].join(' ');
  return pc.cyan(` ${head}`.trimEnd());
}

/** How the timelines read; printed once above them. */
export const TIMELINE_LEGEND =
  '~x = the far end of x; * = held by a process but gone from /proc/net/tcp (state from TCP_INFO); a socket is listed ' +
  'when its state, queues, owner or timer changed (a listener whose accept queue only grew or shrank, short of full, is ' +
  'not: each queued connection has its own ~x row); magenta lines are what the tracepoints saw during the step that the ' +
  'rows do not show: passing states and RSTs with the kernel\'s reason (not repeated: every connect() passing SYN_SENT ' +
  'and every accepted connection SYN_RECV on the way to ESTABLISHED, an active close ESTABLISHED→FIN_WAIT1→FIN_WAIT2 ' +
  'completed into the TIME_WAIT (or FIN_WAIT2) timewait socket its row shows, a passive close CLOSE_WAIT→LAST_ACK→CLOSE ' +
  'completed); a wait during which nothing changed is not listed';

/** A socket's kernel timer in a few characters: `time_wait 59.9s`, `probe 0.2s` (zero-window probe). */
function timerText(x: ObservedSocket): string {
  if (x.timer.kind === 'none') return '';
  const s = x.timer.remainingMs / 1000;
  const kind = x.timer.kind === 'zero_window_probe' ? 'probe' : x.timer.kind;
  return `${kind} ${s < 100 ? s.toFixed(1) : s.toFixed(0)}s`;
}

/**
 * What the tracepoints saw during step `index`, one line per socket: its passing states in order
 * (`s0 ESTABLISHED→FIN_WAIT1→FIN_WAIT2→CLOSE`), and each RST it sent with the kernel's reason.
 */
export function kernelEvents(
  events: Pick<Trace, 'transitions' | 'resets'>,
  index: number,
  stateBefore: (socket: string) => string | undefined = () => undefined,
  stateAfter: (socket: string) => string | undefined = () => undefined,
): string {
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
  // A single move the snapshots already show (ESTABLISHED before, CLOSE_WAIT after) says nothing new.
  const news = [...lines].filter(([socket, states]) => {
    const path = states.join('→');
    // Every connect() passes SYN_SENT and every accepted child SYN_RECV: said once in the legend.
    if (path === 'CLOSE→SYN_SENT→ESTABLISHED' || path === 'LISTEN→SYN_RECV→ESTABLISHED') return false;
    // An active close ending in the timewait socket the row shows (whole, or its rest from the
    // FIN_WAIT1 the row showed a step before), or a passive close ending with the socket gone:
    // said once in the legend.
    const after = stateAfter(socket);
    const was = stateBefore(socket) ?? 'CLOSE'; // a socket new in this step was CLOSE
    const activeClose = path.endsWith('ESTABLISHED→FIN_WAIT1→FIN_WAIT2→CLOSE') || (was === 'FIN_WAIT1' && path === 'FIN_WAIT1→FIN_WAIT2→CLOSE');
    if (activeClose && (after === 'TIME_WAIT' || after === 'FIN_WAIT2')) return false;
    if (path.endsWith('CLOSE_WAIT→LAST_ACK→CLOSE') && after === undefined) return false;
    if (states.length !== 2 || states[0] !== was) return true;
    // The snapshot shows the new state, or (for → CLOSE) that the socket left the table.
    return !(states[1] === stateAfter(socket) || (states[1] === 'CLOSE' && stateAfter(socket) === undefined));
  });
  const out = news.map(([socket, states]) => `${socket} ${states.join('→')}`);
  for (const r of events.resets ?? []) {
    if (r.step !== index || r.direction !== 'sent') continue;
    out.push(`${r.socket} sent RST${r.reason ? ` (${r.reason})` : ''}`);
  }
  return out.join('\n');
}

function packets(t: Trace): string {
  if (!t.segments) return '';
  if (t.segments.length === 0) return pc.dim('  no TCP segments were captured');
  const out: string[] = [];
  // Name each end by its own 4-tuple: a listener and its accepted sockets share one address.
  const nameOf = (local: string, remote: string, fallback: string): string => socketLabel(local, remote, t.addresses, t.remotes) ?? fallback;
  // A connection whose exchange has the very shape of one drawn before (same segments, same
  // directions, numbers and RST reasons; only the times differ) is named, not drawn again.
  const drawn = new Map<string, string>();
  const first = t.segments[0];
  for (const segs of groupByConnection(t.segments).values()) {
    const ends: DiagramEnds = defaultEnds(segs);
    ends.left.label = nameOf(ends.left.address, ends.right.address, ends.left.label);
    ends.right.label = nameOf(ends.right.address, ends.left.address, ends.right.label);
    const shape = segs.map((x) => `${x.src === ends.left.address ? '>' : '<'}${flagString(x.flags)} ${x.seq} ${x.ack} ${x.length} ${x.rstReason ?? ''}`).join(';');
    const same = drawn.get(shape);
    const at = (segs[0]?.timeMs ?? 0) - (first?.timeMs ?? 0);
    if (same !== undefined) {
      out.push(...wrap(`${ends.left.label} ⇄ ${ends.right.label}: the same ${segs.length} segments as ${same}, from ${at.toFixed(1)} ms`, DEFAULT_WIDTH, 9, 5).map((l, i) => (i === 0 ? `     ${l}` : l)));
      continue;
    }
    drawn.set(shape, `${ends.left.label} ⇄ ${ends.right.label}`);
    out.push(renderSequenceDiagram(segs, ends, { decimals: 1, compact: true, foldAckMs: Infinity, ...(first ? { originMs: first.timeMs } : {}) }).trimEnd().replace(/^/gm, '   '));
  }
  return out.join('\n');
}
