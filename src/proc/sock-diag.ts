import { readlinkSync } from 'node:fs';
import { endianness } from 'node:os';

import { SysError } from '../sys/errors.js';
import { closeQuietly, netlinkRecv, netlinkSend, openSockDiag } from '../sys/netlink.js';
import type { SocketObservation, SocketTimer } from '../tcp/observation.js';
import { stateNumber, TCP_STATES, type TcpState } from '../tcp/state.js';
import { ProcParseError } from './errors.js';
import { formatIPv6, readTcpTablesSync, TIMER_KINDS, type TcpRow } from './tcp-table.js';

/**
 * The kernel's socket tables over NETLINK_SOCK_DIAG (sock_diag(7), include/uapi/linux/
 * inet_diag.h): what `ss` reads. Against /proc/net/tcp it has three advantages: the state filter
 * runs in the kernel (`ss state close-wait`), so a query for a few CLOSE_WAIT sockets among
 * 100 000 costs a walk of the hash tables and nothing else; the answer is binary, read with
 * fixed-offset loads instead of parsed hex; and a listener's row carries its backlog.
 */

// netlink(7) and sock_diag(7) numbers.
const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
const SOCK_DIAG_BY_FAMILY = 20;
const IPPROTO_TCP = 6;
const AF_INET = 2;
const AF_INET6 = 10;

// struct inet_diag_req_v2: family, protocol, ext, pad (4 × u8), idiag_states (u32), then
// struct inet_diag_sockid (48 bytes, all zero: no address or cookie filter).
const REQ_V2_LEN = 56;

// struct inet_diag_msg, offsets from its start (after the nlmsghdr).
const M_FAMILY = 0;
const M_STATE = 1;
const M_TIMER = 2;
const M_RETRANS = 3;
const M_SPORT = 4; // __be16
const M_DPORT = 6; // __be16
const M_SRC = 8; // __be32[4]
const M_DST = 24; // __be32[4]
const M_EXPIRES = 52; // u32, ms
const M_RQUEUE = 56;
const M_WQUEUE = 60;
const M_UID = 64;
const M_INODE = 68;
const DIAG_MSG_LEN = 72;

/** Where socket rows came from: the sock_diag netlink dump, or the /proc/net/tcp{,6} text tables. */
export type TcpRowSource = 'netlink' | 'proc';

/** Options of {@link readTcpSockDiag}. */
export interface SockDiagOptions {
  /**
   * Only sockets in these states; the filter is the request's `idiag_states` bitmask, applied by
   * the kernel while it walks its tables. Default: every state /proc/net/tcp can show (all but
   * `BOUND_INACTIVE`, bound-but-idle sockets, which only sock_diag lists and only when asked).
   * Request sockets are reported as `SYN_RECV` (the kernel adds `NEW_SYN_RECV` to a request for
   * `SYN_RECV`); an empty list matches nothing.
   */
  states?: readonly TcpState[];
  /** Which families, dumped in that order. Default `[4, 6]`. */
  families?: readonly (4 | 6)[];
  /**
   * Only sockets whose local or remote port is one of these (ss's `sport = :P or dport = :P`).
   * Checked on the raw message, before a row is built.
   */
  ports?: readonly number[];
  /**
   * Dump the network namespace process `pid` is in (its `ROOT/PID/ns/net`). When that is not this
   * thread's namespace, the socket is created inside it: this thread enters it with
   * setns(CLONE_NEWNET) for the socket() call only and comes straight back (see `openSockDiag`
   * in sys/netlink.ts). That needs CAP_SYS_ADMIN and ptrace rights over `pid`; without them
   * readTcpSockDiag throws SysError EPERM / EACCES, and readTcpRows (`'auto'`) reads
   * `/proc/PID/net/tcp{,6}` instead, which any user may read, and says so in `fallback`.
   */
  pid?: number;
  /** Where procfs is mounted, for `pid`'s namespace file. Default `/proc`. */
  root?: string;
}

const HOST_LE = endianness() === 'LE';
const V4_CACHE = new Map<number, string>();
const V6_CACHE = new Map<string, string>();
const CACHE_LIMIT = 1 << 16;
/** All states /proc/net/tcp can show: bits 1 (ESTABLISHED) … 12 (NEW_SYN_RECV). */
const PROC_VISIBLE_STATES = TCP_STATES.filter((s) => s !== 'BOUND_INACTIVE');

