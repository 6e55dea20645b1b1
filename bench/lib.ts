/**
 * Shared pieces of the benchmarks: timing with `process.hrtime.bigint()`, repetitions,
 * median and quantiles, timed child processes, and the result shape `run.ts` prints.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** What `run.ts` passes to a bench's `run()`. */
export interface BenchOptions {
  /** `--json` was given: the result will be printed as one JSON object. */
  json: boolean;
  /** Progress for a human; goes to stderr in both modes. */
  progress: (msg: string) => void;
}

/** Summary of repeated timings, milliseconds. */
export interface Stats {
  runs: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
}

/** One measured thing. */
export interface BenchRow {
  label: string;
  /** Anchors are measured in the same run; every row's median is shown as a ratio to each. */
  anchor: boolean;
  stats: Stats;
  /** Median number of rows (sockets) the measured thing produced per run, when it produces any. */
  rowsPerRun?: number;
}

/** `of`'s median divided by `to`'s median: below 1 means `of` is faster. */
export interface Ratio {
  of: string;
  to: string;
  value: number;
}

/** What a bench's `run()` returns; `run.ts` prints it as a table or as JSON. */
export interface BenchResult {
  bench: string;
  title: string;
  /** The conditions of the run (connection count, repetitions, limits …). */
  params: Record<string, number | string | boolean>;
  rows: BenchRow[];
  ratios: Ratio[];
  notes: string[];
  /** Results that are not timings (failure counts, rates): printed as tables after the timings. */
  tables?: BenchTable[];
}

/** A table of figures that are not repeated timings; its cells are what JSON consumers read too. */
export interface BenchTable {
  title: string;
  head: string[];
  rows: (string | number)[][];
}

/** The signature every bench module exports. */
export type BenchRun = (opts: BenchOptions) => Promise<BenchResult>;

/**
 * The `q`-quantile (0..1) of ascending `sorted` values, interpolating linearly between the two
 * nearest ranks (the "type 7" definition of R and NumPy's default).
 * @throws RangeError for an empty array or q outside 0..1.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be within 0..1, got ${q}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (h - lo);
}

export function median(values: readonly number[]): number {
  return quantile([...values].sort((x, y) => x - y), 0.5);
}

/** Summarizes samples given in milliseconds. */
export function summarize(samplesMs: readonly number[]): Stats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return {
    runs: sorted.length,
    medianMs: quantile(sorted, 0.5),
    p90Ms: quantile(sorted, 0.9),
    minMs: sorted[0] as number,
    maxMs: sorted[sorted.length - 1] as number,
    meanMs: sorted.reduce((s, x) => s + x, 0) / sorted.length,
  };
}

/** One case to time: `fn` returns the number of rows it produced (or nothing). */
export interface BenchCase {
  label: string;
  anchor?: boolean;
  fn: () => Promise<number | void> | number | void;
}

/** Elapsed milliseconds of one call, and what it returned. */
export async function timeOnce<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const t1 = process.hrtime.bigint();
  return { ms: Number(t1 - t0) / 1e6, value };
}

/**
 * Times every case `reps` times after `warmup` untimed calls each, round-robin (case A, B, C,
 * A, B, C, …) so that drift in the machine's state spreads over all cases alike.
 */
export async function measureInterleaved(
  cases: readonly BenchCase[],
  opts: { reps: number; warmup: number; progress?: (msg: string) => void },
): Promise<BenchRow[]> {
  for (const c of cases) for (let i = 0; i < opts.warmup; i++) await c.fn();
  const samples = cases.map(() => [] as number[]);
  const rows = cases.map(() => [] as number[]);
  for (let r = 0; r < opts.reps; r++) {
    for (let i = 0; i < cases.length; i++) {
      const { ms, value } = await timeOnce((cases[i] as BenchCase).fn);
      (samples[i] as number[]).push(ms);
      if (typeof value === 'number') (rows[i] as number[]).push(value);
    }
    if (opts.progress && (r + 1) % 10 === 0) opts.progress(`repetition ${r + 1}/${opts.reps}`);
  }
  return cases.map((c, i) => {
    const row: BenchRow = { label: c.label, anchor: c.anchor === true, stats: summarize(samples[i] as number[]) };
    const counts = rows[i] as number[];
    if (counts.length > 0) row.rowsPerRun = median(counts);
    return row;
  });
}

/**
 * Spawns `cmd args`, drains its stdout through a pipe counting bytes and lines, and resolves when
 * it has exited and its output is closed.
 * @throws Error naming the command when it cannot be spawned or exits non-zero.
 */
export function spawnDrain(cmd: string, args: readonly string[]): Promise<{ bytes: number; lines: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.once('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve({ bytes, lines });
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${signal ?? `code ${code}`}`));
    });
  });
}

/** Ratios of `of` against each anchor, by median. */
export function ratiosAgainstAnchors(rows: readonly BenchRow[], of: readonly string[]): Ratio[] {
  const out: Ratio[] = [];
  for (const label of of) {
    const row = rows.find((r) => r.label === label);
    if (!row) continue;
    for (const anchor of rows.filter((r) => r.anchor)) {
      out.push({ of: label, to: anchor.label, value: row.stats.medianMs / anchor.stats.medianMs });
    }
  }
  return out;
}

/**
 * A positive integer from the environment variable `name`, or `fallback` when it is unset.
 * @throws RangeError naming the variable when it is set to anything else.
 */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Forks the Node program `modulePath` with an IPC channel and resolves with its first message
 * (a bench server's "ready, here are my ports").
 * @throws Error naming the program when it fails to start or exits before that message.
 */
export function forkReady<T>(
  modulePath: string,
  args: readonly string[] = [],
  execArgv: readonly string[] = process.execArgv,
): Promise<{ child: ChildProcess; ready: T }> {
  const child = fork(modulePath, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [...execArgv] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`${modulePath} exited (${signal ?? `code ${code}`}) before it was ready`)));
    child.once('message', (ready: T) => resolve({ child, ready }));
  });
}

/** Disconnects a forked server (its cue to close and exit), then SIGKILLs it if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 1000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * A `kB` field of `/proc/PID/status` (`VmRSS`: resident set now, `VmHWM`: its peak), in bytes.
 * @throws Error when the process is gone or has no such field.
 */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const text = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (!m) throw new Error(`/proc/${pid}/status has no ${field} line`);
  return Number(m[1]) * 1024;
}

/**
 * Sends `msg` to a forked bench server and resolves with its next message.
 * @throws Error when the process exits first, or no answer comes within `timeoutMs` (a server
 *   stuck under attack must not hang the bench).
 */
export function askChild<T>(child: ChildProcess, msg: object, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`server process ${child.pid} did not answer ${JSON.stringify(msg)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: T): void => {
      done();
      resolve(m);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      done();
      reject(new Error(`server process ${child.pid} exited (${signal ?? `code ${code}`}) before it answered ${JSON.stringify(msg)}`));
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
    if (child.connected) child.send(msg);
    else onExit(child.exitCode, child.signalCode);
  });
}
