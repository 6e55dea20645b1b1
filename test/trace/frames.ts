/**
 * Hand-built frames for the decoder and filter tests: Ethernet (zero MACs, as on lo) → IPv4
 * (RFC 791 §3.1) or IPv6 (RFC 8200 §3) → TCP (RFC 9293 §3.1), every field written at its offset.
 */

export interface TcpSpec {
  family?: 4 | 6;
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** Flag byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80). */
  flags?: number;
  window?: number;
  urgent?: number;
  /** Raw option bytes; padded with EOL to a multiple of 4. */
  options?: Buffer;
  payload?: Buffer;
  /** IPv4 header options (bytes, multiple of 4) to make IHL > 5. */
  ipOptions?: Buffer;
  /** IP protocol / next header (default 6, TCP). */
  protocol?: number;
  /** IPv4 flags + fragment offset field (default 0x4000, DF). */
  fragment?: number;
  /** Override of the IPv4 total length / IPv6 payload length field. */
  ipLengthField?: number;
}

export const FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function ipv6Bytes(a: string): Buffer {
  const [head = '', tail] = a.split('::');
  const words = (s: string): number[] => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = tail === undefined ? [] : words(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

export function ethernet(etherType: number, body: Buffer): Buffer {
  const h = Buffer.alloc(14);
  h.writeUInt16BE(etherType, 12);
  return Buffer.concat([h, body]);
}

/** A whole Ethernet frame carrying one TCP segment. */
export function tcpFrame(s: TcpSpec = {}): Buffer {
  const family = s.family ?? 4;
  const rawOpts = s.options ?? Buffer.alloc(0);
  const opts = Buffer.concat([rawOpts, Buffer.alloc((4 - (rawOpts.length % 4)) % 4)]);
  const payload = s.payload ?? Buffer.alloc(0);
  const tcp = Buffer.alloc(20 + opts.length);
  tcp.writeUInt16BE(s.srcPort ?? 40000, 0);
  tcp.writeUInt16BE(s.dstPort ?? 80, 2);
  tcp.writeUInt32BE((s.seq ?? 1000) >>> 0, 4);
  tcp.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  tcp.writeUInt8(((20 + opts.length) / 4) << 4, 12);
  tcp.writeUInt8(s.flags ?? FLAG.ACK, 13);
  tcp.writeUInt16BE(s.window ?? 512, 14);
  tcp.writeUInt16BE(s.urgent ?? 0, 18);
  opts.copy(tcp, 20);
  const l4 = Buffer.concat([tcp, payload]);
  if (family === 4) {
    const ipOpts = s.ipOptions ?? Buffer.alloc(0);
    const ip = Buffer.alloc(20 + ipOpts.length);
    ip.writeUInt8(0x40 | ((20 + ipOpts.length) / 4), 0);
    ip.writeUInt16BE(s.ipLengthField ?? ip.length + l4.length, 2);
    ip.writeUInt16BE(0x1234, 4);
    ip.writeUInt16BE(s.fragment ?? 0x4000, 6);
    ip.writeUInt8(64, 8);
    ip.writeUInt8(s.protocol ?? 6, 9);
    ipv4Bytes(s.src ?? '127.0.0.1').copy(ip, 12);
    ipv4Bytes(s.dst ?? '127.0.0.1').copy(ip, 16);
    ipOpts.copy(ip, 20);
    return ethernet(0x0800, Buffer.concat([ip, l4]));
  }
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(s.ipLengthField ?? l4.length, 4);
  ip.writeUInt8(s.protocol ?? 6, 6);
  ip.writeUInt8(64, 7);
  ipv6Bytes(s.src ?? '::1').copy(ip, 8);
  ipv6Bytes(s.dst ?? '::1').copy(ip, 24);
  return ethernet(0x86dd, Buffer.concat([ip, l4]));
}

/** Option encoders (RFC 9293 §3.2, RFC 7323, RFC 2018). */
export const opt = {
  nop: (): Buffer => Buffer.from([1]),
  eol: (): Buffer => Buffer.from([0]),
  mss: (v: number): Buffer => Buffer.from([2, 4, v >> 8, v & 0xff]),
  wscale: (v: number): Buffer => Buffer.from([3, 3, v]),
  sackOk: (): Buffer => Buffer.from([4, 2]),
  sack: (blocks: Array<[number, number]>): Buffer => {
    const b = Buffer.alloc(2 + blocks.length * 8);
    b[0] = 5;
    b[1] = b.length;
    blocks.forEach(([l, r], i) => {
      b.writeUInt32BE(l >>> 0, 2 + i * 8);
      b.writeUInt32BE(r >>> 0, 6 + i * 8);
    });
    return b;
  },
  ts: (val: number, ecr: number): Buffer => {
    const b = Buffer.alloc(10);
    b[0] = 8;
    b[1] = 10;
    b.writeUInt32BE(val >>> 0, 2);
    b.writeUInt32BE(ecr >>> 0, 6);
    return b;
  },
  raw: (kind: number, data: number[]): Buffer => Buffer.from([kind, 2 + data.length, ...data]),
};

/** A UDP datagram over IPv4 or IPv6 (for the filter: must be dropped). */
export function udpFrame(family: 4 | 6, srcPort: number, dstPort: number): Buffer {
  const udp = Buffer.alloc(12);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(12, 4);
  if (family === 4) {
    const ip = Buffer.alloc(20);
    ip.writeUInt8(0x45, 0);
    ip.writeUInt16BE(32, 2);
    ip.writeUInt8(17, 9);
    return ethernet(0x0800, Buffer.concat([ip, udp]));
  }
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(12, 4);
  ip.writeUInt8(17, 6);
  return ethernet(0x86dd, Buffer.concat([ip, udp]));
}

/** An ARP request (EtherType 0x0806, RFC 826), 28 bytes of body. */
export function arpFrame(): Buffer {
  const body = Buffer.alloc(28);
  body.writeUInt16BE(1, 0);
  body.writeUInt16BE(0x0800, 2);
  body.writeUInt8(6, 4);
  body.writeUInt8(4, 5);
  body.writeUInt16BE(1, 6);
  return ethernet(0x0806, body);
}
