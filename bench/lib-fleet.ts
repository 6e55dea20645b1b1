/**
 * The fleet benches' shared machinery (bench/rolling-restart, bench/kill): three server processes
 * per contender, `callers` concurrent callers for `seconds`, each server replaced in turn (SIGTERM
 * and its graceful close, or SIGKILL; then a new process on the same port), and a ledger per
 * server process (each executed call's id, written with write(2) before the work, so it survives
 * a SIGKILL). From the ledgers and what every caller was told:
 * - failed but ran: the caller got an error, the id is in a ledger;
 * - ran twice: the id is in the ledgers two or more times;
 * - told "not run" / "may have run" / "ran": what the error let the caller conclude, checked
 *   against the ledgers ("not run" that ran, "ran" that did not: wrong).
 *
 * Contenders: tcp-teardown rpc (multi-endpoint client), grpc-js (round_robin over the three
 * addresses, retry policy from the service config, tryShutdown on SIGTERM), undici 7 (Agent,
 * keep-alive) and node:http (Agent, keepAlive) against a node:http server; the HTTP callers pick
 * the next of the three origins for every call (round-robin) and try a call refused at connect
 * (ECONNREFUSED, never sent) on the next one — the least a user's own balancing would do.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { Agent } from 'undici';

import { createClient, RpcError, type RpcClient } from '../src/rpc/index.js';
import { ledgerRuns } from '../src/rpc/fleet-demo.js';
import { grpc, GRPC_JS_VERSION, GRPC_METHOD_PATH } from './lib-grpc.js';
import { envInt, forkReady, quantile, ratiosAgainstAnchors, summarize, type BenchRow, type Ratio } from './lib.js';

const RPC_SERVER = fileURLToPath(new URL('../src/rpc/fleet-server.js', import.meta.url));
const OTHER_SERVER = fileURLToPath(new URL('./fleet-server.js', import.meta.url));

/** What a failed call told its caller about the server's side. */
export type Told = 'not-run' | 'may-have-run' | 'ran';

/** A contender's client over the fleet's ports. */
export interface FleetCaller {
  /** One call carrying `id`; rejects on failure. */
  call(id: string): Promise<void>;
  /** What an error from call() tells the caller, and a short code for the table. */
  told(err: unknown): { told: Told; code: string };
  close(): Promise<void>;
}

export interface FleetContender {
  key: 'rpc' | 'grpc' | 'undici' | 'http';
  label: string;
  server: 'rpc' | 'grpc' | 'http';
  /** How the caller can tell "never ran" from "may have run", for the notes. */
  telling: string;
  client(ports: readonly number[]): FleetCaller;
}

function codeOf(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && (typeof err.code === 'string' || typeof err.code === 'number')) return String(err.code);
  return err instanceof Error ? err.message.slice(0, 30) : String(err);
}

/** Ours: one client over the three endpoints (p2c, ejection, draining on GOAWAY); calls not idempotent. */
function rpcFleetClient(ports: readonly number[]): FleetCaller {
  const client: RpcClient = createClient({ endpoints: ports.map((port) => ({ host: '127.0.0.1', port })), maxConnections: 2 });
  return {
    async call(id) {
      await client.call('work', Buffer.from(id), { timeoutMs: 10_000 });
    },
    told: (err) => ({ told: err instanceof RpcError ? (err.processed === 'no' ? 'not-run' : err.processed === 'yes' ? 'ran' : 'may-have-run') : 'may-have-run', code: codeOf(err) }),
    close: () => client.close({ timeoutMs: 1000 }),
  };
}

const identity = (b: Buffer): Buffer => b;

