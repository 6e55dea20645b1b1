/**
 * Pure decoders of the four TCP tracepoints this project reads, driven by the field layout the
 * running kernel publishes (offsets from each event's `format` file, fields found by name, so a
 * kernel that moves or drops an optional field still decodes).
 *
 * Sources: include/trace/events/sock.h (`inet_sock_set_state`, `inet_sk_error_report`),
 * include/trace/events/tcp.h (`tcp_send_reset`, `tcp_receive_reset` of class `tcp_event_sk`),
 * include/net/rstreason.h (`enum sk_rst_reason`), include/net/tcp_states.h.
 *
 * "local" is always the traced socket's own end:
 * - inet_sock_set_state, inet_sk_error_report, tcp_receive_reset store `inet_sport`/`inet_saddr`
 *   (`TP_STORE_ADDR_PORTS`) as sport/saddr: ours;
 * - tcp_send_reset stores the socket's own address as `saddr` when it has a full socket, and
 *   otherwise (no socket, TIME_WAIT or request socket) the incoming segment's 4-tuple reversed
 *   (`TP_STORE_ADDR_PORTS_SKB(skb, th, entry->daddr, entry->saddr)`): the segment's destination,
 *   i.e. our side, lands in `saddr` again. Its saddr/daddr are `struct sockaddr_in`/`sockaddr_in6`
 *   bytes (family, port in network order, address); both are zero when the kernel had neither a
 *   full socket nor a segment.
 */

import { formatEndpoint, formatIPv4Bytes, formatIPv6Bytes } from '../../tcp/address.js';
import { knownErrnoName, type ErrnoName } from '../../tcp/errno.js';
import type { RstReason } from '../../tcp/rst-reason.js';
import { TCP_STATES, type TcpState } from '../../tcp/state.js';
import type { EventFormat, FieldFormat } from './format.js';

/** The tracepoints, as `events/<system>/<name>`. */
export const TCP_TRACEPOINTS = {
  inet_sock_set_state: 'sock',
  tcp_send_reset: 'tcp',
  tcp_receive_reset: 'tcp',
  inet_sk_error_report: 'sock',
} as const;

/** One of the four tracepoints. */
export type TcpTracepoint = keyof typeof TCP_TRACEPOINTS;

/** Every tracepoint, in a fixed order. */
export const ALL_TCP_TRACEPOINTS = Object.keys(TCP_TRACEPOINTS) as TcpTracepoint[];

/** Address family of the socket. */
export type IpFamily = 'IPv4' | 'IPv6';

/** What every decoded event carries. */
export interface TcpTraceEventBase {
  /**
   * Time of the event in the session's trace clock, nanoseconds. With the default clock `mono`
   * this is CLOCK_MONOTONIC, the clock of `process.hrtime.bigint()`: compare directly.
   */
  clockNs: bigint;
  /** The same instant as CLOCK_REALTIME milliseconds since the epoch, with a µs fraction. */
  epochMs: number;
  /** CPU whose buffer held the event. */
  cpu: number;
  /**
   * `common_pid`: the task running when the tracepoint fired. For events raised in softirq
   * context (segments arriving: resets received, most transitions of the passive side) this is
   * whatever task the CPU happened to run, often 0 (idle) or an unrelated process: not the owner.
   */
  pid: number;
}

/**
 * A state transition (`sock/inet_sock_set_state`, TCP sockets only). One socket's transitions
 * share `skaddr`; its local port reads 0 at CLOSE → SYN_SENT (connect() binds it afterwards).
 * Request sockets (NEW_SYN_RECV) make no transitions: a passive open shows LISTEN → SYN_RECV on
 * the child socket when the handshake completes.
 */
export interface TcpStateChangeEvent extends TcpTraceEventBase {
  kind: 'state';
  from: TcpState;
  to: TcpState;
  family: IpFamily;
  /** Our end, `ip:port` / `[ip6]:port` (formatEndpoint). */
  local: string;
  remote: string;
  /** Kernel address of the `struct sock`: one socket's events share it (until it is freed and reused). */
  skaddr: bigint;
}

