import type { TcpState } from '../tcp/index.js';

/** One state change of one endpoint: the shape of the lab's `transitions` (virtual ms). */
export interface Transition {
  atMs: number;
  from: TcpState;
  to: TcpState;
  /** The rule that moved it, with its source (`tcp_fin(): FIN in ESTABLISHED`). */
  why: string;
}

/**
 * The moves a full socket may make, as Linux makes them (`tcp_set_state()` callers in
 * net/ipv4/tcp*.c; RFC 9293 §3.3.2 Figure 5). TIME_WAIT is not here: `tcp_time_wait()` hands the
 * connection to a timewait socket and moves the full socket to CLOSE, as the kernel traces it.
 */
export const LEGAL_MOVES: Readonly<Partial<Record<TcpState, readonly TcpState[]>>> = {
  CLOSE: ['SYN_SENT', 'LISTEN'],
  LISTEN: ['SYN_RECV', 'CLOSE'], // SYN_RECV: a child cloned from the listener (tcp_create_openreq_child)
  SYN_SENT: ['ESTABLISHED', 'SYN_RECV', 'CLOSE'], // SYN_RECV: simultaneous open / self-connect
  SYN_RECV: ['ESTABLISHED', 'FIN_WAIT1', 'CLOSE_WAIT', 'CLOSE'],
  ESTABLISHED: ['FIN_WAIT1', 'CLOSE_WAIT', 'CLOSE'],
  FIN_WAIT1: ['FIN_WAIT2', 'CLOSING', 'CLOSE'],
  FIN_WAIT2: ['CLOSE'],
  CLOSING: ['CLOSE'],
  CLOSE_WAIT: ['LAST_ACK', 'CLOSE'],
  LAST_ACK: ['CLOSE'],
};

/** True when `from → to` is a move Linux makes. */
export function isLegalMove(from: TcpState, to: TcpState): boolean {
  return LEGAL_MOVES[from]?.includes(to) ?? false;
}

/** Thrown by a transition the state machine forbids: a model bug, never a peer's doing. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly from: TcpState,
    readonly to: TcpState,
    why: string,
  ) {
    super(`illegal TCP transition ${from} → ${to} (${why})`);
    this.name = 'IllegalTransitionError';
  }
}

/**
 * `tcp_close_state()` (net/ipv4/tcp.c): the state close() or shutdown(SHUT_WR) moves to, and
 * whether a FIN must be sent.
 */
export function closeState(state: TcpState): { to: TcpState; sendFin: boolean } {
  switch (state) {
    case 'ESTABLISHED':
    case 'SYN_RECV':
      return { to: 'FIN_WAIT1', sendFin: true };
    case 'CLOSE_WAIT':
      return { to: 'LAST_ACK', sendFin: true };
    case 'SYN_SENT':
    case 'LISTEN':
      return { to: 'CLOSE', sendFin: false };
    default:
      return { to: state, sendFin: false };
  }
}
