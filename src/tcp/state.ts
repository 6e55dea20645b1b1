/**
 * TCP connection states, spelled as RFC 9293 §3.3.2 and the Linux kernel spell them, numbered as
 * `include/net/tcp_states.h` numbers them (the `st` column of /proc/net/tcp, `tcpi_state`).
 */
export const TCP_STATES = [
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
  'BOUND_INACTIVE',
] as const;

/** One TCP state name (`'CLOSE_WAIT'`, `'FIN_WAIT2'`, …). `CLOSE` is RFC 9293's CLOSED. */
export type TcpState = (typeof TCP_STATES)[number];

/** The kernel's number for a state (1 = ESTABLISHED … 13 = BOUND_INACTIVE). */
export function stateNumber(state: TcpState): number {
  return TCP_STATES.indexOf(state) + 1;
}

/**
 * The state for a kernel state number.
 * @throws RangeError when `n` is not a state number of include/net/tcp_states.h.
 */
export function stateFromNumber(n: number): TcpState {
  const state = TCP_STATES[n - 1];
  if (state === undefined) throw new RangeError(`unknown TCP state number ${n}`);
  return state;
}

/** ss(8)'s spelling of a state (`CLOSE-WAIT`), for display only; data keeps the kernel's. */
export function ssAlias(state: TcpState): string {
  switch (state) {
    case 'ESTABLISHED':
      return 'ESTAB';
    case 'CLOSE':
      return 'UNCONN';
    case 'NEW_SYN_RECV':
      return 'SYN-RECV';
    default:
      return state.replace('_', '-').replace(/WAIT(\d)/, 'WAIT-$1');
  }
}
