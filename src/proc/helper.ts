import { Worker } from 'node:worker_threads';

/**
 * A helper thread for the blocking parts of reading procfs (helper-worker.ts), so the async
 * readers neither block the event loop nor pay one thread-pool round trip per system call.
 *
 * Why: seq_file hands out at most about a page per read(2) (~27 rows of /proc/net/tcp), so a
 * 20 000-socket table takes ~750 reads, and an owner scan of 20 000 descriptors takes 20 000
 * readlink(2) calls. Through fs.promises each is a round trip to libuv's pool; here the whole job
 * is one. The thread is started on first use and never keeps the process alive by itself.
 */

/** Requests the helper understands, and what each answers. */
export interface HelperOps {
  /** Read a whole file; answers its bytes. */
  read: { args: { path: string }; result: ArrayBuffer };
  /** socketOwnersSync(opts); answers its result. */
  owners: { args: { root?: string; inodes?: ReadonlySet<number>; netnsOf?: number }; result: unknown };
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

let worker: Worker | undefined;
let unavailable = false;
let nextId = 1;
const pending = new Map<number, Pending>();

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function start(): Worker | undefined {
  if (unavailable) return undefined;
  if (worker !== undefined) return worker;
  try {
    const w = new Worker(new URL('./helper-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: HelperReply) => {
      const p = pending.get(m.id);
      if (p === undefined) return;
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      if (m.error === undefined) p.resolve(m.result);
      else p.reject(Object.assign(new Error(m.error.message), m.error));
    });
    w.on('error', (err) => {
      if (worker === w) worker = undefined;
      failAll(err);
    });
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      failAll(new Error('the procfs helper thread exited'));
    });
    worker = w;
  } catch {
    unavailable = true; // no worker threads here: callers fall back to fs.promises
  }
  return worker;
}

/**
 * Runs `op` on the helper thread. Returns undefined when no thread can be started (callers then
 * do the work on this thread with fs.promises).
 * @throws (through the promise) the error the operation threw there, with its `code`.
 */
export function helper<K extends keyof HelperOps>(op: K, args: HelperOps[K]['args']): Promise<HelperOps[K]['result']> | undefined {
  const w = start();
  if (w === undefined) return undefined;
  const id = nextId++;
  const result = new Promise<unknown>((resolve, reject) => pending.set(id, { resolve, reject }));
  if (pending.size === 1) w.ref(); // a pending answer keeps the process alive, nothing else does
  const req: HelperRequest<K> = { id, op, args };
  w.postMessage(req);
  return result as Promise<HelperOps[K]['result']>;
}

/**
 * Turns the helper thread off (callers fall back to fs.promises on this thread) or back on.
 * For tests of the fallback; not part of the package's API (not exported by proc/index.ts).
 */
export function setHelperEnabled(enabled: boolean): void {
  unavailable = !enabled;
  if (!enabled && worker !== undefined && pending.size === 0) {
    void worker.terminate();
    worker = undefined;
  }
}
