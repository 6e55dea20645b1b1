import { C, lastErrno, libc } from './libc.js';
import { SysError } from './errors.js';
import { inNetns } from './netns.js';

/**
 * The raw side of a NETLINK_SOCK_DIAG conversation (netlink(7), sock_diag(7)): open the socket,
 * send one request, read the answers. The protocol itself (inet_diag requests and messages) is
 * proc/sock-diag.ts's business.
 */

/**
 * socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), in this thread's network
 * namespace or in the one named by `netns` (a namespace file such as `/proc/PID/ns/net`).
 *
 * A netlink socket answers for the namespace it was created in (`sock_net()` is fixed at
 * creation), so only the socket() call happens inside the other namespace ({@link inNetns}).
 *
 * @throws SysError: EPROTONOSUPPORT / EAFNOSUPPORT when the kernel has no sock_diag,
 *   EPERM when entering `netns` needs CAP_SYS_ADMIN this process lacks, ENOENT when `netns` is
 *   gone (the process exited), EMFILE.
 * @throws Error when the thread cannot return to its own namespace (never seen; the thread would
 *   stay in the other namespace, so this is not a SysError a caller may shrug off).
 */
export function openSockDiag(netns?: string): number {
  return inNetns(netns, sockDiagSocket, (fd) => libc.close(fd));
}

function sockDiagSocket(): number {
  const fd = libc.socket(C.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, C.NETLINK_SOCK_DIAG) as number;
  if (fd < 0) throw new SysError('socket', lastErrno(), 'AF_NETLINK, NETLINK_SOCK_DIAG');
  return fd;
}

const EINTR = 4;

/**
 * Sends one netlink message to the kernel (an unbound netlink socket's send() goes to port id 0,
 * the kernel).
 * @throws SysError (ENOBUFS, EPERM …).
 */
export function netlinkSend(fd: number, msg: Buffer): void {
  for (;;) {
    const n = Number(libc.send(fd, msg, msg.length, 0));
    if (n === msg.length) return;
    const errno = n < 0 ? lastErrno() : 0;
    if (errno === EINTR) continue;
    throw new SysError('send', errno === 0 ? 5 /* EIO: short send, never seen on netlink */ : errno, 'netlink');
  }
}

/**
 * Receives the next batch of netlink messages into `buf`; returns the byte count. During a dump
 * the kernel fills each batch up to about 32 KiB, so `buf` should hold at least that much.
 * @throws SysError (ENOBUFS …); EINTR is retried.
 */
export function netlinkRecv(fd: number, buf: Buffer): number {
  for (;;) {
    const n = Number(libc.recv(fd, buf, buf.length, 0));
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) throw new SysError('recv', errno, 'netlink');
  }
}

/** close(2), ignoring errors (a netlink socket has nothing left to flush). */
export function closeQuietly(fd: number): void {
  libc.close(fd);
}
