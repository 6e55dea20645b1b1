import type { DoctorSocket } from '../socket.js';
import { processText, type Finding } from '../finding.js';
import { UNREADABLE } from '../socket.js';
import type { ProcessRef } from '../watch.js';
import { canonical, cap, groupBy, holderOf, sideOf, holdersOf, isUnheld, isUnreadable, oldest, ownerRef, plural, seconds, ageText, split, uniqueProcesses, uniqueSorted, type Context } from './context.js';

/**
 * CLOSE_WAIT: the peer sent FIN and our kernel ACKed it (seed 001-e); only the application's
 * close() ends it. Who holds the socket says whose bug it is:
 * - a process: it never closed after EOF (002-f); Recv-Q >= 1 means the FIN is still unread, so
 *   it is not reading that socket at all; Recv-Q 0 means it (or another holder) read EOF and did
 *   not close;
 * - several processes (a descriptor inherited over fork()): no FIN goes until every one of them
 *   closes it (003-f), so one holder reading EOF and closing is not enough;
 * - no file at all (inode 0): the connection completed in the kernel and was never accept()ed
 *   (001-c); the listener's owner is the process to look at;
 * - a file, but no process the scan could read: same bug as the first case, owner unreadable.
 *
 * The accepted end of a connection to a listener here is grouped by local port; a connection the
 * process opened itself (no listener on its local port, which lies in ip_local_port_range) is
 * grouped by the service it points at, since its ephemeral port says nothing.
 */
