import type { SocketObservation, SocketOwner } from '../tcp/observation.js';
import type { TcpState } from '../tcp/state.js';
import { scanSocketFds, type FdScan } from './fd-scan.js';
import { OBSERVATIONS, readTcpEntries, type TcpRowSource } from './sock-diag.js';

/** Options of {@link readSocketSnapshot}. Every field is optional; `{}` means "every TCP socket, with owners". */
export interface ReadSocketSnapshotOptions {
  /**
   * Only sockets in these states (RFC 9293 / kernel names, `'CLOSE_WAIT'`). Over netlink the
   * kernel applies the filter while it walks its tables (`idiag_states`, as `ss state
   * close-wait` does); over /proc it is applied to the parsed rows. Default: every state
   * /proc/net/tcp shows. Request sockets are `SYN_RECV`.
   */
  states?: readonly TcpState[];
  /**
   * Find each socket's owning process by reading `/proc/PID/fd/*` (default true). The scan is
   * skipped when no kept row has an inode, and limited to the kept rows' inodes when a state or
   * port filter is given.
   */
  owners?: boolean;
  /** Only sockets whose local or remote port is one of these (ss's `sport = :P or dport = :P`). */
  ports?: readonly number[];
  /**
   * Where rows come from: `'netlink'` (NETLINK_SOCK_DIAG, what `ss` reads), `'proc'`
   * (`/proc/net/tcp{,6}`), or `'auto'` (default): netlink, falling back to /proc when netlink is
   * unavailable (EPERM, EPROTONOSUPPORT …, see `isNetlinkUnavailable`) or `root` is a fixture.
   */
  source?: 'auto' | 'netlink' | 'proc';
  /**
   * Read the network namespace process `pid` is in, and look for owners only among the
   * processes in that namespace. Over netlink this enters the namespace with setns() for the
   * socket() call (CAP_SYS_ADMIN); without that capability `'auto'` reads `/proc/PID/net/tcp{,6}`.
   */
  pid?: number;
  /** Which families, IPv4 first by default (`[4, 6]`). */
  families?: readonly (4 | 6)[];
  /** Where procfs is mounted (a fixture tree in tests). Default `/proc`; anything else reads /proc text only. */
  root?: string;
  /** Helper threads for the owner scan, 0 … HELPER_LANES (default: all; 0 scans on this thread). */
  threads?: number;
}

/** What {@link readSocketSnapshot} returns. */
export interface SocketSnapshotResult {
  /**
   * One per socket, IPv4 first; within a family listeners first, then the established hash
   * (TIME_WAIT and request sockets included), in the kernel's bucket order. Shape and units:
   * {@link SocketObservation} (`recvQ`/`sendQ` bytes; on LISTEN accept-queue length and backlog
   * — the backlog only over netlink, 0 over /proc; `timer.remainingMs` ms).
   */
  sockets: SocketObservation[];
  /** Where the rows came from. */
  source: TcpRowSource;
  /** Why `'auto'` did not use netlink (the error's message), when it did not. */
  fallback?: string;
  /** Whether owners were looked for (false with `owners: false`, or when no kept row had an inode). */
  ownersScanned: boolean;
  /** Processes whose descriptor table was read. */
  scannedPids: number;
  /**
   * Processes whose `/proc/PID/fd` could not be read (EACCES/EPERM: not root, or shielded by
   * ptrace checks). Their sockets show `owner: null` although a descriptor holds them; tell them
   * from unowned sockets by `inode` (0 = no file holds it).
   */
  unreadablePids: number;
  /** Processes that exited while the scan ran. */
  vanishedPids: number;
  /**
   * Sockets held by more than one descriptor (inherited over fork(), passed over a Unix socket,
   * dup()ed): inode → every holder, by pid then fd. `owner` is the first of them. A close() in
   * one holder does not send a FIN while another holds the socket.
   */
  sharedHolders: Map<number, SocketOwner[]>;
  /** When the snapshot started, ms since the epoch. */
  takenAtMs: number;
  /** How long it took, ms (0.1 ms resolution). */
  tookMs: number;
}

/**
 * The doctor's fast view of a machine's TCP sockets: rows from sock_diag (or /proc), filtered by
 * state and port, with their owners from a parallel `/proc/PID/fd` scan.
 *
 * How it is fast (bench/doctor.ts measures it against `ss`): the state filter runs in the kernel;
 * rows are built from fixed offsets of the binary answer; the owner scan runs on the helper
 * threads, each descriptor one readlinkat() with no allocation, and — when nothing is filtered —
 * while this thread is still reading the table. When a filter is given the scan waits for the
 * rows, looks only for their inodes, and is skipped when no row has one.
 *
 * Not atomic: sockets opened or closed between the table read and the scan show up without an
 * owner (`owner: null`) or not at all.
 *
 * Blocks the calling thread for the table read (netlink or /proc; ~10 ms for a filtered query
 * on a host with 100 000 sockets, ~0.2 s for all of them); the owner scan does not block it.
 *
 * @throws SysError from netlink with `source: 'netlink'`, or for a netlink failure that is not
 *   "unavailable"; Node's fs error / ProcParseError from the /proc path; Node's fs error when
 *   `root` cannot be listed or `pid` is gone; RangeError for a bad option.
 */
