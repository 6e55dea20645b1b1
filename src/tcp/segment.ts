/** TCP header flags as RFC 9293 §3.1 names them, in the order tcpdump prints them. */
export type TcpFlag = 'SYN' | 'FIN' | 'RST' | 'PSH' | 'ACK' | 'URG' | 'ECE' | 'CWR';

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
  /** Advertised receive window (bytes, unscaled as printed by tcpdump). */
  window: number;
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
