/**
 * `teardown rpc-demo`: seed 003's experiment with the remedy in place. A server (child process)
 * closes connections idle for 1 s; two clients in turn (see {@link RpcDemoVariant}) call with
 * gaps drawn around that second, half the calls not idempotent. The server counts each call it
 * runs. The demo reports failures (a
 * correct layer has none), calls run twice (none), both sides' stats, and whether the server's
 * port was ever seen with a CLOSE_WAIT socket (sampled from /proc/net/tcp every 50 ms; 002-i).
 */
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { readTcpTables } from '../proc/index.js';
import { createClient } from './client.js';
import { emptyStats } from './pool.js';
import type { ClientStats, ServerStats } from './types.js';

/** Options of {@link runRpcDemo}; durations in ms. */
export interface RpcDemoOptions {
  /** The server's idle timeout, ms (default 1000). */
  idleTimeoutMs?: number;
  /** Calls per client variant (default 120). */
  calls?: number;
  /** Callers running at once, each sequential (default 12). */
  lanes?: number;
  /** Called after every call with the variant's running totals. */
  progress?: (variant: RpcDemoVariant, done: number, failed: number) => void;
}

/**
 * The two clients the demo runs, one after the other:
 * - `default`: retires idle connections before the server would (its SETTINGS hint − margin);
 * - `goaway-only`: ignores the hint, so every idle close is the server's GOAWAY racing the
 *   client's next call (003-i) — the protocol alone keeps the count at zero.
 */
export type RpcDemoVariant = 'default' | 'goaway-only';

/** What one client variant saw. */
export interface RpcDemoVariantResult {
  variant: RpcDemoVariant;
  calls: number;
  failed: number;
  /** Errors by `RpcError.code`. */
  errors: Record<string, number>;
  /** Calls the server ran more than once. */
  ranTwice: number;
  /** Calls that succeeded at the client but that the server never counted (must be 0). */
  unaccounted: number;
  /** The counters of the variant's clients (one per caller, all to the one server), added up. */
  client: ClientCounters;
  durationMs: number;
}

/** What {@link runRpcDemo} found. */
export interface RpcDemoResult {
  idleTimeoutMs: number;
  variants: RpcDemoVariantResult[];
  /** CLOSE_WAIT sockets seen on the server's port (sampled every 50 ms; the state lasts microseconds when the server closes on EOF). */
  closeWaitSeen: number;
  /** Of those, sockets still in CLOSE_WAIT at the next sample: a server that does not close on EOF (002-f). Must be 0. */
  closeWaitLingering: number;
  server: ServerStats;
  durationMs: number;
}

const SERVER = fileURLToPath(new URL('./demo-server.js', import.meta.url));

