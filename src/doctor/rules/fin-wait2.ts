import type { SocketObservation } from '../../tcp/observation.js';
import { processText, type Finding } from '../finding.js';
import { cap, groupBy, oldest, ownerRef, peerOf, plural, seenText, split, uniqueProcesses, uniqueSorted, type Context } from './context.js';

/**
 * FIN_WAIT2: we sent FIN and it was ACKed; the peer has not sent its own. Held by a process it is
 * a half-close (shutdown(SHUT_WR), Node's end()) that waits for ever if the peer never closes;
 * orphaned (closed, no file) it lasts tcp_fin_timeout (seed 004-j). When the other end is on this
 * machine it is a CLOSE_WAIT, and both are named (seed 004-d).
 */
export function finWait2(ctx: Context): Finding[] {
  const out: Finding[] = [];
  const fw2 = ctx.input.sockets.filter((s) => s.state === 'FIN_WAIT2');
  const held = fw2.filter((s) => s.inode !== 0 || s.owner !== null);
  const orphans = fw2.filter((s) => s.inode === 0 && s.owner === null);

  for (const socks of groupBy(held, (s) => s.owner?.pid ?? -1).values()) {
    const process = ownerRef(socks[0] as SocketObservation);
    const peerSocks = socks.map((s) => peerOf(ctx, s)).filter((p): p is SocketObservation => p !== undefined);
    const peers = uniqueProcesses(peerSocks.map(ownerRef));
    const peersWithoutOwner = peerSocks.filter((p) => p.owner === null).length;
    const oldestSeenMs = oldest(ctx, socks);
    const who = process === null ? 'an unnamed process' : processText(process);
    const peerText =
      peers.length > 0
        ? `; ${peers.length === 1 ? 'the peer' : 'the peers'} ${peers.map(processText).join(', ')} ${peers.length === 1 ? 'holds' : 'hold'} the CLOSE_WAIT ${socks.length === 1 ? 'end' : 'ends'} and never closes`
        : peersWithoutOwner > 0
          ? `; the CLOSE_WAIT ${peersWithoutOwner === 1 ? 'end here has' : 'ends here have'} no owner (never accepted)`
          : '';
    out.push({
      id: 'fin-wait2-held',
      severity: 'warning',
      title: `${who} half-closed ${plural(socks.length, 'connection')} (FIN_WAIT2, still held) and waits for a FIN that does not come${peerText}${seenText(oldestSeenMs)}`,
      claim: '004-j',
      evidence: {
        process,
        count: socks.length,
        localPorts: uniqueSorted(socks.map((s) => split(s.local).port)),
        remotes: [...new Set(socks.map((s) => s.remote))].slice(0, 10),
        peers,
        peersWithoutOwner,
        oldestSeenMs,
      },
      advice: `A half-close held by ${who} lasts for ever, tcp_fin_timeout does not apply: give it a timeout that destroys the socket, and fix the peer that never closes its end (004-j).`,
      sockets: cap(ctx, socks),
    });
  }

  if (orphans.length > 0) {
    const byRemote = [...groupBy(orphans, (s) => s.remote)].map(([remote, l]) => ({ remote, count: l.length })).sort((a, b) => b.count - a.count || a.remote.localeCompare(b.remote));
    const finTimeoutS = ctx.input.sysctls.tcpFinTimeoutS;
    out.push({
      id: 'fin-wait2-orphans',
      severity: 'info',
      title: `${plural(orphans.length, 'orphaned FIN_WAIT2 socket')} (closed, no owner): each goes after tcp_fin_timeout${finTimeoutS === null ? '' : ` = ${finTimeoutS} s`}`,
      claim: '004-j',
      evidence: {
        count: orphans.length,
        finTimeoutS,
        longestRemainingMs: Math.max(0, ...orphans.map((s) => s.timer.remainingMs)),
        topRemotes: byRemote.slice(0, 5),
      },
      advice: `Bounded by tcp_fin_timeout, so harmless one by one; many of them mean the peers (${byRemote.slice(0, 3).map((r) => r.remote).join(', ')}) sit in CLOSE_WAIT and never close (004-d): look there.`,
      sockets: cap(ctx, orphans),
    });
  }

  // Pairs: both ends on this machine.
  const pairs: { fw2: SocketObservation; cw: SocketObservation }[] = [];
  for (const s of fw2) {
    const p = peerOf(ctx, s);
    if (p !== undefined && p.state === 'CLOSE_WAIT') pairs.push({ fw2: s, cw: p });
  }
  for (const group of groupBy(pairs, (p) => `${p.fw2.owner?.pid ?? '-'} ${p.cw.owner?.pid ?? '-'}`).values()) {
    const first = group[0] as { fw2: SocketObservation; cw: SocketObservation };
    const a = ownerRef(first.fw2);
    const b = ownerRef(first.cw);
    const bText = b === null ? (first.cw.inode === 0 ? 'nobody (never accepted)' : 'an unnamed process') : processText(b);
    const aText = a === null ? (first.fw2.inode === 0 ? 'an orphan (closed)' : 'an unnamed process') : processText(a);
    out.push({
      id: 'teardown-pair',
      severity: 'info',
      title: `${plural(group.length, 'connection')} half torn down on this machine: FIN_WAIT2 end held by ${aText}, CLOSE_WAIT end held by ${bText}`,
      claim: '004-d',
      evidence: {
        finWait2: a,
        closeWait: b,
        count: group.length,
        connections: group.slice(0, 10).map((p) => ({ finWait2: p.fw2.local, closeWait: p.cw.local })),
      },
      advice: `Every FIN_WAIT2 here is waiting on its CLOSE_WAIT peer: the fix is in ${bText === 'nobody (never accepted)' ? "the listener's process (it never accepts)" : bText}, which must close() its end (004-d).`,
      sockets: cap(ctx, group.flatMap((p) => [p.fw2, p.cw])),
    });
  }
  return out;
}
