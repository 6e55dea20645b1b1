import { C, lastErrno, libc } from './libc.js';
import { errnoName } from '../tcp/errno.js';
import { SysError } from './errors.js';

const SIGSET_BYTES = 128;

function sigpipeSet(): Buffer {
  const set = Buffer.alloc(SIGSET_BYTES);
  // sigaddset: bit (signo - 1) of the mask.
  const bit = C.SIGPIPE - 1;
  set.writeUInt8(1 << (bit % 8), Math.floor(bit / 8));
  return set;
}

let sigpipeBlocked = false;

/**
 * Makes SIGPIPE observable in this process without dying of it: blocks it on the calling
 * (main) thread, so the signal a write to a reset socket raises stays pending — Linux keeps a
 * blocked signal pending even while its disposition is SIG_IGN, as Node sets it (`sig_ignored()`
 * in kernel/signal.c). {@link takeSigpipe} then tells whether the last write raised it (seed 004-h).
 * @throws SysError when pthread_sigmask fails.
 */
export function watchSigpipe(): void {
  if (sigpipeBlocked) return;
  const r = libc.pthread_sigmask(C.SIG_BLOCK, sigpipeSet(), null) as number;
  if (r !== 0) throw new SysError('pthread_sigmask', r);
  sigpipeBlocked = true;
}

/**
 * Gives SIGPIPE back its default disposition (terminate) and unblocks it, as a C program starts
 * with: the next write to a reset socket without MSG_NOSIGNAL kills this process (seed 004-h).
 * Node itself ignores SIGPIPE; this is for a throwaway child process.
 * @throws SysError when pthread_sigmask fails.
 */
export function defaultSigpipe(): void {
  libc.signal(C.SIGPIPE, C.SIG_DFL);
  const r = libc.pthread_sigmask(C.SIG_UNBLOCK, sigpipeSet(), null) as number;
  if (r !== 0) throw new SysError('pthread_sigmask', r);
  sigpipeBlocked = false;
}

/** True if a SIGPIPE was raised on this thread since the last call (and consumes it). */
export function takeSigpipe(): boolean {
  const pending = Buffer.alloc(SIGSET_BYTES);
  if (libc.sigpending(pending) !== 0) return false;
  const bit = C.SIGPIPE - 1;
  if ((pending.readUInt8(Math.floor(bit / 8)) & (1 << (bit % 8))) === 0) return false;
  const zero = Buffer.alloc(16); // struct timespec { 0, 0 }: poll, never wait
  libc.sigtimedwait(sigpipeSet(), null, zero);
  return true;
}

/** RLIMIT_NOFILE of this process. */
export interface FileLimit {
  soft: number;
  hard: number;
}

/** getrlimit(RLIMIT_NOFILE). @throws SysError. */
export function getFileLimit(): FileLimit {
  const b = Buffer.alloc(16);
  if (libc.getrlimit(C.RLIMIT_NOFILE, b) !== 0) throw new SysError('getrlimit(RLIMIT_NOFILE)', lastErrno());
  return { soft: Number(b.readBigUInt64LE(0)), hard: Number(b.readBigUInt64LE(8)) };
}

/**
 * setrlimit(RLIMIT_NOFILE): lowering the soft limit makes accept() fail with EMFILE once the
 * process holds that many descriptors (seed 001-f).
 * @throws SysError (EPERM when raising the hard limit without CAP_SYS_RESOURCE, EINVAL).
 */
export function setFileLimit(limit: FileLimit): void {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(limit.soft), 0);
  b.writeBigUInt64LE(BigInt(limit.hard), 8);
  if (libc.setrlimit(C.RLIMIT_NOFILE, b) !== 0) throw new SysError('setrlimit(RLIMIT_NOFILE)', lastErrno());
}

/**
 * Duplicates descriptor `fd` of process `pid` into this process (pidfd_open + pidfd_getfd,
 * Linux >= 5.6): afterwards both processes hold the same socket (seed 003-f). Needs
 * PTRACE_MODE_ATTACH rights over `pid` (same user without Yama restrictions, or CAP_SYS_PTRACE).
 * @returns the new descriptor number in this process.
 * @throws SysError (ESRCH: no such process; EPERM: not allowed; EBADF: no such fd; ENOSYS: old kernel).
 */
export function dupFromProcess(pid: number, fd: number): number {
  const pidfd = Number(libc.syscall3(C.SYS_pidfd_open, pid, 0, 0));
  if (pidfd < 0) throw new SysError('pidfd_open', lastErrno(), `pid ${pid}`);
  const nfd = Number(libc.syscall3(C.SYS_pidfd_getfd, pidfd, fd, 0));
  const err = lastErrno();
  libc.close(pidfd);
  if (nfd < 0) throw new SysError('pidfd_getfd', err, `pid ${pid} fd ${fd}`);
  return nfd;
}

/** Opens /dev/null once: a cheap descriptor to fill a process's table with (EMFILE scenarios). */
export function openDevNull(): { ok: true; fd: number } | { ok: false; errno: string } {
  const fd = libc.open('/dev/null', C.O_RDONLY | C.O_CLOEXEC) as number;
  return fd < 0 ? { ok: false, errno: errnoName(lastErrno()) } : { ok: true, fd };
}
