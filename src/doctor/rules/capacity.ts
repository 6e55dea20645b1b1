import type { TcpState } from '../../tcp/state.js';
import type { Finding, Severity } from '../finding.js';
import { canonical, cap, groupBy, isLoopback, isUnheld, plural, split, type Context } from './context.js';

/**
 * TIME_WAIT on our side of connections we opened (local port in ip_local_port_range): each holds
 * its ephemeral port for 60 s toward that remote endpoint, and connect() to it fails with
 * EADDRNOTAVAIL when the range is used up (unless tcp_tw_reuse lets it take a TIME_WAIT port).
 */
export function timeWait(ctx: Context): Finding[] {
  const range = ctx.input.sysctls.ipLocalPortRange;
  if (range === null) return [];
  const [lo, hi] = range;
  const size = hi - lo + 1;
  if (size <= 0) return [];
  const tw = ctx.inState('TIME_WAIT').filter((s) => {
    const p = split(s.local).port;
    return p >= lo && p <= hi;
  });
  const out: Finding[] = [];
  for (const [key, socks] of groupBy(tw, (s) => `${split(s.local).address} ${canonical(s.remote)}`)) {
    const ratio = socks.length / size;
    if (ratio < ctx.t.timeWaitInfo) continue;
    const [localAddress, remote] = key.split(' ') as [string, string];
    const severity: Severity = ratio >= ctx.t.timeWaitCritical ? 'critical' : ratio >= ctx.t.timeWaitWarning ? 'warning' : 'info';
    const reuse = ctx.input.sysctls.tcpTwReuse;
    const loopback = isLoopback(split(remote).address);
    // tcp_tw_reuse (net/ipv4/tcp_ipv4.c, tcp_twsk_unique()): 1 lets connect() take a TIME_WAIT
    // port toward any peer (with timestamps), 2 (the default since Linux 4.14) toward loopback only.
    const reuseApplies = reuse === 1 || (reuse === 2 && loopback);
    const reuseText =
      reuse === null
        ? ', check net.ipv4.tcp_tw_reuse'
        : reuseApplies
          ? `; net.ipv4.tcp_tw_reuse=${reuse} already lets connect() reuse these ports${reuse === 2 ? ' (loopback)' : ''} once 1 s old, so EADDRNOTAVAIL comes only when they are all younger`
          : reuse === 2
            ? `, set net.ipv4.tcp_tw_reuse=1 (it is 2: reuse toward loopback only, and ${remote} is not loopback)`
            : ', set net.ipv4.tcp_tw_reuse=1 (it is 0)';
    out.push({
      id: 'time-wait-ports',
      severity,
      title: `${plural(socks.length, 'TIME_WAIT socket')} from ${localAddress} toward ${remote} hold ${(ratio * 100).toFixed(0)}% of the ${size} ephemeral ports (${lo}-${hi})`,
      claim: null,
      evidence: { localAddress, remote, count: socks.length, portRange: [lo, hi], ephemeralPorts: size, ratio, tcpTwReuse: reuse, reuseApplies },
      advice: `This host opens and closes connections to ${remote} faster than TIME_WAIT (60 s) frees ports: reuse connections (keep-alive, a pool) or widen net.ipv4.ip_local_port_range before connect() fails with EADDRNOTAVAIL${reuseText}.`,
      sockets: cap(ctx, socks),
    });
  }
  return out;
}

/** SYN_RECV (request sockets): handshakes whose final ACK has not come; many on one listener is a flood or lost ACKs. */
export function synRecv(ctx: Context): Finding[] {
  const out: Finding[] = [];
  const sr = ctx.inState('SYN_RECV', 'NEW_SYN_RECV');
  const maxSyn = ctx.input.sysctls.tcpMaxSynBacklog;
  for (const [listener, socks] of groupBy(sr, (s) => s.local)) {
    if (socks.length < ctx.t.synRecvWarning) continue;
    const severity: Severity = maxSyn !== null && socks.length >= maxSyn ? 'critical' : 'warning';
    const retransmitted = socks.filter((s) => s.timer.retransmits > 0).length;
    const byAddr = [...groupBy(socks, (s) => split(s.remote).address)].map(([address, l]) => ({ address, count: l.length })).sort((a, b) => b.count - a.count);
    const cookies = ctx.input.sysctls.tcpSyncookies;
    out.push({
      id: 'syn-recv-flood',
      severity,
      title: `${plural(socks.length, 'SYN_RECV socket')} on ${listener}${maxSyn === null ? '' : ` (tcp_max_syn_backlog ${maxSyn})`}, ${retransmitted} with the SYN-ACK retransmitted: the final ACKs do not come`,
      claim: null,
      evidence: { listener, count: socks.length, retransmitted, tcpMaxSynBacklog: maxSyn, tcpSyncookies: cookies, topRemotes: byAddr.slice(0, 5) },
      advice:
        cookies === 0
          ? 'A SYN flood or clients whose ACKs are lost: turn on net.ipv4.tcp_syncookies=1 and filter the sources upstream.'
          : `A SYN flood or clients whose ACKs are lost: check the sources (${byAddr.slice(0, 3).map((a) => a.address).join(', ')}) and filter them upstream; SYN cookies are ${cookies === 2 ? 'always on' : 'on for overflow'}.`,
      sockets: cap(ctx, socks),
    });
  }
  return out;
}

