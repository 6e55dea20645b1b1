import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';

import { formatEndpoint } from '../tcp/address.js';
import type { SocketTimer } from '../tcp/observation.js';
import { TCP_STATES, type TcpState } from '../tcp/state.js';
import { ProcParseError } from './errors.js';

/**
 * One row of `/proc/net/tcp` or `/proc/net/tcp6`: one TCP socket of one network namespace.
 *
 * The kernel prints three kinds of row (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c):
 * - full sockets, `get_tcp4_sock()` / `get_tcp6_sock()`: LISTEN, SYN_SENT, ESTABLISHED, the
 *   closing states, and sockets still in the accept queue (ESTABLISHED with `inode` 0);
 * - TIME_WAIT mini-sockets, `get_timewait4_sock()` / `get_timewait6_sock()`: a short row with
 *   queues 0, timer `time_wait`, uid 0 and inode 0. Its state is the mini-socket's substate, so
 *   it is `TIME_WAIT`, or `FIN_WAIT2` for an orphaned FIN_WAIT2 socket that `tcp_close()` handed
 *   to a mini-socket (when `tcp_fin_timeout` ≤ 60 s);
 * - request sockets, `get_openreq4()` / `get_openreq6()`: a short row in state `SYN_RECV` (the
 *   kernel's `TCP_NEW_SYN_RECV` is printed as `SYN_RECV`), timer `retransmit` (the SYN-ACK
 *   timer), `retransmits` = SYN-ACKs retransmitted, the listener's uid, inode 0.
 */
export interface TcpRow {
  family: 4 | 6;
  /** `ip:port` or `[ipv6]:port`, as `formatEndpoint()` spells it. */
  local: string;
  remote: string;
  /** `127.0.0.1`, `::1`, `::ffff:127.0.0.1` (RFC 5952 text form). */
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  /** 0 for LISTEN rows (the remote is `0.0.0.0:0` / `[::]:0`). */
  remotePort: number;
  state: TcpState;
  /**
   * The `tx_queue` column, bytes: `write_seq - snd_una`, i.e. sent or queued and not yet
   * acknowledged. 0 on LISTEN rows (/proc does not show a listener's backlog; `ss` gets it from
   * sock_diag), on TIME_WAIT and on SYN_RECV rows.
   */
  sendQ: number;
  /**
   * The `rx_queue` column. On LISTEN rows: the accept-queue length, connections that completed
   * the handshake and wait for `accept()` (`sk_ack_backlog`). Otherwise bytes received and not
   * yet read by the application (`rcv_nxt - copied_seq`, which counts a received FIN as 1).
   */
  recvQ: number;
  /**
   * The `tr:tm->when` and `retrnsmt` columns. `remainingMs` is the kernel's clock_t value
   * (USER_HZ = 100 ticks per second) × 10; `kind: 'none'` has `remainingMs` 0.
   */
  timer: SocketTimer;
  /** Owner's uid in the reader's user namespace (`from_kuid_munged`); 0 on TIME_WAIT rows. */
  uid: number;
  /** Socket inode, the number in `/proc/PID/fd/N -> socket:[inode]`; 0 when no file holds it. */
  inode: number;
}

/** `tr` values of /proc/net/tcp, in the kernel's numbering (0..4). */
const TIMER_KINDS: readonly SocketTimer['kind'][] = ['none', 'retransmit', 'keepalive', 'time_wait', 'zero_window_probe'];

/** clock_t → ms. The /proc tables print clock_t in USER_HZ, 100 on every Linux port but alpha. */
const MS_PER_TICK = 10;

/**
 * Whether the kernel prints the 32-bit address words in little-endian byte order. It prints each
 * `__be32` (and each `s6_addr32[i]`) with `%08X`, i.e. as a host-order integer, so the byte order
 * of the text depends on the host's: `0100007F` is 127.0.0.1 on x86 and arm64.
 */
const HOST_LITTLE_ENDIAN = endianness() === 'LE';

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

