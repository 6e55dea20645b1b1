import { formatEndpoint, formatIPv6Bytes } from '../../tcp/address.js';
import type { TcpFlag } from '../../tcp/segment.js';

/**
 * Decodes captured frames: Ethernet (14 bytes; lo's carry zero MACs) → IPv4 (RFC 791) or IPv6
 * (RFC 8200, fixed header only) → TCP (RFC 9293 §3.1) with its options. Pure; never throws on any
 * input: a frame that is not TCP, or is cut short, or lies about its lengths, gets a
 * {@link DecodeFailure} reason instead.
 */

/** A SACK block (RFC 2018 §3): the receiver holds bytes [`left`, `right`), absolute sequence numbers. */
export interface SackBlock {
  left: number;
  right: number;
}

/** The TCP options of one segment. */
export interface TcpOptions {
  /** Maximum segment size (kind 2, RFC 9293 §3.7.1), bytes; `null` when absent. */
  mss: number | null;
  /** Window scale shift count (kind 3, RFC 7323 §2), 0…14 as sent (not clamped); `null` when absent. */
  windowScale: number | null;
  /** SACK-permitted (kind 4, RFC 2018 §2). */
  sackPermitted: boolean;
  /** SACK blocks (kind 5, RFC 2018 §3), in the order sent; the first may be a D-SACK (RFC 2883, see {@link isDsack}). */
  sackBlocks: SackBlock[];
  /** Timestamps (kind 8, RFC 7323 §3): TSval and TSecr, raw 32-bit clock ticks; `null` when absent. */
  timestamps: { tsval: number; tsecr: number } | null;
  /** Kinds of every other option present (e.g. 30 MPTCP, 34 TFO, 29 TCP-AO), in order; NOP (1) and EOL (0) excluded. */
  otherKinds: number[];
  /** True when the option list ran past the header or had an impossible length; options read before that are kept. */
  malformed: boolean;
}

/** One decoded TCP segment. */
export interface DecodedTcp {
  family: 4 | 6;
  /** `ip:port` of the sender; IPv6 as `[addr]:port` (src/tcp/address.ts `formatEndpoint`). */
  src: string;
  /** `ip:port` of the receiver. */
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Flags set in the header, RFC 9293 §3.1 names (the AE/NS bit is not modelled). */
  flags: TcpFlag[];
  /** Sequence number, absolute (unsigned 32-bit), present on every segment, pure ACKs included. */
  seq: number;
  /** Acknowledgment number, absolute; `null` when the ACK flag is clear (the field then means nothing). */
  ack: number | null;
  /** Window field as sent (bytes before scaling by the sender's window scale, RFC 7323 §2.2). */
  window: number;
  /** Urgent pointer field (meaningful only with URG). */
  urgentPointer: number;
  /** TCP header length (data offset × 4), bytes, 20…60. */
  headerLength: number;
  /**
   * Payload bytes the segment carried, from the IP length fields (IPv4 total length, IPv6 payload
   * length), not from the captured bytes, so a snap length does not shorten it.
   */
  payloadLength: number;
  /** Offset of the payload's first byte within the frame (bytes). */
  payloadOffset: number;
  options: TcpOptions;
}

/** Why a frame was not decoded as TCP. */
export type DecodeFailure =
  | 'truncated-ethernet'
  | 'not-ip'
  | 'truncated-ip'
  | 'bad-ip-version'
  | 'bad-ip-header-length'
  | 'bad-ip-length'
  | 'ip-fragment'
  | 'not-tcp'
  | 'truncated-tcp'
  | 'bad-tcp-header-length';

/** The result of {@link decodeFrame}. */
export type DecodeResult = { ok: true; tcp: DecodedTcp } | { ok: false; reason: DecodeFailure };

const ETH_HLEN = 14;

/**
 * Decodes one Ethernet frame down to its TCP header.
 * @param frame the captured bytes, starting at the Ethernet header.
 * @param origLen the frame's length on the wire (bytes); used only when the IP length field is 0
 *   (IPv4 or IPv6 "BIG TCP" GSO packets, whose length only the skb knows). Default `frame.length`.
 */
export function decodeFrame(frame: Uint8Array, origLen: number = frame.length): DecodeResult {
  if (frame.length < ETH_HLEN) return fail('truncated-ethernet');
  const etherType = u16(frame, 12);
  if (etherType === 0x0800) return decodeIpv4(frame, origLen);
  if (etherType === 0x86dd) return decodeIpv6(frame, origLen);
  return fail('not-ip');
}

/** {@link decodeFrame} when only a segment or nothing will do. */
export function decodeTcp(frame: Uint8Array, origLen?: number): DecodedTcp | null {
  const r = decodeFrame(frame, origLen);
  return r.ok ? r.tcp : null;
}

function fail(reason: DecodeFailure): DecodeResult {
  return { ok: false, reason };
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}

function u32(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}

function decodeIpv4(f: Uint8Array, origLen: number): DecodeResult {
  const ip = ETH_HLEN;
  if (f.length < ip + 20) return fail('truncated-ip');
  const vihl = f[ip] ?? 0;
  if (vihl >> 4 !== 4) return fail('bad-ip-version');
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) return fail('bad-ip-header-length');
  if (f.length < ip + ihl) return fail('truncated-ip');
  if ((u16(f, ip + 6) & 0x1fff) !== 0 || (u16(f, ip + 6) & 0x2000) !== 0) return fail('ip-fragment');
  if (f[ip + 9] !== 6) return fail('not-tcp');
  const total = u16(f, ip + 2);
  // 0 is what a GSO packet larger than 64 KiB carries (IPv4 BIG TCP); its length is the frame's.
  const ipLength = total === 0 ? origLen - ip : total;
  if (ipLength < ihl) return fail('bad-ip-length');
  const addr = (at: number): string => `${f[at]}.${f[at + 1]}.${f[at + 2]}.${f[at + 3]}`;
  return decodeTcpHeader(f, ip + ihl, ipLength - ihl, 4, addr(ip + 12), addr(ip + 16));
}

