import type { SocketObservation, SocketOwner } from '../tcp/observation.js';
import { scanSocketFds, scanSocketFdsSync, type FdScan, type FdScanOptions } from './fd-scan.js';
import { readTcpTables, readTcpTablesSync, type ReadTcpTablesOptions, type TcpRow } from './tcp-table.js';

/** Options of {@link socketOwners} and {@link socketOwnersSync}. */
export interface SocketOwnersOptions {
  /** Where procfs is mounted; a fixture tree in tests. Default `/proc`. */
  root?: string;
  /** Only report these socket inodes (others are skipped without reading `comm`). */
  inodes?: ReadonlySet<number>;
  /**
   * Only scan processes in the network namespace of this pid: those whose `ROOT/PID/ns/net` link
   * reads the same as `ROOT/<netnsOf>/ns/net`. Socket inodes are unique per host, so this is a
   * speed-up and a filter, not needed for correctness; it misses a process that created a socket
   * and then moved to another namespace (`setns`), since a socket stays in the namespace it was
   * created in. Ignored when that pid's namespace link may not be read (EACCES).
   */
  netnsOf?: number;
}

/**
 * What a scan of `/proc/PID/fd` found.
 *
 * A scan races with the processes it reads: they exit and close descriptors meanwhile, and
 * without root (or CAP_SYS_PTRACE) other users' descriptors cannot be read (nor, even as root,
 * those of a process the kernel's ptrace checks shield, such as a container's init seen from
 * inside). Neither is an error; both are counted here so a caller can say "owners unknown for N
 * processes".
 */
export interface SocketOwnerScan {
  /**
   * Socket inode → every descriptor holding it, ordered by pid, then fd. A socket shared after
   * `fork()` or passed over a Unix socket has several holders.
   */
  owners: Map<number, SocketOwner[]>;
  /** Processes whose descriptor table was read. */
  scannedPids: number;
  /** Processes skipped because reading them failed with `EACCES` or `EPERM`. */
  unreadablePids: number;
  /** Processes that exited during the scan (`ENOENT`, `ESRCH`); they own nothing any more. */
  vanishedPids: number;
}

/**
 * The inode of a `socket:[12345]` link target, or -1 for any other target (files, pipes,
 * `anon_inode:[eventpoll]`, …).
 */