const SPACE = 32;
const COLON = 58;

// Parser state. Module-level so the hot loop allocates nothing but the row, its timer and the
// strings it keeps; every entry point sets all of it and clears `cur` before returning.
let cur = '';
let src = '';
let pos = 0;
let lineStart = 0;
let lineEnd = 0;
let lineNo = 0;

// Address text caches: a table names the same few addresses thousands of times.
const CACHE_LIMIT = 1 << 16;
const v4Cache = new Map<number, string>();
const v6Cache = new Map<string, string>();

function fail(reason: string): never {
  const line = cur.slice(lineStart, lineEnd);
  cur = '';
  throw new ProcParseError(src, lineNo, line, reason);
}

/** The whitespace-delimited token at `from`, for messages. */
function tokenAt(from: number): string {
  let end = from;
  while (end < lineEnd && cur.charCodeAt(end) !== SPACE) end++;
  return cur.slice(from, end);
}

/** Moves past the spaces before column `what`; fails if there are none or the row ends. */
function column(what: string): void {
  if (pos >= lineEnd) fail(`the row ends before the ${what} column`);
  if (cur.charCodeAt(pos) !== SPACE) fail(`unexpected ${JSON.stringify(tokenAt(pos))} before the ${what} column`);
  do pos++;
  while (pos < lineEnd && cur.charCodeAt(pos) === SPACE);
  if (pos >= lineEnd) fail(`the row ends before the ${what} column`);
}

function expectColon(after: string): void {
  if (pos >= lineEnd || cur.charCodeAt(pos) !== COLON) fail(`expected ":" after the ${after}, found ${JSON.stringify(tokenAt(pos))}`);
  pos++;
}

/** Reads 1..maxDigits hex digits (exactly maxDigits when `exact`). */
function readHex(maxDigits: number, exact: boolean, what: string): number {
  const start = pos;
  let v = 0;
  while (pos < lineEnd) {
    const c = cur.charCodeAt(pos);
    const d = c < 128 ? (HEX[c] as number) : -1;
    if (d < 0) break;
    v = v * 16 + d;
    pos++;
  }
  const n = pos - start;
  if (n === 0 || n > maxDigits || (exact && n !== maxDigits)) {
    fail(`expected ${exact ? maxDigits : `1 to ${maxDigits}`} hex digits for the ${what}, found ${JSON.stringify(tokenAt(start))}`);
  }
  return v;
}

/**
 * The `tm->when` column: `%08lX` of a clock_t. Current kernels clamp it at 0
 * (`jiffies_delta_to_clock_t()`); older ones printed an overdue timer as a 16-digit two's
 * complement, which this reads back as a negative number.
 */
function readWhen(): number {
  const start = pos;
  let v = 0;
  let inv = 0;
  while (pos < lineEnd) {
    const c = cur.charCodeAt(pos);
    const d = c < 128 ? (HEX[c] as number) : -1;
    if (d < 0) break;
    v = v * 16 + d;
    inv = inv * 16 + (15 - d);
    pos++;
  }
  const n = pos - start;
  if (n === 0 || n > 16) fail(`expected 1 to 16 hex digits for the timer expiry (tm->when), found ${JSON.stringify(tokenAt(start))}`);
  if (n === 16 && (HEX[cur.charCodeAt(start)] as number) >= 8) return -(inv + 1);
  return v;
}

function readDec(what: string, signed: boolean): number {
  const start = pos;
  let neg = false;
  if (signed && pos < lineEnd && cur.charCodeAt(pos) === 45 /* - */) {
    neg = true;
    pos++;
  }
  const digits = pos;
  let v = 0;
  while (pos < lineEnd) {
    const d = cur.charCodeAt(pos) - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
    pos++;
  }
  if (pos === digits || pos - digits > 20) fail(`expected a decimal number for the ${what}, found ${JSON.stringify(tokenAt(start))}`);
  return neg ? -v : v;
}