/**
 * A RST this host sent (`tcp/tcp_send_reset`). The tracepoint fires after the segment left: on
 * loopback the peer handles it inside the same call, so the peer's `reset-received` and
 * `error-report` carry earlier times than this record.
 */
export interface TcpResetSentEvent extends TcpTraceEventBase {
  kind: 'reset-sent';
  family: IpFamily | null;
  /** Our end (see the module comment); null when the kernel recorded no address. */
  local: string | null;
  remote: string | null;
  /** State of the socket that sent it; null when there was none (NO_SOCKET) or the kernel said 0. */
  state: TcpState | null;
  /** The kernel's reason (Linux >= 6.10); null on kernels without the field. */
  reason: RstReason | null;
  /** 0n when no socket sent it. */
  skaddr: bigint;
  /** The segment that provoked it; 0n for an active reset (close, abort, timeout). */
  skbaddr: bigint;
}

/** A RST this host received and accepted (`tcp/tcp_receive_reset`, from tcp_reset()). */
export interface TcpResetReceivedEvent extends TcpTraceEventBase {
  kind: 'reset-received';
  family: IpFamily;
  local: string;
  remote: string;
  skaddr: bigint;
  /** The socket cookie (SO_COOKIE, the `ss -e` "sk:" id is different); null on kernels without it. */
  cookie: bigint | null;
}

/** An error reported to the socket's owner (`sock/inet_sk_error_report`, sk_error_report()). */
export interface TcpErrorReportEvent extends TcpTraceEventBase {
  kind: 'error-report';
  family: IpFamily;
  local: string;
  remote: string;
  /** `sk_err` as an errno name (`ECONNRESET`, `EPIPE`, `ETIMEDOUT`), null if Node does not know it. */
  errno: ErrnoName | null;
  /** `sk_err` as the kernel stored it (positive errno). */
  error: number;
}

/** One decoded TCP trace event. */
export type TcpTraceEvent = TcpStateChangeEvent | TcpResetSentEvent | TcpResetReceivedEvent | TcpErrorReportEvent;

/** Where a record was found and how to convert its time. */
export interface RecordContext {
  clockNs: bigint;
  cpu: number;
  /** CLOCK_REALTIME − trace clock, nanoseconds. */
  epochOffsetNs: bigint;
}

/** Why records were not turned into events (counts since the decoder was made). */
export interface DecodeSkips {
  /** Records of another event type (e.g. the flush marker). */
  otherEvent: number;
  /** Not TCP (SCTP, MPTCP-level sockets share inet_sock_set_state and inet_sk_error_report). */
  notTcp: number;
  /** A state number neither the kernel's table nor include/net/tcp_states.h names. */
  unknownState: number;
  /** Shorter than its format says. */
  truncated: number;
}

/** Decodes records of the events whose formats it was given. */
export interface TcpEventDecoder {
  /** `common_type` ids this decoder knows, with their tracepoint. */
  readonly ids: ReadonlyMap<number, TcpTracepoint>;
  readonly skips: DecodeSkips;
  /** The event, or null when the record is not one (see {@link DecodeSkips}). */
  decode(record: Buffer, ctx: RecordContext): TcpTraceEvent | null;
}

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;

type Reader = (b: Buffer) => number;
type BigReader = (b: Buffer) => bigint;

function intReader(f: FieldFormat): Reader {
  const o = f.offset;
  switch (f.size) {
    case 1:
      return f.signed ? (b) => b.readInt8(o) : (b) => b.readUInt8(o);
    case 2:
      return f.signed ? (b) => b.readInt16LE(o) : (b) => b.readUInt16LE(o);
    case 4:
      return f.signed ? (b) => b.readInt32LE(o) : (b) => b.readUInt32LE(o);
    case 8:
      return f.signed ? (b) => Number(b.readBigInt64LE(o)) : (b) => Number(b.readBigUInt64LE(o));
    default:
      throw new RangeError(`field ${f.name}: integer of ${f.size} bytes`);
  }
}

