import { endianness } from 'node:os';
import { join } from 'node:path';

import { formatEndpoint, formatIPv6 } from '../tcp/address.js';
import type { SocketTimer } from '../tcp/observation.js';
import { TCP_STATES, type TcpState } from '../tcp/state.js';
import { ProcParseError } from './errors.js';
import { readProcFile, readProcFileSync } from './read-file.js';

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

/**
 * `tr` values of /proc/net/tcp, in the kernel's numbering (0..4). sock_diag's `idiag_timer` uses
 * the same numbers (inet_sk_diag_fill()), so sock-diag.ts shares this table.
 */
export const TIMER_KINDS: readonly SocketTimer['kind'][] = ['none', 'retransmit', 'keepalive', 'time_wait', 'zero_window_probe'];

/** clock_t → ms. The /proc tables print clock_t in USER_HZ, 100 on every Linux port but alpha. */
const MS_PER_TICK = 10;

/**
 * Whether the kernel prints the 32-bit address words in little-endian byte order. It prints each
 * `__be32` (and each `s6_addr32[i]`) with `%08X`, i.e. as a host-order integer, so the byte order
 * of the text depends on the host's: `0100007F` is 127.0.0.1 on x86 and arm64.
 */
const HOST_LITTLE_ENDIAN = endianness() === 'LE';

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

const SPACE = 32;
const COLON = 58;
const NEWLINE = 10;
const EMPTY = Buffer.alloc(0);

// Parser state. Module-level so the hot loop allocates nothing but the row, its timer and the
// strings it keeps; parseTcpBytes sets all of it and drops `cur` before returning.
let cur: Buffer = EMPTY;
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
  const line = cur.toString('utf8', lineStart, lineEnd);
  cur = EMPTY;
  throw new ProcParseError(src, lineNo, line, reason);
}

