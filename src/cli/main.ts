import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { LabCommandOptions } from './lab.js';
import type { CompareCommandOptions } from './compare.js';
import { usage } from './output.js';
import type { ReportCommandOptions } from './report.js';
import { collect, registerDoctorCommands } from './doctor.js';
import { MAX_TIMER_MS } from '../tcp/time.js';

// Each command's module is imported when that command runs (start-up: `teardown ss` must not
// load the lab, rpc or prom-client).

const program = new Command();
program
  .name('teardown')
  .description('TCP connection teardown made visible, testable and survivable (Linux).')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str) })
  .showHelpAfterError('(run teardown --help for usage)');

program
  .command('lab')
  .description("run the articles' experiments on this kernel and judge every claim")
  .argument('[scenario...]', 'scenario ids (default: all); see --list')
  .option('--list', 'list the scenarios and the claims each judges')
  .option('--json', 'print the full traces as one JSON object')
  .option('--no-capture', 'do not capture packets')
  .option('--no-trace', 'do not trace state transitions and RST reasons (tracefs)')
  .option('--record <dir>', "write each scenario's full trace to DIR/<scenario>.json")
  .option('--pcap <dir>', "write each scenario's packets to DIR/<scenario>.pcap (Wireshark, tcpdump -r)")
  .option('--html <file>', 'write the run as one self-contained HTML page: claims table, ladder diagram per scenario')
  .option('--svg <dir>', "write each scenario's ladder diagram to DIR/<scenario>.svg")
  .option('--mermaid <dir>', "write each scenario's ladder as a mermaid sequenceDiagram to DIR/<scenario>.mmd")
  .option('--wide', 'do not fit the report to 120 columns')
  .addOption(new Option('--backend <name>', 'where the scenarios run: the real kernel, or the TCP model in virtual time (no root)').choices(['kernel', 'model']).default('kernel'))
  .option('--sysctl <name=value>', 'a sysctl for every scenario, e.g. net.ipv4.tcp_fin_timeout=60 (repeatable; kernel: needs root)', collect, [])
  .option('--rtt-ms <ms>', "model only: the loopback's round-trip time, ms (each direction delays by half)", intIn(0, MAX_TIMER_MS))
  .option('--compare', 'run each scenario on the kernel (root) and on the model, and compare them fact by fact: agreement and every mismatch with its reason (--html FILE: both ladders side by side)')
  .option('--recorded <dir>', 'with --compare: the kernel traces recorded in DIR (teardown lab --record DIR) instead of running the kernel (no root needed)')
  .action(async (ids: string[], opts: LabCommandOptions & CompareCommandOptions & { compare?: boolean }) => {
    if (opts.compare || opts.recorded !== undefined) {
      const { compareCommand, compareUsage } = await import('./compare.js');
      const problem = compareUsage(opts);
      process.exitCode = problem === null ? await compareCommand(ids, opts) : usage('lab', problem);
      return;
    }
    const { labCommand } = await import('./lab.js');
    process.exitCode = await labCommand(ids, opts);
  });

program
  .command('report')
  .description('the pictures of a lab run from traces recorded with `teardown lab --record DIR` (no root needed)')
  .requiredOption('--from <dir>', 'directory of recorded traces (<scenario>.json)')
  .option('--html <file>', 'one self-contained HTML page: claims table, ladder diagram per scenario')
  .option('--svg <dir>', "each scenario's ladder diagram as DIR/<scenario>.svg")
  .option('--mermaid <dir>', "each scenario's ladder as a mermaid sequenceDiagram, DIR/<scenario>.mmd")
  .action(async (opts: ReportCommandOptions) => {
    const { reportCommand } = await import('./report.js');
    process.exitCode = reportCommand(opts);
  });

registerDoctorCommands(program);

/** A commander parser for an integer option within min..max (bad input → exit 2 with the reason). */
function intIn(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
}

program
  .command('rpc-demo')
  .description('seed 003 with the remedy: a server reaping idle connections, calls landing around its timeout; prints failures (0) and stats')
  .option('--idle-ms <ms>', "the server's idle timeout, ms", intIn(50, 60_000), 1000)
  .option('--calls <n>', 'calls per client variant', intIn(1, 100_000), 120)
  .option('--lanes <n>', 'callers at once', intIn(1, 1000), 12)
  .option('--fleet', 'instead: three servers restarted one after another (same port, SO_REUSEPORT) under load, live counts')
  .option('--seconds <s>', 'with --fleet: length of the run, s', intIn(1, 3600), 10)
  .option('--json', 'print the result as one JSON object')
  .action(async (opts: { idleMs: number; calls: number; lanes: number; fleet?: boolean; seconds: number; json?: boolean }) => {
    const { rpcDemoCommand, rpcFleetDemoCommand } = await import('./rpc-demo.js');
    process.exitCode = opts.fleet ? await rpcFleetDemoCommand(opts) : await rpcDemoCommand(opts);
  });

/**
 * Runs the command line. Not top-level await, so the same file bundles to CommonJS
 * (scripts/bundle-cli.ts); what top-level await gave is kept: a command whose promise never
 * settles (the event loop ran dry under it: a bug) exits 13, not 0.
 */
async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; every usage error exits 2 (commander already printed why).
      process.exitCode = e.exitCode === 0 ? 0 : 2;
    } else {
      process.stderr.write(`teardown: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  }
}

let settled = false;
process.on('exit', (code) => {
  if (settled || code !== 0) return;
  process.stderr.write('teardown: the command stopped before it finished (nothing was left to wait for)\n');
  process.exitCode = 13;
});
void main().finally(() => {
  settled = true;
});
