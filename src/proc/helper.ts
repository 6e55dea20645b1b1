import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';

import type { FdScanJob, FdScanPart } from './fd-scan.js';

/**
 * Helper threads for the blocking parts of reading procfs (helper-worker.ts), so the async
 * readers neither block the event loop nor pay one thread-pool round trip per system call.
 *
 * Why: seq_file hands out at most about a page per read(2) (~27 rows of /proc/net/tcp), so a
 * 20 000-socket table takes ~750 reads, and an owner scan of 20 000 descriptors takes 20 000
 * readlink(2) calls. Through fs.promises each is a round trip to libuv's pool; here the whole job
 * is one. Threads are started on first use and never keep the process alive by themselves.
 *
 * There are up to {@link HELPER_LANES} of them ("lanes"): lane 0 serves every job that needs
 * one thread; an owner scan splits over all lanes (readlink on /proc is kernel time that scales
 * with cores, and ss is single-threaded).
 */

/** How many helper threads an owner scan may use: the machine's cores, at most 4. */
export const HELPER_LANES = Math.max(1, Math.min(4, availableParallelism()));

/** Requests the helper understands, and what each answers. */
export interface HelperOps {
  /** Read a whole file; answers its bytes. */
  read: { args: { path: string }; result: ArrayBuffer };
  /** One lane's share of a parallel owner scan (fd-scan.ts); answers its part. */
  fdscan: { args: FdScanJob; result: FdScanPart };
}

export interface HelperRequest<K extends keyof HelperOps = keyof HelperOps> {
  id: number;
  op: K;
  args: HelperOps[K]['args'];
}

export interface HelperReply {
  id: number;
  result?: unknown;
  error?: { message: string; name?: string; code?: string; errno?: number; syscall?: string; path?: string };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface Lane {
  worker: Worker;
  pending: number;
}

const lanes: (Lane | undefined)[] = [];
let unavailable = false;
let nextId = 1;
const pending = new Map<number, Pending & { lane: number }>();

function failLane(lane: number, err: Error): void {
  for (const [id, p] of pending) {
    if (p.lane !== lane) continue;
    pending.delete(id);
    p.reject(err);
  }
}

/**
 * This process's Node options minus those about evaluating a string (`-e code`,
 * `--input-type=module`): a worker inherits execArgv, and refuses to start with `--input-type`
 * (ERR_INPUT_TYPE_NOT_ALLOWED) when its code is a file.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') i++;
    else if (!a.startsWith('--input-type') && !a.startsWith('--eval=') && !a.startsWith('--print=')) out.push(a);
  }
  return out;
}

// node:worker_threads is required on the first thread started, not imported: a command that
// never starts one (`teardown ss` without -p) does not pay for loading it (~2 ms of start-up).
let workerThreads: typeof import('node:worker_threads') | undefined;

function start(lane: number): Lane | undefined {
  if (unavailable) return undefined;
  const existing = lanes[lane];
  if (existing !== undefined) return existing;
  let l: Lane;
  try {
    workerThreads ??= createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const w = new workerThreads.Worker(new URL('./helper-worker.js', import.meta.url), { execArgv: workerExecArgv() });
    l = { worker: w, pending: 0 };
    w.unref();
    w.on('message', (m: HelperReply) => {
      const p = pending.get(m.id);
      if (p === undefined) return;
      pending.delete(m.id);
      if (--l.pending === 0) w.unref();
      if (m.error === undefined) p.resolve(m.result);
      else p.reject(Object.assign(new Error(m.error.message), m.error));
    });
    w.on('error', (err) => {
      if (lanes[lane] === l) lanes[lane] = undefined;
      failLane(lane, err);
    });
    w.on('exit', () => {
      if (lanes[lane] === l) lanes[lane] = undefined;
      failLane(lane, new Error('the procfs helper thread exited'));
    });
    lanes[lane] = l;
  } catch {
    unavailable = true; // no worker threads here: callers fall back to this thread
    return undefined;
  }
  return l;
}

/**
 * Runs `op` on helper thread `lane` (default 0; at most {@link HELPER_LANES} − 1). Returns
 * undefined when no thread can be started (callers then do the work on this thread).
 * @throws (through the promise) the error the operation threw there, with its `code`.
 */
export function helper<K extends keyof HelperOps>(op: K, args: HelperOps[K]['args'], lane = 0): Promise<HelperOps[K]['result']> | undefined {
  if (!Number.isInteger(lane) || lane < 0 || lane >= HELPER_LANES) throw new RangeError(`lane must be within 0..${HELPER_LANES - 1}, got ${String(lane)}`);
  const l = start(lane);
  if (l === undefined) return undefined;
  const id = nextId++;
  const result = new Promise<unknown>((resolve, reject) => pending.set(id, { resolve, reject, lane }));
  if (l.pending++ === 0) l.worker.ref(); // a pending answer keeps the process alive, nothing else does
  const req: HelperRequest<K> = { id, op, args };
  l.worker.postMessage(req);
  return result as Promise<HelperOps[K]['result']>;
}

/**
 * Turns the helper threads off (callers fall back to this thread) or back on.
 * For tests of the fallback; not part of the package's API (not exported by proc/index.ts).
 */
export function setHelperEnabled(enabled: boolean): void {
  unavailable = !enabled;
  if (enabled) return;
  for (let i = 0; i < lanes.length; i++) {
    const l = lanes[i];
    if (l === undefined || l.pending > 0) continue;
    void l.worker.terminate();
    lanes[i] = undefined;
  }
}