async function runVariant(
  variant: RpcDemoVariant,
  port: number,
  idleTimeoutMs: number,
  calls: number,
  lanes: number,
  progress: RpcDemoOptions['progress'],
): Promise<{ result: Omit<RpcDemoVariantResult, 'ranTwice' | 'unaccounted'>; ids: string[]; succeeded: Set<string> }> {
  const started = performance.now();
  // One client per caller, as in the article: many services each calling now and then, so every
  // caller's connection sits idle for about the server's timeout between calls. (Callers sharing
  // one client would multiplex on one busy connection that never goes idle.)
  const clients = Array.from({ length: lanes }, () =>
    createClient({
      host: '127.0.0.1',
      port,
      maxConnections: 1,
      ...(variant === 'goaway-only' ? { useServerIdleHint: false, idleTimeoutMs: 0 } : {}),
    }),
  );
  const errors: Record<string, number> = {};
  const ids: string[] = [];
  const succeeded = new Set<string>();
  let failed = 0;
  let next = 0;
  try {
    await Promise.all(
      clients.map(async (client, lane) => {
        // Spread the lanes over one idle period so reaps happen all the time, not in bursts.
        await sleep((lane * idleTimeoutMs) / lanes);
        while (next < calls) {
          const n = next++;
          const id = `${variant}-${n}`;
          ids.push(id);
          try {
            await client.call('demo', Buffer.from(id), { idempotent: n % 2 === 1, timeoutMs: 5000 });
            succeeded.add(id);
          } catch (e) {
            failed++;
            const code = e instanceof Error && 'code' in e ? String(e.code) : 'UNKNOWN';
            errors[code] = (errors[code] ?? 0) + 1;
          }
          progress?.(variant, ids.length, failed);
          // Gaps of 0.9–1.1 × the idle timeout: about half land after the server's timer fired.
          await sleep(idleTimeoutMs * (0.9 + Math.random() * 0.2));
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return {
    result: { variant, calls: ids.length, failed, errors, client: sumClientCounters(clients.map((c) => c.stats())), durationMs: Math.round(performance.now() - started) },
    ids,
    succeeded,
  };
}

/** {@link ClientStats} without its per-endpoint list: only counts, which add up across clients. */
export type ClientCounters = Omit<ClientStats, 'endpoints'>;

/** The keys of {@link ClientCounters} whose value is one number. */
type CounterKey = { [K in keyof ClientCounters]: ClientCounters[K] extends number ? K : never }[keyof ClientCounters];

/** Every numeric counter; a Record so the compiler fails here when ClientStats gains one. */
const COUNTER_KEYS: Readonly<Record<CounterKey, true>> = {
  calls: true,
  succeeded: true,
  failed: true,
  retries: true,
  transparentRetries: true,
  idempotentRetries: true,
  hedges: true,
  connectionsOpened: true,
  connectionsClosed: true,
  goawaysReceived: true,
  illegalTransitions: true,
  resolutions: true,
  resolveErrors: true,
};

/**
 * Several clients' counters added up: each number, and `connectionsClosedBy` reason by reason.
 * Per-endpoint figures (`endpoints`) are not counts and are left out. No clients: all zero.
 */
export function sumClientCounters(all: readonly ClientStats[]): ClientCounters {
  const total: ClientCounters = { ...emptyStats(), resolutions: 0, resolveErrors: 0 };
  for (const s of all) {
    for (const key of Object.keys(COUNTER_KEYS) as CounterKey[]) total[key] += s[key];
    for (const [reason, n] of Object.entries(s.connectionsClosedBy) as [keyof ClientStats['connectionsClosedBy'], number][]) {
      total.connectionsClosedBy[reason] += n;
    }
  }
  return total;
}

/**
 * Runs the demo: a child process for the server, the two client variants here.
 * @throws Error when the server process cannot be started.
 */
export async function runRpcDemo(opts: RpcDemoOptions = {}): Promise<RpcDemoResult> {
  const idleTimeoutMs = opts.idleTimeoutMs ?? 1000;
  const calls = opts.calls ?? 120;
  const lanes = opts.lanes ?? 12;
  const started = performance.now();
  const child = fork(SERVER, [String(idleTimeoutMs)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the demo server exited with ${code} before listening`)));
      child.once('message', (m: { port: number }) => resolve(m.port));
    });
    const closeWaitSeen = new Set<string>();
    const closeWaitLingering = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      let previous = new Set<string>();
      while (sampling) {
        const now = new Set(
          (await readTcpTables()).filter((r) => r.state === 'CLOSE_WAIT' && r.localPort === port).map((r) => r.remote),
        );
        for (const peer of now) {
          if (previous.has(peer)) closeWaitLingering.add(peer);
          closeWaitSeen.add(peer);
        }
        previous = now;
        await sleep(50);
      }
    })();
    const runs: Awaited<ReturnType<typeof runVariant>>[] = [];
    try {
      for (const variant of ['default', 'goaway-only'] as const) {
        runs.push(await runVariant(variant, port, idleTimeoutMs, calls, lanes, opts.progress));
      }
    } finally {
      sampling = false;
      await sampler;
    }
    const report = await new Promise<{ counts: [string, number][]; stats: ServerStats }>((resolve) => {
      child.once('message', resolve);
      child.send({ cmd: 'report' });
    });
    const counts = new Map(report.counts);
    return {
      idleTimeoutMs,
      variants: runs.map(({ result, ids, succeeded }) => ({
        ...result,
        ranTwice: ids.filter((id) => (counts.get(id) ?? 0) > 1).length,
        unaccounted: [...succeeded].filter((id) => !counts.has(id)).length,
      })),
      closeWaitSeen: closeWaitSeen.size,
      closeWaitLingering: closeWaitLingering.size,
      server: report.stats,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    if (child.connected) child.disconnect();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    if (child.exitCode === null && child.signalCode === null) await exited;
    clearTimeout(timer);
  }
}
