/**
 * `teardown rpc-demo --fleet`: a rolling restart under load, with the recipe of
 * docs/rolling-restart.md. Three server processes (fleet-server.ts), each listening with
 * SO_REUSEPORT; callers call all the time through one client over the three endpoints
 * (`createClient({ endpoints })`, calls not idempotent); each
 * server in turn is replaced: a new process listens on the same port, then the old one gets
 * SIGTERM and closes (listener gone, GOAWAY(SHUTDOWN), calls in flight finish), then exits.
 * Every server process writes the id of each call it runs to a ledger file, so the demo can say
 * how many calls ran twice and whether every answered call ran (both must be 0 and all).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { createClient, type RpcClient } from './client.js';
import { RpcError } from './errors.js';

const SERVER = fileURLToPath(new URL('./fleet-server.js', import.meta.url));

/** Server processes. */
const SERVERS = 3;
/** Work per call on the server, ms: calls are in flight when a server is told to go. */
const WORK_MS = 2;
/** Interval of progress reports, ms. */
const PROGRESS_MS = 500;

/**
 * How many times each call id ran, from the ledgers fleet-server.ts processes wrote into `dir`
 * (one id per line, written before the work): an id counted twice ran twice.
 */
export function ledgerRuns(dir: string): Map<string, number> {
  const runs = new Map<string, number>();
  for (const f of readdirSync(dir)) {
    for (const id of readFileSync(join(dir, f), 'utf8').split('\n')) if (id !== '') runs.set(id, (runs.get(id) ?? 0) + 1);
  }
  return runs;
}

/** Options of {@link runFleetDemo}. */
export interface FleetDemoOptions {
  /** Callers at once, each calling back to back (default 12). */
  callers?: number;
  /** Length of the run, s (default 10); the restarts are spread evenly over it. */
  seconds?: number;
  /** Called every 500 ms and at every restart step. */
  progress?: (p: FleetDemoProgress) => void;
  /** Stops the run early (a reader gone, Ctrl-C); the result says so. */
  signal?: AbortSignal;
}

/** A progress report: running totals and, at a restart step, what happened. */
export interface FleetDemoProgress {
  elapsedMs: number;
  calls: number;
  failed: number;
  /** `null` for a periodic tick. */
  step: string | null;
}

/** One server replaced. */
export interface FleetRestart {
  slot: number;
  port: number;
  oldPid: number;
  newPid: number;
  /** From SIGTERM to the old process's exit, ms (its drain). */
  drainMs: number;
  /** The old process's exit code (0: closed gracefully). */
  exitCode: number | null;
}

/** What {@link runFleetDemo} found. */
export interface FleetDemoResult {
  servers: number;
  callers: number;
  calls: number;
  failed: number;
  /** Failures by RpcError code. */
  errors: Record<string, number>;
  /** Calls the servers' ledgers hold more than once (must be 0). */
  ranTwice: number;
  /** Answered calls no ledger holds (must be 0). */
  unaccounted: number;
  restarts: FleetRestart[];
  /** True when the run was stopped early by `signal`. */
  stoppedEarly: boolean;
  durationMs: number;
}

interface Proc {
  child: ChildProcess;
  port: number;
  pid: number;
  exited: Promise<number | null>;
}