const ORPHAN_STATES: readonly TcpState[] = ['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'LAST_ACK'];

/** Orphans (closed sockets the kernel still finishes) against tcp_max_orphans: beyond it, the kernel resets them. */
export function orphans(ctx: Context): Finding[] {
  const n = ctx.input.sockstat?.TCP?.orphan;
  const max = ctx.input.sysctls.tcpMaxOrphans;
  if (n === undefined || max === null || max <= 0) return [];
  const ratio = n / max;
  if (ratio < ctx.t.orphansWarning) return [];
  const socks = ctx.inState(...ORPHAN_STATES).filter(isUnheld);
  const byState: Partial<Record<TcpState, number>> = {};
  for (const s of socks) byState[s.state] = (byState[s.state] ?? 0) + 1;
  return [
    {
      id: 'orphans',
      severity: ratio >= ctx.t.orphansCritical ? 'critical' : 'warning',
      title: `${plural(n, 'orphaned socket')} (closed, no process) = ${(ratio * 100).toFixed(0)}% of tcp_max_orphans ${max}: beyond it the kernel resets them ("too many orphaned sockets")`,
      claim: '004-j',
      evidence: { orphans: n, tcpMaxOrphans: max, ratio, byState },
      advice: 'Find the peers that never close (FIN_WAIT2 orphans) or never ACK (FIN_WAIT1, LAST_ACK) and fix them; lower net.ipv4.tcp_fin_timeout to shorten FIN_WAIT2 orphans.',
      sockets: cap(ctx, socks),
    },
  ];
}

/**
 * FIN_WAIT1 with data in Send-Q: close() (or shutdown(SHUT_WR)) queued a FIN behind data the peer
 * does not take: its receive window is zero, so the kernel sends zero-window probes and neither
 * the data nor the FIN leaves. Orphans among them (the process closed them) hold that memory
 * until tcp_orphan_retries probes go unanswered (tcp_probe_timer(), tcp_orphan_retries() in
 * net/ipv4/tcp_timer.c); a peer that ACKs the probes keeps them for ever. Grouped by remote.
 */
export function finWait1SendQ(ctx: Context): Finding[] {
  const out: Finding[] = [];
  const stuck = ctx.inState('FIN_WAIT1').filter((s) => s.sendQ > 0);
  const retries = ctx.input.sysctls.tcpOrphanRetries;
  for (const [remote, socks] of groupBy(stuck, (s) => canonical(s.remote))) {
    const sendQBytes = socks.reduce((a, s) => a + s.sendQ, 0);
    const probing = socks.filter((s) => s.timer.kind === 'zero_window_probe' || s.timer.retransmits > 0).length;
    // A FIN_WAIT1 with a little Send-Q for a moment is a normal close; only a stuck one counts.
    if (probing === 0 && sendQBytes < ctx.t.finWait1SendQWarning) continue;
    const orphaned = socks.filter(isUnheld).length;
    const mb = (sendQBytes / (1 << 20)).toFixed(1);
    out.push({
      id: 'fin-wait1-send-q',
      severity: sendQBytes >= ctx.t.finWait1SendQWarning ? 'warning' : 'info',
      title: `${plural(socks.length, 'FIN_WAIT1 socket')} toward ${remote} hold ${mb} MB unsent in Send-Q (${orphaned} orphaned, ${probing} probing a zero window): the peer stopped reading, so the data and the FIN behind it cannot leave`,
      claim: '004-j',
      evidence: { remote, count: socks.length, orphaned, sendQBytes, probing, tcpOrphanRetries: retries },
      advice:
        `The peer at ${remote} does not read (its window is zero): fix or time out that reader. ` +
        `Orphans are killed after net.ipv4.tcp_orphan_retries unanswered probes (${retries === null ? 'unknown' : retries === 0 ? '0, meaning 8' : retries}), but a peer that ACKs the probes keeps them for ever; ` +
        `a sender that must not wait should bound it with SO_LINGER {on, 0} (RST on close) or TCP_USER_TIMEOUT.`,
      sockets: cap(ctx, socks),
    });
  }
  return out;
}