export async function readSocketSnapshot(opts: ReadSocketSnapshotOptions = {}): Promise<SocketSnapshotResult> {
  // process.hrtime (CLOCK_MONOTONIC), not performance.now(), which would load perf_hooks: ~1 ms of
  // a one-shot `teardown ss`.
  const started = monotonicMs();
  const takenAtMs = Date.now();
  const wantOwners = opts.owners !== false;
  const filtered = opts.states !== undefined || opts.ports !== undefined;
  const scanBase = { root: opts.root, netnsOf: opts.pid, threads: opts.threads };

  // Unfiltered: every socket's owner is wanted, so the scan starts now and runs on the helper
  // threads while this thread reads the table.
  let early: Promise<FdScan> | undefined;
  if (wantOwners && !filtered) early = scanSocketFds(scanBase);
  let table: ReturnType<typeof readTcpEntries<SocketObservation>>;
  try {
    table = readTcpEntries(opts, OBSERVATIONS);
  } catch (err) {
    early?.catch(() => undefined); // its own failure would say nothing new
    throw err;
  }
  const { entries: sockets, source, fallback } = table;

  let scan: FdScan | undefined;
  if (early !== undefined) scan = await early;
  else if (wantOwners) {
    const inodes: number[] = [];
    for (const o of sockets) if (o.inode !== 0) inodes.push(o.inode);
    if (inodes.length > 0) scan = await scanSocketFds({ ...scanBase, inodes });
  }

  const sharedHolders = new Map<number, SocketOwner[]>();
  if (scan !== undefined) join(sockets, scan, sharedHolders);
  const result: SocketSnapshotResult = {
    sockets,
    source,
    ownersScanned: scan !== undefined,
    scannedPids: scan?.scannedPids ?? 0,
    unreadablePids: scan?.unreadablePids ?? 0,
    vanishedPids: scan?.vanishedPids ?? 0,
    sharedHolders,
    takenAtMs,
    tookMs: Math.round((monotonicMs() - started) * 10) / 10,
  };
  if (fallback !== undefined) result.fallback = fallback;
  return result;
}

/**
 * Sets each socket's `owner` to the first holder of its inode (lowest pid, then fd: the scan's
 * order), and puts every holder of the shared ones into `shared`.
 */
function join(sockets: SocketObservation[], scan: FdScan, shared: Map<number, SocketOwner[]>): void {
  const first = firstHolders(scan);
  for (const o of sockets) {
    if (o.inode === 0) continue;
    const i = first.get(o.inode);
    if (i < 0) continue;
    const pid = scan.pids[i] as number;
    o.owner = { pid, command: scan.commands.get(pid) ?? '', fd: scan.fds[i] as number };
  }
  if (first.dupes === undefined) return;
  const inRows = new Set<number>();
  for (const o of sockets) if (first.dupes.has(o.inode)) inRows.add(o.inode);
  for (let i = 0; i < scan.count; i++) {
    const inode = scan.inodes[i] as number;
    if (!inRows.has(inode)) continue;
    const pid = scan.pids[i] as number;
    const owner: SocketOwner = { pid, command: scan.commands.get(pid) ?? '', fd: scan.fds[i] as number };
    const list = shared.get(inode);
    if (list === undefined) shared.set(inode, [owner]);
    else list.push(owner);
  }
}

/** inode -> index of its first triplet (-1: none), and the inodes seen more than once. */
interface FirstHolders {
  get(inode: number): number;
  dupes: Set<number> | undefined;
}

/**
 * Socket inodes come from get_next_ino(), a counter shared with pipes and other pseudo-files, so
 * one scan's inodes usually sit in a narrow range: then a typed array indexed by `inode − min`
 * is the index (one store and one load per socket, no hashing). A spread-out range (a host up for
 * years, the counter wrapped) falls back to a Map.
 */
function firstHolders(scan: FdScan): FirstHolders {
  let min = Infinity;
  let max = -1;
  for (let i = 0; i < scan.count; i++) {
    const v = scan.inodes[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  let dupes: Set<number> | undefined;
  const span = max - min + 1;
  if (scan.count > 0 && span <= Math.max(1 << 16, 8 * scan.count)) {
    const table = new Int32Array(span).fill(-1);
    for (let i = 0; i < scan.count; i++) {
      const k = (scan.inodes[i] as number) - min;
      if (table[k] === -1) table[k] = i;
      else (dupes ??= new Set()).add(k + min);
    }
    return { get: (inode) => (inode < min || inode > max ? -1 : (table[inode - min] as number)), dupes };
  }
  const map = new Map<number, number>();
  for (let i = 0; i < scan.count; i++) {
    const inode = scan.inodes[i] as number;
    if (!map.has(inode)) map.set(inode, i);
    else (dupes ??= new Set()).add(inode);
  }
  return { get: (inode) => map.get(inode) ?? -1, dupes };
}

function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
