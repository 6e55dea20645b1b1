/**
 * The accept loop's thread (see accept-loop.ts for why it exists). It waits on the listening
 * socket with epoll, accepts with accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), and posts each new
 * descriptor number to the main thread, which wraps it in a net.Socket. Descriptors are
 * process-wide, so a number is all that has to cross.
 *
 * Every failure is reported by errno name, and none makes it spin: a failure that frees nothing
 * by retrying (EMFILE, ENFILE, ENOBUFS, ENOMEM, and anything unexpected) is followed by an
 * exponential backoff, during which the connection stays in the kernel's accept queue — served
 * once descriptors are free (seed 001-f), rather than accepted and dropped as libuv does.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { EpollWatch, acceptRaw } from '../sys/index.js';
import { backoffMs, type BackoffPolicy } from './backoff.js';
import { SysError } from '../sys/errors.js';

/** What the worker is started with. */
export interface AcceptWorkerData {
  listenFd: number;
  /** Int32Array over it: [0] is the stop flag (0 run, 1 stop); Atomics.notify wakes a backoff. */
  control: SharedArrayBuffer;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/** Messages from the worker, in the order they happen. */
export type AcceptWorkerMessage =
  | { kind: 'ready' }
  | { kind: 'fatal'; errno: string; message: string }
  | { kind: 'accepted'; fd: number }
  | { kind: 'acceptError'; errno: string; backoffMs: number }
  | { kind: 'stopped'; errno: string | null };

/**
 * accept(2) errors that are the new connection's, not the listener's: the peer reset it while it
 * waited in the queue (ECONNABORTED), or a network error Linux passes on from the pending socket
 * ("treat them like EAGAIN by retrying", accept(2) NOTES). Retried at once; counted.
 */
const RETRY_AT_ONCE = new Set(['ECONNABORTED', 'EPROTO', 'ENETDOWN', 'ENOPROTOOPT', 'EHOSTDOWN', 'ENONET', 'EHOSTUNREACH', 'EOPNOTSUPP', 'ENETUNREACH', 'EPERM']);

/**
 * The listener is gone: shutdown(SHUT_RD) by accept-loop.ts's stop() moves a LISTEN socket to
 * CLOSE (inet_shutdown() → tcp_disconnect() in net/ipv4), after which accept() answers EINVAL.
 */
const LISTENER_GONE = new Set(['EINVAL', 'EBADF', 'ENOTSOCK']);

function post(m: AcceptWorkerMessage): void {
  parentPort?.postMessage(m);
}

function run(data: AcceptWorkerData): void {
  const control = new Int32Array(data.control);
  const stopping = (): boolean => Atomics.load(control, 0) !== 0;
  let watch: EpollWatch;
  try {
    // Level-triggered EPOLLIN on a listener: ready while the accept queue is not empty.
    watch = new EpollWatch(data.listenFd, ['EPOLLIN']);
  } catch (err) {
    post({ kind: 'fatal', errno: err instanceof SysError ? err.code : 'EIO', message: (err as Error).message });
    return;
  }
  post({ kind: 'ready' });
  // Doubling from initialBackoffMs, capped, no jitter: one thread's own retries, nothing to spread.
  const policy: BackoffPolicy = { initialMs: data.initialBackoffMs, maxMs: data.maxBackoffMs, multiplier: 2, jitter: 0 };
  /** accept() failures in a row that called for a wait. */
  let failures = 0;
  let exitErrno: string | null = null;
  try {
    while (!stopping()) {
      // A long timeout only bounds how stale a missed wake-up could be; stop() wakes it at once
      // (shutdown(SHUT_RD) makes the listener report EPOLLHUP).
      const events = watch.wait(60_000);
      if (stopping()) break;
      if (events.length === 0) continue;
      const r = acceptRaw(data.listenFd);
      if (r.ok) {
        failures = 0;
        post({ kind: 'accepted', fd: r.value.fd });
        continue;
      }
      const errno = r.errno;
      if (errno === 'EAGAIN' || errno === 'EINTR') continue; // another waiter took it, or a signal
      if (LISTENER_GONE.has(errno)) {
        exitErrno = stopping() ? null : errno;
        break;
      }
      if (RETRY_AT_ONCE.has(errno)) {
        post({ kind: 'acceptError', errno, backoffMs: 0 });
        continue;
      }
      // Out of descriptors or memory (or something unforeseen): retrying now would fail the same
      // way and burn a core. Wait, doubling each time, and leave the connection queued.
      const waitMs = backoffMs(policy, ++failures, 0);
      post({ kind: 'acceptError', errno, backoffMs: waitMs });
      Atomics.wait(control, 0, 0, waitMs); // returns early when stop() sets the flag and notifies
    }
  } finally {
    watch.close();
  }
  post({ kind: 'stopped', errno: exitErrno });
}

run(workerData as AcceptWorkerData);
