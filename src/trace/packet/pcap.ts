import { writeFileSync } from 'node:fs';
import { MAX_SNAPLEN } from './bpf.js';

/**
 * Classic libpcap capture files (pcap-savefile(5); draft-ietf-opsawg-pcap): a 24-byte file
 * header, then per frame a 16-byte record header and the captured bytes. Written in this
 * machine's byte order (readers detect it from the magic number), version 2.4,
 * LINKTYPE_ETHERNET (1).
 *
 * Resolution: microseconds (magic 0xa1b2c3d4) by default — the format every reader opens
 * (tcpdump -r and Wireshark of any age, and the small npm readers); nanoseconds (magic
 * 0xa1b23c4d, libpcap ≥ 1.5, Wireshark ≥ 1.8) on request, keeping the kernel's full stamp.
 */

/** What a pcap record needs of a captured frame (a {@link CapturedPacket} has it). */
export interface PcapPacket {
  /** Timestamp, nanoseconds since the epoch. */
  epochNs: bigint;
  /** Captured bytes, from the Ethernet header on. */
  frame: Uint8Array;
  /** Length on the wire, bytes (≥ `frame.length`). */
  origLen: number;
}

/** Options of {@link encodePcap}. */
export interface PcapOptions {
  /** Timestamp resolution of the file: `'us'` (default, magic 0xa1b2c3d4) or `'ns'` (0xa1b23c4d). */
  resolution?: 'us' | 'ns';
  /** The snap length the header announces, bytes; default 262144. Frames longer than it are cut to it. */
  snaplen?: number;
}

/** LINKTYPE_ETHERNET (tcpdump.org/linktypes.html). */
export const LINKTYPE_ETHERNET = 1;
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;

const FILE_HEADER = 24;
const RECORD_HEADER = 16;

/**
 * Encodes frames as one pcap file. Pure.
 * @throws RangeError for a snaplen outside 1…262144, a timestamp before 1970 or after 2106 (the
 *   format's 32-bit unsigned seconds), or an `origLen` below the frame's length.
 */
export function encodePcap(packets: readonly PcapPacket[], opts: PcapOptions = {}): Buffer {
  const resolution = opts.resolution ?? 'us';
  const snaplen = opts.snaplen ?? MAX_SNAPLEN;
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAX_SNAPLEN) throw new RangeError(`snaplen: ${snaplen} is not a byte count in 1…${MAX_SNAPLEN}`);
  let size = FILE_HEADER;
  for (const p of packets) size += RECORD_HEADER + Math.min(p.frame.length, snaplen);
  const out = Buffer.alloc(size);
  out.writeUInt32LE(resolution === 'ns' ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeInt32LE(0, 8); // thiszone: timestamps are UTC
  out.writeUInt32LE(0, 12); // sigfigs
  out.writeUInt32LE(snaplen, 16);
  out.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const perSecond = resolution === 'ns' ? 1n : 1000n;
  let at = FILE_HEADER;
  for (const [i, p] of packets.entries()) {
    if (p.epochNs < 0n || p.epochNs >= 2n ** 32n * 1_000_000_000n) throw new RangeError(`packet ${i}: timestamp ${p.epochNs} ns does not fit a pcap record (1970…2106)`);
    if (!Number.isInteger(p.origLen) || p.origLen < p.frame.length || p.origLen > 0xffffffff) throw new RangeError(`packet ${i}: origLen ${p.origLen} is below the captured ${p.frame.length} bytes`);
    const incl = Math.min(p.frame.length, snaplen);
    out.writeUInt32LE(Number(p.epochNs / 1_000_000_000n), at);
    out.writeUInt32LE(Number((p.epochNs % 1_000_000_000n) / perSecond), at + 4);
    out.writeUInt32LE(incl, at + 8);
    out.writeUInt32LE(p.origLen, at + 12);
    out.set(p.frame.subarray(0, incl), at + RECORD_HEADER);
    at += RECORD_HEADER + incl;
  }
  return out;
}

/**
 * Writes frames to `path` as a pcap file ({@link encodePcap}), replacing the file.
 * @throws RangeError as {@link encodePcap}; the fs error (ENOENT, EACCES …) when writing fails.
 */
export function writePcapFile(path: string, packets: readonly PcapPacket[], opts: PcapOptions = {}): void {
  writeFileSync(path, encodePcap(packets, opts));
}
