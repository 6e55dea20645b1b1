import { InvalidArgumentError, type Command } from 'commander';

import {
  DEFAULT_EXPORTER_PORT,
  DoctorWatch,
  renderReport,
  renderSockets,
  resolveStates,
  runDoctor,
  startExporter,
  stateNames,
  takeSnapshot,
  type DoctorReport,
} from '../doctor/index.js';
import { pc } from '../lab/report/colour.js';

// argv → one call into doctor/; no logic of its own beyond parsing and printing.

function parsePort(v: string, prev: number[] = []): number[] {
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n > 65535) throw new InvalidArgumentError(`not a port number: ${JSON.stringify(v)}`);
  return [...prev, n];
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function parsePositive(what: string, integer: boolean) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`${what} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** Shows `label … 1.2 s` on stderr while `work` runs longer than 300 ms, only when stderr is a terminal. */
async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  if (process.stderr.isTTY !== true) return work;
  const started = performance.now();
  let shown = false;
  const timer = setInterval(() => {
    shown = true;
    process.stderr.write(`\r${pc.dim(`${label} … ${((performance.now() - started) / 1000).toFixed(1)} s`)}`);
  }, 300);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    if (shown) process.stderr.write('\r\x1b[K');
  }
}

function usage(cmd: string, message: string): number {
  process.stderr.write(`teardown ${cmd}: ${message}\n(run teardown ${cmd} --help for usage)\n`);
  return 2;
}

interface SsOptions {
  all?: boolean;
  listening?: boolean;
  owners?: boolean;
  port?: number[];
  address?: string[];
  json?: boolean;
}

/**
 * `teardown ss [state NAME]... [exclude NAME]... [-a] [-l] [-p] [--port P]... [--address A]... [--json]`.
 * @returns the exit code: 0, or 2 on bad usage.
 */
export async function ssCommand(filter: string[], opts: SsOptions): Promise<number> {
  const include: string[] = [];
  const exclude: string[] = [];
  for (let i = 0; i < filter.length; i++) {
    const word = filter[i] as string;
    const name = filter[i + 1];
    if ((word === 'state' || word === 'exclude') && name !== undefined) {
      (word === 'state' ? include : exclude).push(name);
      i++;
    } else {
      return usage('ss', `expected "state NAME" or "exclude NAME", got ${JSON.stringify(word)}${word === 'state' || word === 'exclude' ? ' without a name' : ''}`);
    }
  }
  if (opts.all) include.push('all');
  if (opts.listening) include.push('listening');
  let states;
  try {
    states = resolveStates(include, exclude);
  } catch (err) {
    return usage('ss', err instanceof Error ? err.message : String(err));
  }
  const snap = await withProgress(
    opts.owners ? 'reading /proc/net/tcp and /proc/PID/fd' : 'reading /proc/net/tcp',
    takeSnapshot({
      states: [...states],
      owners: opts.owners === true,
      ...(opts.port === undefined ? {} : { ports: opts.port }),
      ...(opts.address === undefined ? {} : { addresses: opts.address }),
    }),
  );
  const { sockets, sharedHolders, ...meta } = snap;
  if (opts.json) {
    const kept = new Set(sockets.map((s) => s.inode));
    const shared = Object.fromEntries([...sharedHolders].filter(([inode]) => kept.has(inode)));
    process.stdout.write(`${JSON.stringify({ ...meta, states: [...states], count: sockets.length, sockets, sharedHolders: shared }, null, 1)}\n`);
  } else {
    process.stdout.write(`${renderSockets(sockets, { paint: pc, owners: opts.owners === true, holders: sharedHolders })}\n`);
  }
  if (opts.owners && snap.unreadablePids > 0) {
    process.stderr.write(
      pc.yellow(
        `could not read /proc/PID/fd of ${snap.unreadablePids} process${snap.unreadablePids === 1 ? '' : 'es'} (EACCES/EPERM${process.geteuid?.() === 0 ? '' : ': not root'}): their sockets show "?" as owner\n`,
      ),
    );
  }
  return 0;
}

interface DoctorCliOptions {
  json?: boolean;
  watch?: number | true;
  count?: number;
  port?: number[];
  owners: boolean;
  root?: string;
}

/**
 * `teardown doctor [--json] [--watch [seconds]] [--count N] [--port P]... [--no-owners]`.
 * @returns 0 when no finding is warning or worse, 1 when one is (in watch mode: on the last
 *   scan), 2 on bad usage.
 */
export async function doctorCommand(opts: DoctorCliOptions): Promise<number> {
  const base = {
    owners: opts.owners,
    ...(opts.port === undefined ? {} : { ports: opts.port }),
    ...(opts.root === undefined ? {} : { root: opts.root }),
  };
  const print = (r: DoctorReport): void => {
    if (opts.json) process.stdout.write(`${JSON.stringify(r, null, opts.watch === undefined ? 1 : undefined)}\n`);
    else process.stdout.write(renderReport(r, { paint: pc, width: process.stdout.isTTY === true ? process.stdout.columns : 120 }));
  };
  if (opts.watch === undefined) {
    if (opts.count !== undefined) return usage('doctor', '--count needs --watch');
    const report = await withProgress('scanning sockets, owners and counters', runDoctor(base));
    print(report);
    return report.exitCode;
  }

  const intervalMs = (opts.watch === true ? 2 : opts.watch) * 1000;
  const watch = new DoctorWatch();
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let code = 0;
  try {
    for (let i = 0; !stopped && (opts.count === undefined || i < opts.count); i++) {
      if (i > 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, intervalMs);
        });
        if (stopped) break;
      }
      const report = await withProgress('scanning', runDoctor({ ...base, watch }));
      if (!opts.json && process.stdout.isTTY === true) process.stdout.write('\x1b[2J\x1b[H');
      print(report);
      if (!opts.json && process.stdout.isTTY !== true) process.stdout.write('\n');
      code = report.exitCode;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return code;
}

interface ExporterCliOptions {
  port: number;
  host: string;
  top: number;
  owners: boolean;
}

/**
 * `teardown exporter [--port P] [--host H] [--top N] [--no-owners]`: serves until SIGINT or
 * SIGTERM.
 * @returns 0 after a signal, 1 when it cannot listen.
 */
export async function exporterCommand(opts: ExporterCliOptions): Promise<number> {
  const port = opts.port;
  let running;
  try {
    running = await startExporter({ host: opts.host, port, topN: opts.top, owners: opts.owners });
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'error';
    process.stderr.write(`teardown exporter: cannot listen on ${opts.host}:${port}: ${code} (${err instanceof Error ? err.message : String(err)})\n`);
    return 1;
  }
  process.stderr.write(`teardown exporter: serving ${running.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}

