/**
 * Many loopback connections held open for a bench (bench/doctor.ts, bench/proc-scan.ts): both
 * ends live in child processes running bench/loopback-holder.ts, server holders accepting and
 * client holders connecting, one server + one client per pair, each under the per-process
 * descriptor limit, so the bench's own process keeps only a handful of descriptors. Also the
 * preflight reads (fd limit, sysctls) those benches size their holders by.
 *
 * Every holder started is pushed onto the caller's `holders` array at once, so stopHolders() and
 * the SIGINT handler reach it even when setting up the pairs fails half-way.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const HOLDER = fileURLToPath(new URL('./loopback-holder.js', import.meta.url));

/** Soft "Max open files" of this process (holders inherit it; Node raises soft to hard at start). */
export function fdSoftLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  const n = Number(soft);
  return soft === 'unlimited' ? 1 << 20 : Number.isFinite(n) && n > 0 ? n : 1024;
}

/** The whitespace-separated numbers of a /proc/sys file. */
export function readSysctl(path: string): number[] {
  return readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
}

/** Splits `total` into `parts` nearly equal non-negative integers (positive when total ≥ parts). */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export interface Holder {
  child: ChildProcess;
  role: 'server' | 'client';
  exited: Promise<void>;
}

function startHolder(args: string[], holders: Holder[]): Holder {
  const child = fork(HOLDER, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const h: Holder = { child, role: args[0] as 'server' | 'client', exited };
  holders.push(h);
  return h;
}

/** Resolves with the first message of `type`; rejects on an error message, an early exit or the timeout. */
function waitFor<T extends { type: string }>(h: Holder, type: string, timeoutMs: number, onOther?: (m: { type: string; n?: number }) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${h.role} holder: no "${type}" within ${timeoutMs / 1000} s`)), timeoutMs);
    const onMessage = (m: { type: string; message?: string; n?: number }): void => {
      if (m.type === type) done(undefined, m as unknown as T);
      else if (m.type === 'error') done(new Error(`${h.role} holder: ${m.message ?? 'failed'}`));
      else onOther?.(m);
    };
    const onExit = (code: number | null, signal: string | null): void => done(new Error(`${h.role} holder exited early (${signal ?? `code ${code}`})`));
    function done(err?: Error, value?: T): void {
      clearTimeout(timer);
      h.child.off('message', onMessage);
      h.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    }
    h.child.on('message', onMessage);
    h.child.once('exit', onExit);
  });
}

function alive(h: Holder): boolean {
  return h.child.exitCode === null && h.child.signalCode === null && h.child.pid !== undefined;
}

function signalAll(holders: readonly Holder[], signal: NodeJS.Signals): void {
  for (const h of holders) {
    try {
      if (alive(h)) process.kill(h.child.pid as number, signal);
    } catch {
      // already gone
    }
  }
}

/** One pair to start: its server holder listens on `host`, its client holder opens `count` connections to it. */
export interface PairSpec {
  host: string;
  count: number;
  /** How many of the pair's connections the client half-closes (server end CLOSE_WAIT); default 0. */
  halfClose?: number;
}

export interface HeldPair {
  host: string;
  /** The server holder's listening port on `host`. */
  port: number;
  count: number;
  server: Holder;
  client: Holder;
}

export interface HoldOptions {
  /** listen() backlog of each server holder. */
  backlog: number;
  /** Connections a client holder opens at a time. */
  batch: number;
  /** How long each holder may take to listen or to be ready. */
  timeoutMs: number;
  /** `connected n/total` goes to `progress` each time at least this many more are connected, and at the end. */
  reportEvery: number;
  progress: (msg: string) => void;
  /** Called once a pair's connections are all established and accepted. */
  onPair?: (pair: HeldPair, index: number) => void;
}

/**
 * Starts one server and one client holder per spec, all pairs at once, and resolves when every
 * client has connected (and half-closed what it was asked to) and every server has accepted.
 * @throws Error naming the holder when one reports an error, exits early or misses the timeout;
 * the holders already started are in `holders` for stopHolders().
 */
export async function holdPairs(holders: Holder[], specs: readonly PairSpec[], opts: HoldOptions): Promise<HeldPair[]> {
  const total = specs.reduce((s, p) => s + p.count, 0);
  let connected = 0;
  let lastReport = 0;
  return Promise.all(
    specs.map(async ({ host, count, halfClose = 0 }, i) => {
      const server = startHolder(['server', host, String(count), String(opts.backlog)], holders);
      const { port } = await waitFor<{ type: 'listening'; port: number }>(server, 'listening', opts.timeoutMs);
      const accepted = waitFor(server, 'ready', opts.timeoutMs);
      const client = startHolder(['client', host, String(port), String(count), String(opts.batch), String(halfClose)], holders);
      let mine = 0;
      await waitFor(client, 'ready', opts.timeoutMs, (m) => {
        if (m.type !== 'progress' || m.n === undefined) return;
        connected += m.n - mine;
        mine = m.n;
        if (connected - lastReport >= opts.reportEvery || connected === total) {
          lastReport = connected;
          opts.progress(`connected ${connected}/${total}`);
        }
      });
      await accepted;
      const pair: HeldPair = { host, port, count, server, client };
      opts.onPair?.(pair, i);
      return pair;
    }),
  );
}

/**
 * SIGTERMs the client holders, then the server holders (each resets its connections: no
 * TIME_WAIT), waiting up to 5 s for each group to exit; SIGKILLs whatever is left.
 */
export async function stopHolders(holders: readonly Holder[]): Promise<void> {
  // Clients first: their RSTs close the server ends too.
  for (const role of ['client', 'server'] as const) {
    const group = holders.filter((h) => h.role === role && alive(h));
    signalAll(group, 'SIGTERM');
    await Promise.race([Promise.all(group.map((h) => h.exited)), new Promise((r) => setTimeout(r, 5000))]);
  }
  const stragglers = holders.filter(alive);
  signalAll(stragglers, 'SIGKILL');
  await Promise.race([Promise.all(stragglers.map((h) => h.exited)), new Promise((r) => setTimeout(r, 2000))]);
}

/**
 * Until the returned function is called, a SIGINT stops every holder in `holders` (as it is
 * then: the array may grow and shrink meanwhile) and exits with 130: SIGTERM, so they reset
 * their connections, and SIGKILL a second later for what remains. The holders also go by
 * themselves when this process dies, as their IPC channel closes.
 */
export function stopHoldersOnSigint(holders: readonly Holder[]): () => void {
  const onSigint = (): void => {
    signalAll(holders, 'SIGTERM');
    setTimeout(() => {
      signalAll(holders, 'SIGKILL');
      process.stderr.write('interrupted: holders stopped\n');
      process.exit(130);
    }, 1000);
  };
  process.once('SIGINT', onSigint);
  return () => {
    process.off('SIGINT', onSigint);
  };
}
