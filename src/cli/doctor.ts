import { isIP } from 'node:net';

import { InvalidArgumentError, type Command } from 'commander';

import { parseAddressFilter } from '../doctor/filters.js';

// Registers `ss`, `doctor`, `exporter` and `trace`: options and their checks only. Each action
// imports its module when it runs, so `teardown ss` never loads prom-client, the rules or the
// tracer, and `teardown --help` loads none of them.

const DEFAULT_EXPORTER_PORT = 9473; // doctor/exporter.ts's DEFAULT_EXPORTER_PORT, without loading prom-client

/** A port filter: 1..65535. Port 0 is refused: every listener's peer port is 0, so it would match them all. */
function parsePortFilter(v: string, prev: number[] = []): number[] {
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n > 65535) throw new InvalidArgumentError(`not a port number: ${JSON.stringify(v)}`);
  if (n === 0) throw new InvalidArgumentError('port 0 is not a port a connection uses (every listener\'s peer shows 0): give 1..65535, or use -l for listeners');
  return [...prev, n];
}

function parseListenPort(v: string): number {
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n > 65535) throw new InvalidArgumentError(`not a port number: ${JSON.stringify(v)} (0..65535; 0 picks a free port)`);
  return n;
}

function parseAddress(v: string, prev: string[] = []): string[] {
  try {
    parseAddressFilter(v);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
  return [...prev, v];
}

function parseHost(v: string): string {
  if (v.trim() === '') throw new InvalidArgumentError('empty host: it would bind every interface; say 0.0.0.0 or :: to mean that, or 127.0.0.1 (the default)');
  if (isIP(v) === 0 && v !== 'localhost') throw new InvalidArgumentError(`not an IP address to bind: ${JSON.stringify(v)} (127.0.0.1, ::1, 0.0.0.0 for every interface, or ::)`);
  return v;
}

function parsePositive(what: string, integer: boolean, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`${what} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    if (n > max) throw new InvalidArgumentError(`${what} must be at most ${max}, got ${JSON.stringify(v)}`);
    return n;
  };
}

function collectPid(v: string, prev: number[] = []): number[] {
  const n = Number(v);
  if (!/^\d{1,10}$/.test(v) || n < 1 || n > 4_194_304) throw new InvalidArgumentError(`not a pid: ${JSON.stringify(v)} (1..4194304)`);
  return [...prev, n];
}

/** A commander parser for a repeatable option: every value given, in order (also main.ts's). */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Adds `ss`, `doctor`, `exporter` and `trace` to the CLI. */
export function registerDoctorCommands(program: Command): void {
  program
    .command('ss')
    .description('list TCP sockets with ss-like columns (state, Recv-Q, Send-Q, local, peer, owner, timer)')
    .argument('[filter...]', '"state NAME" and "exclude NAME", repeatable; NAME: a state (close-wait, CLOSE_WAIT) or a group (all, connected, synchronized, bucket, big)')
    .option('-a, --all', 'all states (default: connected, without TIME_WAIT and SYN_RECV, as ss)')
    .option('-l, --listening', 'listening sockets')
    .option('-p, --owners', 'show the owning process (scans /proc/PID/fd; needs root for other users\' processes)')
    .option('--port <port>', 'only sockets with this local or remote port, 1..65535 (repeatable)', parsePortFilter)
    .option('--address <addr>', 'only sockets with this local or remote address (10.0.0.1, ::1) or endpoint (10.0.0.1:80, [::1]:80) (repeatable)', parseAddress)
    .option('--all-namespaces', 'every network namespace of the machine (/proc/*/ns/net, /run/netns), named in a Netns column')
    .option('--json', 'print one JSON object')
    .action(async (filter: string[], opts: import('./ss.js').SsOptions) => {
      const { ssCommand } = await import('./ss.js');
      process.exitCode = await ssCommand(filter, opts);
    });

  program
    .command('doctor')
    .description("find this machine's TCP teardown problems and explain each (exit 0: none; 1: a warning or worse; 2: usage)")
    .option('--json', 'print the report as JSON (with --watch: one JSON object per line per scan)')
    .option('--watch [seconds]', 'rescan every N seconds (default 2) and show trends, ages and counter rates; on a terminal the screen is redrawn in place', parsePositive('--watch', false, 86_400))
    .option('--count <n>', 'with --watch: stop after N scans', parsePositive('--count', true))
    .option('--port <port>', 'only sockets with this local or remote port, 1..65535 (repeatable)', parsePortFilter)
    .option('--no-owners', 'do not scan /proc/PID/fd for owners')
    .option('--no-trace', 'with --watch: do not trace state transitions for true ages (tracefs)')
    .option('--all-namespaces', 'every network namespace of the machine; each finding names its namespace')
    .option('--root <dir>', 'read procfs from this directory (a fixture tree)')
    .action(async (opts: import('./doctor-run.js').DoctorCliOptions) => {
      const { doctorCommand } = await import('./doctor-run.js');
      process.exitCode = await doctorCommand(opts);
    });

  program
    .command('exporter')
    .description('serve Prometheus metrics (tcp_teardown_*) at http://HOST:PORT/metrics, scanning on each scrape')
    .option('--port <port>', 'port to listen on (0: any free port)', parseListenPort, DEFAULT_EXPORTER_PORT)
    .option('--host <host>', 'address to bind (0.0.0.0 or :: for every interface)', parseHost, '127.0.0.1')
    .option('--top <n>', 'label sets kept per labelled metric before "other"', parsePositive('--top', true, 10_000), 10)
    .option('--no-owners', 'do not scan /proc/PID/fd for owners (CLOSE_WAIT by command then shows "?")')
    .option('--no-trace', 'do not trace state transitions (close_wait_oldest_seconds then counts from the first scrape)')
    .option('--all-namespaces', 'every network namespace of the machine: socket metrics get a netns label')
    .action(async (opts: import('./doctor-run.js').ExporterCliOptions) => {
      const { exporterCommand } = await import('./doctor-run.js');
      process.exitCode = await exporterCommand(opts);
    });

  program
    .command('trace')
    .description("live TCP state transitions with the time spent in the previous state, and RSTs with the kernel's reason, from tracefs (no BPF; needs root)")
    .option('--port <port>', 'only sockets with this local or remote port, 1..65535 (repeatable)', parsePortFilter)
    .option('--state <state>', 'only transitions from or to this state, and RSTs sent in it (repeatable)', collect)
    .option('--pid <pid>', 'only events of this process (repeatable)', collectPid)
    .option('--json', 'one JSON object per line')
    .option('--duration <seconds>', 'stop after this long (default: until Ctrl+C)', parsePositive('--duration', false, 2_147_483))
    .action(async (opts: import('./trace.js').TraceCliOptions) => {
      const { traceCommand } = await import('./trace.js');
      process.exitCode = await traceCommand(opts);
    });
}
