/**
 * Why the kernel sent a RST: the names of `enum sk_rst_reason` (include/net/rstreason.h, Linux
 * >= 6.10), as the `tcp/tcp_send_reset` tracepoint prints them (without the `SK_RST_REASON_`
 * prefix). This list is Linux 6.18's, in its numbering; a tracer takes the names from the running
 * kernel's print fmt, so a reason added by a newer kernel still arrives, spelled as that kernel
 * spells it.
 */
export const RST_REASONS = [
  'NOT_SPECIFIED',
  'NO_SOCKET',
  'TCP_INVALID_ACK_SEQUENCE',
  'TCP_RFC7323_PAWS',
  'TCP_TOO_OLD_ACK',
  'TCP_ACK_UNSENT_DATA',
  'TCP_FLAGS',
  'TCP_OLD_ACK',
  'TCP_ABORT_ON_DATA',
  'TCP_TIMEWAIT_SOCKET',
  'INVALID_SYN',
  'TCP_ABORT_ON_CLOSE',
  'TCP_ABORT_ON_LINGER',
  'TCP_ABORT_ON_MEMORY',
  'TCP_STATE',
  'TCP_KEEPALIVE_TIMEOUT',
  'TCP_DISCONNECT_WITH_DATA',
  'MPTCP_RST_EUNSPEC',
  'MPTCP_RST_EMPTCP',
  'MPTCP_RST_ERESOURCE',
  'MPTCP_RST_EPROHIBIT',
  'MPTCP_RST_EWQ2BIG',
  'MPTCP_RST_EBADPERF',
  'MPTCP_RST_EMIDDLEBOX',
  'ERROR',
  'MAX',
] as const;

/** A reset reason this project knows (Linux 6.18's list). */
export type KnownRstReason = (typeof RST_REASONS)[number];

/**
 * A reset reason as the running kernel names it: one of {@link KnownRstReason}, or a newer
 * kernel's name passed through unchanged (`string & {}` keeps editor completion for the known ones).
 */
export type RstReason = KnownRstReason | (string & {});

/**
 * One line on what each reason means for a user and which kernel path sends it (net/ipv4/tcp.c,
 * tcp_input.c, tcp_timer.c, tcp_minisocks.c, tcp_ipv4.c, Linux 6.18).
 */
export const RST_REASON_MEANINGS: Readonly<Record<KnownRstReason, string>> = {
  NOT_SPECIFIED: 'no reason given by the code path that sent it',
  NO_SOCKET: 'a segment arrived for a 4-tuple no socket owns (no listener, or the connection is gone): tcp_v4_rcv() → tcp_v4_send_reset()',
  TCP_INVALID_ACK_SEQUENCE: 'the segment ACKed a sequence number outside what was sent (e.g. a SYN-ACK acking the wrong ISN, RFC 9293 §3.10.7.3)',
  TCP_RFC7323_PAWS: 'the segment failed the PAWS timestamp check (RFC 7323 §5)',
  TCP_TOO_OLD_ACK: 'the segment ACKed data older than the send window',
  TCP_ACK_UNSENT_DATA: 'the segment ACKed data this end never sent',
  TCP_FLAGS: 'the segment carried a flag combination invalid in this state',
  TCP_OLD_ACK: 'the segment carried an old but in-window ACK the state rejects',
  TCP_ABORT_ON_DATA: 'data arrived after the application closed its socket (or SO_LINGER 0 close): tcp_rcv_state_process(), LINUX_MIB_TCPABORTONDATA',
  TCP_TIMEWAIT_SOCKET: 'a TIME_WAIT socket rejected a segment: tcp_timewait_state_process()',
  INVALID_SYN: 'a SYN arrived where none is allowed (RFC 5961 §4 challenge) or a bad SYN to a listener',
  TCP_ABORT_ON_CLOSE: 'close() with unread data in the receive queue: __tcp_close() resets instead of FIN (RFC 9293 §3.10.4), LINUX_MIB_TCPABORTONCLOSE',
  TCP_ABORT_ON_LINGER: 'close() in FIN_WAIT2 with TCP_LINGER2 < 0: __tcp_close() resets at once, LINUX_MIB_TCPABORTONLINGER',
  TCP_ABORT_ON_MEMORY: 'too many orphaned sockets or TCP memory pressure: tcp_out_of_resources() / tcp_check_oom(), LINUX_MIB_TCPABORTONMEMORY',
  TCP_STATE: 'tcp_disconnect() aborted a connection in a synchronized state (SO_LINGER 0 close, connect(AF_UNSPEC))',
  TCP_KEEPALIVE_TIMEOUT: 'keepalive probes went unanswered: tcp_keepalive_timer(), LINUX_MIB_TCPABORTONTIMEOUT',
  TCP_DISCONNECT_WITH_DATA: 'tcp_disconnect() with unsent data in the write queue (CLOSING / LAST_ACK)',
  MPTCP_RST_EUNSPEC: 'MPTCP: unspecified error',
  MPTCP_RST_EMPTCP: 'MPTCP: MPTCP-specific error',
  MPTCP_RST_ERESOURCE: 'MPTCP: lack of resources',
  MPTCP_RST_EPROHIBIT: 'MPTCP: administratively prohibited',
  MPTCP_RST_EWQ2BIG: 'MPTCP: too much outstanding data',
  MPTCP_RST_EBADPERF: 'MPTCP: unacceptable performance',
  MPTCP_RST_EMIDDLEBOX: 'MPTCP: middlebox interference',
  ERROR: 'an unexpected error path in the kernel',
  MAX: 'not a reason (the enum bound)',
};

/** True when `name` is in this project's list (Linux 6.18). */
export function isKnownRstReason(name: string): name is KnownRstReason {
  return (RST_REASONS as readonly string[]).includes(name);
}

/** The one-line meaning of a reason, or undefined for a name a newer kernel added. */
export function rstReasonMeaning(reason: RstReason): string | undefined {
  return isKnownRstReason(reason) ? RST_REASON_MEANINGS[reason] : undefined;
}
