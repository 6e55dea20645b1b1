import type { ProcCounters } from '../proc/index.js';
import type { SocketOwner } from '../tcp/observation.js';
import type { TcpState } from '../tcp/state.js';
import type { DoctorSysctls } from './kernel.js';
import type { DoctorSocket, ProcessOrUnknown, ProcessRef } from './socket.js';
import type { WatchView } from './watch.js';

export { processText } from './socket.js';

/** How bad a finding is. `warning` and `critical` make `teardown doctor` exit 1. */
export type Severity = 'info' | 'warning' | 'critical';

/** Severities, mildest first. */
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

/** What the doctor knows, all of it read before the findings are computed (they do no I/O). */
export interface DiagnoseInput {
  sockets: readonly DoctorSocket[];
  /** Whether owners were looked for; without them, held sockets have `owner: null`. */
  ownersScanned: boolean;
  /** Processes whose descriptors could not be read (not root): a held socket may show no owner. */
  unreadablePids: number;
  /** `/proc/net/snmp` + `/proc/net/netstat`; null when unreadable. */
  counters: ProcCounters | null;
  /** `/proc/net/sockstat{,6}`; null when unreadable. */
  sockstat: ProcCounters | null;
  sysctls: DoctorSysctls;
  /** Sockets held by several descriptors (fork, SCM_RIGHTS), inode → every holder: each must close. */
  sharedHolders?: ReadonlyMap<number, readonly SocketOwner[]>;
  /** Trends, ages and counter rates when watching (`--watch`, the exporter). */
  watch?: WatchView;
}

/** Limits at which the doctor speaks up. */
export interface DoctorThresholds {
  /** TIME_WAIT sockets toward one remote endpoint, as a fraction of the ephemeral port range: info at or above. */
  timeWaitInfo: number;
  /** … warning at or above. */
  timeWaitWarning: number;
  /** … critical at or above. */
  timeWaitCritical: number;
  /** SYN_RECV sockets on one listener: warning at or above (critical at tcp_max_syn_backlog). */
  synRecvWarning: number;
  /** Orphaned sockets (sockstat `TCP: orphan`) as a fraction of tcp_max_orphans: warning at or above. */
  orphansWarning: number;
  /** … critical at or above. */
  orphansCritical: number;
  /** At most this many sockets are listed in a finding's `sockets` (its evidence keeps the full count). */
  maxSocketsPerFinding: number;
  /** Bytes in Send-Q of FIN_WAIT1 sockets toward one remote: warning at or above. */
  finWait1SendQWarning: number;
}

/** The defaults of {@link DoctorThresholds}. */
export const DEFAULT_THRESHOLDS: Readonly<DoctorThresholds> = Object.freeze({
  timeWaitInfo: 0.1,
  timeWaitWarning: 0.5,
  timeWaitCritical: 0.9,
  synRecvWarning: 128,
  orphansWarning: 0.5,
  orphansCritical: 0.9,
  maxSocketsPerFinding: 50,
  finWait1SendQWarning: 1 << 20,
});

/** Evidence of `close-wait-leak` (seed 002-f): CLOSE_WAIT sockets one process holds and never closed. */
export interface CloseWaitLeakEvidence {
  process: ProcessRef;
  /**
   * `server`: the accepted end of connections to a listener here (grouped by local port);
   * `client`: connections this process opened (an ephemeral local port, no listener), grouped by
   * the service they point at (`remotes`).
   */
  side: 'server' | 'client';
  count: number;
  /** Sockets with Recv-Q >= 1: the FIN (and maybe data) is still unread; the process is not reading them at all. */
  eofUnread: number;
  /** Sockets with Recv-Q 0: the process read EOF (read() returned 0) and did not close(). */
  eofReadNotClosed: number;
  /** Local ports (server side) or empty (client side: ephemeral ports say nothing). */
  localPorts: number[];
  /** Remote endpoints on the client side (the services it connected to), at most 10; empty on the server side. */
  remotes: string[];
  /** Sum of their Recv-Q, bytes (a FIN counts 1). */
  recvQBytes: number;
  /** Processes on this machine holding the other (FIN_WAIT2) ends, when seen. */
  peers: ProcessRef[];
  /** How many of the sockets are held by several processes at once (see `alsoHeldBy`). */
  shared: number;
  /**
   * Other processes holding the same sockets (a descriptor inherited over fork() or passed over a
   * Unix socket): the socket stays open, and sends no FIN, until every holder closes it (003-f).
   */
  alsoHeldBy: ProcessRef[];
  /** Longest time one of them has been seen in CLOSE_WAIT, ms; null without `--watch`. */
  oldestSeenMs: number | null;
}

