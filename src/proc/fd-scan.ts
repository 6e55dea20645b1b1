import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

import { closeDirRaw, getdentsRaw, HAVE_GETDENTS64, openDirRaw, readlinkAtRaw } from '../sys/fd-links.js';
import { SysError } from '../sys/errors.js';
import { errnoNumber } from '../tcp/errno.js';
import { helper, HELPER_LANES } from './helper.js';

/**
 * The owner scan behind readSocketSnapshot() and socketOwners(): which process holds which
 * socket, by reading every `/proc/PID/fd/N` link, as `ss -p` and `lsof -i` do, but split over the
 * helper threads.
 *
 * What it costs, measured on Linux 6.18 (2 cores) with 100 000 socket descriptors: readlink of a
 * `/proc/PID/fd/N` is ~3.5 µs of kernel time (path walk, tid_fd_revalidate(), d_path() of
 * "socket:[N]"), far more than the user-space side, so the only big lever is running it on
 * several cores. Per descriptor this allocates nothing: names come straight out of getdents64
 * records, links are read into one buffer and parsed as bytes, results go into typed arrays that
 * are transferred, not copied, back to the caller's thread.
 *
 * Work is shared through a queue of pids in a SharedArrayBuffer: each lane takes the next pid
 * with Atomics.add, so a process with 20 000 descriptors does not leave the other lanes idle.
 */

/** One lane's job (posted to a helper thread, or run here). */
export interface FdScanJob {
  /** procfs mount point without a trailing slash. */
  root: string;
  /** Int32Array over a SharedArrayBuffer: [next index, pid count, pid0, pid1, …] (pids ascending). */
  queue: SharedArrayBuffer;
  /** Sorted socket inodes to report (Uint32Array over a SharedArrayBuffer), or undefined for every socket. */
  wanted?: SharedArrayBuffer;
  /** Only processes whose `ns/net` link reads this. */
  netns?: string;
}

/** What one lane found: triplets in pid order (each lane takes pids in ascending order), then fd order. */
export interface FdScanPart {
  inodes: Uint32Array;
  pids: Uint32Array;
  fds: Uint32Array;
  /** Command (`comm`) of each pid that holds at least one reported socket. */
  commands: [number, string][];
  scanned: number;
  unreadable: number;
  vanished: number;
}

/** The whole scan's result, pids ascending, then fds ascending. */
export interface FdScan {
  /** Number of (inode, pid, fd) triplets. */
  count: number;
  inodes: Uint32Array;
  pids: Uint32Array;
  fds: Uint32Array;
  commands: Map<number, string>;
  /** Processes whose descriptor table was read. */
  scannedPids: number;
  /** Processes skipped with EACCES / EPERM (not root; ptrace checks). */
  unreadablePids: number;
  /** Processes that exited during the scan (ENOENT / ESRCH). */
  vanishedPids: number;
}

/** Options of {@link scanSocketFds}. */
export interface FdScanOptions {
  /** Where procfs is mounted (a fixture tree in tests). Default `/proc`. */
  root?: string;
  /** Only these socket inodes (others are skipped without reading `comm`); default every socket. */
  inodes?: Iterable<number>;
  /**
   * Only processes in the network namespace of this pid (see SocketOwnersOptions.netnsOf);
   * ignored when that namespace link may not be read (EACCES).
   */
  netnsOf?: number;
  /** Helper threads to use, 1 … HELPER_LANES (default all); 0 scans on the calling thread. */
  threads?: number;
}

const ENOENT = errnoNumber('ENOENT');
const ESRCH = errnoNumber('ESRCH');
const EACCES = errnoNumber('EACCES');
const EPERM = errnoNumber('EPERM');
const ENOTDIR = errnoNumber('ENOTDIR');
const EINVAL = errnoNumber('EINVAL');

// "socket:[" as bytes.
const SOCKET_PREFIX = [115, 111, 99, 107, 101, 116, 58, 91];

function normRoot(root: string | undefined): string {
  const r = root ?? '/proc';
  return r.length > 1 && r.endsWith('/') ? r.slice(0, -1) : r;
}

function isDigits(name: string): boolean {
  if (name.length === 0 || name.length > 10) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Pids under `root`, ascending. procfs lists only thread-group leaders there. */
function listPids(root: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) if (isDigits(e.name) && (e.isDirectory() || e.isSymbolicLink())) pids.push(Number(e.name));
  return pids.sort((a, b) => a - b);
}