export function closeWait(ctx: Context): Finding[] {
  const out: Finding[] = [];
  const cw = ctx.inState('CLOSE_WAIT');
  const held = cw.filter((s) => holdersOf(s).length > 0);
  const unknown = cw.filter(isUnreadable);
  const ownerless = cw.filter(isUnheld);
  const sideOfSocket = (s: DoctorSocket): 'server' | 'client' => sideOf(s, ctx.listeners, ctx.input.sysctls.ipLocalPortRange);

  const groups = groupBy(held, (s) => `${holdersOf(s).map((p) => p.pid).join(',')} ${sideOfSocket(s)}`);
  for (const socks of groups.values()) {
    const first = socks[0] as DoctorSocket;
    const holders = holdersOf(first);
    const process = holders[0] as ProcessRef;
    const side = sideOfSocket(first);
    const sharedCount = socks.filter((s) => s.holders !== undefined && holdersOf(s).length > 1).length;
    const eofUnread = socks.filter((s) => s.recvQ >= 1).length;
    const eofReadNotClosed = socks.length - eofUnread;
    const ports = side === 'server' ? uniqueSorted(socks.map((s) => split(s.local).port)) : [];
    const remoteCounts = [...groupBy(socks, (s) => canonical(s.remote))].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
    const remotes = side === 'client' ? remoteCounts.slice(0, 10).map(([r]) => r) : [];
    const peers = uniqueProcesses(
      socks.map((s) => {
        const p = ctx.peer(s);
        return p === undefined ? null : ownerRef(p);
      }),
    );
    const oldestSeenMs = oldest(ctx, socks);
    const alsoHeldBy = holders.slice(1);
    const who = holders.length > 1 ? holders.map(processText).join(' and ') : processText(process);
    const where =
      side === 'server'
        ? `port ${ports.join(', ')}`
        : `connections it opened to ${remotes.slice(0, 3).join(', ')}${remoteCounts.length > 3 ? ` and ${remoteCounts.length - 3} more` : ''}`;
    const how =
      eofReadNotClosed === 0
        ? `Recv-Q >= 1 on all: the EOF was never read (nobody reads these sockets)`
        : eofUnread === 0
          ? `Recv-Q 0 on all: the EOF was read and close() never called`
          : `${eofUnread} with Recv-Q >= 1 (EOF never read), ${eofReadNotClosed} with Recv-Q 0 (EOF read, close() never called)`;
    let advice: string;
    if (holders.length > 1) {
      advice =
        `${holders.map(processText).join(', ')} all hold these sockets (a descriptor inherited over fork() or passed over a Unix socket): ` +
        `the FIN goes only when every holder has closed its descriptor, so one of them closing after EOF is not enough. ` +
        `Close the inherited copy in the process that does not serve the connection (the parent right after fork(), or open it with O_CLOEXEC/SOCK_CLOEXEC before exec) (003-f), and close() on EOF in the one that does (002-i).`;
    } else if (side === 'client') {
      advice =
        eofReadNotClosed === 0
          ? `${who} keeps connections to ${remotes[0] ?? 'a service'} it no longer reads (an idle pool that never reads its idle sockets): the server closed them and the FIN sits unread; read idle connections and close() on EOF, or reap them with an idle timeout shorter than the server's (002-g, 003).`
          : `${who} sees the server ${remotes[0] ?? ''} close (read() returns 0, 'end' in Node) and never closes its end: close() / destroy() on EOF in every code path, including errors, and drop the connection from its pool (002-i, 002-j).`;
    } else {
      advice =
        eofReadNotClosed === 0
          ? `${who} stopped reading these connections (a stuck handler, a paused stream, a pool that never reads idle sockets): read them and close() when read() returns 0 / on 'end' (002-i), or reap idle connections with a timeout (002-g).`
          : eofUnread === 0
            ? `${who} sees EOF (read() returns 0, 'end' in Node) and never closes: call close() / destroy() on EOF in every code path, including errors (002-i, 002-j).`
            : `${who} both stops reading some connections and fails to close others after EOF: close() when read() returns 0 / on 'end' (002-i) and reap idle connections with a timeout (002-g).`;
    }
    const sharedText = holders.length > 1 ? `; shared by ${holders.length} processes: every holder must close it (003-f)` : '';
    out.push({
      id: 'close-wait-leak',
      severity: 'warning',
      title: `${who} ${holders.length > 1 ? 'hold' : 'holds'} ${plural(socks.length, 'CLOSE_WAIT socket')} ${holders.length > 1 ? 'they' : 'it'} never closed (${where}): ${how}${sharedText}${ageText(ctx, socks)}`,
      claim: '002-f',
      evidence: {
        process,
        side,
        count: socks.length,
        eofUnread,
        eofReadNotClosed,
        localPorts: ports,
        remotes,
        recvQBytes: socks.reduce((a, s) => a + s.recvQ, 0),
        peers,
        shared: sharedCount,
        alsoHeldBy,
        oldestSeenMs,
      },
      advice,
      sockets: cap(ctx, socks),
    });
  }

  if (unknown.length > 0) {
    const ports = uniqueSorted(unknown.map((s) => split(s.local).port));
    const eofUnread = unknown.filter((s) => s.recvQ >= 1).length;
    const why = !ctx.input.ownersScanned
      ? 'owners were not scanned'
      : ctx.input.unreadablePids > 0
        ? `owner unreadable: held by a process this user cannot read (${plural(ctx.input.unreadablePids, 'process', 'processes')} unreadable)`
        : 'owner unreadable: held by a file no scanned process has (the process exited during the scan, or lives in another network namespace)';
    const oldestSeenMs = oldest(ctx, unknown);
    out.push({
      id: 'close-wait-owner-unknown',
      severity: 'warning',
      title: `${plural(unknown.length, 'CLOSE_WAIT socket')} on port ${ports.join(', ')} held by a descriptor and never closed: ${why}${ageText(ctx, unknown)}`,
      claim: '002-f',
      evidence: {
        count: unknown.length,
        eofUnread,
        eofReadNotClosed: unknown.length - eofUnread,
        localPorts: ports,
        unreadablePids: ctx.input.unreadablePids,
        ownersScanned: ctx.input.ownersScanned,
        oldestSeenMs,
      },
      advice: ctx.input.ownersScanned
        ? 'Run as root (or with CAP_SYS_PTRACE) to name the process, then make it close() on EOF (002-i).'
        : 'Scan owners (drop --no-owners) to name the process, then make it close() on EOF (002-i).',
      sockets: cap(ctx, unknown),
    });
  }

  const counters = ctx.input.counters;
  for (const [listener, socks] of groupBy(ownerless, (s) => ctx.listeners.find(s.local))) {
    const ports = uniqueSorted(socks.map((s) => split(s.local).port));
    const listenerOwner = listener === undefined ? null : holderOf(listener);
    const listenerText = listenerOwner === null ? 'the listening process' : listenerOwner === UNREADABLE ? 'the listening process (owner unreadable: run as root to name it)' : processText(listenerOwner);
    const waitingEstablished =
      listener === undefined
        ? 0
        : ctx.inState('ESTABLISHED').filter((s) => s.inode === 0 && ctx.listeners.find(s.local) === listener).length;
    const backlog = listener !== undefined && listener.sendQ > 0 ? listener.sendQ : null;
    const oldestSeenMs = oldest(ctx, socks);
    const where = listener === undefined ? `port ${ports.join(', ')} (no listener seen)` : `listener ${listener.local} (${processText(listenerOwner)})`;
    const queue =
      listener === undefined ? '' : `; accept queue ${listener.recvQ}${backlog === null ? ' (backlog unknown from /proc/net/tcp)' : ` of backlog ${backlog}`}`;
    out.push({
      id: 'never-accepted',
      severity: 'warning',
      title: `${where} never accepted ${plural(socks.length, 'connection')} ${socks.length === 1 ? 'its peer' : 'their peers'} already closed: CLOSE_WAIT, no owner, Recv-Q ${uniqueSorted(socks.map((s) => s.recvQ)).join('/')}${queue}${ageText(ctx, socks)}`,
      claim: '001-c',
      evidence: {
        listener: listener?.local ?? null,
        listenerOwner,
        count: socks.length,
        waitingEstablished,
        acceptQueue: listener?.recvQ ?? null,
        backlog,
        somaxconn: ctx.input.sysctls.somaxconn,
        recvQ: socks.map((s) => s.recvQ),
        localPorts: ports,
        listenOverflows: counters?.TcpExt?.ListenOverflows ?? null,
        oldestSeenMs,
      },
      advice: `${listenerText.charAt(0).toUpperCase()}${listenerText.slice(1)} is not calling accept(): a stalled event loop, EMFILE (check ulimit -n against its open descriptors) or a full backlog; unblock it and these go when it accepts and closes them, or when it exits (001-d, 001-f).`,
      sockets: cap(ctx, listener === undefined ? socks : [listener, ...socks]),
    });
  }
  return out;
}

