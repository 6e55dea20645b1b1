import type { Server, Socket } from 'node:net';
import { C, lastErrno, libc } from './libc.js';
import { getIntOptRaw, setIntOptRaw, shutdownRaw, unwrap, type SysResult } from './socket.js';
import { stateFromNumber, type TcpState } from '../tcp/state.js';
import { errnoName } from '../tcp/errno.js';

/**
 * The descriptor under a connected or listening `net.Socket` / `net.Server` (libuv's `uv_fileno`).
 * @throws TypeError when the handle is gone (destroyed socket) or has no descriptor.
 */
export function fdOf(handleOwner: Socket | Server): number {
  const handle = (handleOwner as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TypeError('socket has no descriptor (not connected, or destroyed)');
  return fd;
}

/** SO_LINGER as `struct linger { int l_onoff; int l_linger; }` (seconds). */
export interface Linger {
  onoff: boolean;
  /** Seconds; with `onoff` and 0, close() sends RST and drops unsent data (tcp_close() in net/ipv4/tcp.c). */
  seconds: number;
}

export function setLingerRaw(fd: number, linger: Linger): SysResult<void> {
  const b = Buffer.alloc(8);
  b.writeInt32LE(linger.onoff ? 1 : 0, 0);
  b.writeInt32LE(linger.seconds, 4);
  return libc.setsockopt(fd, C.SOL_SOCKET, C.SO_LINGER, b, 8) === 0 ? { ok: true, value: undefined } : { ok: false, errno: errnoName(lastErrno()) };
}

/**
 * Sets SO_LINGER. `{ onoff: true, seconds: 0 }` turns the next close() into an abortive close:
 * RST instead of FIN, no TIME_WAIT (RFC 9293 §3.10.4 ABORT; `tcp_close()` in net/ipv4/tcp.c).
 * @throws SysError (EBADF, ENOTSOCK, EINVAL).
 */
export function setLinger(fd: number, linger: Linger): void {
  unwrap(setLingerRaw(fd, linger), 'setsockopt(SO_LINGER)');
}

/** The fields of `struct tcp_info` (include/uapi/linux/tcp.h) this toolkit reads. */
export interface TcpInfo {
  state: TcpState;
  /** Retransmission timeout, ms. */
  rtoMs: number;
  /** Delayed-ACK timeout, ms. */
  atoMs: number;
  /** Segments sent and not yet acknowledged. */
  unacked: number;
  /** Smoothed round-trip time, ms (kernel keeps µs). */
  rttMs: number;
  /** Time since the last data was received, ms. */
  lastDataRecvMs: number;
  /** Time since the last ACK was received, ms. */
  lastAckRecvMs: number;
  /** Total retransmitted segments. */
  totalRetrans: number;
  /** Bytes acknowledged by the peer (RFC 4898 tcpEStatsAppHCThruOctetsAcked). */
  bytesAcked: number;
  /** Bytes received and acknowledged by us. */
  bytesReceived: number;
  /** Bytes queued but not yet sent. */
  notsentBytes: number;
}

/** getsockopt(TCP_INFO), decoded; works on any TCP socket, also one in CLOSE that left /proc/net/tcp. */
export function tcpInfoRaw(fd: number): SysResult<TcpInfo> {
  const b = Buffer.alloc(232);
  const len = [232];
  if (libc.getsockopt(fd, C.IPPROTO_TCP, C.TCP_INFO, b, len) !== 0) return { ok: false, errno: errnoName(lastErrno()) };
  return {
    ok: true,
    value: {
      state: stateFromNumber(b.readUInt8(0)),
      rtoMs: b.readUInt32LE(8) / 1000,
      atoMs: b.readUInt32LE(12) / 1000,
      unacked: b.readUInt32LE(24),
      lastDataRecvMs: b.readUInt32LE(52),
      lastAckRecvMs: b.readUInt32LE(56),
      rttMs: b.readUInt32LE(68) / 1000,
      totalRetrans: b.readUInt32LE(100),
      bytesAcked: Number(b.readBigUInt64LE(120)),
      bytesReceived: Number(b.readBigUInt64LE(128)),
      notsentBytes: b.readUInt32LE(144),
    },
  };
}

/** @throws SysError (EBADF, ENOTSOCK, EOPNOTSUPP for a non-TCP socket). */
export function tcpInfo(fd: number): TcpInfo {
  return unwrap(tcpInfoRaw(fd), 'getsockopt(TCP_INFO)');
}

/** TCP keepalive probing for peers that vanish without FIN or RST. */
export interface KeepaliveOptions {
  /** Idle time before the first probe, ms (rounded up to whole seconds, as TCP_KEEPIDLE takes s). */
  idleMs: number;
  /** Time between probes, ms (rounded up to whole seconds). */
  intervalMs: number;
  /** Unanswered probes before the connection is dropped with ETIMEDOUT. */
  count: number;
}

/**
 * SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT (tcp(7); `tcp_keepalive_timer()`
 * in net/ipv4/tcp_timer.c).
 * @throws SysError (EBADF, EINVAL for values out of the kernel's range).
 */
export function setKeepalive(fd: number, o: KeepaliveOptions): void {
  const s = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));
  unwrap(setIntOptRaw(fd, C.SOL_SOCKET, C.SO_KEEPALIVE, 1), 'setsockopt(SO_KEEPALIVE)');
  unwrap(setIntOptRaw(fd, C.IPPROTO_TCP, C.TCP_KEEPIDLE, s(o.idleMs)), 'setsockopt(TCP_KEEPIDLE)');
  unwrap(setIntOptRaw(fd, C.IPPROTO_TCP, C.TCP_KEEPINTVL, s(o.intervalMs)), 'setsockopt(TCP_KEEPINTVL)');
  unwrap(setIntOptRaw(fd, C.IPPROTO_TCP, C.TCP_KEEPCNT, o.count), 'setsockopt(TCP_KEEPCNT)');
}

/**
 * TCP_USER_TIMEOUT (RFC 5482): how long, ms, sent data may stay unacknowledged before the kernel
 * drops the connection with ETIMEDOUT. 0 restores the system default.
 * @throws SysError (EBADF, EINVAL for a negative value).
 */
export function setUserTimeout(fd: number, ms: number): void {
  unwrap(setIntOptRaw(fd, C.IPPROTO_TCP, C.TCP_USER_TIMEOUT, ms), 'setsockopt(TCP_USER_TIMEOUT)');
}

/** TCP_USER_TIMEOUT in ms. @throws SysError. */
export function getUserTimeout(fd: number): number {
  return unwrap(getIntOptRaw(fd, C.IPPROTO_TCP, C.TCP_USER_TIMEOUT), 'getsockopt(TCP_USER_TIMEOUT)');
}

/**
 * shutdown(2) on a descriptor: `SHUT_RD` is the one Node lacks (`socket.end()` is SHUT_WR).
 * Acts on the socket whatever its reference count (seed 003-f).
 * @throws SysError (ENOTCONN when not connected, EBADF).
 */
export function shutdownFd(fd: number, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR'): void {
  unwrap(shutdownRaw(fd, how), `shutdown(${how})`);
}
