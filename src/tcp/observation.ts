import type { TcpState } from './state.js';

/** The process that holds a socket through one of its file descriptors. */
export interface SocketOwner {
  pid: number;
  /** `/proc/PID/comm` (at most 15 characters, as the kernel truncates it). */
  command: string;
  /** The descriptor number in that process. */
  fd: number;
}

/** The kernel's pending timer on a socket (the `tr` and `tm->when` columns of /proc/net/tcp). */
export interface SocketTimer {
  kind: 'none' | 'retransmit' | 'keepalive' | 'time_wait' | 'zero_window_probe' | 'unknown';
  /** Time left, milliseconds (the kernel prints 1/100 s). May be negative when already due. */
  remainingMs: number;
  /** Retransmits (or probes) done so far. */
  retransmits: number;
}

/**
 * One socket as seen at one moment: the shape shared by lab, doctor and model (../shared/DESIGN.md).
 */
export interface SocketObservation {
  /** `ip:port`; IPv6 as `[addr]:port`. */
  local: string;
  remote: string;
  state: TcpState;
  /** Bytes received and not yet read (incl. a FIN's one sequence number); on LISTEN: accept-queue length. */
  recvQ: number;
  /** Bytes sent and not yet acknowledged; on LISTEN: the backlog when known, else 0. */
  sendQ: number;
  /** Who holds it, or `null` when no descriptor does (never accepted, orphaned, TIME_WAIT). */
  owner: SocketOwner | null;
  /** Socket inode; 0 for TIME_WAIT and orphaned sockets. */
  inode: number;
  timer: SocketTimer;
}
