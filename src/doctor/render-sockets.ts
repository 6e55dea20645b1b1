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

/**
 * Sockets as `ss -tan[p]o` shows them: State (ss's spelling), Recv-Q, Send-Q (bytes; on LISTEN
 * the accept queue and backlog), Local and Peer Address:Port, Process (with `owners`), Timer.
 *
 * Linear in the number of rows (cli-table3 is not: 2 000 rows take a second, a busy server's
 * 40 000 take minutes), so `teardown ss` stays fast on any machine.
 */
export function renderSockets(sockets: readonly DoctorSocket[], opts: RenderSocketsOptions = {}): string {
  const paint = opts.paint ?? NO_PAINT;
  const withAge = opts.ages !== undefined;
  const withNetns = sockets.some((s) => s.netns !== undefined);
  const atLeast = opts.agesAtLeast === undefined ? undefined : new Set(opts.agesAtLeast);
  const head = [...(withNetns ? ['Netns'] : []), 'State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', ...(opts.owners ? ['Process'] : []), 'Timer', ...(withAge ? ['Age'] : [])];
  const right = head.map((h) => h === 'Recv-Q' || h === 'Send-Q' || h === 'Age');
  const stateCol = withNetns ? 1 : 0;
  const rows: string[][] = sockets.map((s) => {
    const age = ageOf(opts.ages, s);
    return [
      ...(withNetns ? [s.netns ?? ''] : []),
      ssAlias(s.state),
      String(s.recvQ),
      String(s.sendQ),
      s.local,
      s.remote,
      ...(opts.owners ? [ownerCell(s, opts.holders)] : []),
      timerText(s.timer),
      ...(withAge ? [age === undefined ? '' : `${atLeast?.has(ageKey(s)) === true ? '≥ ' : ''}${(age / 1000).toFixed(1)}s`] : []),
    ];
  });
  const widths = head.map((h) => h.length);
  for (const r of rows) for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] as number, (r[i] as string).length);
  const indent = ' '.repeat(opts.indent ?? 0);
  // Colours off (a pipe, NO_COLOR): no paint call per cell, which a 100 000-row table feels.
  const plainPaint = paint.bold('x') === 'x' && paint.yellow('x') === 'x';
  const pad = (c: string, i: number): string => (right[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number));
  const out: string[] = [(indent + head.map((h, i) => paint.cyan(pad(h, i))).join('  ')).trimEnd()];
  const ownerCol = stateCol + 5;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k] as string[];
    let text = indent;
    if (plainPaint) {
      for (let i = 0; i < r.length; i++) text += i === 0 ? pad(r[i] as string, i) : `  ${pad(r[i] as string, i)}`;
    } else {
      const s = sockets[k] as DoctorSocket;
      for (let i = 0; i < r.length; i++) {
        let c = pad(r[i] as string, i);
        if (i === stateCol && (s.state === 'CLOSE_WAIT' || s.state === 'FIN_WAIT2')) c = paint.yellow(c);
        else if (i === stateCol + 1 && s.recvQ > 0 && s.state !== 'LISTEN') c = paint.bold(c);
        else if (opts.owners && i === ownerCol && (s.owner === null || s.owner === UNREADABLE)) c = paint.dim(c);
        text += i === 0 ? c : `  ${c}`;
      }
    }
    out.push(text.trimEnd());
  }
  return out.join('\n');
}