function bigReader(f: FieldFormat): BigReader {
  const o = f.offset;
  if (f.size === 8) return (b) => b.readBigUInt64LE(o);
  if (f.size === 4) return (b) => BigInt(b.readUInt32LE(o));
  throw new RangeError(`field ${f.name}: pointer of ${f.size} bytes`);
}

/** Integer field reader, or a constant when the field is absent on this kernel. */
function optInt(fmt: EventFormat, name: string, absent: number): Reader {
  const f = fmt.field.get(name);
  return f && f.arrayLength === null ? intReader(f) : () => absent;
}

function optBig(fmt: EventFormat, name: string): BigReader | null {
  const f = fmt.field.get(name);
  return f && f.arrayLength === null ? bigReader(f) : null;
}

/** The end of the record every field must fit in: max(offset + size). */
function recordSize(fmt: EventFormat): number {
  let n = 0;
  for (const f of fmt.fields) if (!f.dynamic) n = Math.max(n, f.offset + f.size);
  return n;
}

/** State number → TcpState: by the kernel's own table (`TCP_FIN_WAIT1` → `FIN_WAIT1`), else tcp_states.h. */
function stateNamer(fmt: EventFormat, field: string): (n: number) => TcpState | null {
  const table = fmt.symbols.get(field);
  const cache = new Map<number, TcpState | null>();
  return (n) => {
    let s = cache.get(n);
    if (s !== undefined) return s;
    const kernelName = table?.get(n)?.replace(/^TCP_/, '');
    if (kernelName !== undefined && (TCP_STATES as readonly string[]).includes(kernelName)) s = kernelName as TcpState;
    else s = TCP_STATES[n - 1] ?? null;
    cache.set(n, s);
    return s;
  };
}

// `ip:port` texts by (IPv4 address, port): a trace names the same few endpoints over and over.
const V4_CACHE_LIMIT = 1 << 16;
const v4Endpoints = new Map<number, string>();

/** `a.b.c.d:port` of the network-order address at `b[at..at+4)`, cached. */
function v4Endpoint(b: Buffer, at: number, port: number): string {
  const key = b.readUInt32BE(at) * 65536 + port;
  let s = v4Endpoints.get(key);
  if (s === undefined) {
    s = formatEndpoint({ address: formatIPv4Bytes(b, at), port });
    if (v4Endpoints.size >= V4_CACHE_LIMIT) v4Endpoints.clear();
    v4Endpoints.set(key, s);
  }
  return s;
}

/** Address pair fields of the `TP_STORE_ADDR_PORTS` events (sport, dport, family, saddr[4], …). */
function endpointReader(fmt: EventFormat): (b: Buffer) => { family: IpFamily; local: string; remote: string } | null {
  const sport = optInt(fmt, 'sport', 0);
  const dport = optInt(fmt, 'dport', 0);
  const family = optInt(fmt, 'family', AF_INET);
  const s4 = fmt.field.get('saddr');
  const d4 = fmt.field.get('daddr');
  const s6 = fmt.field.get('saddr_v6');
  const d6 = fmt.field.get('daddr_v6');
  return (b) => {
    const fam = family(b);
    if (fam === AF_INET && s4 && d4 && s4.size >= 4) {
      return { family: 'IPv4', local: v4Endpoint(b, s4.offset, sport(b)), remote: v4Endpoint(b, d4.offset, dport(b)) };
    }
    if (fam === AF_INET6 && s6 && d6 && s6.size >= 16) {
      return {
        family: 'IPv6',
        local: formatEndpoint({ address: formatIPv6Bytes(b, s6.offset), port: sport(b) }),
        remote: formatEndpoint({ address: formatIPv6Bytes(b, d6.offset), port: dport(b) }),
      };
    }
    return null;
  };
}

/** A `struct sockaddr_in` / `sockaddr_in6` stored as bytes (tcp_send_reset's saddr/daddr). */
function sockaddrText(b: Buffer, at: number, size: number): { family: IpFamily; text: string } | null {
  if (size < 8) return null;
  const fam = b.readUInt16LE(at);
  const port = b.readUInt16BE(at + 2);
  if (fam === AF_INET) return { family: 'IPv4', text: v4Endpoint(b, at + 4, port) };
  if (fam === AF_INET6 && size >= 24) return { family: 'IPv6', text: formatEndpoint({ address: formatIPv6Bytes(b, at + 8), port }) };
  return null;
}