function sortedInodes(inodes: Iterable<number>): Uint32Array {
  const list = Array.from(inodes);
  const sab = new SharedArrayBuffer(4 * list.length);
  const out = new Uint32Array(sab);
  for (let i = 0; i < list.length; i++) out[i] = list[i] as number;
  return out.sort();
}

function has(sorted: Uint32Array, v: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = sorted[mid] as number;
    if (m === v) return true;
    if (m < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Grows-by-doubling triplet store; one per lane. */
class Triplets {
  inodes: Uint32Array = new Uint32Array(1024);
  pids: Uint32Array = new Uint32Array(1024);
  fds: Uint32Array = new Uint32Array(1024);
  n = 0;
  push(inode: number, pid: number, fd: number): void {
    if (this.n === this.inodes.length) {
      const grow = (a: Uint32Array): Uint32Array => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.inodes = grow(this.inodes);
      this.pids = grow(this.pids);
      this.fds = grow(this.fds);
    }
    this.inodes[this.n] = inode;
    this.pids[this.n] = pid;
    this.fds[this.n] = fd;
    this.n++;
  }
  /** Sorts the triplets from `from` on by fd (a fixture directory lists names in hash order). */
  sortTailByFd(from: number): void {
    const idx = Array.from({ length: this.n - from }, (_, i) => from + i).sort((a, b) => (this.fds[a] as number) - (this.fds[b] as number));
    const ino = idx.map((i) => this.inodes[i] as number);
    const fd = idx.map((i) => this.fds[i] as number);
    for (let i = 0; i < idx.length; i++) {
      this.inodes[from + i] = ino[i] as number;
      this.fds[from + i] = fd[i] as number;
    }
  }
}

type Outcome = 'ok' | 'vanished' | 'unreadable' | 'skipped';

function outcomeOfErrno(errno: number, syscall: string, path: string): Outcome {
  if (errno === ENOENT || errno === ESRCH) return 'vanished';
  if (errno === EACCES || errno === EPERM) return 'unreadable';
  throw new SysError(syscall, errno, path);
}

function outcomeOfFsError(err: unknown): Outcome {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 'ENOENT' || code === 'ESRCH') return 'vanished';
  if (code === 'EACCES' || code === 'EPERM') return 'unreadable';
  throw err;
}

let useGetdents = HAVE_GETDENTS64;

/**
 * Lists descriptors with readdir instead of getdents64 on this thread (what architectures without
 * a known getdents64 number do), or back. For tests of that path; not exported by proc/index.ts.
 */
export function setGetdentsEnabled(on: boolean): void {
  useGetdents = on && HAVE_GETDENTS64;
}

// Per-thread scratch buffers: getdents records, one link target, one name.
const dents = Buffer.allocUnsafe(1 << 16);
const link = Buffer.allocUnsafe(64);
const nameBuf = Buffer.alloc(16);

/**
 * The inode of the link just read into `link` (length `n`) if it is `socket:[INODE]`, else -1.
 * Socket inodes come from get_next_ino(), an unsigned int, so they fit a Uint32Array.
 */
function socketInodeIn(n: number): number {
  if (n < 10 || link[n - 1] !== 93 /* ] */) return -1;
  for (let i = 0; i < 8; i++) if (link[i] !== SOCKET_PREFIX[i]) return -1;
  let v = 0;
  for (let i = 8; i < n - 1; i++) {
    const d = (link[i] as number) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Reads one fd link by name (NUL-terminated in `name`); records it if it is a wanted socket.
 * Returns 0, or the errno that makes the whole process unreadable (EACCES / EPERM: the ptrace
 * check on the link, which an open of the directory does not make).
 */
function visit(dirfd: number, name: Buffer, fd: number, pid: number, wanted: Uint32Array | undefined, out: Triplets, path: string): number {
  const n = readlinkAtRaw(dirfd, name, link);
  if (n < 0) {
    if (-n === ENOENT || -n === EINVAL) return 0; // closed since getdents listed it / not a link (fixtures)
    if (-n === EACCES || -n === EPERM) return -n;
    throw new SysError('readlinkat', -n, `${path}/${fd}`);
  }
  const inode = socketInodeIn(n);
  if (inode >= 0 && (wanted === undefined || has(wanted, inode))) out.push(inode, pid, fd);
  return 0;
}

/** Scans one pid's `fd` directory into `out`. */
function scanPid(root: string, pid: number, wanted: Uint32Array | undefined, netns: string | undefined, out: Triplets, commands: [number, string][]): Outcome {
  const dir = `${root}/${pid}`;
  if (netns !== undefined) {
    try {
      if (readlinkSync(`${dir}/ns/net`) !== netns) return 'skipped';
    } catch (err) {
      return outcomeOfFsError(err);
    }
  }
  const path = `${dir}/fd`;
  const dirfd = openDirRaw(path);
  if (dirfd < 0) return -dirfd === ENOTDIR ? 'vanished' : outcomeOfErrno(-dirfd, 'open', path);
  const first = out.n;
  let ascending = true;
  let last = -1;
  try {
    if (useGetdents) {
      for (;;) {
        const got = getdentsRaw(dirfd, dents);
        if (got === 0) break;
        if (got < 0) {
          const o = outcomeOfErrno(-got, 'getdents64', path);
          out.n = first;
          return o;
        }
        for (let at = 0; at < got; at += dents.readUInt16LE(at + 16)) {
          // d_name at +19, NUL-terminated; keep decimal names only (skips "." and ".."). The
          // digits are copied into nameBuf as they are read: a subarray would be an object per fd.
          let fd = 0;
          let k = 0;
          for (let c = dents[at + 19] as number; c !== 0 && k < 11; c = dents[at + 19 + ++k] as number) {
            if (c < 48 || c > 57) {
              fd = -1;
              break;
            }
            fd = fd * 10 + (c - 48);
            nameBuf[k] = c;
          }
          if (fd < 0 || k === 0 || k >= 11) continue;
          nameBuf[k] = 0;
          if (fd < last) ascending = false;
          last = fd;
          const denied = visit(dirfd, nameBuf, fd, pid, wanted, out, path);
          if (denied !== 0) {
            out.n = first;
            return 'unreadable';
          }
        }
      }
    } else {
      let names: string[];
      try {
        names = readdirSync(path);
      } catch (err) {
        out.n = first;
        return outcomeOfFsError(err);
      }
      for (const name of names) {
        if (!isDigits(name)) continue;
        const fd = Number(name);
        if (fd < last) ascending = false;
        last = fd;
        nameBuf.write(name, 0, 'latin1');
        nameBuf[name.length] = 0;
        if (visit(dirfd, nameBuf, fd, pid, wanted, out, path) !== 0) {
          out.n = first;
          return 'unreadable';
        }
      }
    }
  } finally {
    closeDirRaw(dirfd);
  }
  if (out.n > first) {
    if (!ascending) out.sortTailByFd(first);
    try {
      const comm = readFileSync(`${dir}/comm`, 'utf8');
      commands.push([pid, comm.endsWith('\n') ? comm.slice(0, -1) : comm]);
    } catch (err) {
      out.n = first; // gone meanwhile: it holds nothing any more
      return outcomeOfFsError(err);
    }
  }
  return 'ok';
}

/**
 * Runs one lane: takes pids off the shared queue until it is empty. Exported for the helper
 * thread (helper-worker.ts); the same code runs on the calling thread when no thread can start.
 * @throws SysError or Node's fs error for a failure that is neither "gone" nor "not allowed".
 */
export function runFdScanJob(job: FdScanJob): FdScanPart {
  const queue = new Int32Array(job.queue);
  const wanted = job.wanted === undefined ? undefined : new Uint32Array(job.wanted);
  const out = new Triplets();
  const commands: [number, string][] = [];
  const part: FdScanPart = { inodes: out.inodes, pids: out.pids, fds: out.fds, commands, scanned: 0, unreadable: 0, vanished: 0 };
  const count = queue[1] as number;
  for (;;) {
    const i = Atomics.add(queue, 0, 1);
    if (i >= count) break;
    const o = scanPid(job.root, queue[2 + i] as number, wanted, job.netns, out, commands);
    if (o === 'ok') part.scanned++;
    else if (o === 'vanished') part.vanished++;
    else if (o === 'unreadable') part.unreadable++;
  }
  part.inodes = out.inodes.slice(0, out.n);
  part.pids = out.pids.slice(0, out.n);
  part.fds = out.fds.slice(0, out.n);
  return part;
}

/** Merges lane parts into one pid-ordered scan. */
function merge(parts: readonly FdScanPart[]): FdScan {
  let count = 0;
  for (const p of parts) count += p.inodes.length;
  const scan: FdScan = {
    count,
    inodes: new Uint32Array(count),
    pids: new Uint32Array(count),
    fds: new Uint32Array(count),
    commands: new Map(),
    scannedPids: 0,
    unreadablePids: 0,
    vanishedPids: 0,
  };
  // Each part is a run of pid segments in ascending pid order; a pid is in exactly one part.
  const segs: { pid: number; part: FdScanPart; from: number; to: number }[] = [];
  for (const p of parts) {
    scan.scannedPids += p.scanned;
    scan.unreadablePids += p.unreadable;
    scan.vanishedPids += p.vanished;
    for (const [pid, comm] of p.commands) scan.commands.set(pid, comm);
    for (let i = 0; i < p.pids.length; ) {
      const pid = p.pids[i] as number;
      let j = i + 1;
      while (j < p.pids.length && p.pids[j] === pid) j++;
      segs.push({ pid, part: p, from: i, to: j });
      i = j;
    }
  }
  segs.sort((a, b) => a.pid - b.pid);
  let at = 0;
  for (const s of segs) {
    scan.inodes.set(s.part.inodes.subarray(s.from, s.to), at);
    scan.pids.set(s.part.pids.subarray(s.from, s.to), at);
    scan.fds.set(s.part.fds.subarray(s.from, s.to), at);
    at += s.to - s.from;
  }
  return scan;
}

/**
 * `pid`'s namespace link, or undefined when this process may not read it (EACCES without ptrace
 * rights over `pid`): the namespace filter is a speed-up, socket inodes are unique per host, so
 * the scan then looks at every process it may read.
 */
function netnsLink(root: string, pid: number): string | undefined {
  try {
    return readlinkSync(`${root}/${pid}/ns/net`);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'EACCES' || code === 'EPERM') return undefined;
    throw err;
  }
}

function prepare(opts: FdScanOptions | undefined): FdScanJob {
  const root = normRoot(opts?.root);
  const netns = opts?.netnsOf === undefined ? undefined : netnsLink(root, opts.netnsOf);
  const pids = listPids(root);
  const queue = new Int32Array(new SharedArrayBuffer(4 * (2 + pids.length)));
  queue[1] = pids.length;
  queue.set(pids, 2);
  const job: FdScanJob = { root, queue: queue.buffer as SharedArrayBuffer };
  if (opts?.inodes !== undefined) job.wanted = sortedInodes(opts.inodes).buffer as SharedArrayBuffer;
  if (netns !== undefined) job.netns = netns;
  return job;
}

/**
 * Finds the holders of socket inodes by reading every `ROOT/PID/fd/*` link, on up to
 * HELPER_LANES helper threads at once (on this thread when none can start).
 *
 * Processes that exit mid-scan and those that may not be read are skipped and counted; a
 * descriptor closed mid-scan is skipped silently; `comm` is read only for processes holding a
 * reported socket; results are ordered by pid, then fd.
 *
 * @throws Node's fs error when `ROOT` cannot be listed or `netnsOf`'s namespace link cannot be
 *   read; SysError for an unexpected failure on one process (neither gone nor forbidden).
 */
export async function scanSocketFds(opts?: FdScanOptions): Promise<FdScan> {
  const threads = opts?.threads ?? HELPER_LANES;
  if (!Number.isInteger(threads) || threads < 0 || threads > HELPER_LANES) throw new RangeError(`threads must be within 0..${HELPER_LANES}, got ${String(threads)}`);
  const job = prepare(opts);
  if (threads === 0) return merge([runFdScanJob(job)]);
  const running: Promise<FdScanPart>[] = [];
  for (let lane = 0; lane < threads; lane++) {
    const p = helper('fdscan', job, lane);
    if (p === undefined) break;
    running.push(p);
  }
  if (running.length === 0) return merge([runFdScanJob(job)]);
  return merge(await Promise.all(running));
}

/** {@link scanSocketFds} on the calling thread only (blocks it for the whole scan). */
export function scanSocketFdsSync(opts?: Omit<FdScanOptions, 'threads'>): FdScan {
  return merge([runFdScanJob(prepare(opts))]);
}
