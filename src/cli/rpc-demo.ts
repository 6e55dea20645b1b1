import Table from 'cli-table3';

import { pc } from '../lab/report/colour.js';
import { runRpcDemo, type RpcDemoResult } from '../rpc/demo.js';
import { runFleetDemo, type FleetDemoProgress, type FleetDemoResult } from '../rpc/fleet-demo.js';
import { standardOutput } from './output.js';

/** Options of `teardown rpc-demo`, already parsed and range-checked by main.ts. */
export interface RpcDemoCommandOptions {
  idleMs: number;
  calls: number;
  lanes: number;
  json?: boolean;
}

/**
 * `teardown rpc-demo`: runs {@link runRpcDemo} and prints what happened.
 * @returns the exit code: 0 when no call failed, ran twice or went unaccounted and no CLOSE_WAIT
 *   lingered on the server; 1 otherwise.
 */
export async function rpcDemoCommand(opts: RpcDemoCommandOptions): Promise<number> {
  const tty = process.stderr.isTTY === true;
  process.stderr.write(
    pc.dim(`server reaps connections idle for ${opts.idleMs} ms; per client ${opts.calls} calls over ${opts.lanes} callers, gaps 0.9–1.1 × that\n`),
  );
  const result = await runRpcDemo({
    idleTimeoutMs: opts.idleMs,
    calls: opts.calls,
    lanes: opts.lanes,
    progress: (variant, done, failed) => {
      if (tty) process.stderr.write(`\r  ${variant}: ${done}/${opts.calls} calls, ${failed} failed   `);
    },
  });
  if (tty) process.stderr.write('\n');
  // A reader gone early (`| head`) ends it quietly, as every other command.
  standardOutput().write(opts.json ? `${JSON.stringify(result, null, 1)}\n` : render(result));
  const bad = result.variants.reduce((n, v) => n + v.failed + v.ranTwice + v.unaccounted, 0) + result.closeWaitLingering;
  return bad === 0 ? 0 : 1;
}

function render(r: RpcDemoResult): string {
  const good = (n: number): string => (n === 0 ? pc.green(String(n)) : pc.red(String(n)));
  const closedBy = (by: Record<string, number>): string =>
    Object.entries(by)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || '-';
  const clients = new Table({
    head: ['client', 'calls', 'failed', 'ran twice', 'unaccounted', 'GOAWAYs', 'transparent retries', 'connections', 'closed by'],
    style: { head: [], border: [] },
  });
  for (const v of r.variants) {
    const c = v.client;
    clients.push([
      v.variant === 'default' ? 'default (retires idle before the server)' : 'goaway-only (server GOAWAY races each call)',
      String(v.calls),
      good(v.failed),
      good(v.ranTwice),
      good(v.unaccounted),
      String(c.goawaysReceived),
      String(c.transparentRetries),
      String(c.connectionsOpened),
      closedBy(c.connectionsClosedBy),
    ]);
  }
  const s = r.server;
  const out = [
    clients.toString(),
    ...r.variants.filter((v) => v.failed > 0).map((v) => `${v.variant} errors: ${Object.entries(v.errors).map(([k, n]) => `${k}×${n}`).join(' ')}`),
    `server: ran ${s.calls} calls, refused ${s.refused} unrun, sent ${s.goawaysSent} GOAWAYs; ` +
      `${s.peerClosedFirst} of ${s.connectionsClosed} connections closed by the client first, ${s.halfClosedAfterDrain} half-closed after drain, ${s.resets} reset`,
    `server port CLOSE_WAIT: ${r.closeWaitSeen} seen in passing (closed on EOF), ${good(r.closeWaitLingering)} lingering (002-i)`,
    `${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  return `${out.join('\n')}\n`;
}

/** Options of `teardown rpc-demo --fleet`, already parsed and range-checked by main.ts. */
export interface RpcFleetDemoCommandOptions {
  lanes: number;
  seconds: number;
  json?: boolean;
}

/**
 * `teardown rpc-demo --fleet`: runs {@link runFleetDemo}; progress lines (running counts, each
 * restart step) go to stdout, or to stderr with --json, which prints one JSON object at the end.
 * A reader gone early (`| head`) stops the run: servers are killed, the command exits quietly.
 * @returns 0 when no call failed, ran twice or went unaccounted and every old server exited 0; 1 otherwise.
 */
export async function rpcFleetDemoCommand(opts: RpcFleetDemoCommandOptions): Promise<number> {
  const out = standardOutput();
  const stop = new AbortController();
  void out.gone.then(() => stop.abort());
  const line = (text: string): void => {
    if (opts.json) process.stderr.write(`${text}\n`);
    else out.write(`${text}\n`);
  };
  line(pc.dim(`3 servers on 3 ports, ${opts.lanes} callers for ${opts.seconds} s; each server in turn: new process on its port`));
  line(pc.dim(`(SO_REUSEPORT), then SIGTERM to the old`));
  const result = await runFleetDemo({ callers: opts.lanes, seconds: opts.seconds, signal: stop.signal, progress: (p) => line(progressLine(p)) });
  if (out.state === 'reader-gone') return 0;
  out.write(opts.json ? `${JSON.stringify(result, null, 1)}\n` : renderFleet(result));
  const bad = result.failed + result.ranTwice + result.unaccounted + result.restarts.filter((r) => r.exitCode !== 0).length;
  return bad === 0 ? 0 : 1;
}

function progressLine(p: FleetDemoProgress): string {
  const t = `${(p.elapsedMs / 1000).toFixed(1).padStart(5)} s`;
  const counts = `calls ${p.calls.toLocaleString('en-US')}, failed ${p.failed === 0 ? pc.green('0') : pc.red(String(p.failed))}`;
  return p.step === null ? `${t}  ${counts}` : `${t}  ${p.step}`;
}

function renderFleet(r: FleetDemoResult): string {
  const good = (n: number): string => (n === 0 ? pc.green(String(n)) : pc.red(String(n)));
  const table = new Table({ head: ['server', 'port', 'old pid', 'new pid', 'drain ms', 'old exit'], style: { head: [], border: [] } });
  for (const x of r.restarts) table.push([String(x.slot), String(x.port), String(x.oldPid), String(x.newPid), String(x.drainMs), x.exitCode === 0 ? '0' : pc.red(String(x.exitCode))]);
  const lines = [
    table.toString(),
    `${r.calls.toLocaleString('en-US')} calls by ${r.callers} callers over ${r.servers} servers, ${r.restarts.length} restarted: failed ${good(r.failed)}, ran twice ${good(r.ranTwice)}, answered but in no ledger ${good(r.unaccounted)}`,
    ...(r.failed > 0 ? [`errors: ${Object.entries(r.errors).map(([k, n]) => `${k}×${n}`).join(' ')}`] : []),
    `${(r.durationMs / 1000).toFixed(1)} s${r.stoppedEarly ? ' (stopped early)' : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}
