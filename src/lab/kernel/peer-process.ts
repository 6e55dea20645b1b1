import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labChildEnv, resources } from './cleanup.js';
import type { ActorOp, CallResult } from '../ops.js';
import type { HeldSocket, PeerRequest, PeerResponse } from './protocol.js';

const PEER_SCRIPT = fileURLToPath(new URL('./peer.js', import.meta.url));

/** How long a peer may take to answer one call before the scenario is failed. */
const CALL_TIMEOUT_MS = 10_000;

type Waiter = { resolve: (r: PeerResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** Thrown when a peer process dies or stops answering: the scenario failed, not the claim. */
export class PeerError extends Error {
  constructor(
    readonly actor: string,
    message: string,
  ) {
    super(`peer ${actor}: ${message}`);
    this.name = 'PeerError';
  }
}

/**
 * One actor: a real OS process running peer.js, driven over Node's IPC channel. It is started
 * inside the scenario's network namespace when there is one.
 */
export class PeerProcess {
  readonly pid: number;
  #nextId = 1;
  #waiters = new Map<number, Waiter>();
  #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  alive = true;

  private constructor(
    readonly actor: string,
    private readonly child: ChildProcess,
  ) {
    this.pid = child.pid as number;
    resources.pids.add(this.pid);
    // A peer that died while a message was on its way makes the channel fail with EPIPE; the
    // 'exit' handler below fails the waiting call with the reason, so the error itself is news to
    // nobody (without a listener it would crash the lab).
    child.on('error', () => {});
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-2000);
    });
    child.on('message', (m: unknown) => {
      const msg = m as PeerResponse;
      const w = this.#waiters.get(msg.id);
      if (!w) return;
      clearTimeout(w.timer);
      this.#waiters.delete(msg.id);
      w.resolve(msg);
    });
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.alive = false;
        resources.pids.delete(this.pid);
        for (const w of this.#waiters.values()) {
          clearTimeout(w.timer);
          w.reject(new PeerError(actor, `exited (${signal ?? code}) during a call${this.#stderr ? `: ${this.#stderr.trim()}` : ''}`));
        }
        this.#waiters.clear();
        resolve({ code, signal });
      });
    });
  }

  /**
   * Starts the peer and waits for its hello.
   * @param env extra environment: `TT_NETNS` puts the peer inside the scenario's namespace.
   */
  static async start(actor: string, env: Record<string, string> = {}): Promise<PeerProcess> {
    // Its own process group: a terminal's Ctrl+C goes to the lab's group only, so the peers are
    // still there, alive and answering, while the lab cleans up; the clean-up kills them by pid.
    const child = spawn(process.execPath, [PEER_SCRIPT], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...labChildEnv(), ...env }, detached: true });
    if (child.pid === undefined) throw new PeerError(actor, 'could not be started');
    const peer = new PeerProcess(actor, child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PeerError(actor, 'did not start within 5 s')), 5000);
      child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new PeerError(actor, `exited at start: ${peer.#stderr.trim()}`));
      });
    });
    return peer;
  }

  #request(req: Omit<PeerRequest, 'id'>): Promise<PeerResponse> {
    if (!this.alive) return Promise.reject(new PeerError(this.actor, 'is not running'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new PeerError(this.actor, `no answer within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.#waiters.set(id, { resolve, reject, timer });
      this.child.send({ ...req, id } as PeerRequest, (err) => {
        if (!err || !this.#waiters.has(id)) return;
        clearTimeout(timer);
        this.#waiters.delete(id);
        reject(new PeerError(this.actor, `could not be sent a call: ${err.message}`));
      });
    });
  }

  async call(op: ActorOp, extra: { address?: { address: string; port: number }; source?: { pid: number; fd: number } } = {}): Promise<CallResult> {
    const res = await this.#request({ kind: 'op', op, ...extra } as Omit<PeerRequest, 'id'>);
    if (res.kind === 'error') throw new PeerError(this.actor, res.message);
    if (res.kind !== 'result') throw new PeerError(this.actor, 'answered a call with a description');
    return res.result;
  }

  async describe(): Promise<HeldSocket[]> {
    if (!this.alive) return [];
    const res = await this.#request({ kind: 'describe' });
    return res.kind === 'describe' ? res.sockets : [];
  }

  /** The process exits by itself (exit_group: the kernel closes its descriptors). */
  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.disconnect?.();
    return this.#exited;
  }

  /** Sends `signal` by pid and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) process.kill(this.pid, signal);
    return this.#exited;
  }

  /** Emergency stop: SIGKILL by pid, no waiting. */
  dispose(): void {
    if (this.alive) resources.killPid(this.pid);
  }

  waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exited;
  }
}