let seq = 0;

/**
 * One received dump batch: its bytes, and a DataView over the same memory for the fixed-offset
 * loads. DataView getters are V8 builtins, Buffer's read methods JavaScript functions, which
 * matters in code the JIT has not optimized yet: a one-shot `teardown ss` reads every row of a
 * 10 000-socket dump before anything is hot.
 */
interface Batch {
  bytes: Buffer;
  view: DataView;
}

// Holds one dump batch: the kernel fills a batch up to ~32 KiB (netlink_recvmsg() caps
// max_recvmsg_len at 32 KiB minus overhead), so 64 KiB never truncates.
const recvBuf = Buffer.allocUnsafe(1 << 16);
const batch: Batch = { bytes: recvBuf, view: new DataView(recvBuf.buffer, recvBuf.byteOffset, recvBuf.byteLength) };

/** A host-order u32 (netlink and inet_diag_msg's own fields). */
function u32(d: DataView, at: number): number {
  return d.getUint32(at, HOST_LE);
}

function i32(d: DataView, at: number): number {
  return d.getInt32(at, HOST_LE);
}

/** The `idiag_states` bitmask for a state list (bit N = state number N, as `TCPF_*`). */
function statesMask(states: readonly TcpState[] | undefined): number {
  let mask = 0;
  for (const s of states ?? PROC_VISIBLE_STATES) {
    const n = stateNumber(s);
    if (n <= 0) throw new RangeError(`unknown TCP state ${JSON.stringify(s)}`);
    mask |= 1 << n;
  }
  return mask >>> 0;
}

/** A 65 536-entry membership table for `ports`, or undefined for "any port". */
function portTable(ports: readonly number[] | undefined): Uint8Array | undefined {
  if (ports === undefined) return undefined;
  const t = new Uint8Array(65536);
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`ports must be integers within 0..65535, got ${String(p)}`);
    t[p] = 1;
  }
  return t;
}

function familiesOf(families: readonly (4 | 6)[] | undefined): readonly (4 | 6)[] {
  const f = families ?? [4, 6];
  for (const x of f) if (x !== 4 && x !== 6) throw new RangeError(`families must contain only 4 and 6, got ${String(x)}`);
  return f;
}

function checkPid(pid: number | undefined): void {
  if (pid !== undefined && (!Number.isSafeInteger(pid) || pid <= 0)) throw new RangeError(`pid must be a positive integer, got ${String(pid)}`);
}

/**
 * The namespace file to create the socket in, or undefined when `pid` shares this thread's
 * network namespace (the common case: no setns at all).
 * @throws Node's fs error (ENOENT when the process is gone); SysError EACCES / EPERM when the
 *   link may not be read (another user's process: ptrace rules), which means "cannot enter".
 */
function foreignNetns(opts: SockDiagOptions | undefined): string | undefined {
  if (opts?.pid === undefined) return undefined;
  const path = `${opts.root ?? '/proc'}/${opts.pid}/ns/net`;
  let target: string;
  try {
    target = readlinkSync(path);
  } catch (err) {
    const errno = (err as { errno?: unknown }).errno;
    const code = (err as { code?: unknown }).code;
    if ((code === 'EACCES' || code === 'EPERM') && typeof errno === 'number') throw new SysError('readlink', -errno, path);
    throw err;
  }
  return target === readlinkSync('/proc/thread-self/ns/net') ? undefined : path;
}

