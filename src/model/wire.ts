import type { RstReason, TcpFlag } from '../tcp/index.js';

/**
 * A segment as the model moves it: absolute sequence numbers (the model does not wrap them at
 * 2^32), the payload as a string of one-byte characters.
 */
export interface WireSegment {
  /** `ip:port` of the sender. */
  src: string;
  /** `ip:port` of the receiver. */
  dst: string;
  seq: number;
  /** Meaningful only with the ACK flag. */
  ack: number;
  flags: TcpFlag[];
  data: string;
  /** Advertised receive window, bytes (unscaled). */
  window: number;
  /** On a RST: why the sender reset (`tcp:tcp_send_reset`'s reason). */
  rstReason?: RstReason;
  /**
   * `gso_size`: the sender's MSS when the packet holds more than one segment (a GSO packet on
   * loopback, never cut before the capture); the receiver measures its rcv_mss from this.
   */
  gsoSize?: number;
}

export function has(seg: WireSegment, flag: TcpFlag): boolean {
  return seg.flags.includes(flag);
}

/** Sequence space a segment occupies: payload + SYN + FIN (RFC 9293 §3.4, SEG.LEN). */
export function segLen(seg: WireSegment): number {
  return seg.data.length + (has(seg, 'SYN') ? 1 : 0) + (has(seg, 'FIN') ? 1 : 0);
}

export function ipOf(addr: string): string {
  const i = addr.lastIndexOf(':');
  return addr.slice(0, i);
}

export function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}