/** CLOCK_REALTIME ms with a µs fraction for a trace-clock time. */
export function epochMsOf(clockNs: bigint, epochOffsetNs: bigint): number {
  return Number((clockNs + epochOffsetNs) / 1000n) / 1000;
}

/**
 * Builds a decoder for the events whose parsed formats are given (any subset).
 * @throws RangeError when a format gives a field a size this decoder cannot read (e.g. a 3-byte int).
 */
export function createTcpDecoder(formats: Partial<Record<TcpTracepoint, EventFormat>>): TcpEventDecoder {
  const skips: DecodeSkips = { otherEvent: 0, notTcp: 0, unknownState: 0, truncated: 0 };
  const ids = new Map<number, TcpTracepoint>();
  // Objects are built as literals with every field (no spread): one hidden class per kind.
  type Body = (b: Buffer, clockNs: bigint, epochMs: number, cpu: number, pid: number) => TcpTraceEvent | null;
  const bodies = new Map<number, { body: Body; size: number; pid: Reader }>();

  const add = (name: TcpTracepoint, fmt: EventFormat, body: Body): void => {
    ids.set(fmt.id, name);
    bodies.set(fmt.id, { body, size: recordSize(fmt), pid: optInt(fmt, 'common_pid', -1) });
  };

  const setState = formats.inet_sock_set_state;
  if (setState) {
    const protocol = optInt(setState, 'protocol', IPPROTO_TCP);
    const oldstate = optInt(setState, 'oldstate', 0);
    const newstate = optInt(setState, 'newstate', 0);
    const fromName = stateNamer(setState, 'oldstate');
    const toName = stateNamer(setState, 'newstate');
    const ends = endpointReader(setState);
    const skaddr = optBig(setState, 'skaddr');
    add('inet_sock_set_state', setState, (b, clockNs, epochMs, cpu, pid) => {
      if (protocol(b) !== IPPROTO_TCP) {
        skips.notTcp++;
        return null;
      }
      const from = fromName(oldstate(b));
      const to = toName(newstate(b));
      const e = ends(b);
      if (from === null || to === null || e === null) {
        skips.unknownState++;
        return null;
      }
      return { kind: 'state', clockNs, epochMs, cpu, pid, from, to, family: e.family, local: e.local, remote: e.remote, skaddr: skaddr ? skaddr(b) : 0n };
    });
  }

  const sendReset = formats.tcp_send_reset;
  if (sendReset) {
    const state = optInt(sendReset, 'state', 0);
    const stateName = stateNamer(sendReset, 'state');
    const reasonField = sendReset.field.get('reason');
    const reason = reasonField ? intReader(reasonField) : null;
    const reasons = sendReset.symbols.get('reason');
    const skaddr = optBig(sendReset, 'skaddr');
    const skbaddr = optBig(sendReset, 'skbaddr');
    const sa = sendReset.field.get('saddr');
    const da = sendReset.field.get('daddr');
    const ends = sa && sa.size >= 16 ? null : endpointReader(sendReset); // pre-5.x layout had sport/dport fields
    add('tcp_send_reset', sendReset, (b, clockNs, epochMs, cpu, pid) => {
      let family: IpFamily | null = null;
      let local: string | null = null;
      let remote: string | null = null;
      if (ends === null && sa && da) {
        const l = sockaddrText(b, sa.offset, sa.size);
        const r = sockaddrText(b, da.offset, da.size);
        family = l?.family ?? r?.family ?? null;
        local = l?.text ?? null;
        remote = r?.text ?? null;
      } else if (ends) {
        const e = ends(b);
        if (e) ({ family, local, remote } = e);
      }
      const st = state(b);
      let why: RstReason | null = null;
      if (reason) {
        const v = reason(b);
        why = reasons?.get(v) ?? `REASON_${v}`;
      }
      return {
        kind: 'reset-sent',
        clockNs,
        epochMs,
        cpu,
        pid,
        family,
        local,
        remote,
        state: st === 0 ? null : stateName(st),
        reason: why,
        skaddr: skaddr ? skaddr(b) : 0n,
        skbaddr: skbaddr ? skbaddr(b) : 0n,
      };
    });
  }

  const recvReset = formats.tcp_receive_reset;
  if (recvReset) {
    const ends = endpointReader(recvReset);
    const skaddr = optBig(recvReset, 'skaddr');
    const cookie = optBig(recvReset, 'sock_cookie');
    add('tcp_receive_reset', recvReset, (b, clockNs, epochMs, cpu, pid) => {
      const e = ends(b);
      if (!e) {
        skips.unknownState++;
        return null;
      }
      return {
        kind: 'reset-received',
        clockNs,
        epochMs,
        cpu,
        pid,
        family: e.family,
        local: e.local,
        remote: e.remote,
        skaddr: skaddr ? skaddr(b) : 0n,
        cookie: cookie ? cookie(b) : null,
      };
    });
  }

  const errReport = formats.inet_sk_error_report;
  if (errReport) {
    const protocol = optInt(errReport, 'protocol', IPPROTO_TCP);
    const error = optInt(errReport, 'error', 0);
    const ends = endpointReader(errReport);
    add('inet_sk_error_report', errReport, (b, clockNs, epochMs, cpu, pid) => {
      if (protocol(b) !== IPPROTO_TCP) {
        skips.notTcp++;
        return null;
      }
      const e = ends(b);
      if (!e) {
        skips.unknownState++;
        return null;
      }
      const err = error(b);
      return {
        kind: 'error-report',
        clockNs,
        epochMs,
        cpu,
        pid,
        family: e.family,
        local: e.local,
        remote: e.remote,
        errno: knownErrnoName(err),
        error: err,
      };
    });
  }

  return {
    ids,
    skips,
    decode(record, ctx) {
      if (record.length < 2) {
        skips.truncated++;
        return null;
      }
      const entry = bodies.get(record.readUInt16LE(0));
      if (!entry) {
        skips.otherEvent++;
        return null;
      }
      if (record.length < entry.size) {
        skips.truncated++;
        return null;
      }
      return entry.body(record, ctx.clockNs, epochMsOf(ctx.clockNs, ctx.epochOffsetNs), ctx.cpu, entry.pid(record));
    },
  };
}

