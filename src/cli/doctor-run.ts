import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { runDoctor, type DoctorReport } from '../doctor/doctor.js';
import { threadsForOneShot } from '../doctor/snapshot.js';
import { DoctorWatch } from '../doctor/watch.js';
import { fitLine, paintFor, standardOutput, StopSignal, usage, withProgress, type Output } from './output.js';

// `teardown doctor` and `teardown exporter`: argv → one call into doctor/, and printing.

/** Options of {@link doctorCommand}, as commander hands them over. */
export interface DoctorCliOptions {
  json?: boolean;
  watch?: number | true;
  count?: number;
  port?: number[];
  owners: boolean;
  trace: boolean;
  allNamespaces?: boolean;
  root?: string;
}

/** A procfs root must hold net/tcp: anything else is a usage error, not a crash mid-scan. */
function checkRoot(root: string | undefined): string | undefined {
  if (root === undefined) return undefined;
  if (!existsSync(join(root, 'net/tcp'))) return `--root ${JSON.stringify(root)}: no ${join(root, 'net/tcp')} there (give a procfs mount or a fixture tree)`;
  return undefined;
}

/** Lifecycle of a {@link Screen}: nothing drawn yet, drawing on the alternate screen, left. */
type ScreenState = 'fresh' | 'drawing' | 'left';

/** The one guarded move of a {@link Screen}'s state. @throws Error on an illegal move. */
function screenTransition(from: ScreenState, to: ScreenState): ScreenState {
  if ((from === 'fresh' && (to === 'drawing' || to === 'left')) || (from === 'drawing' && to === 'left')) return to;
  throw new Error(`screen: illegal transition ${from} → ${to}`);
}

/**
 * A screen that redraws in place on a terminal, as watch(1) does: the alternate screen, the
 * cursor home, each line cut to the width and the report cut to the height (so nothing
 * scrolls), the rest of the screen cleared. Leaving restores the screen and prints the last
 * report in full where the command was typed.
 */
class Screen {
  #state: ScreenState = 'fresh';
  #last = '';
  constructor(private readonly out: Output) {}

  draw(text: string): void {
    this.#last = text;
    const size = this.out.size ?? { columns: 80, rows: 24 };
    if (this.#state === 'fresh') {
      this.out.write('\x1b[?1049h\x1b[?25l');
      this.#state = screenTransition(this.#state, 'drawing');
    }
    const lines = text.replace(/\n$/, '').split('\n');
    const room = Math.max(1, size.rows - 1);
    const shown = lines.length > room ? [...lines.slice(0, room - 1), `… ${lines.length - room + 1} more lines (a taller terminal, or --json)`] : lines;
    this.out.write(`\x1b[H${shown.map((l) => `${fitLine(l, size.columns)}\x1b[K`).join('\n')}\n\x1b[J`);
  }

  leave(): void {
    if (this.#state === 'left') return;
    const wasDrawing = this.#state === 'drawing';
    this.#state = screenTransition(this.#state, 'left');
    if (wasDrawing) this.out.write(`\x1b[?25h\x1b[?1049l${this.#last}`);
  }
}

/**
 * `teardown doctor [--json] [--watch [seconds]] [--count N] [--port P]... [--no-owners]
 * [--all-namespaces] [--root DIR]`.
 * @returns 0 when no finding is warning or worse, 1 when one is (in watch mode: on the last
 *   scan), 2 on bad usage. A reader that goes away (`| head`) ends it quietly.
 */
export async function doctorCommand(opts: DoctorCliOptions): Promise<number> {
  const bad = checkRoot(opts.root);
  if (bad !== undefined) return usage('doctor', bad);
  const out = standardOutput();
  const render = opts.json ? undefined : await textRenderer(out);
  const base = {
    owners: opts.owners,
    allNamespaces: opts.allNamespaces === true,
    ...(opts.port === undefined ? {} : { ports: opts.port }),
    ...(opts.root === undefined ? {} : { root: opts.root }),
  };
  const text = (r: DoctorReport): string => (render === undefined ? `${JSON.stringify(r, null, opts.watch === undefined ? 1 : undefined)}\n` : render(r));
  if (opts.watch === undefined) {
    if (opts.count !== undefined) return usage('doctor', '--count needs --watch');
    const threads = opts.owners ? threadsForOneShot(opts.root) : undefined;
    const report = await withProgress('scanning sockets, owners and counters', runDoctor({ ...base, ...(threads === undefined ? {} : { threads }) }));
    out.write(text(report));
    return report.exitCode;
  }

  const intervalMs = (opts.watch === true ? 2 : opts.watch) * 1000;
  const watch = new DoctorWatch();
  const ages = opts.trace === false ? undefined : await startAges('doctor');
  const screen = !opts.json && out.isTTY ? new Screen(out) : undefined;
  const stop = new StopSignal(out);
  let code = 0;
  try {
    for (let i = 0; !stop.stopped && (opts.count === undefined || i < opts.count); i++) {
      if (i > 0) {
        await stop.sleep(intervalMs);
        if (stop.stopped) break;
      }
      const report = await runDoctor({ ...base, watch, ...(ages === undefined ? {} : { entries: ages.entries() }) });
      if (screen !== undefined) screen.draw(text(report));
      else out.write(opts.json ? text(report) : `${text(report)}\n`);
      code = report.exitCode;
    }
  } finally {
    await ages?.close();
    screen?.leave();
    stop.dispose();
  }
  return code;
}

/**
 * The report as text for `out` (colours only on a terminal). Loaded only for text output: the
 * renderer brings cli-table3, which `--json` never needs.
 */
async function textRenderer(out: Output): Promise<(r: DoctorReport) => string> {
  const [{ renderReport }, paint] = await Promise.all([import('../doctor/render.js'), paintFor(out)]);
  return (r) => renderReport(r, { paint, width: out.size?.columns ?? 120 });
}

/**
 * True ages from traced transitions when permitted; otherwise one line on stderr saying why,
 * and ages count from the first scan.
 */
async function startAges(cmd: string): Promise<import('../doctor/age-tracer.js').AgeTracer | undefined> {
  const { startAgeTracer } = await import('../doctor/age-tracer.js');
  const t = startAgeTracer();
  if ('available' in t) {
    process.stderr.write(`teardown ${cmd}: ages count from the first scan (lower bounds): tracing state transitions is not available: ${t.message}\n`);
    return undefined;
  }
  return t;
}

/** Options of {@link exporterCommand}, as commander hands them over. */
export interface ExporterCliOptions {
  port: number;
  host: string;
  top: number;
  owners: boolean;
  trace: boolean;
  allNamespaces?: boolean;
}

/**
 * `teardown exporter [--port P] [--host H] [--top N] [--no-owners] [--all-namespaces]`: serves
 * until SIGINT or SIGTERM.
 * @returns 0 after a signal, 1 when it cannot listen.
 */
export async function exporterCommand(opts: ExporterCliOptions): Promise<number> {
  const { startExporter } = await import('../doctor/exporter.js');
  const port = opts.port;
  let running;
  const ages = opts.trace === false ? undefined : await startAges('exporter');
  try {
    running = await startExporter({
      host: opts.host,
      port,
      topN: opts.top,
      owners: opts.owners,
      allNamespaces: opts.allNamespaces === true,
      ...(ages === undefined ? {} : { entries: () => ages.entries() }),
    });
  } catch (err) {
    await ages?.close();
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
  await ages?.close();
  return 0;
}
