import { readFileSync, readdirSync, readlinkSync, type Dirent } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';

import type { SocketObservation, SocketOwner } from '../tcp/observation.js';
import { helper } from './helper.js';
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
   * created in.
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

type Outcome = 'ok' | 'vanished' | 'unreadable' | 'skipped';

function errCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Classifies an error met while reading one process; rethrows anything unexpected. */
function classify(err: unknown): Outcome {
  const code = errCode(err);
  if (code === 'ENOENT' || code === 'ESRCH') return 'vanished';
  if (code === 'EACCES' || code === 'EPERM') return 'unreadable';
  throw err;
}

function isPidName(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > 10) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
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

function normRoot(root: string | undefined): string {
  const r = root ?? '/proc';
  return r.length > 1 && r.endsWith('/') ? r.slice(0, -1) : r;
}

function sortNumeric(names: string[]): number[] {
  const out = new Array<number>(names.length);
  let sorted = true;
  for (let i = 0; i < names.length; i++) {
    out[i] = Number(names[i]);
    if (i > 0 && (out[i] as number) < (out[i - 1] as number)) sorted = false;
  }
  if (!sorted) out.sort((a, b) => a - b);
  return out;
}

/** Numeric directory names of ROOT, ascending. procfs lists only thread-group leaders there, so threads are skipped by construction. */
function pidsOf(entries: Dirent[]): number[] {
  const names: string[] = [];
  for (const e of entries) if (isPidName(e.name) && (e.isDirectory() || e.isSymbolicLink())) names.push(e.name);
  return sortNumeric(names);
}

function fdsOf(names: string[]): number[] {
  const keep: string[] = [];
  for (const n of names) if (isPidName(n)) keep.push(n);
  return sortNumeric(keep);
}

/** `comm` without its trailing newline. */
function commandOf(raw: string): string {
  return raw.endsWith('\n') ? raw.slice(0, -1) : raw;
}

function add(owners: Map<number, SocketOwner[]>, inode: number, owner: SocketOwner): void {
  const list = owners.get(inode);
  if (list === undefined) owners.set(inode, [owner]);
  else list.push(owner);
}

function tally(scan: SocketOwnerScan, outcome: Outcome): void {
  if (outcome === 'ok') scan.scannedPids++;
  else if (outcome === 'vanished') scan.vanishedPids++;
  else if (outcome === 'unreadable') scan.unreadablePids++;
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
 * The scan runs on a helper thread (one `readlink` per descriptor, 20 000 descriptors take a
 * quarter of a second of system time), so the event loop stays free; {@link socketOwnersSync}
 * does the same on the calling thread.
 *
 * @throws Node's fs error when `ROOT` itself cannot be listed, or when `netnsOf`'s namespace link
 *   cannot be read; any error other than ENOENT/ESRCH/EACCES/EPERM met on one process.
 */
export async function socketOwners(opts?: SocketOwnersOptions): Promise<SocketOwnerScan> {
  if (opts?.inodes !== undefined && opts.inodes.size === 0) return { owners: new Map(), scannedPids: 0, unreadablePids: 0, vanishedPids: 0 };
  const viaHelper = helper('owners', opts ?? {});
  if (viaHelper !== undefined) return (await viaHelper) as SocketOwnerScan;
  return socketOwnersOnThisThread(opts);
}

/** socketOwners with fs.promises, for when no helper thread can be started. */
async function socketOwnersOnThisThread(opts?: SocketOwnersOptions): Promise<SocketOwnerScan> {
  const root = normRoot(opts?.root);
  const inodes = opts?.inodes;
  const wantNs = opts?.netnsOf === undefined ? undefined : await readlink(`${root}/${opts.netnsOf}/ns/net`);
  const pids = pidsOf(await readdir(root, { withFileTypes: true }));
  const scan: SocketOwnerScan = { owners: new Map(), scannedPids: 0, unreadablePids: 0, vanishedPids: 0 };
  // Results per pid index, merged in pid order at the end so owner lists are ordered.
  const found = new Array<Held | undefined>(pids.length);

  const scanPid = async (index: number): Promise<Outcome> => {
    const pid = pids[index] as number;
    const dir = `${root}/${pid}`;
    try {
      if (wantNs !== undefined && (await readlink(`${dir}/ns/net`)) !== wantNs) return 'skipped';
      const fds = fdsOf(await readdir(`${dir}/fd`));
      const links = await Promise.all(fds.map((fd) => readlink(`${dir}/fd/${fd}`).catch(closedFd)));
      let held: { inode: number; fd: number }[] | undefined;
      for (let i = 0; i < fds.length; i++) {
        const link = links[i];
        if (link === undefined) continue;
        const inode = socketInodeOfLink(link);
        if (inode < 0 || (inodes !== undefined && !inodes.has(inode))) continue;
        (held ??= []).push({ inode, fd: fds[i] as number });
      }
      if (held !== undefined) found[index] = { command: commandOf(await readFile(`${dir}/comm`, 'utf8')), held };
      return 'ok';
    } catch (err) {
      return classify(err);
    }
  };

  // A few processes at a time: each already fans out one readlink per descriptor.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pids.length) tally(scan, await scanPid(next++));
  };
  await Promise.all(Array.from({ length: Math.min(8, pids.length) }, worker));

  for (let i = 0; i < pids.length; i++) {
    const f = found[i];
    if (f === undefined) continue;
    for (const h of f.held) add(scan.owners, h.inode, { pid: pids[i] as number, command: f.command, fd: h.fd });
  }
  return scan;
}

interface Held {
  command: string;
  held: { inode: number; fd: number }[];
}

function closedFd(err: unknown): undefined {
  const code = errCode(err);
  if (code === 'ENOENT' || code === 'EINVAL') return undefined; // closed meanwhile / not a link
  throw err;
}

/** Synchronous {@link socketOwners}: same options, result and errors; usually faster. */
export function socketOwnersSync(opts?: SocketOwnersOptions): SocketOwnerScan {
  const root = normRoot(opts?.root);
  const inodes = opts?.inodes;
  if (inodes !== undefined && inodes.size === 0) return { owners: new Map(), scannedPids: 0, unreadablePids: 0, vanishedPids: 0 };
  const wantNs = opts?.netnsOf === undefined ? undefined : readlinkSync(`${root}/${opts.netnsOf}/ns/net`);
  const pids = pidsOf(readdirSync(root, { withFileTypes: true }));
  const scan: SocketOwnerScan = { owners: new Map(), scannedPids: 0, unreadablePids: 0, vanishedPids: 0 };

  for (const pid of pids) {
    const dir = `${root}/${pid}`;
    let outcome: Outcome;
    try {
      if (wantNs !== undefined && readlinkSync(`${dir}/ns/net`) !== wantNs) continue;
      const fds = fdsOf(readdirSync(`${dir}/fd`));
      let mine: { inode: number; fd: number }[] | undefined;
      for (const fd of fds) {
        let link: string;
        try {
          link = readlinkSync(`${dir}/fd/${fd}`);
        } catch (err) {
          closedFd(err); // rethrows anything but "closed meanwhile"
          continue;
        }
        const inode = socketInodeOfLink(link);
        if (inode < 0 || (inodes !== undefined && !inodes.has(inode))) continue;
        (mine ??= []).push({ inode, fd });
      }
      if (mine !== undefined) {
        const command = commandOf(readFileSync(`${dir}/comm`, 'utf8'));
        for (const m of mine) add(scan.owners, m.inode, { pid, command, fd: m.fd });
      }
      outcome = 'ok';
    } catch (err) {
      outcome = classify(err);
    }
    tally(scan, outcome);
  }
  return scan;
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
