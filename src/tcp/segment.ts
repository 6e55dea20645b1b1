import type { RstReason } from './rst-reason.js';

/** TCP header flags as RFC 9293 §3.1 names them, in the order tcpdump prints them. */
export type TcpFlag = 'SYN' | 'FIN' | 'RST' | 'PSH' | 'ACK' | 'URG' | 'ECE' | 'CWR';

/**
 * The TCP options worth showing (RFC 9293 §3.2, RFC 7323, RFC 2018/2883), as a segment carried
 * them; absent fields were not in the segment.
 */
export interface TcpOptions {
  /** Maximum segment size, bytes (SYN only). */
  mss?: number;
  /** Window scale shift count (SYN only, RFC 7323 §2). */
  wscale?: number;
  /** SACK permitted (SYN only, RFC 2018). */
  sackOk?: boolean;
  /** SACK blocks as `[left, right)` relative sequence numbers of the receiver's peer. */
  sack?: [number, number][];
  /** The first SACK block reports a duplicate (RFC 2883 D-SACK). */
  dsack?: boolean;
  /** Timestamps (RFC 7323 §3): TSval and TSecr, in the sender's timestamp clock units. */
  ts?: { val: number; ecr: number };
  /** Kinds of any other options present, in order. */
  other?: number[];
}

/** One captured TCP segment, as the lab records it. */
export interface Segment {
  /** Milliseconds since the capture started. */
  timeMs: number;
  /** `ip:port` of the sender. */
  src: string;
  /** `ip:port` of the receiver. */
  dst: string;
  flags: TcpFlag[];
  /** Sequence number relative to the sender's ISN (the SYN is 0). `null` when the ISN was not seen. */
  seq: number | null;
  /** Acknowledgement number relative to the receiver's ISN; `null` without ACK. */
  ack: number | null;
  /** Payload length in bytes. */
  length: number;
  /** Advertised receive window as carried in the header (unscaled, as tcpdump prints it). */
  window: number;
  /** Absolute sequence number as on the wire. */
  seqAbs?: number;
  /** Absolute acknowledgement number as on the wire; `null` without ACK. */
  ackAbs?: number | null;
  /** The options the segment carried. */
  options?: TcpOptions;
  /**
   * On a RST the kernel sent: why, as the `tcp:tcp_send_reset` tracepoint names it
   * (`TCP_ABORT_ON_CLOSE`); `null` when the kernel gave no reason or it was not traced.
   */
  rstReason?: RstReason | null;
}

/** A segment with the kernel's receive timestamp, as a capture records it. */
export interface CapturedSegment extends Segment {
  /** Kernel receive timestamp (CLOCK_REALTIME), ms since the epoch with a µs fraction. */
  epochMs: number;
}

/** A short, tcpdump-like spelling of a segment's flags: `S`, `S.`, `F.`, `R`, `P.` … */
export function flagString(flags: readonly TcpFlag[]): string {
  const letters: Record<TcpFlag, string> = { SYN: 'S', FIN: 'F', RST: 'R', PSH: 'P', URG: 'U', ECE: 'E', CWR: 'W', ACK: '.' };
  const order: TcpFlag[] = ['SYN', 'FIN', 'RST', 'PSH', 'URG', 'ECE', 'CWR', 'ACK'];
  return order.filter((f) => flags.includes(f)).map((f) => letters[f]).join('') || 'none';
}

/** `FIN+ACK` style spelling for prose. */
export function flagWords(flags: readonly TcpFlag[]): string {
  const order: TcpFlag[] = ['SYN', 'FIN', 'RST', 'PSH', 'URG', 'ECE', 'CWR', 'ACK'];
  return order.filter((f) => flags.includes(f)).join('+') || 'none';
}
