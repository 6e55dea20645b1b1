import type { BpfInsn } from '../../sys/packet.js';

/**
 * The capture's kernel filter, written out as classic BPF (include/uapi/linux/filter.h,
 * Documentation/networking/filter.rst). It is not a pcap-filter compiler: it knows one filter,
 * ours, and assembles it from labelled instructions so every jump is checked.
 *
 * What it accepts, from a frame with a 14-byte Ethernet header (lo's has zero MACs):
 *  - our flush markers (EtherType {@link MARKER_ETHERTYPE}), whole;
 *  - TCP over IPv4 (first fragments only: a later fragment has no TCP header) and over IPv6 (TCP
 *    directly after the fixed header; extension headers are not followed), optionally only when
 *    the source or the destination port lies in one of the given ranges;
 * and on loopback it drops every frame whose `pkttype` is PACKET_OUTGOING.
 *
 * Why that drop: a frame sent on lo passes the packet taps twice — once on the transmit side
 * (`dev_queue_xmit_nit()`, pkttype OUTGOING) and once more when `loopback_xmit()` hands it back
 * to the receive path (`netif_rx()`, pkttype HOST). libpcap hides the first copy in user space:
 * `linux_check_direction()` in pcap-linux.c rejects a PACKET_OUTGOING frame whose `sll_ifindex`
 * is the loopback device's ("we'll see the packet as an incoming packet as well, and we don't
 * want to see it twice"), after the kernel has already queued it. We drop it in the kernel with
 * the ancillary load SKF_AD_PKTTYPE, so the duplicate never takes receive-buffer space.
 */

/** The EtherType of our flush markers: IEEE 802 "Local Experimental EtherType 1" (0x88B5). */
export const MARKER_ETHERTYPE = 0x88b5;

/** libpcap's MAXIMUM_SNAPLEN (pcap-int.h) and tcpdump's default: whole frames, even GSO ones on lo. */
export const MAX_SNAPLEN = 262144;

/** A port range, both ends included: `[80, 80]`, `[32768, 60999]`. */
export type PortRange = readonly [number, number];

/** The most port ranges one filter takes (keeps the program far below BPF_MAXINSNS = 4096). */
export const MAX_PORT_RANGES = 512;

/** What {@link captureProgram} builds. */
export interface CaptureFilterSpec {
  /** Keep only TCP whose source or destination port is in one of these; absent or empty: all TCP. */
  ports?: readonly PortRange[];
  /** Bytes of each accepted frame to keep (the program's return value): 1 … {@link MAX_SNAPLEN}. */
  snaplen: number;
  /** Drop PACKET_OUTGOING frames: right on loopback (see above), wrong on any other interface. */
  dropOutgoing: boolean;
}

// Opcode parts (include/uapi/linux/bpf_common.h).
export const BPF = {
  LD: 0x00, LDX: 0x01, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07,
  W: 0x00, H: 0x08, B: 0x10,
  IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0,
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40,
  K: 0x00, X: 0x08, A: 0x10,
} as const;

/** Ancillary data offsets (linux/filter.h): `SKF_AD_OFF + SKF_AD_PKTTYPE` loads `skb->pkt_type`. */
export const SKF_AD_OFF = -0x1000;
export const SKF_AD_PROTOCOL = 0;
export const SKF_AD_PKTTYPE = 4;
export const SKF_AD_IFINDEX = 8;
const PACKET_OUTGOING = 4;

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const IPPROTO_TCP = 6;

/**
 * Sorts, checks and merges port ranges (overlapping or adjacent ones become one).
 * @throws RangeError for a port outside 0…65535, a non-integer, `lo > hi`, or more than
 *   {@link MAX_PORT_RANGES} ranges after merging.
 */
export function normalizePortRanges(ranges: readonly PortRange[]): Array<[number, number]> {
  for (const r of ranges) {
    const [lo, hi] = r;
    for (const p of [lo, hi]) {
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`ports: ${JSON.stringify(r)} has ${p}, not a port (0…65535)`);
    }
    if (lo > hi) throw new RangeError(`ports: ${JSON.stringify(r)} is empty (first > last)`);
  }
  const sorted = ranges.map((r): [number, number] => [r[0], r[1]]).sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push(r);
  }
  if (merged.length > MAX_PORT_RANGES) throw new RangeError(`ports: ${merged.length} separate ranges, at most ${MAX_PORT_RANGES}`);
  return merged;
}

/** An instruction whose jumps name labels; {@link assemble} turns them into offsets. */
type Line =
  | { label: string }
  | { code: number; k: number; jt?: string; jf?: string }
  | { code: number; k: number; ja: string };

/**
 * Resolves labels into relative jump offsets (classic BPF jumps forward only: offset = target −
 * next instruction).
 * @throws RangeError for an unknown label, a backward jump, or a conditional offset over 255.
 */
