import { processText, type Finding } from '../finding.js';
import { UNREADABLE, type DoctorSocket } from '../socket.js';
import { cap, groupBy, holderOf, isUnheld, isUnreadable, oldest, ownerRef, plural, ageText, split, uniqueProcesses, uniqueSorted, type Context } from './context.js';

/**
 * FIN_WAIT2: we sent FIN and it was ACKed; the peer has not sent its own. Held by a process it is
 * a half-close (shutdown(SHUT_WR), Node's end()) that waits for ever if the peer never closes;
 * orphaned (closed, no file) it lasts tcp_fin_timeout (seed 004-j). When the other end is on this
 * machine it is a CLOSE_WAIT, and both are named (seed 004-d).
 */
export function finWait2(ctx: Context): Finding[] {
  const out: Finding[] = [];
  const fw2 = ctx.inState('FIN_WAIT2');
  const held = fw2.filter((s) => !isUnheld(s));
  const orphans = fw2.filter(isUnheld);

  for (const socks of groupBy(held, (s) => (isUnreadable(s) ? -1 : (ownerRef(s) as { pid: number }).pid)).values()) {
    const first = socks[0] as DoctorSocket;
    const process = holderOf(first);
    const peerSocks = socks.map((s) => ctx.peer(s)).filter((p): p is DoctorSocket => p !== undefined && p.state === 'CLOSE_WAIT');
    const peers = uniqueProcesses(peerSocks.map(ownerRef));
    const peersWithoutOwner = peerSocks.filter(isUnheld).length;
    const peersUnreadable = peerSocks.filter(isUnreadable).length;
    const oldestSeenMs = oldest(ctx, socks);
    const who = process === UNREADABLE ? 'a process whose owner is unreadable' : processText(process);
    const ends = (n: number): string => `the CLOSE_WAIT ${n === 1 ? 'end here' : 'ends here'}`;
    const peerParts: string[] = [];
    if (peers.length > 0) {
      peerParts.push(`${peers.length === 1 ? 'the peer' : 'the peers'} ${peers.map(processText).join(', ')} ${peers.length === 1 ? 'holds' : 'hold'} the CLOSE_WAIT ${socks.length === 1 ? 'end' : 'ends'} and never closes`);
    }
    if (peersWithoutOwner > 0) peerParts.push(`${ends(peersWithoutOwner)} ${peersWithoutOwner === 1 ? 'has' : 'have'} no owner (never accepted)`);
    if (peersUnreadable > 0) peerParts.push(`${ends(peersUnreadable)} ${peersUnreadable === 1 ? 'is' : 'are'} held by a process whose owner is unreadable (not root)`);
    const peerText = peerParts.length === 0 ? '' : `; ${peerParts.join('; ')}`;
    out.push({
      id: 'fin-wait2-held',
      severity: 'warning',
      title: `${who} half-closed ${plural(socks.length, 'connection')} (FIN_WAIT2, still held) and waits for a FIN that does not come${peerText}${ageText(ctx, socks)}`,
      claim: '004-j',
      evidence: {
        process,
        count: socks.length,
        localPorts: uniqueSorted(socks.map((s) => split(s.local).port)),
        remotes: [...new Set(socks.map((s) => s.remote))].slice(0, 10),
        peers,
        peersWithoutOwner,
        peersUnreadable,
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
  const pairs: { fw2: DoctorSocket; cw: DoctorSocket }[] = [];
  for (const s of fw2) {
    const p = ctx.peer(s);
    if (p !== undefined && p.state === 'CLOSE_WAIT') pairs.push({ fw2: s, cw: p });
  }
  const pidText = (s: DoctorSocket): string => {
    const o = holderOf(s);
    return o === null ? '-' : o === UNREADABLE ? '?' : String(o.pid);
  };
  for (const group of groupBy(pairs, (p) => `${pidText(p.fw2)} ${pidText(p.cw)}`).values()) {
    const first = group[0] as { fw2: DoctorSocket; cw: DoctorSocket };
    const a = holderOf(first.fw2);
    const b = holderOf(first.cw);
    const bText = b === null ? 'nobody (never accepted)' : b === UNREADABLE ? 'a process whose owner is unreadable' : processText(b);
    const aText = a === null ? 'an orphan (closed)' : a === UNREADABLE ? 'a process whose owner is unreadable' : processText(a);
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
