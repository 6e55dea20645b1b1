/**
 * The rpc server's own accept loop, on a listening socket made with src/sys.
 *
 * Why not node:net's: when accept() fails with EMFILE or ENFILE, libuv closes a descriptor it
 * keeps in reserve, accepts every pending connection and closes each at once, then reopens the
 * reserve (`uv__emfile_trick()` in libuv's src/unix/stream.c). The clients get FIN (and RST for
 * anything they wrote) for a connection the application never saw, and node:net emits nothing:
 * measured on Node 20, a server out of descriptors gets no 'connection' and no 'error' event
 * while its client reads EOF. The server can neither count the failure nor keep the connection
 * for later. Seed 001-f describes what a C server gets instead — the connection waits in the
 * accept queue and is served once descriptors are free — and that is what this loop does.
 *
 * How: a worker thread blocks in epoll_wait() on the listener (no CPU while idle, no libuv
 * thread-pool slot taken), accepts, and posts the descriptor numbers here. On EMFILE/ENFILE it
 * backs off exponentially (acceptBackoffMs) instead of retrying in a tight loop.
 * stop() wakes it with shutdown(listenFd, SHUT_RD): on a LISTEN socket Linux runs
 * tcp_disconnect(), the listener goes to CLOSE (its queued, never-accepted connections are
 * reset, as close() would), epoll reports EPOLLHUP and accept() answers EINVAL.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Worker } from 'node:worker_threads';

import { LINUX, bindRaw, closeRaw, listenRaw, setIntOptRaw, shutdownRaw, socketRaw, socknameRaw, unwrap } from '../sys/index.js';
import { SysError } from '../sys/errors.js';
import { errnoNumber } from '../tcp/errno.js';
import type { AcceptWorkerData, AcceptWorkerMessage } from './accept-worker.js';

/** A bound, listening socket that belongs to this process (not to libuv). */
export interface Listener {
  fd: number;
  address: string;
  port: number;
  family: 4 | 6;
}

/**
 * socket() + SO_REUSEADDR (+ SO_REUSEPORT when asked) + bind() + listen(), non-blocking and
 * close-on-exec. `host` may be an IP literal or a name (resolved with the system resolver, first
 * address).
 *
 * `reusePort`: SO_REUSEPORT before bind(), so another socket with the option set, owned by the same
 * user, may listen on the same address and port at the same time; the kernel spreads new
 * connections over the group by a hash of the 4-tuple (or by a BPF program attached to it;
 * net/core/sock_reuseport.c). This is what lets a new server process listen while the old one
 * drains (a rolling restart on one port). Node 20's net.Server has no such option.
 * @throws SysError (EADDRINUSE — also when the socket already there lacks SO_REUSEPORT or belongs
 *   to another user — EACCES, EMFILE …) — the socket is closed first.
 */
export async function openListener(host: string, port: number, backlog: number, reusePort = false): Promise<Listener> {
  const address = isIP(host) !== 0 ? host : (await lookup(host)).address;
  const family = isIP(address) === 6 ? 6 : 4;
  const fd = unwrap(socketRaw(family, true), 'socket');
  try {
    // As node:net does: a restarted server can bind while old connections sit in TIME_WAIT.
    unwrap(setIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEADDR, 1), 'setsockopt(SO_REUSEADDR)');
    if (reusePort) unwrap(setIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEPORT, 1), 'setsockopt(SO_REUSEPORT)');
    unwrap(bindRaw(fd, { address, port }), 'bind', `${address} port ${port}`);
    unwrap(listenRaw(fd, backlog), 'listen');
    const bound = unwrap(socknameRaw(fd), 'getsockname');
    return { fd, address: bound.address, port: bound.port, family };
  } catch (err) {
    closeRaw(fd);
    throw err;
  }
}

/** What the accept loop reports to its owner. */
export interface AcceptLoopHandlers {
  /** A new connection's descriptor; the owner must wrap or close it. */
  accepted(fd: number): void;
  /** accept() failed; `backoffMs` is the wait before the next try (0: retried at once). */
  acceptError(errno: string, backoffMs: number): void;
  /** The loop died for a reason other than stop() (a bug, or the listener closed under it). */
  failed(err: Error): void;
}

/**
 * The loop's main-thread half. Owns the listening descriptor from {@link AcceptLoop.start} on and
 * closes it in {@link AcceptLoop.stop} — only after the worker has exited, so the descriptor
 * number cannot be reused under a thread still calling accept() on it.
 */