/**
 * Reads the TCP sockets of one network namespace over NETLINK_SOCK_DIAG: one
 * `SOCK_DIAG_BY_FAMILY` dump request (`struct inet_diag_req_v2`, protocol IPPROTO_TCP) per family,
 * as `ss -t` sends them. Rows have the shape of {@link TcpRow}, the /proc/net/tcp parser's, with
 * these differences, all from the kernel's inet_diag_msg:
 *
 * - LISTEN rows: `recvQ` is the accept-queue length (`sk_ack_backlog`) as in /proc, and `sendQ`
 *   is the listen backlog (`sk_max_ack_backlog`), which /proc does not show (tcp_diag_get_info()).
 * - `timer.remainingMs` is `idiag_expires`, already milliseconds (/proc prints 1/100 s), 0 when
 *   already due. `timer.retransmits` is `idiag_retrans`: retransmissions for the retransmit
 *   timer, but keepalive or zero-window probes sent (`icsk_probes_out`) for the keepalive and
 *   probe timers, where /proc's `retrnsmt` column always shows `icsk_retransmits`.
 * - SYN_RECV (request socket) rows have `uid` 0 where /proc shows the listener's.
 * - Order: listeners first, then the established hash, per family (/proc's order too, by
 *   bucket), IPv4 before IPv6.
 *
 * Runs on the calling thread: a dump of 100 000 sockets keeps it in the kernel for ~100 ms, a
 * state-filtered dump for the time of one walk over the hash tables (~10 ms per family with a
 * 262 144-bucket table).
 *
 * @throws SysError from socket() (EPROTONOSUPPORT, EAFNOSUPPORT where sock_diag is missing or
 *   filtered), setns() (EPERM without CAP_SYS_ADMIN for another namespace), send()/recv(), or an
 *   NLMSG_ERROR reply (ENOENT: no inet_diag handler for the family, e.g. the module is absent).
 * @throws ProcParseError for a reply shorter than an inet_diag_msg (never seen).
 * @throws RangeError for a bad option; Node's fs error when `pid`'s namespace cannot be read.
 */
export function readTcpSockDiag(opts?: SockDiagOptions): TcpRow[] {
  return dumpEntries(opts, ROWS);
}

/**
 * How the readers build one entry from either source. readTcpSockDiag() builds TcpRows;
 * snapshot.ts builds SocketObservations straight from the netlink message, so a 100 000-socket
 * snapshot allocates no intermediate row (half the objects, and the garbage collector's time
 * with them). Internal to proc/.
 */
export interface EntryBuilder<T> {
  /** From the inet_diag_msg at `m` in `b`, whose ports the port filter already accepted. */
  fromDiag(b: Batch, m: number, localPort: number, remotePort: number): T;
  /** From a /proc row (the fallback path). */
  fromRow(row: TcpRow): T;
}

const ROWS: EntryBuilder<TcpRow> = { fromDiag: rowAt, fromRow: (r) => r };

function dumpEntries<T>(opts: SockDiagOptions | undefined, build: EntryBuilder<T>): T[] {
  const families = familiesOf(opts?.families);
  checkPid(opts?.pid);
  const mask = statesMask(opts?.states);
  const ports = portTable(opts?.ports);
  const out: T[] = [];
  if (mask === 0 || families.length === 0) return out;
  const fd = openSockDiag(foreignNetns(opts));
  try {
    for (const family of families) dump(fd, family, mask, ports, build, out);
  } finally {
    closeQuietly(fd);
  }
  return out;
}