function grpcFleetClient(ports: readonly number[]): FleetCaller {
  const serviceConfig = {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: [
      {
        name: [{ service: 'bench.Bench' }],
        retryPolicy: { maxAttempts: 5, initialBackoff: '0.01s', maxBackoff: '0.2s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] },
      },
    ],
  };
  const client = new grpc.Client(`ipv4:${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify(serviceConfig),
    'grpc.enable_retries': 1,
  });
  return {
    call: (id) =>
      new Promise<void>((resolve, reject) => {
        client.makeUnaryRequest<Buffer, Buffer>(GRPC_METHOD_PATH, identity, identity, Buffer.from(id), { deadline: Date.now() + 10_000 }, (err) => (err ? reject(err) : resolve()));
      }),
    // A status code says what failed, not whether the handler ran: UNAVAILABLE is both "could not
    // connect" and "the connection dropped with the call on it" (grpc-js, RST_STREAM / GOAWAY).
    told: (err) => {
      const code = err && typeof err === 'object' && 'code' in err && typeof err.code === 'number' ? (grpc.status[err.code] ?? String(err.code)) : codeOf(err);
      return { told: 'may-have-run', code };
    },
    close: async () => client.close(),
  };
}

/** HTTP errors that prove the request never reached a server: the connection was never made. */
const HTTP_NOT_RUN = new Set(['ECONNREFUSED']);

/**
 * The HTTP callers' load balancing, as a user would write it: the next origin for every call
 * (round-robin), and a call refused at connect (ECONNREFUSED: provably never sent) tried on the
 * next origin, up to once per origin. Nothing else is retried: POST is not idempotent.
 */
async function roundRobinRetryingRefused(ports: readonly number[], cursor: { next: number }, send: (port: number) => Promise<void>): Promise<void> {
  let last: unknown;
  const first = cursor.next++;
  for (let i = 0; i < ports.length; i++) {
    try {
      return await send(ports[(first + i) % ports.length] as number);
    } catch (e) {
      last = e;
      if (!HTTP_NOT_RUN.has(codeOf(e))) throw e;
    }
  }
  throw last;
}

function undiciFleetClient(ports: readonly number[]): FleetCaller {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 64 });
  const cursor = { next: 0 };
  return {
    call: (id) =>
      roundRobinRetryingRefused(ports, cursor, async (port) => {
        const res = await agent.request({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'POST', body: id, headersTimeout: 10_000, bodyTimeout: 10_000 });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
      }),
    told: (err) => {
      const code = codeOf(err);
      return { told: HTTP_NOT_RUN.has(code) ? 'not-run' : 'may-have-run', code };
    },
    close: () => agent.close(),
  };
}

function nodeHttpFleetClient(ports: readonly number[]): FleetCaller {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const cursor = { next: 0 };
  return {
    call: (id) =>
      roundRobinRetryingRefused(ports, cursor, (port) => new Promise<void>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, timeout: 10_000, headers: { 'content-length': Buffer.byteLength(id) } }, (res) => {
          res.resume();
          res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          res.once('error', reject);
        });
        req.once('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
        req.once('error', reject);
        req.end(id);
      })),
    told: (err) => {
      const code = codeOf(err);
      return { told: HTTP_NOT_RUN.has(code) ? 'not-run' : 'may-have-run', code };
    },
    close: async () => agent.destroy(),
  };
}

/** The contenders, in table order. */
const FLEET_CONTENDERS: readonly FleetContender[] = [
  {
    key: 'rpc',
    label: 'tcp-teardown rpc (3 endpoints, p2c)',
    server: 'rpc',
    telling: "every RpcError has processed 'no' | 'maybe' | 'yes'",
    client: rpcFleetClient,
  },
  {
    key: 'grpc',
    label: `grpc-js ${GRPC_JS_VERSION} round_robin + retry`,
    server: 'grpc',
    telling: 'a status code (UNAVAILABLE, CANCELLED …) that does not say whether the handler ran',
    client: grpcFleetClient,
  },
  {
    key: 'undici',
    label: 'undici 7 Agent (keep-alive)',
    server: 'http',
    telling: 'an error code: ECONNREFUSED proves "not run", the others (UND_ERR_SOCKET, ECONNRESET …) do not',
    client: undiciFleetClient,
  },
  {
    key: 'http',
    label: 'node:http Agent (keepAlive)',
    server: 'http',
    telling: 'an error code: ECONNREFUSED proves "not run", the others (ECONNRESET, socket hang up) do not',
    client: nodeHttpFleetClient,
  },
];

/** How each server is replaced. */
export type FleetStop = 'SIGTERM' | 'SIGKILL';

interface FleetRunOptions {
  servers: number;
  callers: number;
  seconds: number;
  workMs: number;
  stop: FleetStop;
  progress: (msg: string) => void;
}

/** One contender's run. */
export interface FleetRunResult {
  key: FleetContender['key'];
  label: string;
  calls: number;
  failed: number;
  failedButRan: number;
  ranTwice: number;
  /** Answered calls no ledger holds (must be 0: the ledger is the ground truth). */
  unaccounted: number;
  /** Failures by what the caller was told, and how many of each ran per the ledgers. */
  told: Record<Told, { n: number; ran: number }>;
  /** Failures by error code. */
  codes: Record<string, number>;
  /** Latencies (ms) of calls started during a replacement (signal → new process ready + 500 ms). */
  restartLatenciesMs: number[];
  p99RestartMs: number;
  p99AllMs: number;
  callsPerSecond: number;
}

interface ServerProc {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

async function startServer(c: FleetContender, port: number, ledger: string, workMs: number): Promise<ServerProc> {
  const args = c.server === 'rpc' ? [String(port), ledger, String(workMs), '0'] : [c.server, String(port), ledger, String(workMs)];
  const { child, ready } = await forkReady<{ port: number }>(c.server === 'rpc' ? RPC_SERVER : OTHER_SERVER, args, []);
  child.removeAllListeners('exit');
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return { child, port: ready.port, exited };
}

/** Sends `signal`, waits for the exit (SIGKILL after 15 s). */
async function stopServer(s: ServerProc, signal: FleetStop): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill(signal);
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
  await s.exited;
  clearTimeout(timer);
}

/** Starts a server on `port`, retrying briefly while the kernel still holds it (EADDRINUSE). */
async function restartOn(c: FleetContender, port: number, ledger: string, workMs: number): Promise<ServerProc> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startServer(c, port, ledger, workMs);
    } catch (e) {
      if (attempt >= 20) throw e;
      await sleep(50);
    }
  }
}

function p99(values: readonly number[]): number {
  return values.length === 0 ? 0 : quantile([...values].sort((a, b) => a - b), 0.99);
}

/**
 * Runs one contender: servers up, callers on, each server replaced in turn at evenly spaced
 * moments, callers off, servers stopped, ledgers read.
 * @throws Error when a server process cannot be started.
 */
async function runFleet(c: FleetContender, o: FleetRunOptions): Promise<FleetRunResult> {
  const dir = mkdtempSync(join(tmpdir(), `tt-fleet-${c.key}-`));
  const servers: ServerProc[] = [];
  let caller: FleetCaller | null = null;
  try {
    for (let i = 0; i < o.servers; i++) servers.push(await startServer(c, 0, join(dir, `s${i}-g0`), o.workMs));
    const ports = servers.map((s) => s.port);
    caller = c.client(ports);
    const client = caller;
    const windows: { from: number; to: number }[] = [];
    const inRestart = (t: number): boolean => windows.some((w) => t >= w.from && t <= w.to);
    const failures: { id: string; told: Told; code: string }[] = [];
    const answered: string[] = [];
    const latencies: { at: number; ms: number }[] = [];
    let seq = 0;
    let running = true;
    const t0 = performance.now();
    const lanes = Array.from({ length: o.callers }, async () => {
      while (running) {
        const id = `${c.key}-${seq++}`;
        const at = performance.now();
        try {
          await client.call(id);
          answered.push(id);
        } catch (e) {
          failures.push({ id, ...client.told(e) });
        }
        latencies.push({ at, ms: performance.now() - at });
      }
    });
    const spacing = (o.seconds * 1000) / (o.servers + 1);
    for (let i = 0; i < o.servers; i++) {
      await sleep(Math.max(0, t0 + spacing * (i + 1) - performance.now()));
      const from = performance.now();
      const window = { from, to: Infinity };
      windows.push(window);
      await stopServer(servers[i] as ServerProc, o.stop);
      servers[i] = await restartOn(c, ports[i] as number, join(dir, `s${i}-g1`), o.workMs);
      window.to = performance.now() + 500;
      o.progress(`${c.key}: server ${i + 1}/${o.servers} ${o.stop === 'SIGTERM' ? 'restarted' : 'killed and replaced'} in ${Math.round(performance.now() - from)} ms; ${answered.length} answered, ${failures.length} failed so far`);
    }
    await sleep(Math.max(0, t0 + o.seconds * 1000 - performance.now()));
    running = false;
    await Promise.all(lanes);
    const elapsedS = (performance.now() - t0) / 1000;
    await client.close();
    caller = null;
    await Promise.all(servers.map((s) => stopServer(s, 'SIGTERM')));

    const runs = ledgerRuns(dir);
    const told: FleetRunResult['told'] = { 'not-run': { n: 0, ran: 0 }, 'may-have-run': { n: 0, ran: 0 }, ran: { n: 0, ran: 0 } };
    const codes: Record<string, number> = {};
    for (const f of failures) {
      told[f.told].n++;
      if (runs.has(f.id)) told[f.told].ran++;
      codes[f.code] = (codes[f.code] ?? 0) + 1;
    }
    const restartLatenciesMs = latencies.filter((l) => inRestart(l.at)).map((l) => l.ms);
    return {
      key: c.key,
      label: c.label,
      calls: answered.length + failures.length,
      failed: failures.length,
      failedButRan: failures.filter((f) => runs.has(f.id)).length,
      ranTwice: [...runs.values()].filter((n) => n > 1).length,
      unaccounted: answered.filter((id) => !runs.has(id)).length,
      told,
      codes,
      restartLatenciesMs,
      p99RestartMs: p99(restartLatenciesMs),
      p99AllMs: p99(latencies.map((l) => l.ms)),
      callsPerSecond: Math.round((answered.length + failures.length) / elapsedS),
    };
  } finally {
    await caller?.close().catch(() => undefined);
    await Promise.all(servers.map((s) => stopServer(s, 'SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Contenders chosen by FLEET_ONLY (comma-separated keys), default all. @throws RangeError for an unknown key. */
function chosenContenders(): FleetContender[] {
  const raw = process.env.FLEET_ONLY;
  if (raw === undefined || raw === '') return [...FLEET_CONTENDERS];
  const keys = raw.split(',').map((k) => k.trim());
  for (const k of keys) {
    if (!FLEET_CONTENDERS.some((c) => c.key === k)) throw new RangeError(`FLEET_ONLY: unknown contender ${JSON.stringify(k)} (known: ${FLEET_CONTENDERS.map((c) => c.key).join(', ')})`);
  }
  return FLEET_CONTENDERS.filter((c) => keys.includes(c.key));
}

/** Rows of latency during replacements, grpc-js as the anchor (the peer a user would otherwise pick). */
function latencyRows(results: readonly FleetRunResult[]): BenchRow[] {
  return results
    .filter((r) => r.restartLatenciesMs.length > 0)
    .map((r) => ({ label: r.label, anchor: r.key === 'grpc', stats: summarize(r.restartLatenciesMs) }));
}

/** `r`'s p99 during replacements over grpc-js's in the same run, or '-' without a grpc-js run. */
export function p99Ratio(r: FleetRunResult, results: readonly FleetRunResult[]): string {
  const anchor = results.find((x) => x.key === 'grpc');
  return anchor && anchor.p99RestartMs > 0 ? `${(r.p99RestartMs / anchor.p99RestartMs).toFixed(2)}×` : '-';
}

/** The three most frequent error codes, `CODE×n`, or '-'. */
export function topCodes(codes: Record<string, number>): string {
  return (
    Object.entries(codes)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, n]) => `${k}×${n}`)
      .join(' ') || '-'
  );
}

/** Every chosen contender's run, one after another, and the latency rows and ratios both benches print. */
export interface FleetBench {
  params: { servers: number; callers: number; seconds: number; workMs: number };
  contenders: FleetContender[];
  results: FleetRunResult[];
  rows: BenchRow[];
  ratios: Ratio[];
}

/**
 * Runs each contender chosen by FLEET_ONLY alone, three servers replaced by `stop`, with
 * FLEET_SECONDS (default 30), FLEET_CALLERS (100) and FLEET_WORK_MS (2) from the environment.
 * @throws RangeError for a bad environment value; Error when a server process cannot be started.
 */
export async function runFleetBench(stop: FleetStop, progress: (msg: string) => void): Promise<FleetBench> {
  const seconds = envInt('FLEET_SECONDS', 30);
  const callers = envInt('FLEET_CALLERS', 100);
  const workMs = envInt('FLEET_WORK_MS', 2);
  const params = { servers: 3, callers, seconds, workMs };
  const contenders = chosenContenders();
  const results: FleetRunResult[] = [];
  for (const c of contenders) {
    progress(`${c.label}: ${params.servers} servers, ${params.callers} callers, ${params.seconds} s, ${stop}`);
    results.push(await runFleet(c, { ...params, stop, progress }));
  }
  const rows = latencyRows(results);
  const ratios = ratiosAgainstAnchors(
    rows,
    rows.filter((r) => !r.anchor).map((r) => r.label),
  );
  return { params, contenders, results, rows, ratios };
}
