import { counterKey, KERNEL_COUNTERS, type CounterGroup } from '../counters.js';
import type { Finding } from '../finding.js';
import { seconds, type Context } from './context.js';

const COUNTER_FINDINGS: readonly { id: 'listen-overflows' | 'resets-and-aborts' | 'syn-queue-overflows' | 'time-wait-overflows'; groups: readonly CounterGroup[]; claim: string | null; what: string; advice: string }[] = [
  {
    id: 'listen-overflows',
    groups: ['listen'],
    claim: '001-a',
    what: 'handshakes dropped at full listeners',
    advice: 'A listener does not accept() fast enough or its backlog is too small: find it (accept-queue findings, ss -lnt Recv-Q) and raise its backlog (capped by net.core.somaxconn).',
  },
  {
    id: 'resets-and-aborts',
    groups: ['abort', 'reset'],
    claim: '004-e',
    what: 'connections reset or aborted',
    advice: 'TCPAbortOnClose means close() with unread data (RST instead of FIN, 004-e); TCPAbortOnData means data arrived after close (004-g): read to EOF before close(), or shutdown(SHUT_WR) first and drain.',
  },
  {
    id: 'syn-queue-overflows',
    groups: ['syn'],
    claim: null,
    what: 'SYNs dropped or answered with cookies because a SYN queue was full',
    advice: 'Check for SYN floods (SYN_RECV counts per listener) and keep net.ipv4.tcp_syncookies on.',
  },
  {
    id: 'time-wait-overflows',
    groups: ['time_wait'],
    claim: null,
    what: 'connections closed without TIME_WAIT because tcp_max_tw_buckets was reached',
    advice: 'Too many TIME_WAIT sockets: reuse connections (keep-alive, pools) instead of opening one per request.',
  },
];

/**
 * Kernel counters since boot: info once (they may be old news), warning when a `bad` one rises
 * during a watch.
 */
export function kernelCounters(ctx: Context): Finding[] {
  const out: Finding[] = [];
  const counters = ctx.input.counters;
  if (counters === null) return out;
  const rates = ctx.input.watch?.rates;
  const watching = ctx.input.watch !== undefined && ctx.input.watch.samples > 1;
  for (const f of COUNTER_FINDINGS) {
    const defs = KERNEL_COUNTERS.filter((c) => f.groups.includes(c.group));
    const sinceBoot: Record<string, number> = {};
    for (const c of defs) {
      const v = counters[c.section]?.[c.name];
      if (v !== undefined && v > 0) sinceBoot[counterKey(c)] = v;
    }
    if (Object.keys(sinceBoot).length === 0) continue;
    let perSecond: Record<string, number> | null = null;
    let duringWatch: Record<string, number> | null = null;
    let risingBad: string[] = [];
    if (watching && rates !== undefined) {
      perSecond = {};
      duringWatch = {};
      for (const r of rates) {
        if (!defs.includes(r.counter)) continue;
        if (r.perSecond !== null && r.perSecond > 0) perSecond[r.key] = Math.round(r.perSecond * 100) / 100;
        if (r.totalDelta > 0) duringWatch[r.key] = r.totalDelta;
      }
      risingBad = defs.filter((c) => c.bad && (duringWatch?.[counterKey(c)] ?? 0) > 0).map((c) => c.name);
    }
    const list = Object.entries(sinceBoot).map(([k, v]) => `${k.split('.')[1] as string} ${v}`).join(', ');
    const rising = duringWatch !== null && Object.keys(duringWatch).length > 0;
    out.push({
      id: f.id,
      severity: risingBad.length > 0 ? 'warning' : 'info',
      title: rising
        ? `${f.what}, rising now: ${Object.entries(duringWatch ?? {}).map(([k, v]) => `${k.split('.')[1] as string} +${v}`).join(', ')} in ${seconds(ctx.input.watch?.spanMs ?? 0)} (since boot: ${list})`
        : `${f.what} since boot: ${list}${watching ? ' (none during this watch)' : ' (run --watch to see whether they still rise)'}`,
      claim: f.claim,
      evidence: { sinceBoot, perSecond, duringWatch, watchedMs: watching ? (ctx.input.watch?.spanMs ?? null) : null },
      advice: f.advice,
      sockets: [],
    });
  }
  return out;
}
