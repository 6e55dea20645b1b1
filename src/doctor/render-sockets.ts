import type { SocketOwner, SocketTimer } from '../tcp/observation.js';
import { ssAlias } from '../tcp/state.js';
import { isUnheld, ownerProcess, UNREADABLE, type DoctorSocket } from './socket.js';
import { ageKey } from './watch.js';

// The ss-like socket table, on its own so `teardown ss` loads no table library.

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
  /** ms each socket has been in its state (or seen in it), by `ageKey`: adds an `Age` column. */
  ages?: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
  /** Keys of `ages` that are lower bounds (the socket entered its state before the tracer started): shown as `≥ N s`. */
  agesAtLeast?: ReadonlySet<string> | readonly string[];
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
 * (inode 0: never accepted, orphaned, TIME_WAIT), `?` when the owner is unreadable; every
 * holder, space-separated, when the socket (or `holders`) lists several (shared after fork()).
 */
export function ownerCell(s: DoctorSocket, holders?: ReadonlyMap<number, readonly SocketOwner[]>): string {
  const all = s.holders ?? (s.inode === 0 ? undefined : holders?.get(s.inode));
  if (all !== undefined && all.length > 1) return all.map((o) => `${o.command},pid=${o.pid},fd=${o.fd}`).join(' ');
  const o = ownerProcess(s);
  if (o !== undefined) return `${o.command},pid=${o.pid},fd=${o.fd}`;
  return isUnheld(s) ? '-' : '?';
}

function ageOf(ages: RenderSocketsOptions['ages'], s: DoctorSocket): number | undefined {
  if (ages === undefined) return undefined;
  const k = ageKey(s);
  return ages instanceof Map ? ages.get(k) : (ages as Readonly<Record<string, number>>)[k];
}

const SPACES: string[] = [];

/** `n` spaces: one string per width, shared by every line of every table. */
function spaces(n: number): string {
  return (SPACES[n] ??= ' '.repeat(n));
}

/**
 * Sockets as `ss -tan[p]o` shows them: State (ss's spelling), Recv-Q, Send-Q (bytes; on LISTEN
 * the accept queue and backlog), Local and Peer Address:Port, Process (with `owners`), Timer.
 * Columns two spaces apart, numbers right-aligned, no trailing spaces.
 *
 * Linear in the number of rows (cli-table3 is not: 2 000 rows take a second, a busy server's
 * 40 000 take minutes), and cheap per row: the cells go into one flat array, each line is
 * written as its cells and shared runs of spaces, and the whole table is joined once, so
 * `teardown ss` stays fast on any machine (a one-shot run renders 10 000 rows before the JIT has
 * optimized anything, so every call and string per row counts).
 */
export function renderSockets(sockets: readonly DoctorSocket[], opts: RenderSocketsOptions = {}): string {
  const paint = opts.paint ?? NO_PAINT;
  const withAge = opts.ages !== undefined;
  const withNetns = sockets.some((s) => s.netns !== undefined);
  const owners = opts.owners === true;
  const atLeast = opts.agesAtLeast === undefined ? undefined : new Set(opts.agesAtLeast);
  const head = [...(withNetns ? ['Netns'] : []), 'State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', ...(owners ? ['Process'] : []), 'Timer', ...(withAge ? ['Age'] : [])];
  const right = head.map((h) => h === 'Recv-Q' || h === 'Send-Q' || h === 'Age');
  const n = head.length;
  // Every cell, row after row, in the order of `head`.
  const cells = new Array<string>(sockets.length * n);
  let at = 0;
  for (const s of sockets) {
    if (withNetns) cells[at++] = s.netns ?? '';
    cells[at++] = ssAlias(s.state);
    cells[at++] = String(s.recvQ);
    cells[at++] = String(s.sendQ);
    cells[at++] = s.local;
    cells[at++] = s.remote;
    if (owners) cells[at++] = ownerCell(s, opts.holders);
    cells[at++] = timerText(s.timer);
    if (withAge) {
      const age = ageOf(opts.ages, s);
      cells[at++] = age === undefined ? '' : `${atLeast?.has(ageKey(s)) === true ? '≥ ' : ''}${(age / 1000).toFixed(1)}s`;
    }
  }
  const widths = head.map((h) => h.length);
  for (let i = 0; i < cells.length; i++) {
    const c = i % n;
    const len = (cells[i] as string).length;
    if (len > (widths[c] as number)) widths[c] = len;
  }
  // Colours off (a pipe, NO_COLOR): no paint call per cell, which a 100 000-row table feels.
  const coloured = paint.bold('x') !== 'x' || paint.yellow('x') !== 'x';
  const stateCol = withNetns ? 1 : 0;
  const ownerCol = owners ? stateCol + 5 : -1;
  const colour = (s: DoctorSocket, c: number, text: string): string => {
    if (c === stateCol && (s.state === 'CLOSE_WAIT' || s.state === 'FIN_WAIT2')) return paint.yellow(text);
    if (c === stateCol + 1 && s.recvQ > 0 && s.state !== 'LISTEN') return paint.bold(text);
    if (c === ownerCol && (s.owner === null || s.owner === UNREADABLE)) return paint.dim(text);
    return text;
  };
  const parts: string[] = [];
  // Row -1 is the heading. A cell's padding is owed and written only before a later cell with
  // text, so an empty last column leaves no trailing spaces.
  for (let r = -1; r < sockets.length; r++) {
    if (r >= 0) parts.push('\n');
    const s = sockets[r];
    let owed = opts.indent ?? 0;
    for (let c = 0; c < n; c++) {
      const text = r < 0 ? (head[c] as string) : (cells[r * n + c] as string);
      const gap = (widths[c] as number) - text.length;
      if (c > 0) owed += 2;
      if (right[c]) owed += gap;
      if (text.length > 0) {
        if (owed > 0) parts.push(spaces(owed));
        parts.push(s === undefined ? paint.cyan(text) : coloured ? colour(s, c, text) : text);
        owed = 0;
      }
      if (!right[c]) owed += gap;
    }
  }
  return parts.join('');
}
