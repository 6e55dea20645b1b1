import type { ProcCounters } from '../proc/index.js';

/** What a kernel counter is about, for grouping in findings. */
export type CounterGroup = 'listen' | 'abort' | 'reset' | 'syn' | 'time_wait' | 'open';

/** One kernel TCP counter the doctor reads, and its Prometheus name. */
export interface KernelCounter {
  /** Section of /proc/net/snmp or /proc/net/netstat: `Tcp` or `TcpExt`. */
  section: 'Tcp' | 'TcpExt';
  /** The kernel's name (`ListenOverflows`). */
  name: string;
  /** The exporter's metric name without the prefix, ending `_total`. */
  metric: string;
  group: CounterGroup;
  /** What one increment means, in the field's terms. */
  help: string;
  /** Whether an increase during a watch is a problem (warning) rather than traffic (info). */
  bad: boolean;
  /** The seed claim it bears on, if any. */
  claim: string | null;
}

/**
 * The kernel counters the doctor and the exporter read, with what each counts
 * (net/ipv4/proc.c names them; the increments are in net/ipv4/tcp*.c).
 */
export const KERNEL_COUNTERS: readonly KernelCounter[] = [
  {
    section: 'TcpExt',
    name: 'ListenOverflows',
    metric: 'listen_overflows_total',
    group: 'listen',
    help: 'Handshakes dropped because a listener\'s accept queue was full (backlog + 1 connections not yet accepted).',
    bad: true,
    claim: '001-a',
  },
  {
    section: 'TcpExt',
    name: 'ListenDrops',
    metric: 'listen_drops_total',
    group: 'listen',
    help: 'SYNs and handshake ACKs dropped at a listener, for any reason (includes ListenOverflows).',
    bad: true,
    claim: '001-a',
  },
  {
    section: 'TcpExt',
    name: 'TCPAbortOnData',
    metric: 'abort_on_data_total',
    group: 'abort',
    help: 'Connections reset (RST sent) because data arrived after the application closed or shut down reading, or close() with SO_LINGER 0.',
    bad: true,
    claim: '004-g',
  },
  {
    section: 'TcpExt',
    name: 'TCPAbortOnClose',
    metric: 'abort_on_close_total',
    group: 'abort',
    help: 'Connections reset (RST instead of FIN) because close() was called with unread data in the receive queue.',
    bad: true,
    claim: '004-e',
  },
  {
    section: 'TcpExt',
    name: 'TCPAbortOnMemory',
    metric: 'abort_on_memory_total',
    group: 'abort',
    help: 'Connections reset under memory pressure or because there were more orphans than tcp_max_orphans.',
    bad: true,
    claim: null,
  },
  {
    section: 'TcpExt',
    name: 'TCPAbortOnTimeout',
    metric: 'abort_on_timeout_total',
    group: 'abort',
    help: 'Connections dropped because retransmissions or keepalive probes ran out (tcp_retries2, tcp_orphan_retries, tcp_keepalive_probes).',
    bad: false,
    claim: null,
  },
  {
    section: 'TcpExt',
    name: 'TCPAbortOnLinger',
    metric: 'abort_on_linger_total',
    group: 'abort',
    help: 'Orphaned FIN_WAIT2 connections reset at close because TCP_LINGER2 was negative.',
    bad: false,
    claim: null,
  },
  {
    section: 'TcpExt',
    name: 'TCPAbortFailed',
    metric: 'abort_failed_total',
    group: 'abort',
    help: 'Aborts whose RST could not be sent (no memory).',
    bad: true,
    claim: null,
  },
  {
    section: 'Tcp',
    name: 'EstabResets',
    metric: 'established_resets_total',
    group: 'reset',
    help: 'Connections that went straight from ESTABLISHED or CLOSE_WAIT to CLOSED (an RST sent or received).',
    bad: false,
    claim: '004-h',
  },
  {
    section: 'Tcp',
    name: 'OutRsts',
    metric: 'out_resets_total',
    group: 'reset',
    help: 'Segments sent with the RST flag.',
    bad: false,
    claim: '003-c',
  },
  {
    section: 'Tcp',
    name: 'AttemptFails',
    metric: 'attempt_fails_total',
    group: 'reset',
    help: 'Connection attempts that failed: SYN_SENT or SYN_RECV to CLOSED, or SYN_RECV back to LISTEN.',
    bad: false,
    claim: null,
  },
  {
    section: 'TcpExt',
    name: 'TCPReqQFullDrop',
    metric: 'syn_queue_full_drops_total',
    group: 'syn',
    help: 'SYNs dropped because a listener\'s SYN queue was full and SYN cookies were off.',
    bad: true,
    claim: null,
  },
  {
    section: 'TcpExt',
    name: 'SyncookiesSent',
    metric: 'syncookies_sent_total',
    group: 'syn',
    help: 'SYN cookies sent because a listener\'s SYN queue was full.',
    bad: false,
    claim: null,
  },
  {
    section: 'TcpExt',
    name: 'TCPTimeWaitOverflow',
    metric: 'time_wait_overflow_total',
    group: 'time_wait',
    help: 'Connections closed without TIME_WAIT because tcp_max_tw_buckets was reached.',
    bad: true,
    claim: null,
  },
  {
    section: 'Tcp',
    name: 'ActiveOpens',
    metric: 'active_opens_total',
    group: 'open',
    help: 'Connections opened by connect() (CLOSED to SYN_SENT).',
    bad: false,
    claim: null,
  },
  {
    section: 'Tcp',
    name: 'PassiveOpens',
    metric: 'passive_opens_total',
    group: 'open',
    help: 'Connections opened by a listener (LISTEN to SYN_RECV).',
    bad: false,
    claim: null,
  },
];

/** `TcpExt.ListenOverflows`: the key a counter has in {@link counterValues}. */
export function counterKey(c: Pick<KernelCounter, 'section' | 'name'>): string {
  return `${c.section}.${c.name}`;
}

/**
 * The values of {@link KERNEL_COUNTERS} in a counters record, by {@link counterKey}; a counter
 * this kernel does not print is left out.
 */
export function counterValues(counters: ProcCounters | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (counters === null) return out;
  for (const c of KERNEL_COUNTERS) {
    const v = counters[c.section]?.[c.name];
    if (v !== undefined) out[counterKey(c)] = v;
  }
  return out;
}