export class AcceptLoop {
  readonly #listenFd: number;
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #exited: Promise<void>;
  #listenerClosed = false;
  #stopping: Promise<void> | null = null;

  private constructor(listenFd: number, worker: Worker, control: Int32Array, exited: Promise<void>) {
    this.#listenFd = listenFd;
    this.#worker = worker;
    this.#control = control;
    this.#exited = exited;
  }

  /**
   * Starts the worker on `listenFd` and waits until it watches the listener.
   * @throws SysError when the worker cannot set up epoll (EMFILE …); `listenFd` is then still the caller's.
   */
  static async start(listenFd: number, backoff: { initialMs: number; maxMs: number }, handlers: AcceptLoopHandlers): Promise<AcceptLoop> {
    const control = new SharedArrayBuffer(4);
    const data: AcceptWorkerData = { listenFd, control, initialBackoffMs: backoff.initialMs, maxBackoffMs: backoff.maxMs };
    const worker = new Worker(new URL('./accept-worker.js', import.meta.url), { workerData: data, stdout: false, stderr: false });
    let loop: AcceptLoop | null = null;
    let settle: { resolve: (l: AcceptLoop) => void; reject: (e: Error) => void } | null = null;
    const started = new Promise<AcceptLoop>((resolve, reject) => (settle = { resolve, reject }));
    // A loop that dies on its own (not by stop()) is reported once, by whichever sign comes first.
    let failureReported = false;
    const fail = (err: Error): void => {
      if (failureReported || loop === null || loop.#stopping !== null) return;
      failureReported = true;
      handlers.failed(err);
    };
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', () => {
        fail(new Error('rpc server accept loop exited unexpectedly'));
        settle?.reject(new Error('rpc server accept loop exited before it started'));
        settle = null;
        resolve();
      });
    });
    worker.on('error', (err: Error) => {
      if (loop === null) {
        settle?.reject(err);
        settle = null;
      } else fail(err);
    });
    worker.on('message', (m: AcceptWorkerMessage) => {
      switch (m.kind) {
        case 'ready':
          loop = new AcceptLoop(listenFd, worker, new Int32Array(control), exited);
          settle?.resolve(loop);
          settle = null;
          return;
        case 'fatal':
          settle?.reject(new SysError('epoll_create1', errnoNumberOr(m.errno), 'accept loop'));
          settle = null;
          return;
        case 'accepted':
          handlers.accepted(m.fd);
          return;
        case 'acceptError':
          handlers.acceptError(m.errno, m.backoffMs);
          return;
        case 'stopped':
          fail(m.errno === null ? new Error('rpc server accept loop stopped unexpectedly') : new SysError('accept', errnoNumberOr(m.errno), 'the listening socket was closed under the server'));
          return;
      }
    });
    return started;
  }

  /**
   * Stops accepting and closes the listener. Connections still in the accept queue are reset by
   * the kernel (as with close() of any listener) — unless the listener is in an SO_REUSEPORT group
   * and the namespace's `net.ipv4.tcp_migrate_req` is 1: then inet_csk_listen_stop()
   * (net/ipv4/inet_connection_sock.c) moves them to another listener of the group
   * (reuseport_migrate_sock(), net/core/sock_reuseport.c; Linux 5.14+). Everything accepted before
   * has been handed to `accepted()`. The shutdown() that leaves LISTEN happens before this returns
   * its promise, so a caller that stops the loop first and then sends GOAWAYs knows every
   * reconnect those provoke meets another listener. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      Atomics.store(this.#control, 0, 1);
      Atomics.notify(this.#control, 0); // wakes a backoff wait
      shutdownRaw(this.#listenFd, 'SHUT_RD'); // wakes epoll_wait (EPOLLHUP); accept() now fails EINVAL
      await this.#exited;
      this.closeListener();
    })();
    return this.#stopping;
  }

  /** Closes the listening descriptor once (also after the loop failed). */
  closeListener(): void {
    if (this.#listenerClosed) return;
    this.#listenerClosed = true;
    closeRaw(this.#listenFd);
  }

  /** Lets the process exit while the server listens (as `net.Server.unref()`). */
  unref(): void {
    this.#worker.unref();
  }

  ref(): void {
    this.#worker.ref();
  }
}

function errnoNumberOr(name: string): number {
  try {
    return errnoNumber(name);
  } catch {
    return 5; // EIO
  }
}
