/**
 * Reading the kernel's socket tables: `/proc/net/tcp{,6}` rows and the same rows over
 * NETLINK_SOCK_DIAG, socket owners (`/proc/PID/fd`), counters (`/proc/net/netstat`, `snmp`,
 * `sockstat`), and `readSocketSnapshot()`, the fast filtered view the doctor uses. Every reader
 * takes a `root` (procfs mount point, default `/proc`) so fixture trees work, and a `pid` to read
 * another network namespace's tables.
 */
export { ProcParseError } from './errors.js';
export { formatIPv6, parseTcpTable, readTcpTables, readTcpTablesSync, type ReadTcpTablesOptions, type TcpRow } from './tcp-table.js';
export {
  readSocketObservations,
  readSocketObservationsSync,
  socketInodeOfLink,
  socketOwners,
  socketOwnersSync,
  toObservation,
  type SocketOwnerScan,
  type SocketOwnersOptions,
  type SocketSnapshot,
} from './owners.js';
export {
  parseNetstat,
  parseSockstat,
  readNetCounters,
  readNetCountersSync,
  readSockstat,
  readSockstatSync,
  type ProcCounters,
  type ReadCountersOptions,
} from './counters.js';
export {
  isNetlinkUnavailable,
  readTcpRows,
  readTcpSockDiag,
  type ReadTcpRowsOptions,
  type SockDiagOptions,
  type TcpRowSource,
  type TcpRowsResult,
} from './sock-diag.js';
export { readSocketSnapshot, type ReadSocketSnapshotOptions, type SocketSnapshotResult } from './snapshot.js';
