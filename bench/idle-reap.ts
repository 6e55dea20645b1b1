/**
 * idle-reap: seed 003's failure, measured. A server closes connections idle for T ms; clients
 * call with gaps around T, so requests keep landing on connections the server is closing at
 * that moment (003-b..d, 003-i). Every call carries a unique id and the server counts the ids it
 * ran, so each client's calls are sorted into: succeeded, failed although the server ran the
 * call (the caller cannot know: a retry would duplicate it), failed and not run, and run twice.
 *
 * Contenders, all in the same run against servers in one child process (bench/idle-reap-server):
 * node:http Agent (keepAlive), fetch (Node's bundled undici), undici 7 Pool, undici 7 Pool with
 * its retry interceptor, tcp-teardown rpc as configured by default, and tcp-teardown rpc with its
 * own early idle retirement switched off, so that every reap goes through GOAWAY/REFUSED — the
 * protocol, not the client's timer, has to keep the count at zero. And grpc-js (HTTP/2), its
 * server's `grpc.max_connection_idle_ms` set to T: the other protocol built so that an idle close
 * (GOAWAY, then REFUSED_STREAM for a stream that crossed it) loses nothing.
 *
 * Gaps: half the calls wait a uniform [T−3, T+3] ms, half [0.8T, 1.2T], after the lane's previous
 * call ended; odd calls are idempotent (PUT for HTTP), even ones are not (POST). `lanes` sequential
 * callers run at once, each with its own client (agent, pool) as separate services would be,
 * started at random offsets within T so reaps are spread out. (Callers sharing one rpc client
 * would multiplex on one connection that never goes idle; sharing one HTTP agent changes which
 * socket a call lands on.) fetch cannot be given a pool per caller: its lanes share one.
 *
 * Environment: IDLE_REAP_T_MS (default 500), IDLE_REAP_CALLS calls per gap range and contender
 * (default 1000), IDLE_REAP_LANES (default 100).
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { interceptors, Pool } from 'undici';

import { createClient, type RpcClient } from '../src/rpc/index.js';
import { createGrpcClient, grpc, GRPC_JS_VERSION } from './lib-grpc.js';
import { askChild, envInt, forkReady, stopChild, type BenchOptions, type BenchResult, type BenchTable } from './lib.js';

const SERVER = fileURLToPath(new URL('./idle-reap-server.js', import.meta.url));

/** One caller's own client (agent, pool …): each lane is a separate service calling now and then. */
interface LaneClient {
  call(id: string, idempotent: boolean): Promise<void>;
  close(): Promise<void>;
}

interface Contender {
  key: string;
  label: string;
  lane(): LaneClient;
  /** Extra figures the contender reports (transparent retries …), after its lanes closed; `server` is the server's last report. */
  extra?(server: ServerReport): string;
}

type GapMode = 'T±3ms' | '0.8T–1.2T';

interface CallRecord {
  id: string;
  mode: GapMode;
  idempotent: boolean;
  error: string | null;
}

interface Cell {
  calls: number;
  failed: number;
  failedButRan: number;
  failedNotRun: number;
  duplicates: number;
  vanished: number;
}

function emptyCell(): Cell {
  return { calls: 0, failed: 0, failedButRan: 0, failedNotRun: 0, duplicates: 0, vanished: 0 };
}

function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message.slice(0, 40) : String(err);
}

interface ServerReport {
  /** How many times the server ran each call id. */
  counts: Map<string, number>;
  /** Connections the grpc-js server was handed since it started. */
  grpcConnections: number;
}

async function serverReport(child: ChildProcess, prefix: string): Promise<ServerReport> {
  const m = await askChild<{ counts: [string, number][]; grpcConnections: number }>(child, { cmd: 'counts', prefix });
  return { counts: new Map(m.counts), grpcConnections: m.grpcConnections };
}

function nodeHttp(port: number): Contender {
  return {
    key: 'http',
    label: 'node:http Agent keepAlive',
    lane: () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      return {
        call: (id, idempotent) =>
          new Promise<void>((resolve, reject) => {
            const req = http.request(
              { host: '127.0.0.1', port, path: '/', method: idempotent ? 'PUT' : 'POST', agent, headers: { 'content-length': Buffer.byteLength(id) } },
              (res) => {
                res.on('error', reject);
                res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
                res.resume();
              },
            );
            req.on('error', reject);
            req.end(id);
          }),
        close: async () => agent.destroy(),
      };
    },
  };
}

