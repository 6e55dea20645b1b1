/**
 * rolling-restart: a deploy, measured. Three server processes per contender; `callers` concurrent
 * callers for `seconds`; each server in turn gets SIGTERM, closes gracefully (its own way: ours
 * server.close() with GOAWAY and drain, grpc-js tryShutdown(), node:http close() +
 * closeIdleConnections()), exits, and a new process starts on the same port. Per contender: calls,
 * failed, failed although the server ran the call (from the servers' ledgers), calls run twice,
 * and p99 latency of calls started during a restart. Machinery and contenders: bench/lib-fleet.ts.
 *
 * Environment: FLEET_SECONDS (default 30), FLEET_CALLERS (100), FLEET_WORK_MS (work per call,
 * default 2), FLEET_ONLY (contender keys, comma-separated: rpc, grpc, undici, http).
 */
import { availableParallelism, loadavg } from 'node:os';
import { p99Ratio, runFleetBench, topCodes } from './lib-fleet.js';
import type { BenchOptions, BenchResult } from './lib.js';

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const { params, results, rows, ratios } = await runFleetBench('SIGTERM', opts.progress);
  const { servers, callers } = params;
  return {
    bench: 'rolling-restart',
    title: `${servers} servers restarted in turn (SIGTERM → graceful close → new process on the same port) under ${callers} callers; latency rows: calls started during a restart`,
    params,
    rows,
    ratios,
    tables: [
      {
        title: 'rolling restart: what the callers saw (ledger = each server process\'s record of the calls it ran)',
        head: ['contender', 'calls', 'calls/s', 'failed', 'failed but ran', 'run twice', 'p99 ms in restarts', 'p99 ÷ grpc-js', 'p99 ms overall', 'errors'],
        rows: results.map((r) => [r.label, r.calls, r.callsPerSecond, r.failed, r.failedButRan, r.ranTwice, r.p99RestartMs.toFixed(1), p99Ratio(r, results), r.p99AllMs.toFixed(1), topCodes(r.codes)]),
      },
    ],
    notes: [
      `each contender runs alone, one after another, on the same machine; ${availableParallelism()} cores, load average ${loadavg()[0]?.toFixed(1)} at the end: latencies vary run to run`,
      'HTTP contenders: the caller takes the next of the three origins per call (round-robin) and re-sends only a call refused at connect (ECONNREFUSED) to the next; grpc-js: one channel, round_robin over ipv4:3 addresses, retryPolicy on UNAVAILABLE (maxAttempts 5)',
      ...results.filter((r) => r.unaccounted > 0).map((r) => `${r.label}: ${r.unaccounted} answered calls are in no ledger (a ledger write was lost?)`),
    ],
  };
}