function ipv4(n: number): string {
  let s = v4Cache.get(n);
  if (s === undefined) {
    s = HOST_LITTLE_ENDIAN
      ? `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`
      : `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
    if (v4Cache.size >= CACHE_LIMIT) v4Cache.clear();
    v4Cache.set(n, s);
  }
  return s;
}

/** Reads the 8 (IPv4) or 32 (IPv6) hex digits of an address column. */
function readAddress(family: 4 | 6, what: string): string {
  const start = pos;
  if (family === 4) return ipv4(readHex(8, true, what));
  // Four s6_addr32 words, each printed as a host-order %08X. Check all 32 digits first, then
  // look the text up: most rows repeat an address already seen.
  readHex(32, true, what);
  const key = cur.slice(start, start + 32);
  let s = v6Cache.get(key);
  if (s === undefined) {
    const groups = new Array<number>(8);
    for (let w = 0; w < 4; w++) {
      let word = 0;
      for (let i = 0; i < 8; i++) word = word * 16 + (HEX[key.charCodeAt(w * 8 + i)] as number);
      // Bytes of the word in memory order (= network order of the address).
      const b0 = HOST_LITTLE_ENDIAN ? word & 0xff : word >>> 24;
      const b1 = HOST_LITTLE_ENDIAN ? (word >>> 8) & 0xff : (word >>> 16) & 0xff;
      const b2 = HOST_LITTLE_ENDIAN ? (word >>> 16) & 0xff : (word >>> 8) & 0xff;
      const b3 = HOST_LITTLE_ENDIAN ? word >>> 24 : word & 0xff;
      groups[w * 2] = (b0 << 8) | b1;
      groups[w * 2 + 1] = (b2 << 8) | b3;
    }
    s = formatIPv6(groups);
    if (v6Cache.size >= CACHE_LIMIT) v6Cache.clear();
    v6Cache.set(key, s);
  }
  return s;
}

/**
 * RFC 5952 text for eight 16-bit groups: lowercase, no leading zeros, the longest run of two or
 * more zero groups (the first of equal runs) replaced by `::`, and IPv4-mapped addresses
 * (::ffff:0:0/96) in mixed notation, `::ffff:127.0.0.1`.
 *
 * It differs from glibc's and libuv's `inet_ntop` in one corner RFC 5952 leaves alone: those also
 * print deprecated IPv4-compatible addresses (::/96) as `::a.b.c.d`; this prints `::7f00:1`.
 */
export function formatIPv6(groups: readonly number[]): string {
  if (groups.length !== 8) throw new RangeError(`an IPv6 address has 8 groups, got ${groups.length}`);
  const g = groups as readonly [number, number, number, number, number, number, number, number];
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6] >>> 8}.${g[6] & 0xff}.${g[7] >>> 8}.${g[7] & 0xff}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (g[i] as number).toString(16);
  }
  return out;
}

function parseRow(family: 4 | 6): TcpRow {
  // "%4d: " slot number
  readDec('slot number (sl)', false);
  expectColon('slot number (sl)');

  column('local address');
  const localAddress = readAddress(family, 'local address');
  expectColon('local address');
  const localPort = readHex(4, false, 'local port');

  column('remote address');
  const remoteAddress = readAddress(family, 'remote address');
  expectColon('remote address');
  const remotePort = readHex(4, false, 'remote port');

  column('state (st)');
  const stStart = pos;
  const st = readHex(2, false, 'state (st)');
  const state = TCP_STATES[st - 1];
  if (state === undefined) fail(`unknown TCP state number ${JSON.stringify(tokenAt(stStart))} (include/net/tcp_states.h has 1..${TCP_STATES.length})`);

  column('tx_queue');
  const sendQ = readHex(8, false, 'tx_queue');
  expectColon('tx_queue');
  const recvQ = readHex(8, false, 'rx_queue');

  column('timer (tr)');
  const tr = readHex(2, false, 'timer kind (tr)');
  expectColon('timer kind (tr)');
  const when = readWhen();

  column('retrnsmt');
  const retransmits = readHex(8, false, 'retransmit count (retrnsmt)');

  column('uid');
  const uid = readDec('uid', false);

  column('timeout');
  readDec('timeout (probes)', true);

  column('inode');
  const inode = readDec('inode', false);
  if (pos < lineEnd && cur.charCodeAt(pos) !== SPACE) fail(`unexpected ${JSON.stringify(tokenAt(pos))} in the inode column`);
  // What follows (refcount, socket pointer, and on full rows rto, ato, quick/pingpong, cwnd,
  // ssthresh) is not needed and may be absent: short rows end after the pointer.

  return {
    family,
    local: formatEndpoint({ address: localAddress, port: localPort }),
    remote: formatEndpoint({ address: remoteAddress, port: remotePort }),
    localAddress,
    localPort,
    remoteAddress,
    remotePort,
    state,
    sendQ,
    recvQ,
    timer: {
      kind: TIMER_KINDS[tr] ?? 'unknown',
      remainingMs: tr === 0 ? 0 : when * MS_PER_TICK,
      retransmits,
    },
    uid,
    inode,
  };
}

/**
 * Parses the text of `/proc/net/tcp` (`family` 4) or `/proc/net/tcp6` (`family` 6).
 *
 * Column formats are those of `get_tcp4_sock()`, `get_timewait4_sock()` and `get_openreq4()` in
 * net/ipv4/tcp_ipv4.c and their IPv6 twins in net/ipv6/tcp_ipv6.c: addresses and ports, state,
 * queues, `tr:when` and `retrnsmt` in hex; uid, timeout and inode in decimal. Rows may end right
 * after the inode column or carry any number of further columns (short TIME_WAIT and SYN_RECV
 * rows end after refcount and pointer). See {@link TcpRow} for what each field means.
 *
 * The header line (first line starting with `sl`) is skipped, as are blank lines and the
 * padding the kernel adds to IPv4 rows. Addresses are decoded in the host's byte order, which is
 * the order the kernel printed them in on this machine.
 *
 * @param text   the whole file.
 * @param family 4 for `tcp`, 6 for `tcp6`; an address of the other width is an error.
 * @param source named in error messages; defaults to `/proc/net/tcp` or `/proc/net/tcp6`.
 * @throws ProcParseError for a row that does not have that shape (missing or malformed column,
 *   unknown state number), naming `source`, the 1-based line number and the line.
 */
export function parseTcpTable(text: string, family: 4 | 6, source: string = family === 6 ? '/proc/net/tcp6' : '/proc/net/tcp'): TcpRow[] {
  if (family !== 4 && family !== 6) throw new RangeError(`family must be 4 or 6, got ${String(family)}`);
  const rows: TcpRow[] = [];
  src = source;
  lineNo = 0;
  const input = text;
  const len = input.length;
  cur = input;
  try {
    let start = 0;
    while (start < len) {
      let end = input.indexOf('\n', start);
      if (end === -1) end = len;
      lineNo++;
      lineStart = start;
      lineEnd = end;
      pos = start;
      start = end + 1;
      while (pos < end && input.charCodeAt(pos) === SPACE) pos++;
      if (pos === end) continue;
      if (lineNo === 1 && input.charCodeAt(pos) === 115 /* s */ && input.charCodeAt(pos + 1) === 108 /* l */) continue;
      rows.push(parseRow(family));
    }
  } finally {
    cur = '';
  }
  return rows;
}

/** Options of {@link readTcpTables} and {@link readTcpTablesSync}. */
export interface ReadTcpTablesOptions {
  /** Where procfs is mounted; a fixture tree in tests. Default `/proc`. */
  root?: string;
  /**
   * Read `ROOT/PID/net/tcp{,6}`: the tables of the network namespace that process `pid` is in.
   * Without it, `ROOT/net/tcp{,6}`, the namespace of the reading process.
   */
  pid?: number;
  /** Which tables, in that order. Default `[4, 6]`. */
  families?: readonly (4 | 6)[];
}

function tablePath(opts: ReadTcpTablesOptions | undefined, family: 4 | 6): string {
  const root = opts?.root ?? '/proc';
  const file = family === 6 ? 'tcp6' : 'tcp';
  if (opts?.pid !== undefined) {
    if (!Number.isSafeInteger(opts.pid) || opts.pid <= 0) throw new RangeError(`pid must be a positive integer, got ${String(opts.pid)}`);
    return join(root, String(opts.pid), 'net', file);
  }
  return join(root, 'net', file);
}

function familiesOf(opts: ReadTcpTablesOptions | undefined): readonly (4 | 6)[] {
  const families = opts?.families ?? [4, 6];
  for (const f of families) if (f !== 4 && f !== 6) throw new RangeError(`families must contain only 4 and 6, got ${String(f)}`);
  return families;
}

function isMissing(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

// One reusable buffer for the sync reader; procfs files report size 0, so read until EOF.
let syncBuf = Buffer.allocUnsafe(1 << 20);

function readProcFileSync(path: string): string {
  // readFileSync would do, but reading into a kept buffer avoids a chunk list and a concat.
  const fd = openSync(path, 'r');
  try {
    let used = 0;
    for (;;) {
      if (used === syncBuf.length) {
        const bigger = Buffer.allocUnsafe(syncBuf.length * 2);
        syncBuf.copy(bigger, 0, 0, used);
        syncBuf = bigger;
      }
      const n = readSync(fd, syncBuf, used, syncBuf.length - used, null);
      if (n === 0) break;
      used += n;
    }
    return syncBuf.toString('latin1', 0, used);
  } finally {
    closeSync(fd);
  }
}

async function readProcFile(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(1 << 18);
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, used);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, used, buf.length - used, null);
      if (bytesRead === 0) break;
      used += bytesRead;
    }
    return buf.toString('latin1', 0, used);
  } finally {
    await fh.close();
  }
}

/**
 * Reads and parses `/proc/net/tcp` and `/proc/net/tcp6` (or those of `opts.root`, or of the
 * network namespace of `opts.pid`). IPv4 rows come first, in the kernel's order.
 *
 * A missing `tcp6` (IPv6 disabled, `ipv6.disable=1`) yields no IPv6 rows and no error.
 *
 * @throws ProcParseError for a malformed row (see {@link parseTcpTable}).
 * @throws Node's fs error (`ENOENT`, `EACCES`, …) when `tcp` cannot be read, e.g. `pid` is gone.
 * @throws RangeError for a bad `pid` or family.
 */
export async function readTcpTables(opts?: ReadTcpTablesOptions): Promise<TcpRow[]> {
  const families = familiesOf(opts);
  const texts = await Promise.all(
    families.map(async (family) => {
      const path = tablePath(opts, family);
      try {
        return { family, path, text: await readProcFile(path) };
      } catch (err) {
        if (family === 6 && isMissing(err)) return undefined;
        throw err;
      }
    }),
  );
  return collect(texts);
}

/** Synchronous {@link readTcpTables}: same options, result and errors. */
export function readTcpTablesSync(opts?: ReadTcpTablesOptions): TcpRow[] {
  const families = familiesOf(opts);
  const texts = families.map((family) => {
    const path = tablePath(opts, family);
    try {
      return { family, path, text: readProcFileSync(path) };
    } catch (err) {
      if (family === 6 && isMissing(err)) return undefined;
      throw err;
    }
  });
  return collect(texts);
}

function collect(texts: readonly ({ family: 4 | 6; path: string; text: string } | undefined)[]): TcpRow[] {
  let rows: TcpRow[] | undefined;
  for (const t of texts) {
    if (t === undefined) continue;
    const parsed = parseTcpTable(t.text, t.family, t.path);
    if (rows === undefined) rows = parsed;
    else for (let i = 0; i < parsed.length; i++) rows.push(parsed[i] as TcpRow);
  }
  return rows ?? [];
}