function nodeFetch(port: number): Contender {
  // fetch has one global dispatcher (Node's bundled undici): the lanes share its pool.
  return {
    key: 'fetch',
    label: 'fetch (Node 20 bundled undici, shared pool)',
    lane: () => ({
      call: async (id, idempotent) => {
        const res = await fetch(`http://127.0.0.1:${port}/`, { method: idempotent ? 'PUT' : 'POST', body: id });
        await res.text();
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      },
      close: async () => undefined,
    }),
  };
}

function undiciPool(port: number, withRetry: boolean): Contender {
  return {
    key: withRetry ? 'undici-retry' : 'undici',
    label: withRetry ? 'undici 7 Pool + retry interceptor' : 'undici 7 Pool',
    lane: () => {
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
      // The retry interceptor's defaults retry idempotent methods only (PUT here, never POST).
      const dispatcher = withRetry ? pool.compose(interceptors.retry({ maxRetries: 3, minTimeout: 10, maxTimeout: 100 })) : pool;
      return {
        call: async (id, idempotent) => {
          const res = await dispatcher.request({ path: '/', method: idempotent ? 'PUT' : 'POST', body: id });
          await res.body.text();
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
        },
        close: () => pool.destroy(),
      };
    },
  };
}

function rpc(port: number, earlyRetire: boolean): Contender {
  const clients: RpcClient[] = [];
  return {
    key: earlyRetire ? 'rpc' : 'rpc-goaway',
    label: earlyRetire ? 'tcp-teardown rpc' : 'tcp-teardown rpc, no early retire (GOAWAY path)',
    lane: () => {
      const client = createClient({
        host: '127.0.0.1',
        port,
        maxConnections: 1,
        ...(earlyRetire ? {} : { useServerIdleHint: false, idleTimeoutMs: 0 }),
      });
      clients.push(client);
      return {
        call: async (id, idempotent) => {
          await client.call('count', Buffer.from(id), { idempotent });
        },
        close: () => client.close(),
      };
    },
    extra: () => {
      const sum = (k: 'transparentRetries' | 'goawaysReceived' | 'connectionsOpened'): number => clients.reduce((n, c) => n + c.stats()[k], 0);
      return `transparent retries ${sum('transparentRetries')}, GOAWAYs ${sum('goawaysReceived')}, connections ${sum('connectionsOpened')}`;
    },
  };
}

function grpcJs(port: number): Contender {
  return {
    key: 'grpc',
    label: `grpc-js ${GRPC_JS_VERSION} (max_connection_idle_ms = T)`,
    lane: () => {
      // One channel per lane, with its own connection (see createGrpcClient). gRPC has no
      // per-call idempotency flag; grpc-js retries transparently only what provably never ran
      // (REFUSED_STREAM, a stream the GOAWAY's last-stream-id excludes).
      const client = createGrpcClient(port);
      return {
        call: async (id) => {
          await client.call(Buffer.from(id)).catch((err: unknown) => {
            const code = (err as { code?: unknown }).code;
            throw typeof code === 'number' ? Object.assign(new Error(String(err)), { code: grpc.status[code] ?? String(code) }) : err;
          });
        },
        close: async () => client.close(),
      };
    },
    // Each lane's first call opens a connection; every further one follows a reap.
    extra: (server) => `connections ${server.grpcConnections}`,
  };
}

