import type { SocketObservation } from '../../tcp/observation.js';
import { processText, type Finding } from '../finding.js';
import type { ProcessRef } from '../watch.js';
import { cap, groupBy, oldest, ownerRef, peerOf, plural, seconds, seenText, split, uniqueProcesses, uniqueSorted, type Context } from './context.js';

/**
 * CLOSE_WAIT: the peer sent FIN and our kernel ACKed it (seed 001-e); only the application's
 * close() ends it. Who holds the socket says whose bug it is:
 * - a process: it never closed after EOF (002-f); Recv-Q >= 1 means the FIN is still unread, so
 *   it is not reading that socket at all; Recv-Q 0 means it read EOF and did not close;
 * - no file at all (inode 0): the connection completed in the kernel and was never accept()ed
 *   (001-c); the listener's owner is the process to look at;
 * - a file, but no process the scan could read: same bug as the first case, owner unknown.
 */
export function closeWait(ctx: Context): Finding[] {
  const out: Finding[] = [];
  const cw = ctx.input.sockets.filter((s) => s.state === 'CLOSE_WAIT');
  const held = cw.filter((s) => s.owner !== null);
  const unknown = cw.filter((s) => s.owner === null && s.inode !== 0);
  const ownerless = cw.filter((s) => s.owner === null && s.inode === 0);

  for (const socks of groupBy(held, (s) => (s.owner as { pid: number }).pid).values()) {
    const process = ownerRef(socks[0] as SocketObservation) as ProcessRef;
    const eofUnread = socks.filter((s) => s.recvQ >= 1).length;
    const eofReadNotClosed = socks.length - eofUnread;
    const ports = uniqueSorted(socks.map((s) => split(s.local).port));
    const peers = uniqueProcesses(socks.map((s) => {
      const p = peerOf(ctx, s);
      return p === undefined ? null : ownerRef(p);
    }));
    const oldestSeenMs = oldest(ctx, socks);
    const alsoHeldBy = uniqueProcesses(socks.flatMap((s) => (ctx.input.sharedHolders?.get(s.inode) ?? []).map((o) => ({ pid: o.pid, command: o.command })))).filter(
      (p) => p.pid !== process.pid,
    );
    const shared = alsoHeldBy.length === 0 ? '' : `; also held by ${alsoHeldBy.map(processText).join(', ')}: every holder must close it (003-f)`;
    const who = processText(process);
    const how =
      eofReadNotClosed === 0
        ? `Recv-Q >= 1 on all: it never read the EOF (it is not reading these sockets at all)`
        : eofUnread === 0
          ? `Recv-Q 0 on all: it read the EOF and never called close()`
          : `${eofUnread} with Recv-Q >= 1 (EOF never read: not reading at all), ${eofReadNotClosed} with Recv-Q 0 (EOF read, close() never called)`;
    const advice =
      eofReadNotClosed === 0
        ? `${who} stopped reading these connections (a stuck handler, a paused stream, a pool that never reads idle sockets): read them and close() when read() returns 0 / on 'end' (002-i), or reap idle connections with a timeout (002-g).`
        : eofUnread === 0
          ? `${who} sees EOF (read() returns 0, 'end' in Node) and never closes: call close() / destroy() on EOF in every code path, including errors (002-i, 002-j).`
          : `${who} both stops reading some connections and fails to close others after EOF: close() when read() returns 0 / on 'end' (002-i) and reap idle connections with a timeout (002-g).`;
    out.push({
      id: 'close-wait-leak',
      severity: 'warning',
      title: `${who} holds ${plural(socks.length, 'CLOSE_WAIT socket')} it never closed (port ${ports.join(', ')}): ${how}${shared}${seenText(oldestSeenMs)}`,
      claim: '002-f',
      evidence: { process, count: socks.length, eofUnread, eofReadNotClosed, localPorts: ports, recvQBytes: socks.reduce((a, s) => a + s.recvQ, 0), peers, alsoHeldBy, oldestSeenMs },
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
        ? `held by a process this user cannot read (${plural(ctx.input.unreadablePids, 'process', 'processes')} unreadable)`
        : 'held by a file no scanned process has (the process exited during the scan, or lives in another network namespace)';
    const oldestSeenMs = oldest(ctx, unknown);
    out.push({
      id: 'close-wait-owner-unknown',
      severity: 'warning',
      title: `${plural(unknown.length, 'CLOSE_WAIT socket')} on port ${ports.join(', ')} never closed by an unnamed process: ${why}${seenText(oldestSeenMs)}`,
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
    const listenerOwner = listener === undefined ? null : ownerRef(listener);
    const waitingEstablished =
      listener === undefined
        ? 0
        : ctx.input.sockets.filter((s) => s.state === 'ESTABLISHED' && s.inode === 0 && ctx.listeners.find(s.local) === listener).length;
    const backlog = listener !== undefined && listener.sendQ > 0 ? listener.sendQ : null;
    const oldestSeenMs = oldest(ctx, socks);
    const where = listener === undefined ? `port ${ports.join(', ')} (no listener seen)` : `listener ${listener.local} (${processText(listenerOwner)})`;
    const queue =
      listener === undefined ? '' : `; accept queue ${listener.recvQ}${backlog === null ? ' (backlog unknown from /proc/net/tcp)' : ` of backlog ${backlog}`}`;
    out.push({
      id: 'never-accepted',
      severity: 'warning',
      title: `${where} never accepted ${plural(socks.length, 'connection')} ${socks.length === 1 ? 'its peer' : 'their peers'} already closed: CLOSE_WAIT, no owner, Recv-Q ${uniqueSorted(socks.map((s) => s.recvQ)).join('/')}${queue}${seenText(oldestSeenMs)}`,
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
      advice: `${listenerOwner === null ? 'The listening process' : processText(listenerOwner)} is not calling accept(): a stalled event loop, EMFILE (check ulimit -n against its open descriptors) or a full backlog; unblock it and these go when it accepts and closes them, or when it exits (001-d, 001-f).`,
      sockets: cap(ctx, listener === undefined ? socks : [listener, ...socks]),
    });
  }
  return out;
}

/** Listeners with connections waiting for accept(): info while the queue has room, critical when full. */
export function acceptQueues(ctx: Context): Finding[] {
  const out: Finding[] = [];
  for (const l of ctx.input.sockets) {
    if (l.state !== 'LISTEN' || l.recvQ === 0) continue;
    const backlog = l.sendQ > 0 ? l.sendQ : null;
    // sk_acceptq_is_full(): full when the queue holds more than the backlog (backlog + 1 fit).
    const full = backlog !== null && l.recvQ > backlog;
    const owner = ownerRef(l);
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
    const who = tr.owner !== null ? processText(tr.owner) : tr.ownerless ? 'no owner (never accepted)' : 'an unnamed process';
    const socks = ctx.input.sockets.filter(
      (s) => s.state === 'CLOSE_WAIT' && (tr.owner !== null ? s.owner?.pid === tr.owner.pid : s.owner === null && (s.inode === 0) === tr.ownerless),
    );
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