/** Evidence of `close-wait-owner-unknown`: CLOSE_WAIT sockets a file holds, in a process the scan could not name. */
export interface CloseWaitOwnerUnknownEvidence {
  count: number;
  eofUnread: number;
  eofReadNotClosed: number;
  localPorts: number[];
  /** Processes the scan could not read (0 when owners were not scanned at all). */
  unreadablePids: number;
  ownersScanned: boolean;
  oldestSeenMs: number | null;
}

/** Evidence of `never-accepted` (seed 001-c): CLOSE_WAIT sockets still in a listener's accept queue. */
export interface NeverAcceptedEvidence {
  /** The listening socket's local endpoint, or null when no listener on that port was seen. */
  listener: string | null;
  /** Who holds the listener: the process that should call accept(). */
  listenerOwner: ProcessOrUnknown;
  /** CLOSE_WAIT sockets no file holds on that listener. */
  count: number;
  /** ESTABLISHED sockets waiting in the same queue (their peers have not closed yet). */
  waitingEstablished: number;
  /** The listener's Recv-Q: connections in its accept queue. */
  acceptQueue: number | null;
  /** The listener's backlog when known (sock_diag shows it, /proc/net/tcp does not); null when unknown. */
  backlog: number | null;
  /** net.core.somaxconn, the cap on any backlog. */
  somaxconn: number | null;
  /** Recv-Q of each, bytes (data never read + 1 for the FIN). */
  recvQ: number[];
  localPorts: number[];
  /** TcpExt.ListenOverflows since boot. */
  listenOverflows: number | null;
  oldestSeenMs: number | null;
}

/** Evidence of `accept-queue`: a listener with connections waiting for accept(). */
export interface AcceptQueueEvidence {
  listener: string;
  listenerOwner: ProcessOrUnknown;
  acceptQueue: number;
  backlog: number | null;
  somaxconn: number | null;
  /** True when the queue holds more than the backlog: new handshakes are dropped (ListenOverflows). */
  full: boolean;
}

/** Evidence of `fin-wait2-held` (seed 004-j): FIN_WAIT2 sockets a process still holds (a half-close, shutdown(SHUT_WR) or end()). */
export interface FinWait2HeldEvidence {
  /** `'unreadable'` when a file holds them but the scan could not name the process. */
  process: ProcessOrUnknown;
  count: number;
  localPorts: number[];
  /** Remote endpoints (at most 10). */
  remotes: string[];
  /** Processes on this machine holding the CLOSE_WAIT ends, when seen. */
  peers: ProcessRef[];
  /** How many of them have a peer end in CLOSE_WAIT on this machine that no descriptor holds (never accepted). */
  peersWithoutOwner: number;
  /** How many have a peer end in CLOSE_WAIT here whose owner could not be read. */
  peersUnreadable: number;
  oldestSeenMs: number | null;
}

/** Evidence of `fin-wait2-orphans` (seed 004-j): closed FIN_WAIT2 sockets no process holds. */
export interface FinWait2OrphansEvidence {
  count: number;
  /** net.ipv4.tcp_fin_timeout, seconds: how long each lives at most. */
  finTimeoutS: number | null;
  /** The longest timer left on one of them, ms. */
  longestRemainingMs: number;
  /** Remote endpoints with the most of them (at most 5). */
  topRemotes: { remote: string; count: number }[];
}

/** Evidence of `teardown-pair` (seed 004-d): both ends of half-closed connections on this machine. */
export interface TeardownPairEvidence {
  /** Who holds the FIN_WAIT2 ends (null: orphaned). */
  finWait2: ProcessOrUnknown;
  /** Who holds the CLOSE_WAIT ends (null: never accepted). */
  closeWait: ProcessOrUnknown;
  count: number;
  /** The connections, as FIN_WAIT2 end and CLOSE_WAIT end (at most 10). */
  connections: { finWait2: string; closeWait: string }[];
}

/** Evidence of `time-wait-ports`: TIME_WAIT sockets holding ephemeral ports toward one remote endpoint. */
export interface TimeWaitPortsEvidence {
  localAddress: string;
  remote: string;
  count: number;
  /** net.ipv4.ip_local_port_range, inclusive. */
  portRange: readonly [number, number];
  /** Ports in the range. */
  ephemeralPorts: number;
  /** count / ephemeralPorts. */
  ratio: number;
  /** net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (the default since Linux 4.14). */
  tcpTwReuse: number | null;
  /** Whether tcp_tw_reuse already lets connect() take these ports again (1, or 2 toward loopback). */
  reuseApplies: boolean;
}