async function runLanes(
  contender: Contender,
  idleMs: number,
  mode: GapMode,
  calls: number,
  lanes: number,
  firstIndex: number,
): Promise<CallRecord[]> {
  const records: CallRecord[] = [];
  const perLane = Math.ceil(calls / lanes);
  let next = firstIndex;
  const gap = (): number =>
    mode === 'T±3ms' ? idleMs - 3 + Math.random() * 6 : idleMs * 0.8 + Math.random() * idleMs * 0.4;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      const client = contender.lane();
      try {
        // A first call opens the lane's connection; it is not counted (no gap precedes it).
        await client.call(`${contender.key}:warm:${next++}`, true).catch(() => undefined);
        await sleep(Math.random() * idleMs);
        for (let i = 0; i < perLane && records.length < calls; i++) {
          await sleep(gap());
          const n = next++;
          const rec: CallRecord = { id: `${contender.key}:${n}`, mode, idempotent: n % 2 === 1, error: null };
          records.push(rec);
          try {
            await client.call(rec.id, rec.idempotent);
          } catch (e) {
            rec.error = errorCode(e);
          }
        }
      } finally {
        await client.close();
      }
    }),
  );
  return records;
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const idleMs = envInt('IDLE_REAP_T_MS', 500);
  const callsPerMode = envInt('IDLE_REAP_CALLS', 1000);
  const lanes = envInt('IDLE_REAP_LANES', 100);
  const { child, ready } = await forkReady<{ httpPort: number; rpcPort: number; grpcPort: number }>(SERVER, [String(idleMs)]);
  const { httpPort, rpcPort, grpcPort } = ready;
  const contenders: (() => Contender)[] = [
    () => nodeHttp(httpPort),
    () => nodeFetch(httpPort),
    () => undiciPool(httpPort, false),
    () => undiciPool(httpPort, true),
    () => rpc(rpcPort, true),
    () => rpc(rpcPort, false),
    () => grpcJs(grpcPort),
  ];
  const summary: BenchTable = {
    title: `all calls (${2 * callsPerMode} per contender); "ran" = the server counted the call`,
    head: ['contender', 'calls', 'failed', 'failed %', 'failed but ran', 'failed, not run', 'run twice', 'errors seen', 'notes'],
    rows: [],
  };
  const cells: BenchTable = {
    title: 'by gap range and idempotency',
    head: ['contender', 'gap', 'idempotent', 'calls', 'failed', 'failed but ran', 'run twice'],
    rows: [],
  };
  try {
    for (const make of contenders) {
      const contender = make();
      opts.progress(`${contender.label}: ${2 * callsPerMode} calls over ${lanes} lanes, T=${idleMs} ms`);
      const started = performance.now();
      const records: CallRecord[] = [
        ...(await runLanes(contender, idleMs, 'T±3ms', callsPerMode, lanes, 0)),
        ...(await runLanes(contender, idleMs, '0.8T–1.2T', callsPerMode, lanes, 10 * callsPerMode)),
      ];
      const report = await serverReport(child, `${contender.key}:`);
      const counts = report.counts;
      const total = emptyCell();
      const errors = new Map<string, number>();
      const byCell = new Map<string, Cell>();
      for (const r of records) {
        const ran = counts.get(r.id) ?? 0;
        const cellKey = `${r.mode}|${r.idempotent}`;
        const cell = byCell.get(cellKey) ?? emptyCell();
        byCell.set(cellKey, cell);
        for (const c of [cell, total]) {
          c.calls++;
          if (r.error !== null) {
            c.failed++;
            if (ran > 0) c.failedButRan++;
            else c.failedNotRun++;
          } else if (ran === 0) {
            c.vanished++;
          }
          if (ran > 1) c.duplicates++;
        }
        if (r.error !== null) errors.set(r.error, (errors.get(r.error) ?? 0) + 1);
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const notes = [`${seconds} s`, contender.extra?.(report), total.vanished ? `${total.vanished} succeeded but not counted!` : undefined]
        .filter((x): x is string => x !== undefined)
        .join('; ');
      summary.rows.push([
        contender.label,
        total.calls,
        total.failed,
        `${((100 * total.failed) / Math.max(1, total.calls)).toFixed(2)} %`,
        total.failedButRan,
        total.failedNotRun,
        total.duplicates,
        [...errors].map(([e, n]) => `${e}×${n}`).join(' ') || '-',
        notes,
      ]);
      for (const [key, c] of [...byCell].sort()) {
        const [mode, idem] = key.split('|');
        cells.rows.push([contender.label, mode ?? '', idem === 'true' ? 'yes' : 'no', c.calls, c.failed, c.failedButRan, c.duplicates]);
      }
    }
  } finally {
    await stopChild(child);
  }
  return {
    bench: 'idle-reap',
    title: 'calls on connections a server reaps when idle: failures and duplicates, counted on the server',
    params: { idleTimeoutMs: idleMs, callsPerGapRange: callsPerMode, lanes },
    rows: [],
    ratios: [],
    notes: [
      'HTTP server: node:http closing a keep-alive connection T ms after its last response (nginx keepalive_timeout style; Node 20\'s own keepAliveTimeout closes 1 s late), no Keep-Alive: timeout= hint',
      'rpc server: the same T as idleTimeoutMs; "no early retire" ignores its SETTINGS hint, so every reap is a GOAWAY racing the next call',
      'grpc-js server: the same T as grpc.max_connection_idle_ms (GOAWAY, then close once its streams are done); one channel per lane',
      'failed but ran = the caller saw an error although the server ran the call: a blind retry would run it twice',
    ],
    tables: [summary, cells],
  };
}