/** The local and remote port of an event, for port filters (null: the event has none). */
export function eventPorts(e: TcpTraceEvent): [number, number] | null {
  if (e.local === null || e.remote === null) return null;
  return [portOf(e.local), portOf(e.remote)];
}

function portOf(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

/**
 * The event as plain JSON data (recorded traces, `--json` output), since JSON.stringify cannot
 * write bigints: `clockNs` as a decimal string, `skaddr`/`skbaddr`/`cookie` as `0x…` hex.
 * {@link eventFromJson} reverses it.
 */
export function eventToJson(e: TcpTraceEvent): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const [k, v] of Object.entries(e) as [string, unknown][]) {
    if (typeof v === 'bigint') out[k] = k === 'clockNs' ? v.toString() : `0x${v.toString(16)}`;
    else out[k] = v as string | number | null;
  }
  return out;
}

/**
 * Reads back what {@link eventToJson} wrote.
 * @throws TypeError when `kind` is not one of the four or a bigint field is not a number string.
 */
export function eventFromJson(data: Record<string, unknown>): TcpTraceEvent {
  const kinds = ['state', 'reset-sent', 'reset-received', 'error-report'];
  if (typeof data.kind !== 'string' || !kinds.includes(data.kind)) throw new TypeError(`not a TCP trace event kind: ${JSON.stringify(data.kind)}`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (k === 'clockNs' || k === 'skaddr' || k === 'skbaddr' || (k === 'cookie' && v !== null)) {
      if (typeof v !== 'string' || !/^(?:\d+|0x[0-9a-f]+)$/.test(v)) throw new TypeError(`${k} must be a decimal or 0x-hex string, got ${JSON.stringify(v)}`);
      out[k] = BigInt(v);
    } else out[k] = v;
  }
  return out as unknown as TcpTraceEvent;
}