export function socketInodeOfLink(target: string): number {
  // "socket:[" = 8 chars
  if (target.length < 10 || target.charCodeAt(0) !== 115 /* s */ || !target.startsWith('socket:[')) return -1;
  let v = 0;
  const last = target.length - 1;
  if (target.charCodeAt(last) !== 93 /* ] */) return -1;
  for (let i = 8; i < last; i++) {
    const d = target.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return last > 8 ? v : -1;
}

/**
 * Maps socket inodes to the processes holding them, by reading every `ROOT/PID/fd/*` link
 * (`readlink` only, no `stat`) and keeping those that read `socket:[INODE]`; the command is
 * `ROOT/PID/comm`, read only for processes that hold a wanted socket. This is what `ss -p` and
 * `lsof -i` do.
 *
 * Processes that exit mid-scan and, without root, other users' processes are skipped and counted
 * (see {@link SocketOwnerScan}); a descriptor closed mid-scan is skipped silently.
 *
 * The scan is fd-scan.ts's `scanSocketFds()` (the one readSocketSnapshot() uses), split over the
 * helper threads so the event loop stays free; {@link socketOwnersSync} does the same on the
 * calling thread. This is its result as an inode → holders map.
 *
 * @throws Node's fs error when `ROOT` itself cannot be listed, or when `netnsOf`'s namespace link
 *   cannot be read (other than EACCES, which drops the namespace filter); SysError for any error
 *   other than ENOENT/ESRCH/EACCES/EPERM met on one process.
 */
export async function socketOwners(opts?: SocketOwnersOptions): Promise<SocketOwnerScan> {
  if (opts?.inodes !== undefined && opts.inodes.size === 0) return emptyScan();
  return ownerScanOf(await scanSocketFds(fdScanOptions(opts)));
}

/** Synchronous {@link socketOwners}: same options, result and errors. */
export function socketOwnersSync(opts?: SocketOwnersOptions): SocketOwnerScan {
  if (opts?.inodes !== undefined && opts.inodes.size === 0) return emptyScan();
  return ownerScanOf(scanSocketFdsSync(fdScanOptions(opts)));
}

function emptyScan(): SocketOwnerScan {
  return { owners: new Map(), scannedPids: 0, unreadablePids: 0, vanishedPids: 0 };
}

function fdScanOptions(opts: SocketOwnersOptions | undefined): FdScanOptions {
  const o: FdScanOptions = {};
  if (opts?.root !== undefined) o.root = opts.root;
  if (opts?.inodes !== undefined) o.inodes = opts.inodes;
  if (opts?.netnsOf !== undefined) o.netnsOf = opts.netnsOf;
  return o;
}

/** The scan's (inode, pid, fd) triplets, already in pid then fd order, as inode → holders. */
function ownerScanOf(scan: FdScan): SocketOwnerScan {
  const owners = new Map<number, SocketOwner[]>();
  for (let i = 0; i < scan.count; i++) {
    const inode = scan.inodes[i] as number;
    const pid = scan.pids[i] as number;
    const owner: SocketOwner = { pid, command: scan.commands.get(pid) ?? '', fd: scan.fds[i] as number };
    const list = owners.get(inode);
    if (list === undefined) owners.set(inode, [owner]);
    else list.push(owner);
  }
  return { owners, scannedPids: scan.scannedPids, unreadablePids: scan.unreadablePids, vanishedPids: scan.vanishedPids };
}

/**
 * One {@link TcpRow} as the shared {@link SocketObservation}: `owner` is the first holder of the
 * row's inode (lowest pid, then lowest fd), or `null` when the inode is 0 (TIME_WAIT, SYN_RECV,
 * orphaned, not yet accepted) or no scanned process holds it.
 */
export function toObservation(row: TcpRow, owners: ReadonlyMap<number, readonly SocketOwner[]>): SocketObservation {
  const holder = row.inode === 0 ? undefined : owners.get(row.inode)?.[0];
  return {
    local: row.local,
    remote: row.remote,
    state: row.state,
    recvQ: row.recvQ,
    sendQ: row.sendQ,
    owner: holder === undefined ? null : { pid: holder.pid, command: holder.command, fd: holder.fd },
    inode: row.inode,
    timer: { kind: row.timer.kind, remainingMs: row.timer.remainingMs, retransmits: row.timer.retransmits },
  };
}

/** What {@link readSocketObservations} returns. */
export interface SocketSnapshot {
  /** One per table row, IPv4 first, in the kernel's order. */
  observations: SocketObservation[];
  /** From the owner scan: processes that could not be read (EACCES/EPERM); their sockets show `owner: null`. */
  unreadablePids: number;
  /** From the owner scan: processes that exited while it ran. */
  vanishedPids: number;
}

/**
 * Tables plus owners in one call: {@link readTcpTables}, then {@link socketOwners} for the rows'
 * inodes (restricted to the namespace of `opts.pid` when given), then {@link toObservation}.
 * The two reads are not atomic: a socket closed in between keeps its row and gets `owner: null`.
 *
 * @throws as {@link readTcpTables} and {@link socketOwners} do.
 */
export async function readSocketObservations(opts?: ReadTcpTablesOptions): Promise<SocketSnapshot> {
  const rows = await readTcpTables(opts);
  const scan = await socketOwners(ownerOptions(opts, rows));
  return { observations: rows.map((r) => toObservation(r, scan.owners)), unreadablePids: scan.unreadablePids, vanishedPids: scan.vanishedPids };
}

/** Synchronous {@link readSocketObservations}. */
export function readSocketObservationsSync(opts?: ReadTcpTablesOptions): SocketSnapshot {
  const rows = readTcpTablesSync(opts);
  const scan = socketOwnersSync(ownerOptions(opts, rows));
  return { observations: rows.map((r) => toObservation(r, scan.owners)), unreadablePids: scan.unreadablePids, vanishedPids: scan.vanishedPids };
}

function ownerOptions(opts: ReadTcpTablesOptions | undefined, rows: readonly TcpRow[]): SocketOwnersOptions {
  const inodes = new Set<number>();
  for (const r of rows) if (r.inode !== 0) inodes.add(r.inode);
  const o: SocketOwnersOptions = { inodes };
  if (opts?.root !== undefined) o.root = opts.root;
  if (opts?.pid !== undefined) o.netnsOf = opts.pid;
  return o;
}
