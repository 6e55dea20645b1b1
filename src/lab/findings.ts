/**
 * Findings beyond the articles that more than one scenario shows: each a {@link FindingCheck}
 * whose evidence is built from the run's own trace.
 */
import type { FindingCheck } from './scenario.js';
import type { TraceReset, TraceView } from './trace.js';

/**
 * Why each RST of the run was sent: the kernel's reason (`tcp:tcp_send_reset`), the step and the
 * sending socket's state, and whether it went out as `R` (no ACK: it answers a segment that
 * carried an ACK, its sequence number taken from that ACK, RFC 9293 §3.10.7.1) or `R.` (RST+ACK:
 * a socket aborting its own connection, `tcp_send_active_reset()`, or a reply to a segment
 * without ACK such as a SYN).
 * @param scenario the scenario's id, to keep the finding's id unique in the catalogue.
 */
export function rstReasons(scenario: string, claims: string[] = []): FindingCheck {
  return {
    id: `rst-reasons:${scenario}`,
    fact: 'Each RST has a reason the kernel names; R. (RST+ACK) when a socket aborts, a bare R when it answers a segment that carried an ACK.',
    claims,
    check: rstReasonsText,
  };
}

/** The evidence of {@link rstReasons}: one phrase per distinct (reason, step, state, flags); null when no RST was sent or RSTs were not traced. */
function rstReasonsText(t: TraceView): string | null {
  const sent = (t.trace.resets ?? []).filter((r) => r.direction === 'sent');
  if (sent.length === 0) return null;
  const phrases = new Map<string, number>();
  for (const r of sent) {
    const key = `${r.reason ?? 'no reason given'} from ${r.socket}${r.state ? ` in ${r.state}` : ''} at "${stepName(t, r)}" as ${flagsOf(t, r)}`;
    phrases.set(key, (phrases.get(key) ?? 0) + 1);
  }
  return `${[...phrases].length < sent.length ? `${sent.length} RSTs: ` : ''}${[...phrases].map(([k, n]) => (n > 1 ? `${n} × ${k}` : k)).join('; ')}`;
}

function stepName(t: TraceView, r: TraceReset): string {
  const s = t.trace.steps[r.step];
  return s?.label ?? s?.text ?? `step ${r.step}`;
}

/** `R.` (RST+ACK) or `R` from the captured segment the socket sent in the reset's step; `R?` when not captured. */
function flagsOf(t: TraceView, r: TraceReset): string {
  if (!t.captured) return 'R? (not captured)';
  const addr = t.addr(r.socket) ?? (r.socket.includes('>') ? r.socket.split('>')[0] : undefined);
  const step = t.trace.steps[r.step];
  const segs = (step?.segments ?? []).map((i) => t.trace.segments?.[i]).filter((s) => s !== undefined);
  const rst = segs.find((s) => s.flags.includes('RST') && (addr === undefined || s.src === addr) && (r.reason === null || s.rstReason === undefined || s.rstReason === r.reason));
  if (!rst) return 'R? (segment not found)';
  return rst.flags.includes('ACK') ? 'R.' : 'R';
}

/**
 * An orphaned FIN_WAIT2 and a TIME_WAIT are timewait sockets, not full ones: `tcp_time_wait()`
 * hands the connection to a small `inet_timewait_sock` (no inode, no owner, one timer, shown as
 * `time_wait`) and the full socket goes to CLOSE, which is the transition the tracepoint shows.
 * A FIN_WAIT2 still held by a process (after shutdown()) is the full socket: an inode, no timer.
 */
export const timewaitSockets: FindingCheck = {
  id: 'timewait-sockets',
  fact:
    'Orphaned FIN_WAIT2 and TIME_WAIT are timewait sockets (tcp_time_wait()): inode 0, a time_wait timer; the full socket goes to CLOSE.',
  claims: ['004-j'],
  check: timewaitText,
};

/** The evidence of {@link timewaitSockets}: each socket's first FIN_WAIT2/TIME_WAIT row (inode, timer), with its traced end; null when no timewait row was seen. */
function timewaitText(t: TraceView): string | null {
  // One example of each kind of row: (state, inode 0 or not, timer kind).
  const rows = new Map<string, string>();
  let timewait = 0;
  for (const st of t.trace.steps) {
    for (const snap of [...(st.watched ?? []), st.after]) {
      for (const s of snap.sockets) {
        const kind = `${s.state} ${s.inode === 0} ${s.timer.kind}`;
        if ((s.state !== 'FIN_WAIT2' && s.state !== 'TIME_WAIT') || rows.has(kind)) continue;
        if (s.inode === 0 && s.timer.kind === 'time_wait') timewait++;
        const path = s.inode === 0 && s.state === 'FIN_WAIT2' ? tracedEnd(t, s.label) : '';
        rows.set(kind, `${s.label} ${s.state} inode ${s.inode} timer ${s.timer.kind}${path}`);
      }
    }
  }
  return timewait === 0 ? null : [...rows.values()].join('; ');
}

function tracedEnd(t: TraceView, label: string): string {
  const moves = t.transitionsOf(label);
  const last = moves[moves.length - 1];
  return last ? ` (traced ${last.from} → ${last.to})` : '';
}
