import { readTcpTables, socketOwners, toObservation } from '../../proc/index.js';
import { tupleKey } from '../../tcp/address.js';
import type { TcpState } from '../../tcp/state.js';
import type { ObservedSocket, Snapshot } from '../trace.js';
import type { HeldSocket } from './protocol.js';

/**
 * Names the scenario's sockets as they come and go: a connection keeps the name it had while a
 * process held it (so an orphaned FIN_WAIT2 is still `c`), and an end nobody named is `~x`, the
 * far end of `x`.
 */
export class SocketNames {
  readonly #byTuple = new Map<string, string>();
  readonly #listeners = new Map<string, string>();
  /** Sockets with a local address and no peer yet (SYN_SENT: getpeername() says ENOTCONN). */
  readonly #unconnected = new Map<string, string>();
  /** Name → `ip:port` of the socket's local end. */
  readonly addresses: Record<string, string> = {};
  /** Name → `ip:port` of the socket's peer, for connected sockets. */
  readonly remotes: Record<string, string> = {};

  learn(held: readonly HeldSocket[]): void {
    for (const h of held) {
      if (h.local) this.addresses[h.name] = h.local;
      if (h.remote) this.remotes[h.name] = h.remote;
      if (h.local && h.remote) this.#byTuple.set(tupleKey(h.local, h.remote), h.name);
      else if (h.local && h.state === 'LISTEN') this.#listeners.set(h.local, h.name);
      else if (h.local) this.#unconnected.set(h.local, h.name);
    }
  }

  label(local: string, remote: string, state: TcpState): string {
    if (state === 'LISTEN') return this.#listeners.get(local) ?? `listener ${local}`;
    const own = this.#byTuple.get(tupleKey(local, remote));
    if (own) return own;
    const far = this.#byTuple.get(tupleKey(remote, local));
    return far ? `~${far}` : (this.#unconnected.get(local) ?? tupleKey(local, remote));
  }
}

export interface ObserveContext {
  /** A pid inside the scenario's namespace whose /proc/PID/net tables are read; null = host tables. */
  netnsPid: number | null;
  /**
   * In the host namespace: only sockets with one of these endpoints (`ip:port`, local or remote)
   * belong to the scenario. Whole endpoints, not ports: another program's socket may well use the
   * same port number on another loopback address.
   */
  endpoints: Set<string> | null;
  actorsByPid: Map<number, string>;
  names: SocketNames;
  /** performance.now() at which the steps began: snapshot times count from it (monotonic, unlike Date.now()). */
  startedAt: number;
}

/**
 * One picture of every socket of the scenario: the kernel's table (state, queues, timer) joined
 * with who holds each socket (/proc/PID/fd), plus sockets a peer still holds that have left the
 * table (state CLOSE, from TCP_INFO).
 */
export async function observe(ctx: ObserveContext, held: Map<string, HeldSocket[]>): Promise<Snapshot> {
  const atMs = Math.round(performance.now() - ctx.startedAt);
  const allHeld = [...held.values()].flat();
  ctx.names.learn(allHeld);
  let rows = await readTcpTables(ctx.netnsPid !== null ? { pid: ctx.netnsPid } : {});
  if (ctx.endpoints) {
    const endpoints = ctx.endpoints;
    rows = rows.filter((r) => endpoints.has(r.local) || endpoints.has(r.remote));
  }
  const inodes = new Set(rows.map((r) => r.inode).filter((i) => i !== 0));
  for (const h of allHeld) inodes.add(h.inode);
  const scan = await socketOwners({ inodes, ...(ctx.netnsPid !== null ? { netnsOf: ctx.netnsPid } : {}) });
  const sockets: ObservedSocket[] = [];
  const seenInodes = new Set<number>();
  for (const row of rows) {
    const obs = toObservation(row, scan.owners);
    const holders = (row.inode !== 0 ? scan.owners.get(row.inode) : undefined) ?? [];
    if (row.inode !== 0) seenInodes.add(row.inode);
    const heldSock = allHeld.find((h) => h.inode === row.inode && row.inode !== 0);
    if (row.state === 'LISTEN' && heldSock?.backlog !== undefined) obs.sendQ = heldSock.backlog;
    sockets.push({
      ...obs,
      label: ctx.names.label(row.local, row.remote, row.state),
      actor: actorOf(obs.owner?.pid, ctx),
      holders,
      inTable: true,
    });
  }
  for (const [actor, list] of held) {
    for (const h of list) {
      if (seenInodes.has(h.inode) || h.state === null) continue;
      seenInodes.add(h.inode);
      const holders = scan.owners.get(h.inode) ?? [];
      sockets.push({
        local: h.local ?? '-',
        remote: h.remote ?? '-',
        state: h.state,
        recvQ: 0,
        sendQ: 0,
        owner: holders[0] ?? null,
        inode: h.inode,
        timer: { kind: 'none', remainingMs: 0, retransmits: 0 },
        label: h.name,
        actor,
        holders,
        inTable: false,
      });
    }
  }
  // Code-point order, not locale order: the same picture must print the same everywhere.
  sockets.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return { atMs, sockets };
}

function actorOf(pid: number | undefined, ctx: ObserveContext): string | null {
  return pid === undefined ? null : (ctx.actorsByPid.get(pid) ?? null);
}

