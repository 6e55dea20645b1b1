/**
 * kill: a crash, measured. As bench/rolling-restart, but each server in turn is SIGKILLed (no
 * graceful anything), then replaced by a new process on the same port. Failures are sorted by
 * what the caller was told and checked against the servers' ledgers (written before each call's
 * work, so they survive the kill):
 * - ours: every RpcError's `processed` — 'no' must mean not run, 'yes' must mean run (0 wrong);
 *   'maybe' is the honest answer for a call on a connection that died after it was sent;
 * - grpc-js: a status code, which does not say whether the handler ran (counted as "may have run");
 * - undici, node:http: ECONNREFUSED proves "not run"; every other code may have run.
 *
 * Environment: FLEET_SECONDS (default 30), FLEET_CALLERS (100), FLEET_WORK_MS (default 2),
 * FLEET_ONLY (contender keys).
 */
import { availableParallelism, loadavg } from 'node:os';
import { p99Ratio, runFleetBench, topCodes, type FleetRunResult } from './lib-fleet.js';
import type { BenchOptions, BenchResult } from './lib.js';

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const { params, contenders, results, rows, ratios } = await runFleetBench('SIGKILL', opts.progress);
  const { servers, callers } = params;
  const wrong = (r: FleetRunResult): number => r.told['not-run'].ran + (r.told.ran.n - r.told.ran.ran);
  return {
    bench: 'kill',
    title: `${servers} servers SIGKILLed in turn and replaced under ${callers} callers; latency rows: calls started during a replacement`,
    params,
    rows,
    ratios,
    tables: [
      {
        title: 'kill: failures by what the caller was told, checked against the ledgers',
        head: ['contender', 'calls', 'failed', 'told not run', '…but ran (wrong)', 'told may have run', '…ran', 'told ran', '…but not run (wrong)', 'run twice', 'p99 ms', 'p99 ÷ grpc-js', 'errors'],
        rows: results.map((r) => [
          r.label,
          r.calls,
          r.failed,
          r.told['not-run'].n,
          r.told['not-run'].ran,
          r.told['may-have-run'].n,
          r.told['may-have-run'].ran,
          r.told.ran.n,
          r.told.ran.n - r.told.ran.ran,
          r.ranTwice,
          r.p99RestartMs.toFixed(1),
          p99Ratio(r, results),
          topCodes(r.codes),
        ]),
      },
    ],
    notes: [
      `each contender runs alone, one after another; ${availableParallelism()} cores, load average ${loadavg()[0]?.toFixed(1)} at the end`,
      ...results.map((r) => `${r.label}: ${wrong(r)} failures told something the ledgers contradict`),
      ...contenders.map((c) => `${c.label} tells the caller: ${c.telling}`),
      ...results.filter((r) => r.unaccounted > 0).map((r) => `${r.label}: ${r.unaccounted} answered calls are in no ledger`),
    ],
  };
}