/** The whitespace-delimited token at `from`, for messages. */
function tokenAt(from: number): string {
  let end = from;
  while (end < lineEnd && cur[end] !== SPACE) end++;
  return cur.toString('utf8', from, end);
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

/**
 * Text of the IPv6 address whose 32 hex digits start at `at` (already checked): four
 * `s6_addr32` words, each printed as a host-order `%08X`.
 */
function ipv6At(at: number): string {
  const key = cur.toString('latin1', at, at + 32);
  let s = v6Cache.get(key);
  if (s === undefined) {
    const groups = new Array<number>(8);
    for (let w = 0; w < 4; w++) {
      const word = hex8(cur, at + w * 8);
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

// ---- Fast path: the kernel's fixed-width layout -------------------------------------------
//
// "%4d: %08X:%04X %08X:%04X %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu …" (IPv6: %08X four
// times per address). Everything up to `retrnsmt` sits at fixed offsets from the slot's colon,
// so it is read with table lookups and one validity check per field. Anything unexpected falls
// back to the tokenizer below, which also writes the error messages.

/** 8 hex digits at `at` as an unsigned 32-bit value, or -1. */
function hex8(b: Buffer, at: number): number {
  const d0 = HEX[b[at] as number] as number;
  const d1 = HEX[b[at + 1] as number] as number;
  const d2 = HEX[b[at + 2] as number] as number;
  const d3 = HEX[b[at + 3] as number] as number;
  const d4 = HEX[b[at + 4] as number] as number;
  const d5 = HEX[b[at + 5] as number] as number;
  const d6 = HEX[b[at + 6] as number] as number;
  const d7 = HEX[b[at + 7] as number] as number;
  if ((d0 | d1 | d2 | d3 | d4 | d5 | d6 | d7) < 0) return -1;
  return d0 * 0x10000000 + ((d1 << 24) | (d2 << 20) | (d3 << 16) | (d4 << 12) | (d5 << 8) | (d6 << 4) | d7);
}

/** 4 hex digits at `at`, or -1. */
function hex4(b: Buffer, at: number): number {
  const d0 = HEX[b[at] as number] as number;
  const d1 = HEX[b[at + 1] as number] as number;
  const d2 = HEX[b[at + 2] as number] as number;
  const d3 = HEX[b[at + 3] as number] as number;
  if ((d0 | d1 | d2 | d3) < 0) return -1;
  return (d0 << 12) | (d1 << 8) | (d2 << 4) | d3;
}

/** 2 hex digits at `at`, or -1. */
function hex2(b: Buffer, at: number): number {
  const d0 = HEX[b[at] as number] as number;
  const d1 = HEX[b[at + 1] as number] as number;
  if ((d0 | d1) < 0) return -1;
  return (d0 << 4) | d1;
}

/** Whether the 32 hex digits at `at` are all valid. */
function hex32ok(b: Buffer, at: number): boolean {
  return hex8(b, at) >= 0 && hex8(b, at + 8) >= 0 && hex8(b, at + 16) >= 0 && hex8(b, at + 24) >= 0;
}

// Offsets from the first address digit, for an address of width W (8 or 32 hex digits):
//   W ':' 4 ' ' W ':' 4 ' ' st(2) ' ' tx(8) ':' rx(8) ' ' tr(2) ':' when(8) ' ' retr(8)
const FIXED_TAIL = 2 + 1 + 8 + 1 + 8 + 1 + 2 + 1 + 8 + 1 + 8; // from st to the end of retrnsmt

function fastRow(family: 4 | 6, ls: number, le: number): TcpRow | undefined {
  const b = cur;
  let p = ls;
  while (p < le && b[p] === SPACE) p++;
  const sl = p;
  while (p < le && (b[p] as number) - 48 >>> 0 <= 9) p++;
  if (p === sl || b[p] !== COLON || b[p + 1] !== SPACE) return undefined;
  const a = p + 2;
  const w = family === 4 ? 8 : 32;
  const st = a + 2 * (w + 6);
  if (le - st < FIXED_TAIL + 2) return undefined;

  let localAddress: string;
  let remoteAddress: string;
  const ra = a + w + 6;
  if (family === 4) {
    const l = hex8(b, a);
    const r = hex8(b, ra);
    if (l < 0 || r < 0) return undefined;
    localAddress = ipv4(l);
    remoteAddress = ipv4(r);
  } else {
    if (!hex32ok(b, a) || !hex32ok(b, ra)) return undefined;
    localAddress = ipv6At(a);
    remoteAddress = ipv6At(ra);
  }
  const localPort = hex4(b, a + w + 1);
  const remotePort = hex4(b, ra + w + 1);
  if (localPort < 0 || remotePort < 0) return undefined;
  if (b[a + w] !== COLON || b[a + w + 5] !== SPACE || b[ra + w] !== COLON || b[ra + w + 5] !== SPACE) return undefined;

  const stn = hex2(b, st);
  const state = TCP_STATES[stn - 1];
  const sendQ = hex8(b, st + 3);
  const recvQ = hex8(b, st + 12);
  const tr = hex2(b, st + 21);
  const when = hex8(b, st + 24);
  const retransmits = hex8(b, st + 33);
  if (state === undefined || sendQ < 0 || recvQ < 0 || tr < 0 || when < 0 || retransmits < 0) return undefined;
  if (b[st + 2] !== SPACE || b[st + 11] !== COLON || b[st + 20] !== SPACE || b[st + 23] !== COLON || b[st + 32] !== SPACE || b[st + 41] !== SPACE) {
    return undefined;
  }

  // uid (%5u), timeout (%8d), inode (%lu): space-separated decimals.
  p = st + 41;
  while (p < le && b[p] === SPACE) p++;
  let d = p;
  let uid = 0;
  for (let c = (b[p] as number) - 48; p < le && c >= 0 && c <= 9; c = (b[++p] as number) - 48) uid = uid * 10 + c;
  if (p === d || b[p] !== SPACE) return undefined;
  while (p < le && b[p] === SPACE) p++;
  if (b[p] === 45 /* - */) p++;
  d = p;
  while (p < le && (b[p] as number) - 48 >>> 0 <= 9) p++;
  if (p === d || b[p] !== SPACE) return undefined;
  while (p < le && b[p] === SPACE) p++;
  d = p;
  let inode = 0;
  for (let c = (b[p] as number) - 48; p < le && c >= 0 && c <= 9; c = (b[++p] as number) - 48) inode = inode * 10 + c;
  if (p === d || p - d > 20 || (p < le && b[p] !== SPACE)) return undefined;

  return makeRow(family, localAddress, localPort, remoteAddress, remotePort, state, sendQ, recvQ, tr, when, retransmits, uid, inode);
}

function makeRow(
  family: 4 | 6,
  localAddress: string,
  localPort: number,
  remoteAddress: string,
  remotePort: number,
  state: TcpState,
  sendQ: number,
  recvQ: number,
  tr: number,
  when: number,
  retransmits: number,
  uid: number,
  inode: number,
): TcpRow {
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

// ---- Slow path: a tokenizer that accepts any spacing and digit count, and explains failures --

/** Moves past the spaces before column `what`; fails if there are none or the row ends. */
function column(what: string): void {
  if (pos >= lineEnd) fail(`the row ends before the ${what} column`);
  if (cur[pos] !== SPACE) fail(`unexpected ${JSON.stringify(tokenAt(pos))} before the ${what} column`);
  do pos++;
  while (pos < lineEnd && cur[pos] === SPACE);
  if (pos >= lineEnd) fail(`the row ends before the ${what} column`);
}

function expectColon(after: string): void {
  if (pos >= lineEnd || cur[pos] !== COLON) fail(`expected ":" after the ${after}, found ${JSON.stringify(tokenAt(pos))}`);
  pos++;
}

/** Reads 1..maxDigits hex digits (exactly maxDigits when `exact`). */
function readHex(maxDigits: number, exact: boolean, what: string): number {
  const start = pos;
  let v = 0;
  while (pos < lineEnd) {
    const d = HEX[cur[pos] as number] as number;
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
    const d = HEX[cur[pos] as number] as number;
    if (d < 0) break;
    v = v * 16 + d;
    inv = inv * 16 + (15 - d);
    pos++;
  }
  const n = pos - start;
  if (n === 0 || n > 16) fail(`expected 1 to 16 hex digits for the timer expiry (tm->when), found ${JSON.stringify(tokenAt(start))}`);
  if (n === 16 && (HEX[cur[start] as number] as number) >= 8) return -(inv + 1);
  return v;
}

function readDec(what: string, signed: boolean): number {
  const start = pos;
  let neg = false;
  if (signed && pos < lineEnd && cur[pos] === 45 /* - */) {
    neg = true;
    pos++;
  }
  const digits = pos;
  let v = 0;
  while (pos < lineEnd) {
    const d = (cur[pos] as number) - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
    pos++;
  }
  if (pos === digits || pos - digits > 20) fail(`expected a decimal number for the ${what}, found ${JSON.stringify(tokenAt(start))}`);
  return neg ? -v : v;
}

/** Reads the 8 (IPv4) or 32 (IPv6) hex digits of an address column. */
function readAddress(family: 4 | 6, what: string): string {
  const start = pos;
  if (family === 4) return ipv4(readHex(8, true, what));
  readHex(32, true, what);
  return ipv6At(start);
}

// formatIPv6 lives in src/tcp (the trace part formats addresses the same way); re-exported here.
export { formatIPv6 };

function slowRow(family: 4 | 6): TcpRow {
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
  if (pos < lineEnd && cur[pos] !== SPACE) fail(`unexpected ${JSON.stringify(tokenAt(pos))} in the inode column`);
  // What follows (refcount, socket pointer, and on full rows rto, ato, quick/pingpong, cwnd,
  // ssthresh) is not needed and may be absent: short rows end after the pointer.

  return makeRow(family, localAddress, localPort, remoteAddress, remotePort, state, sendQ, recvQ, tr, when, retransmits, uid, inode);
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
 * @param text   the whole file, as text or as the bytes read (bytes skip a decoding step).
 * @param family 4 for `tcp`, 6 for `tcp6`; an address of the other width is an error.
 * @param source named in error messages; defaults to `/proc/net/tcp` or `/proc/net/tcp6`.
 * @throws ProcParseError for a row that does not have that shape (missing or malformed column,
 *   unknown state number), naming `source`, the 1-based line number and the line.
 * @throws RangeError when `family` is not 4 or 6.
 */
export function parseTcpTable(text: string | Uint8Array, family: 4 | 6, source: string = family === 6 ? '/proc/net/tcp6' : '/proc/net/tcp'): TcpRow[] {
  if (family !== 4 && family !== 6) throw new RangeError(`family must be 4 or 6, got ${String(family)}`);
  // UTF-8, not latin1: a character above U+00FF must not be truncated into an ASCII digit.
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  return parseTcpBytes(bytes, bytes.length, family, source);
}

function parseTcpBytes(bytes: Buffer, len: number, family: 4 | 6, source: string): TcpRow[] {
  const rows: TcpRow[] = [];
  src = source;
  lineNo = 0;
  cur = bytes;
  try {
    let start = 0;
    while (start < len) {
      let end = bytes.indexOf(NEWLINE, start);
      if (end === -1 || end > len) end = len;
      lineNo++;
      lineStart = start;
      lineEnd = end;
      start = end + 1;
      let p = lineStart;
      while (p < end && bytes[p] === SPACE) p++;
      if (p === end) continue;
      if (lineNo === 1 && bytes[p] === 115 /* s */ && bytes[p + 1] === 108 /* l */) continue;
      let row = fastRow(family, lineStart, end);
      if (row === undefined) {
        pos = p;
        row = slowRow(family);
      }
      rows.push(row);
    }
  } finally {
    cur = EMPTY;
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
  const tables = await Promise.all(
    families.map(async (family) => {
      const path = tablePath(opts, family);
      let bytes: Buffer;
      try {
        bytes = await readProcFile(path);
      } catch (err) {
        if (family === 6 && isMissing(err)) return [];
        throw err;
      }
      return parseTcpBytes(bytes, bytes.length, family, path);
    }),
  );
  return concat(tables);
}

/** Synchronous {@link readTcpTables}: same options, result and errors. */
export function readTcpTablesSync(opts?: ReadTcpTablesOptions): TcpRow[] {
  const families = familiesOf(opts);
  const tables = families.map((family) => {
    const path = tablePath(opts, family);
    let file: { bytes: Buffer; length: number };
    try {
      file = readProcFileSync(path);
    } catch (err) {
      if (family === 6 && isMissing(err)) return [];
      throw err;
    }
    return parseTcpBytes(file.bytes, file.length, family, path);
  });
  return concat(tables);
}

function concat(tables: TcpRow[][]): TcpRow[] {
  const [first, ...rest] = tables;
  if (first === undefined) return [];
  for (const t of rest) for (let i = 0; i < t.length; i++) first.push(t[i] as TcpRow);
  return first;
}
