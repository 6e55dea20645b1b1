import Table from 'cli-table3';
import { pc } from './colour.js';
import type { CallResult, CallValue } from '../ops.js';
import type { Verdict } from '../scenario.js';
import type { ObservedSocket, StepRecord, Trace } from '../trace.js';
import { groupByConnection, renderSequenceDiagram, defaultEnds, type DiagramEnds } from './diagram.js';

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
  if (s.holders.length === 0) return s.owner ? `${s.actor ?? s.owner.command}(${s.owner.pid})` : pc.dim('-');
  return s.holders.map((h) => `${actorsByPid.get(h.pid) ?? h.command}(${h.pid})`).join(' + ');
}

const VERDICT_COLOUR: Record<Verdict['verdict'], (s: string) => string> = {
  confirmed: pc.green,
  contradicted: pc.red,
  unverified: pc.yellow,
};

/** A verdict as one line: `001-c contradicted: …`. */
export function verdictLine(v: Verdict): string {
  return `${pc.bold(v.claim)} ${VERDICT_COLOUR[v.verdict](v.verdict)}: ${v.observed}`;
}

/** The full human report of one scenario: timeline, packets, verdicts. */
export function renderTrace(t: Trace): string {
  const out: string[] = [];
  out.push(pc.bold(`━━ ${t.scenario}`) + pc.dim(`  (article ${t.article})  `) + t.title);
  const sysctls = Object.entries(t.env.sysctls).map(([k, v]) => `${k}=${v}`).join(', ');
  out.push(pc.dim(`   kernel ${t.env.kernel}, ${t.env.netns ? `netns ${t.env.netns}` : 'host namespace'}${sysctls ? `, ${sysctls}` : ''}, ${t.durationMs} ms`));
  out.push(timeline(t.steps, new Map(Object.entries(t.env.actors).map(([name, a]) => [a.pid, name])), t));
  if (t.env.traceNote) out.push(pc.yellow(`  ${t.env.traceNote}`));
  out.push(packets(t));
  out.push(pc.bold('  verdicts'));
  for (const v of t.verdicts) out.push(`   ${verdictLine(v)}`);
  return out.join('\n');
}

/** The step-by-step table: call, result, and every socket after it. */
export function timeline(steps: readonly StepRecord[], actorsByPid: ReadonlyMap<number, string> = new Map(), events: Pick<Trace, 'transitions' | 'resets'> = { transitions: null, resets: null }): string {
  const table = new Table({
    head: ['#', 'ms', 'step', 'result', 'socket', 'state', 'Recv-Q', 'Send-Q', 'owner', 'timer'].map((h) => pc.cyan(h)),
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: ' ', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: ' ' },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 1 },
    colAligns: ['right', 'right', 'left', 'left', 'left', 'left', 'right', 'right', 'left', 'left'],
  });
  for (const s of steps) {
    const socks = s.after.sockets;
    const pictures = s.watched && s.watched.length > 1 ? `\n${pc.dim(`(${s.watched.length} pictures: ${s.watched.map((w) => `${w.atMs} ms`).join(', ')})`)}` : '';
    const res = resultText(s.result);
    const kernel = kernelEvents(events, s.index);
    table.push([
      String(s.index),
      String(s.startMs),
      s.text + (s.label ? pc.dim(`  [${s.label}]`) : '') + pictures + (kernel ? `\n${pc.magenta(kernel)}` : ''),
      s.result.ok ? res : pc.red(res),
      socks.map((x) => x.label).join('\n'),
      socks.map((x) => (x.inTable ? x.state : `${x.state}*`)).join('\n'),
      socks.map((x) => String(x.recvQ)).join('\n'),
      socks.map((x) => String(x.sendQ)).join('\n'),
      socks.map((x) => ownerText(x, actorsByPid)).join('\n'),
      socks.map((x) => (x.timer.kind === 'none' ? '' : `${x.timer.kind} ${(x.timer.remainingMs / 1000).toFixed(1)}s`)).join('\n'),
    ]);
  }
  const legend = pc.dim('   ~x = the far end of x; * = held by a process but gone from /proc/net/tcp (state from TCP_INFO)');
  return `${table.toString()}\n${legend}`;
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
  if (!t.segments) return pc.yellow(`  ${t.env.captureNote ?? 'packets not captured'}`);
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
    out.push(renderSequenceDiagram(segs, ends, { decimals: 1, ...(first ? { originMs: first.timeMs } : {}) }).replace(/^/gm, '   '));
  }
  return out.join('\n');
}