/**
 * Evidence of `fin-wait1-send-q`: FIN_WAIT1 sockets toward one remote endpoint with data still
 * unsent or unacknowledged (a peer that stopped reading: its window is zero, so neither the data
 * nor the FIN behind it can leave). Orphans among them hold kernel memory until
 * tcp_orphan_retries gives up.
 */
export interface FinWait1SendQEvidence {
  remote: string;
  count: number;
  /** Of them, closed by their process (no file holds them). */
  orphaned: number;
  /** Sum of their Send-Q, bytes. */
  sendQBytes: number;
  /** How many have the zero-window probe timer running. */
  probing: number;
  /** net.ipv4.tcp_orphan_retries (0 means the kernel's default of 8). */
  tcpOrphanRetries: number | null;
}

/** Evidence of `syn-recv-flood`: half-open connections on one listener. */
export interface SynRecvFloodEvidence {
  listener: string;
  count: number;
  /** Of them, how many had their SYN-ACK retransmitted (the client never answered). */
  retransmitted: number;
  tcpMaxSynBacklog: number | null;
  tcpSyncookies: number | null;
  topRemotes: { address: string; count: number }[];
}

/** Evidence of `orphans`: sockets no process holds any more, against tcp_max_orphans. */
export interface OrphansEvidence {
  /** sockstat `TCP: orphan`. */
  orphans: number;
  tcpMaxOrphans: number;
  ratio: number;
  /** Orphans seen in the table by state (closing states with inode 0). */
  byState: Partial<Record<TcpState, number>>;
}

/** Evidence of the kernel-counter findings (`listen-overflows`, `resets-and-aborts`, `syn-queue-overflows`, `time-wait-overflows`). */
export interface KernelCountersEvidence {
  /** Counter values since boot, by `Section.Name`. */
  sinceBoot: Record<string, number>;
  /** Increase per second over the last interval, when watching. */
  perSecond: Record<string, number> | null;
  /** Increase since the watch started, when watching. */
  duringWatch: Record<string, number> | null;
  watchedMs: number | null;
}

/** Evidence of `close-wait-growing` (seed 002-f): a CLOSE_WAIT count that only grows. */
export interface CloseWaitGrowingEvidence {
  owner: ProcessOrUnknown;
  ownerless: boolean;
  /** Counts per scan, oldest first. */
  series: number[];
  spanMs: number;
}

interface FindingBase<I extends string, E> {
  /** Stable identifier of the kind of finding. */
  id: I;
  severity: Severity;
  /** One line, with the numbers. */
  title: string;
  /** The seed claim (../shared/SEEDS.md) this finding rests on, or null when no article makes it. */
  claim: string | null;
  evidence: E;
  /** One sentence: what to do. */
  advice: string;
  /** The sockets in question (at most {@link DoctorThresholds.maxSocketsPerFinding}). */
  sockets: DoctorSocket[];
  /** The network namespace it is in (`--all-namespaces` only). */
  netns?: string;
}

/** One problem the doctor found, with its evidence and what to do. Discriminated by `id`. */
export type Finding =
  | FindingBase<'close-wait-leak', CloseWaitLeakEvidence>
  | FindingBase<'close-wait-owner-unknown', CloseWaitOwnerUnknownEvidence>
  | FindingBase<'never-accepted', NeverAcceptedEvidence>
  | FindingBase<'accept-queue', AcceptQueueEvidence>
  | FindingBase<'fin-wait2-held', FinWait2HeldEvidence>
  | FindingBase<'fin-wait2-orphans', FinWait2OrphansEvidence>
  | FindingBase<'teardown-pair', TeardownPairEvidence>
  | FindingBase<'time-wait-ports', TimeWaitPortsEvidence>
  | FindingBase<'fin-wait1-send-q', FinWait1SendQEvidence>
  | FindingBase<'syn-recv-flood', SynRecvFloodEvidence>
  | FindingBase<'orphans', OrphansEvidence>
  | FindingBase<'listen-overflows', KernelCountersEvidence>
  | FindingBase<'resets-and-aborts', KernelCountersEvidence>
  | FindingBase<'syn-queue-overflows', KernelCountersEvidence>
  | FindingBase<'time-wait-overflows', KernelCountersEvidence>
  | FindingBase<'close-wait-growing', CloseWaitGrowingEvidence>;

/** Every finding id. */
export type FindingId = Finding['id'];