/** Listeners with connections waiting for accept(): info while the queue has room, critical when full. */
export function acceptQueues(ctx: Context): Finding[] {
  const out: Finding[] = [];
  for (const l of ctx.inState('LISTEN')) {
    if (l.recvQ === 0) continue;
    const backlog = l.sendQ > 0 ? l.sendQ : null;
    // sk_acceptq_is_full(): full when the queue holds more than the backlog (backlog + 1 fit).
    const full = backlog !== null && l.recvQ > backlog;
    const owner = holderOf(l);
    out.push({
      id: 'accept-queue',
      severity: full ? 'critical' : 'info',
      title: `listener ${l.local} (${processText(owner)}) has ${plural(l.recvQ, 'connection')} waiting for accept()${backlog === null ? '' : ` of backlog ${backlog}`}${full ? ': full, new handshakes are dropped' : ''}`,
      claim: '001-a',
      evidence: { listener: l.local, listenerOwner: owner, acceptQueue: l.recvQ, backlog, somaxconn: ctx.input.sysctls.somaxconn, full },
      advice: full
        ? `${processText(owner)} accepts slower than connections arrive: find what blocks its accept loop (event loop stalls, EMFILE) and raise its listen() backlog (capped by net.core.somaxconn).`
        : `If this persists across scans (--watch), ${processText(owner)} is not calling accept(): check its event loop and descriptor limit.`,
      sockets: [l],
    });
  }
  return out;
}

/** Trends of a watch: a CLOSE_WAIT count that only grows is a leak (seed 002-f). */
export function trends(ctx: Context): Finding[] {
  const w = ctx.input.watch;
  if (w === undefined) return [];
  const out: Finding[] = [];
  for (const tr of w.closeWait) {
    if (!tr.growing) continue;
    const owner = tr.owner;
    const who = owner === null ? 'no owner (never accepted)' : processText(owner);
    const socks = ctx
      .inState('CLOSE_WAIT')
      .filter((s) => (owner === null ? isUnheld(s) : owner === UNREADABLE ? isUnreadable(s) : holdersOf(s)[0]?.pid === owner.pid));
    out.push({
      id: 'close-wait-growing',
      severity: 'warning',
      title: `CLOSE_WAIT held by ${who} only grows: ${tr.series.join(' → ')} over ${seconds(w.spanMs)}: a leak`,
      claim: '002-f',
      evidence: { owner: tr.owner, ownerless: tr.ownerless, series: tr.series, spanMs: w.spanMs },
      advice: tr.ownerless
        ? 'Connections keep arriving and are never accepted: the listening process is stalled or out of descriptors (001-f).'
        : `Every connection ${who} serves ends in CLOSE_WAIT: close() on EOF in every code path (002-i).`,
      sockets: cap(ctx, socks),
    });
  }
  return out;
}
