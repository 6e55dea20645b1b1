/**
 * proc-scan: how long reading and parsing /proc/net/tcp takes with 10 000 loopback connections
 * (20 000 sockets) open, against two anchors measured in the same run: `ss -tan` (sock_diag
 * netlink, spawned) and `cat /proc/net/tcp` (spawned; the kernel's cost of printing the table
 * plus a process start).
 *
 * The connections are held by child processes (bench/loopback-holder.ts, started by
 * bench/lib-holders.ts): server holders accept, client holders connect, each under the
 * per-process fd limit, so this process keeps only a handful of descriptors. They are reset (RST,
 * no TIME_WAIT) and killed by pid at the end, also on SIGINT or when this process dies (their IPC
 * channel closes).
 *
 * Environment knobs: PROC_SCAN_CONNECTIONS (default 10000), PROC_SCAN_REPS (default 30).
 */
import { readFileSync } from 'node:fs';

import { parseTcpTable, readTcpTables, readTcpTablesSync } from '../src/proc/index.js';
import { envInt, measureInterleaved, ratiosAgainstAnchors, spawnDrain, type BenchOptions, type BenchResult } from './lib.js';
import { fdSoftLimit, holdPairs, readSysctl, split, stopHolders, stopHoldersOnSigint, type Holder } from './lib-holders.js';

const OURS = 'readTcpTables (tcp)';
const SS = 'ss -tan';
const CAT = 'cat /proc/net/tcp';
const MAX_PAIRS = 16;
const SETUP_TIMEOUT_MS = 60_000;

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const wanted = envInt('PROC_SCAN_CONNECTIONS', 10_000);
  const reps = envInt('PROC_SCAN_REPS', 30);
  const notes: string[] = [];

  // --- Preflight: fd limit, ephemeral ports, accept backlog ---------------------------------
  const fdLimit = fdSoftLimit();
  const perHolder = fdLimit - 100; // room for node's own descriptors
  if (perHolder < 100) throw new Error(`the fd limit (${fdLimit}) leaves no room for connections`);
  const [portLo = 32768, portHi = 60999] = readSysctl('/proc/sys/net/ipv4/ip_local_port_range');
  const ports = portHi - portLo + 1;
  const [somaxconn = 4096] = readSysctl('/proc/sys/net/core/somaxconn');
  let connections = wanted;
  if (connections > ports - 1000) {
    connections = Math.max(1, ports - 1000);
    notes.push(`ip_local_port_range ${portLo}-${portHi} offers ${ports} ports: using ${connections} connections, not ${wanted}`);
  }
  let pairs = Math.ceil(connections / perHolder);
  if (pairs > MAX_PAIRS) {
    pairs = MAX_PAIRS;
    connections = MAX_PAIRS * perHolder;
    notes.push(`fd limit ${fdLimit} per process and at most ${MAX_PAIRS} holder pairs: using ${connections} connections, not ${wanted}`);
  }
  const backlog = Math.min(somaxconn, 4096);
  const batch = Math.max(1, Math.min(500, backlog));
  notes.push(
    `connections held by ${pairs} server + ${pairs} client holder process(es), ≤ ${Math.ceil(connections / pairs)} fds each (fd soft limit ${fdLimit}); ` +
      `somaxconn ${somaxconn}, batches of ${batch}`,
  );

  // --- Hold the connections -----------------------------------------------------------------
  const holders: Holder[] = [];
  const releaseSigint = stopHoldersOnSigint(holders);
  try {
    const before = readTcpTablesSync({ families: [4] }).length;
    const counts = split(connections, pairs);
    await holdPairs(
      holders,
      counts.map((count) => ({ host: '127.0.0.1', count })),
      {
        backlog,
        batch,
        timeoutMs: SETUP_TIMEOUT_MS,
        reportEvery: 2000,
        progress: opts.progress,
        onPair: ({ count }, i) => opts.progress(`pair ${i + 1}/${pairs}: ${count} connections established and accepted`),
      },
    );
    const rowsNow = readTcpTablesSync({ families: [4] }).length;
    opts.progress(`/proc/net/tcp has ${rowsNow} rows (${before} before the holders)`);
    if (rowsNow < before + 2 * connections) throw new Error(`expected at least ${before + 2 * connections} rows, found ${rowsNow}`);

    // --- Measure ------------------------------------------------------------------------------
    const captured = readFileSync('/proc/net/tcp');
    opts.progress(`measuring, ${reps} repetitions of each, interleaved`);
    const rows = await measureInterleaved(
      [
        { label: OURS, fn: async () => (await readTcpTables({ families: [4] })).length },
        { label: 'readTcpTablesSync (tcp)', fn: () => readTcpTablesSync({ families: [4] }).length },
        { label: 'readTcpTables (tcp+tcp6)', fn: async () => (await readTcpTables()).length },
        { label: 'parseTcpTable only (bytes in memory)', fn: () => parseTcpTable(captured, 4).length },
        { label: 'readFileSync only (no parse)', fn: () => void readFileSync('/proc/net/tcp') },
        { label: SS, anchor: true, fn: async () => (await spawnDrain('ss', ['-tan'])).lines - 1 },
        { label: CAT, anchor: true, fn: async () => (await spawnDrain('cat', ['/proc/net/tcp'])).lines - 1 },
      ],
      { reps, warmup: 3, progress: opts.progress },
    );

    notes.push('ss -tan lists IPv4 and IPv6 sockets over sock_diag netlink; "readTcpTables (tcp+tcp6)" is the like-for-like row');
    notes.push('ss and cat times include starting the process; "readFileSync only" is the kernel\'s cost of printing the table');
    return {
      bench: 'proc-scan',
      title: `read + parse /proc/net/tcp with ${connections} loopback connections (${2 * connections} sockets) open`,
      params: { connections, sockets: 2 * connections, reps, warmup: 3, holderPairs: pairs, fdSoftLimit: fdLimit, node: process.version },
      rows,
      ratios: ratiosAgainstAnchors(rows, [OURS]),
      notes,
    };
  } finally {
    opts.progress('stopping holders');
    await stopHolders(holders);
    releaseSigint();
  }
}