function decodeIpv6(f: Uint8Array, origLen: number): DecodeResult {
  const ip = ETH_HLEN;
  if (f.length < ip + 40) return fail('truncated-ip');
  if ((f[ip] ?? 0) >> 4 !== 6) return fail('bad-ip-version');
  if (f[ip + 6] !== 6) return fail('not-tcp'); // extension headers are not followed
  const payload = u16(f, ip + 4);
  const tcpLength = payload === 0 ? origLen - ip - 40 : payload;
  return decodeTcpHeader(f, ip + 40, tcpLength, 6, ipv6Text(f, ip + 8), ipv6Text(f, ip + 24));
}

/** The IPv6 address at `at`, as RFC 5952 writes it: src/tcp's {@link formatIPv6Bytes}, as proc/ and tracefs print it. */
export const ipv6Text = formatIPv6Bytes;

const FLAG_BITS: ReadonlyArray<[number, TcpFlag]> = [
  [0x01, 'FIN'],
  [0x02, 'SYN'],
  [0x04, 'RST'],
  [0x08, 'PSH'],
  [0x10, 'ACK'],
  [0x20, 'URG'],
  [0x40, 'ECE'],
  [0x80, 'CWR'],
];

function decodeTcpHeader(f: Uint8Array, at: number, tcpLength: number, family: 4 | 6, srcIp: string, dstIp: string): DecodeResult {
  if (f.length < at + 20) return fail('truncated-tcp');
  const headerLength = ((f[at + 12] ?? 0) >> 4) * 4;
  if (headerLength < 20) return fail('bad-tcp-header-length');
  if (tcpLength < headerLength) return fail('bad-ip-length');
  if (f.length < at + headerLength) return fail('truncated-tcp');
  const bits = f[at + 13] ?? 0;
  const flags = FLAG_BITS.filter(([bit]) => (bits & bit) !== 0).map(([, name]) => name);
  const srcPort = u16(f, at);
  const dstPort = u16(f, at + 2);
  return {
    ok: true,
    tcp: {
      family,
      src: formatEndpoint({ address: srcIp, port: srcPort }),
      dst: formatEndpoint({ address: dstIp, port: dstPort }),
      srcPort,
      dstPort,
      flags,
      seq: u32(f, at + 4),
      ack: (bits & 0x10) !== 0 ? u32(f, at + 8) : null,
      window: u16(f, at + 14),
      urgentPointer: u16(f, at + 18),
      headerLength,
      payloadLength: tcpLength - headerLength,
      payloadOffset: at + headerLength,
      options: decodeOptions(f, at + 20, at + headerLength),
    },
  };
}

/**
 * Walks the option list of RFC 9293 §3.1 (kind, length, data; EOL ends it, NOP pads). An option
 * whose length is below 2 or runs past the header ends the walk with `malformed` set; an option
 * of a known kind with the wrong length is recorded under `otherKinds` and flagged the same way.
 */
function decodeOptions(f: Uint8Array, from: number, end: number): TcpOptions {
  const o: TcpOptions = { mss: null, windowScale: null, sackPermitted: false, sackBlocks: [], timestamps: null, otherKinds: [], malformed: false };
  let i = from;
  while (i < end) {
    const kind = f[i] ?? 0;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) {
      o.malformed = true;
      break;
    }
    const len = f[i + 1] ?? 0;
    if (len < 2 || i + len > end) {
      o.malformed = true;
      break;
    }
    const d = i + 2;
    if (kind === 2 && len === 4) o.mss = u16(f, d);
    else if (kind === 3 && len === 3) o.windowScale = f[d] ?? 0;
    else if (kind === 4 && len === 2) o.sackPermitted = true;
    else if (kind === 5 && len >= 10 && (len - 2) % 8 === 0) {
      for (let b = d; b < i + len; b += 8) o.sackBlocks.push({ left: u32(f, b), right: u32(f, b + 4) });
    } else if (kind === 8 && len === 10) o.timestamps = { tsval: u32(f, d), tsecr: u32(f, d + 4) };
    else {
      if (kind >= 2 && kind <= 8 && kind !== 6 && kind !== 7) o.malformed = true;
      o.otherKinds.push(kind);
    }
    i += len;
  }
  return o;
}

/** `a < b` in sequence space (RFC 9293 §3.4: comparisons modulo 2^32). */
export function seqBefore(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/**
 * Whether the first SACK block of an ACK reports duplicate data (a D-SACK, RFC 2883 §4): it does
 * when the block lies below the cumulative acknowledgment (its left edge before `ack`), or, with a
 * second block, when the first lies within the second (§4.2, the duplicate above the cumulative
 * ACK). Sequence numbers compare modulo 2^32, as Linux's `tcp_check_dsack()` compares them.
 * @param firstBlock the segment's first SACK block; @param ack its acknowledgment number;
 * @param secondBlock its second SACK block, if any.
 */
export function isDsack(firstBlock: SackBlock, ack: number, secondBlock?: SackBlock): boolean {
  if (seqBefore(firstBlock.left, ack)) return true;
  if (secondBlock === undefined) return false;
  return !seqBefore(secondBlock.right, firstBlock.right) && !seqBefore(firstBlock.left, secondBlock.left);
}