async function startServer(port: number, ledger: string, workMs: number): Promise<Proc> {
  const child = fork(SERVER, [String(port), ledger, String(workMs), '1'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await Promise.race([
    new Promise<{ port: number; pid: number }>((resolve) => child.once('message', resolve)),
    exited.then((code): never => {
      throw new Error(`the fleet server exited (code ${code}) before listening on port ${port}`);
    }),
  ]);
  return { child, port: ready.port, pid: ready.pid, exited };
}

function kill(p: Proc): Promise<unknown> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  return p.exited;
}

/**
 * Runs the fleet demo. Every child process is killed by pid before this returns, also on error.
 * @throws Error when a server process cannot start; RangeError for counts out of range.
 */
export async function runFleetDemo(opts: FleetDemoOptions = {}): Promise<FleetDemoResult> {
  const servers = SERVERS;
  const callers = opts.callers ?? 12;
  const seconds = opts.seconds ?? 10;
  const workMs = WORK_MS;
  if (!Number.isInteger(callers) || callers < 1 || callers > 10_000) throw new RangeError(`callers must be an integer in 1..10000, got ${callers}`);
  if (!(seconds > 0 && seconds <= 3600)) throw new RangeError(`seconds must be in (0, 3600], got ${seconds}`);
  const dir = mkdtempSync(join(tmpdir(), 'tt-fleet-demo-'));
  const procs: Proc[] = [];
  const retired: Proc[] = [];
  const started = performance.now();
  let client: RpcClient | null = null;
  try {
    for (let i = 0; i < servers; i++) procs.push(await startServer(0, join(dir, `s${i}-0`), workMs));
    const ports = procs.map((p) => p.port);
    client = createClient({ endpoints: ports.map((port) => ({ host: '127.0.0.1', port })), maxConnections: 2 });
    const c = client;
    let calls = 0;
    let failed = 0;
    const errors: Record<string, number> = {};
    const answered: string[] = [];
    let running = true;
    const stop = (): void => {
      running = false;
    };
    opts.signal?.addEventListener('abort', stop, { once: true });
    const report = (step: string | null): void => opts.progress?.({ elapsedMs: Math.round(performance.now() - started), calls, failed, step });
    const ticker = setInterval(() => report(null), PROGRESS_MS);
    const lanes = Array.from({ length: callers }, async (_, lane) => {
      for (let n = 0; running; n++) {
        const id = `${lane}-${n}`;
        try {
          await c.call('work', Buffer.from(id), { timeoutMs: 10_000 });
          answered.push(id);
        } catch (e) {
          failed++;
          const code = e instanceof RpcError ? e.code : 'UNKNOWN';
          errors[code] = (errors[code] ?? 0) + 1;
        }
        calls++;
      }
    });
    const restarts: FleetRestart[] = [];
    const spacing = (seconds * 1000) / (servers + 1);
    try {
      for (let i = 0; i < servers && running; i++) {
        await sleepUnless(started + spacing * (i + 1) - performance.now(), opts.signal);
        if (!running) break;
        const old = procs[i] as Proc;
        const fresh = await startServer(old.port, join(dir, `s${i}-1`), workMs);
        procs[i] = fresh;
        retired.push(old);
        report(`server ${i + 1}: pid ${fresh.pid} listens on :${old.port} beside ${old.pid}; SIGTERM → ${old.pid}`);
        const t = performance.now();
        old.child.kill('SIGTERM');
        const exitCode = await old.exited;
        const drainMs = Math.round(performance.now() - t);
        restarts.push({ slot: i + 1, port: old.port, oldPid: old.pid, newPid: fresh.pid, drainMs, exitCode });
        report(`server ${i + 1}: pid ${old.pid} drained and exited (code ${exitCode}) in ${drainMs} ms`);
      }
      await sleepUnless(started + seconds * 1000 - performance.now(), opts.signal);
    } finally {
      running = false;
      clearInterval(ticker);
      await Promise.all(lanes);
      opts.signal?.removeEventListener('abort', stop);
    }
    report(null);
    await c.close({ timeoutMs: 1000 });
    client = null;
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    const runs = ledgerRuns(dir);
    return {
      servers,
      callers,
      calls,
      failed,
      errors,
      ranTwice: [...runs.values()].filter((n) => n > 1).length,
      unaccounted: answered.filter((id) => !runs.has(id)).length,
      restarts,
      stoppedEarly: opts.signal?.aborted === true,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await client?.close().catch(() => undefined);
    await Promise.all([...procs, ...retired].map(kill));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits `ms` (nothing for ms ≤ 0), or less when `signal` aborts. */
async function sleepUnless(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return;
  await sleep(ms, undefined, signal ? { signal } : {}).catch(() => undefined);
}
