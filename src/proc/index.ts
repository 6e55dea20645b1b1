/**
 * Reading the kernel's socket tables: `/proc/net/tcp{,6}` rows, socket owners (`/proc/PID/fd`),
 * and counters (`/proc/net/netstat`, `snmp`, `sockstat`). Every reader takes a `root` (procfs
 * mount point, default `/proc`) so fixture trees work, and a `pid` to read another network
 * namespace's tables.
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
