/**
 * proc-scan: how long reading and parsing /proc/net/tcp takes with 10 000 loopback connections
 * (20 000 sockets) open, against two anchors measured in the same run: `ss -tan` (sock_diag
 * netlink, spawned) and `cat /proc/net/tcp` (spawned; the kernel's cost of printing the table
 * plus a process start).
 *
 * The connections are held by child processes (bench/proc-scan-holder.ts): server holders
 * accept, client holders connect, each under the per-process fd limit, so this process keeps
 * only a handful of descriptors. They are reset (RST, no TIME_WAIT) and killed by pid at the end,
 * also on SIGINT or when this process dies (their IPC channel closes).
 *
 * Environment knobs: PROC_SCAN_CONNECTIONS (default 10000), PROC_SCAN_REPS (default 30).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parseTcpTable, readTcpTables, readTcpTablesSync } from '../src/proc/index.js';
import { envInt, measureInterleaved, ratiosAgainstAnchors, spawnDrain, type BenchOptions, type BenchResult } from './lib.js';

const HOLDER = fileURLToPath(new URL('./proc-scan-holder.js', import.meta.url));
const OURS = 'readTcpTables (tcp)';
const SS = 'ss -tan';
const CAT = 'cat /proc/net/tcp';
const MAX_PAIRS = 16;
const SETUP_TIMEOUT_MS = 60_000;

/** Soft "Max open files" of this process (holders inherit it). */
function fdSoftLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  const n = Number(soft);
  return soft === 'unlimited' ? 1 << 20 : Number.isFinite(n) && n > 0 ? n : 1024;
}

function readSysctl(path: string): number[] {
  return readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
}

interface Holder {
  child: ChildProcess;
  role: 'server' | 'client';
  exited: Promise<void>;
}

function startHolder(args: string[], holders: Holder[]): Holder {
  const child = fork(HOLDER, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const h: Holder = { child, role: args[0] as 'server' | 'client', exited };
  holders.push(h);
  return h;
}

/** Resolves with the first message of `type`; rejects on an error message, an early exit or the timeout. */
function waitFor<T extends { type: string }>(h: Holder, type: string, onOther?: (m: { type: string; n?: number }) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${h.role} holder: no "${type}" within ${SETUP_TIMEOUT_MS / 1000} s`)), SETUP_TIMEOUT_MS);
    const onMessage = (m: { type: string; message?: string; n?: number }): void => {
      if (m.type === type) done(undefined, m as unknown as T);
      else if (m.type === 'error') done(new Error(`${h.role} holder: ${m.message ?? 'failed'}`));
      else onOther?.(m);
    };
    const onExit = (code: number | null, signal: string | null): void => done(new Error(`${h.role} holder exited early (${signal ?? `code ${code}`})`));
    function done(err?: Error, value?: T): void {
      clearTimeout(timer);
      h.child.off('message', onMessage);
      h.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    }
    h.child.on('message', onMessage);
    h.child.once('exit', onExit);
  });
}

async function stopHolders(holders: readonly Holder[]): Promise<void> {
  // Clients first: their RSTs close the server ends too.
  for (const role of ['client', 'server'] as const) {
    const group = holders.filter((h) => h.role === role && h.child.exitCode === null && h.child.signalCode === null);
    for (const h of group) if (h.child.pid !== undefined) process.kill(h.child.pid, 'SIGTERM');
    await Promise.race([Promise.all(group.map((h) => h.exited)), new Promise((r) => setTimeout(r, 3000))]);
  }
  for (const h of holders) {
    if (h.child.exitCode === null && h.child.signalCode === null && h.child.pid !== undefined) {
      try {
        process.kill(h.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Splits `total` into `parts` nearly equal positive integers. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

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
  const onSigint = (): void => {
    // SIGTERM first: holders reset their connections (no TIME_WAIT left); SIGKILL what remains.
    const signal = (sig: NodeJS.Signals): void => {
      for (const h of holders) {
        try {
          if (h.child.pid !== undefined && h.child.exitCode === null && h.child.signalCode === null) process.kill(h.child.pid, sig);
        } catch {
          // already gone
        }
      }
    };
    signal('SIGTERM');
    setTimeout(() => {
      signal('SIGKILL');
      process.stderr.write('interrupted: holders stopped\n');
      process.exit(130);
    }, 1000);
  };
  process.once('SIGINT', onSigint);
  try {
    const before = readTcpTablesSync({ families: [4] }).length;
    const counts = split(connections, pairs);
    let connected = 0;
    let lastReport = 0;
    await Promise.all(
      counts.map(async (count, i) => {
        const server = startHolder(['server', String(count), String(backlog)], holders);
        const { port } = await waitFor<{ type: 'listening'; port: number }>(server, 'listening');
        const accepted = waitFor(server, 'ready');
        const client = startHolder(['client', String(port), String(count), String(batch)], holders);
        let mine = 0;
        await waitFor(client, 'ready', (m) => {
          if (m.type !== 'progress' || m.n === undefined) return;
          connected += m.n - mine;
          mine = m.n;
          if (connected - lastReport >= 2000 || connected === connections) {
            lastReport = connected;
            opts.progress(`connected ${connected}/${connections}`);
          }
        });
        await accepted;
        opts.progress(`pair ${i + 1}/${pairs}: ${count} connections established and accepted`);
      }),
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
    process.off('SIGINT', onSigint);
  }
}