function request(family: 4 | 6, mask: number, seqNo: number): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN + REQ_V2_LEN);
  const w32 = (v: number, at: number): number => (HOST_LE ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  const w16 = (v: number, at: number): number => (HOST_LE ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  w32(b.length, 0); // nlmsg_len
  w16(SOCK_DIAG_BY_FAMILY, 4); // nlmsg_type
  w16(NLM_F_REQUEST | NLM_F_DUMP, 6); // nlmsg_flags
  w32(seqNo, 8); // nlmsg_seq; nlmsg_pid 0: the kernel
  b[NLMSG_HDRLEN] = family === 6 ? AF_INET6 : AF_INET; // sdiag_family
  b[NLMSG_HDRLEN + 1] = IPPROTO_TCP; // sdiag_protocol; idiag_ext 0: no extensions wanted
  w32(mask, NLMSG_HDRLEN + 4); // idiag_states
  return b;
}

function dump<T>(fd: number, family: 4 | 6, mask: number, ports: Uint8Array | undefined, build: EntryBuilder<T>, out: T[]): void {
  const seqNo = (seq = (seq + 1) >>> 0);
  netlinkSend(fd, request(family, mask, seqNo));
  const d = batch.view;
  let count = 0;
  for (;;) {
    const n = netlinkRecv(fd, recvBuf);
    if (n === 0) throw malformed(family, count, recvBuf.subarray(0, 0), 'the socket returned 0 bytes before NLMSG_DONE');
    let at = 0;
    while (at + NLMSG_HDRLEN <= n) {
      const len = u32(d, at);
      const type = d.getUint16(at + 4, HOST_LE);
      if (len < NLMSG_HDRLEN || at + len > n) throw malformed(family, count, recvBuf.subarray(at, n), `netlink message length ${len} does not fit the ${n - at} bytes received`);
      if (u32(d, at + 8) === seqNo) {
        if (type === NLMSG_DONE) {
          // A dump that failed midway ends with DONE carrying the negative errno.
          const status = len >= NLMSG_HDRLEN + 4 ? i32(d, at + NLMSG_HDRLEN) : 0;
          if (status < 0) throw new SysError('SOCK_DIAG_BY_FAMILY', -status, `dump of ${family === 6 ? 'AF_INET6' : 'AF_INET'} TCP sockets`);
          return;
        }
        if (type === NLMSG_ERROR) {
          const code = len >= NLMSG_HDRLEN + 4 ? i32(d, at + NLMSG_HDRLEN) : -5;
          if (code < 0) throw new SysError('SOCK_DIAG_BY_FAMILY', -code, `dump of ${family === 6 ? 'AF_INET6' : 'AF_INET'} TCP sockets`);
        } else if (type === SOCK_DIAG_BY_FAMILY) {
          if (len < NLMSG_HDRLEN + DIAG_MSG_LEN) throw malformed(family, count, recvBuf.subarray(at, at + len), `inet_diag_msg of ${len - NLMSG_HDRLEN} bytes, expected ≥ ${DIAG_MSG_LEN}`);
          count++;
          const m = at + NLMSG_HDRLEN;
          const localPort = d.getUint16(m + M_SPORT); // __be16
          const remotePort = d.getUint16(m + M_DPORT);
          if (ports === undefined || ports[localPort] === 1 || ports[remotePort] === 1) out.push(build.fromDiag(batch, m, localPort, remotePort));
        }
      }
      at += (len + 3) & ~3; // NLMSG_ALIGN
    }
  }
}

function malformed(family: 4 | 6, index: number, bytes: Buffer, reason: string): ProcParseError {
  return new ProcParseError(`netlink SOCK_DIAG_BY_FAMILY (${family === 6 ? 'AF_INET6' : 'AF_INET'})`, index + 1, bytes.subarray(0, 96).toString('hex'), reason);
}

function v4At(b: Batch, at: number): string {
  const n = b.view.getUint32(at); // __be32
  let s = V4_CACHE.get(n);
  if (s === undefined) {
    s = `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
    if (V4_CACHE.size >= CACHE_LIMIT) V4_CACHE.clear();
    V4_CACHE.set(n, s);
  }
  return s;
}

function v6At(b: Batch, at: number): string {
  const key = b.bytes.toString('latin1', at, at + 16);
  let s = V6_CACHE.get(key);
  if (s === undefined) {
    const groups = new Array<number>(8);
    for (let i = 0; i < 8; i++) groups[i] = b.view.getUint16(at + 2 * i);
    s = formatIPv6(groups);
    if (V6_CACHE.size >= CACHE_LIMIT) V6_CACHE.clear();
    V6_CACHE.set(key, s);
  }
  return s;
}

// ":12345" for every port, made on first use: an endpoint is then one concatenation.
const PORT_SUFFIX: (string | undefined)[] = new Array<string | undefined>(65536);

/** `ip:port` / `[ipv6]:port` of the address at `at` (16 bytes, IPv4 in the first 4). */
function endpointAt(b: Batch, at: number, port: number, v6: boolean): string {
  const suffix = PORT_SUFFIX[port] ?? (PORT_SUFFIX[port] = `:${port}`);
  return v6 ? `[${v6At(b, at)}]${suffix}` : v4At(b, at) + suffix;
}

/** The state of the inet_diag_msg at `m`. */
function stateAt(b: Batch, m: number): TcpState {
  // Request sockets are reported with TCP_SYN_RECV (inet_req_diag_fill()); anything unknown
  // would be a newer kernel's state, kept visible rather than dropped.
  return TCP_STATES[b.view.getUint8(m + M_STATE) - 1] ?? 'CLOSE';
}

/** The timer of the inet_diag_msg at `m`, as /proc's `tr`/`when`/`retrnsmt` map to SocketTimer. */
function timerAt(b: Batch, m: number): SocketTimer {
  const tr = b.view.getUint8(m + M_TIMER);
  return { kind: TIMER_KINDS[tr] ?? 'unknown', remainingMs: tr === 0 ? 0 : u32(b.view, m + M_EXPIRES), retransmits: b.view.getUint8(m + M_RETRANS) };
}

// `idiag_rqueue`, `idiag_wqueue`, `idiag_inode` of the inet_diag_msg at `m`.
function recvQAt(b: Batch, m: number): number {
  return u32(b.view, m + M_RQUEUE);
}
function sendQAt(b: Batch, m: number): number {
  return u32(b.view, m + M_WQUEUE);
}
function inodeAt(b: Batch, m: number): number {
  return u32(b.view, m + M_INODE);
}

/** The inet_diag_msg at `m` as a TcpRow. */
function rowAt(b: Batch, m: number, localPort: number, remotePort: number): TcpRow {
  const v6 = b.view.getUint8(m + M_FAMILY) === AF_INET6;
  const localAddress = v6 ? v6At(b, m + M_SRC) : v4At(b, m + M_SRC);
  const remoteAddress = v6 ? v6At(b, m + M_DST) : v4At(b, m + M_DST);
  return {
    family: v6 ? 6 : 4,
    local: endpointAt(b, m + M_SRC, localPort, v6),
    remote: endpointAt(b, m + M_DST, remotePort, v6),
    localAddress,
    localPort,
    remoteAddress,
    remotePort,
    state: stateAt(b, m),
    sendQ: sendQAt(b, m),
    recvQ: recvQAt(b, m),
    timer: timerAt(b, m),
    uid: u32(b.view, m + M_UID),
    inode: inodeAt(b, m),
  };
}

/**
 * The inet_diag_msg at `m` as the shared SocketObservation, `owner` null (snapshot.ts fills it
 * in). Internal to proc/.
 */
export const OBSERVATIONS: EntryBuilder<SocketObservation> = {
  fromDiag(b, m, localPort, remotePort) {
    const v6 = b.view.getUint8(m + M_FAMILY) === AF_INET6;
    return {
      local: endpointAt(b, m + M_SRC, localPort, v6),
      remote: endpointAt(b, m + M_DST, remotePort, v6),
      state: stateAt(b, m),
      recvQ: recvQAt(b, m),
      sendQ: sendQAt(b, m),
      owner: null,
      inode: inodeAt(b, m),
      timer: timerAt(b, m),
    };
  },
  fromRow(r) {
    return { local: r.local, remote: r.remote, state: r.state, recvQ: r.recvQ, sendQ: r.sendQ, owner: null, inode: r.inode, timer: r.timer };
  },
};

/** Options of {@link readTcpRows}: those of {@link readTcpSockDiag} and a source. */
export interface ReadTcpRowsOptions extends SockDiagOptions {
  /**
   * `'netlink'`: sock_diag only, errors thrown. `'proc'`: /proc/net/tcp{,6} (of `pid` when
   * given), filtered here. `'auto'` (default): netlink, falling back to /proc when netlink is
   * unavailable (see {@link isNetlinkUnavailable}), and always /proc when `root` is not `/proc`
   * (a fixture tree has no kernel behind it).
   */
  source?: 'auto' | 'netlink' | 'proc';
}

/** What {@link readTcpRows} returns. */
export interface TcpRowsResult {
  rows: TcpRow[];
  /** Where the rows came from. */
  source: TcpRowSource;
  /**
   * Why `'auto'` read /proc instead of netlink: the SysError's message (`setns (CLONE_NEWNET,
   * /proc/42/ns/net) failed: EPERM; …`) or `root … is not /proc`; undefined when netlink was
   * used or /proc was asked for.
   */
  fallback?: string;
}

/**
 * Whether a netlink failure means "sock_diag is not available here" (read /proc instead) rather
 * than a fault: EPROTONOSUPPORT / EAFNOSUPPORT / ESOCKTNOSUPPORT (no NETLINK_SOCK_DIAG, or a
 * seccomp filter or LSM refusing AF_NETLINK), EPERM / EACCES (socket() or setns() refused),
 * ENOENT / EOPNOTSUPP from the kernel's reply (no inet_diag handler: module absent).
 */
export function isNetlinkUnavailable(err: unknown): err is SysError {
  return err instanceof SysError && NETLINK_UNAVAILABLE.has(err.code);
}

const NETLINK_UNAVAILABLE = new Set(['EPROTONOSUPPORT', 'EAFNOSUPPORT', 'ESOCKTNOSUPPORT', 'EPERM', 'EACCES', 'ENOENT', 'EOPNOTSUPP']);

/**
 * TCP rows from the fastest source available, saying which: {@link readTcpSockDiag}, or
 * `/proc/net/tcp{,6}` (`/proc/PID/net/tcp{,6}` for `pid`) with the same state and port filters
 * applied here. Synchronous, on the calling thread, like both readers.
 *
 * The /proc fallback shows the same sockets with these differences: LISTEN rows have `sendQ` 0
 * (no backlog), `timer.remainingMs` has 10 ms steps, and `BOUND_INACTIVE` is never listed.
 *
 * @throws as {@link readTcpSockDiag} for a netlink failure that is not "unavailable", or with
 *   `source: 'netlink'`; as `readTcpTablesSync` for the /proc path.
 */
export function readTcpRows(opts?: ReadTcpRowsOptions): TcpRowsResult {
  const { entries, source, fallback } = readTcpEntries(opts, ROWS);
  const result: TcpRowsResult = { rows: entries, source };
  if (fallback !== undefined) result.fallback = fallback;
  return result;
}

/** {@link readTcpRows} building entries with `build`; internal to proc/ (snapshot.ts). */
export function readTcpEntries<T>(opts: ReadTcpRowsOptions | undefined, build: EntryBuilder<T>): { entries: T[]; source: TcpRowSource; fallback?: string } {
  const source = opts?.source ?? 'auto';
  if (source !== 'auto' && source !== 'netlink' && source !== 'proc') throw new RangeError(`source must be 'auto', 'netlink' or 'proc', got ${String(source)}`);
  const root = opts?.root ?? '/proc';
  const fixture = root.replace(/\/+$/, '') !== '/proc';
  if (source === 'netlink' && fixture) throw new RangeError(`source 'netlink' reads the running kernel; it cannot read the procfs tree at ${root}`);
  if (source === 'netlink') return { entries: dumpEntries(opts, build), source: 'netlink' };
  if (source === 'proc') return { entries: readProcRows(opts).map(build.fromRow), source: 'proc' };
  if (fixture) return { entries: readProcRows(opts).map(build.fromRow), source: 'proc', fallback: `root ${root} is not /proc` };
  try {
    return { entries: dumpEntries(opts, build), source: 'netlink' };
  } catch (err) {
    if (!isNetlinkUnavailable(err)) throw err;
    return { entries: readProcRows(opts).map(build.fromRow), source: 'proc', fallback: err.message };
  }
}

function readProcRows(opts: ReadTcpRowsOptions | undefined): TcpRow[] {
  const families = familiesOf(opts?.families);
  checkPid(opts?.pid);
  const ports = portTable(opts?.ports);
  let wanted: Set<TcpState> | undefined;
  if (opts?.states !== undefined) {
    statesMask(opts.states); // validates
    wanted = new Set(opts.states);
    // /proc prints request sockets (NEW_SYN_RECV) as SYN_RECV, as sock_diag does.
    if (wanted.has('NEW_SYN_RECV')) wanted.add('SYN_RECV');
  }
  if (families.length === 0 || wanted?.size === 0) return [];
  const read: { root?: string; pid?: number; families: readonly (4 | 6)[] } = { families };
  if (opts?.root !== undefined) read.root = opts.root;
  if (opts?.pid !== undefined) read.pid = opts.pid;
  const rows = readTcpTablesSync(read);
  if (wanted === undefined && ports === undefined) return rows;
  return rows.filter((r) => (wanted === undefined || wanted.has(r.state)) && (ports === undefined || ports[r.localPort] === 1 || ports[r.remotePort] === 1));
}