/** Adds `ss`, `doctor` and `exporter` to the CLI. */
export function registerDoctorCommands(program: Command): void {
  program
    .command('ss')
    .description('list TCP sockets with ss-like columns (state, Recv-Q, Send-Q, local, peer, owner, timer)')
    .argument('[filter...]', `"state NAME" and "exclude NAME", repeatable; NAME: ${stateNames().join(', ')}, or a kernel state name (CLOSE_WAIT)`)
    .option('-a, --all', 'all states (default: connected, without TIME_WAIT and SYN_RECV, as ss)')
    .option('-l, --listening', 'listening sockets')
    .option('-p, --owners', 'show the owning process (scans /proc/PID/fd; needs root for other users\' processes)')
    .option('--port <port>', 'only sockets with this local or remote port (repeatable)', parsePort)
    .option('--address <addr>', 'only sockets with this local or remote address, or ip:port endpoint (repeatable)', collect)
    .option('--json', 'print one JSON object')
    .action(async (filter: string[], opts: SsOptions) => {
      process.exitCode = await ssCommand(filter, opts);
    });

  program
    .command('doctor')
    .description("find this machine's TCP teardown problems and explain each (exit 0: none; 1: a warning or worse; 2: usage)")
    .option('--json', 'print the report as JSON (with --watch: one JSON object per line per scan)')
    .option('--watch [seconds]', 'rescan every N seconds (default 2) and show trends, ages and counter rates', parsePositive('--watch', false))
    .option('--count <n>', 'with --watch: stop after N scans', parsePositive('--count', true))
    .option('--port <port>', 'only sockets with this local or remote port (repeatable)', parsePort)
    .option('--no-owners', 'do not scan /proc/PID/fd for owners')
    .option('--root <dir>', 'read procfs from this directory (a fixture tree)')
    .action(async (opts: DoctorCliOptions) => {
      process.exitCode = await doctorCommand(opts);
    });

  program
    .command('exporter')
    .description(`serve Prometheus metrics (tcp_teardown_*) at http://HOST:PORT/metrics, scanning on each scrape`)
    .option('--port <port>', 'port to listen on (0: any free port)', (v: string) => parsePort(v)[0] as number, DEFAULT_EXPORTER_PORT)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--top <n>', 'label sets kept per labelled metric before "other"', parsePositive('--top', true), 10)
    .option('--no-owners', 'do not scan /proc/PID/fd for owners (CLOSE_WAIT by command then shows "?")')
    .action(async (opts: ExporterCliOptions) => {
      process.exitCode = await exporterCommand(opts);
    });
}