function assemble(lines: readonly Line[]): BpfInsn[] {
  const where = new Map<string, number>();
  let n = 0;
  for (const l of lines) {
    if ('label' in l) where.set(l.label, n);
    else n++;
  }
  const out: BpfInsn[] = [];
  const offset = (label: string | undefined, pc: number, max: number): number => {
    if (label === undefined) return 0;
    const target = where.get(label);
    if (target === undefined) throw new RangeError(`bpf: no label ${label}`);
    const off = target - (pc + 1);
    if (off < 0 || off > max) throw new RangeError(`bpf: jump to ${label} from ${pc} is ${off}, outside 0…${max}`);
    return off;
  };
  for (const l of lines) {
    if ('label' in l) continue;
    const pc = out.length;
    if ('ja' in l) out.push({ code: l.code, jt: 0, jf: 0, k: offset(l.ja, pc, 0xffffffff) });
    else out.push({ code: l.code, jt: offset(l.jt, pc, 255), jf: offset(l.jf, pc, 255), k: l.k >>> 0 });
  }
  return out;
}

const ld = (size: number, mode: number, k: number): Line => ({ code: BPF.LD | size | mode, k });
const jeq = (k: number, jt?: string, jf?: string): Line => ({ code: BPF.JMP | BPF.JEQ | BPF.K, k, ...(jt ? { jt } : {}), ...(jf ? { jf } : {}) });
const ret = (k: number): Line => ({ code: BPF.RET | BPF.K, k });

/**
 * The capture filter as a classic BPF program, ready for SO_ATTACH_FILTER. Pure.
 *
 * The shape: (pkttype == OUTGOING → drop); EtherType marker → keep; IPv4 → protocol TCP and
 * fragment offset 0, X = IHL × 4; IPv6 → next header TCP, X = 40; then, with port ranges, load
 * the source port at X+14 and, per range, `lo ≤ port ≤ hi → keep`, the same for the destination
 * port at X+16, else drop. Each range test returns in place and the header checks jump to exits
 * placed before the range tests, so every conditional jump stays within its 8-bit offset.
 * @throws RangeError for invalid ports (see {@link normalizePortRanges}) or snaplen.
 */
export function captureProgram(spec: CaptureFilterSpec): BpfInsn[] {
  if (!Number.isInteger(spec.snaplen) || spec.snaplen < 1 || spec.snaplen > MAX_SNAPLEN) {
    throw new RangeError(`snaplen: ${spec.snaplen} is not a byte count in 1…${MAX_SNAPLEN}`);
  }
  const ranges = normalizePortRanges(spec.ports ?? []);
  const keep = spec.snaplen;
  const p: Line[] = [];
  if (spec.dropOutgoing) {
    p.push(ld(BPF.W, BPF.ABS, SKF_AD_OFF + SKF_AD_PKTTYPE), jeq(PACKET_OUTGOING, 'drop'));
  }
  p.push(
    ld(BPF.H, BPF.ABS, 12), // EtherType
    jeq(MARKER_ETHERTYPE, 'keep'),
    jeq(ETHERTYPE_IPV4, 'ipv4'),
    jeq(ETHERTYPE_IPV6, 'ipv6', 'drop'),
    { label: 'ipv4' },
    ld(BPF.B, BPF.ABS, ETH_HLEN + 9), // protocol
    jeq(IPPROTO_TCP, undefined, 'drop'),
    ld(BPF.H, BPF.ABS, ETH_HLEN + 6), // flags + fragment offset
    { code: BPF.JMP | BPF.JSET | BPF.K, k: 0x1fff, jt: 'drop' },
  );
  if (ranges.length === 0) {
    p.push(ret(keep), { label: 'ipv6' }, ld(BPF.B, BPF.ABS, ETH_HLEN + 6), jeq(IPPROTO_TCP, 'keep', 'drop'));
    p.push({ label: 'drop' }, ret(0), { label: 'keep' }, ret(keep));
    return assemble(p);
  }
  p.push(
    { code: BPF.LDX | BPF.B | BPF.MSH, k: ETH_HLEN }, // X = 4 * (frame[14] & 0xf)
    { code: BPF.JMP | BPF.JA, k: 0, ja: 'ports' },
    { label: 'ipv6' },
    ld(BPF.B, BPF.ABS, ETH_HLEN + 6), // next header
    jeq(IPPROTO_TCP, undefined, 'drop'),
    { code: BPF.LDX | BPF.W | BPF.IMM, k: 40 },
    { code: BPF.JMP | BPF.JA, k: 0, ja: 'ports' },
    // The shared exits sit before the port tests, so the header checks' jumps to them stay short
    // however many ranges follow.
    { label: 'drop' },
    ret(0),
    { label: 'keep' },
    ret(keep),
    { label: 'ports' },
  );
  for (const portOffset of [ETH_HLEN, ETH_HLEN + 2]) {
    p.push(ld(BPF.H, BPF.IND, portOffset));
    ranges.forEach(([lo, hi], i) => {
      const next = `r${portOffset}-${i + 1}`;
      p.push(
        { code: BPF.JMP | BPF.JGE | BPF.K, k: lo, jf: next },
        { code: BPF.JMP | BPF.JGT | BPF.K, k: hi, jt: next },
        ret(keep),
        { label: next },
      );
    });
  }
  p.push(ret(0));
  return assemble(p);
}
