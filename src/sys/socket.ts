import { isIPv6 } from 'node:net';
import { C, lastErrno, libc } from './libc.js';
import { errnoName, errnoNumber } from '../tcp/errno.js';
import { SysError } from './errors.js';
import type { Endpoint } from '../tcp/address.js';

/**
 * The outcome of one raw call, as the lab records it: the value, or the errno name the kernel
 * returned. Raw calls never throw for a kernel error; they report it, because the errno *is*
 * the observation (seed 003-d, 004-h).
 */
export type SysResult<T> = { ok: true; value: T } | { ok: false; errno: string };

function fail<T>(): SysResult<T> {
  return { ok: false, errno: errnoName(lastErrno()) };
}

/** Encodes a `struct sockaddr_in` / `sockaddr_in6` for an endpoint. */
export function encodeSockaddr(ep: Endpoint): Buffer {
  if (isIPv6(ep.address)) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(C.AF_INET6, 0);
    b.writeUInt16BE(ep.port, 2);
    ipv6Bytes(ep.address).copy(b, 8);
    return b;
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(C.AF_INET, 0);
  b.writeUInt16BE(ep.port, 2);
  const parts = ep.address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new SyntaxError(`bad IPv4 address ${ep.address}`);
  Buffer.from(parts).copy(b, 4);
  return b;
}

function ipv6Bytes(addr: string): Buffer {
  const [head = '', tail = ''] = addr.split('::');
  const words = (s: string): number[] => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = addr.includes('::') ? words(tail) : [];
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

/** Decodes a `struct sockaddr_in` / `sockaddr_in6`. */
export function decodeSockaddr(b: Buffer): Endpoint {
  const family = b.readUInt16LE(0);
  const port = b.readUInt16BE(2);
  if (family === C.AF_INET) return { address: [...b.subarray(4, 8)].join('.'), port };
  const words: string[] = [];
  for (let i = 0; i < 8; i++) words.push(b.readUInt16BE(8 + i * 2).toString(16));
  return { address: words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::'), port };
}

/** socket(AF_INET{,6}, SOCK_STREAM | SOCK_CLOEXEC [| SOCK_NONBLOCK], 0). */
export function socketRaw(family: 4 | 6, nonblocking: boolean): SysResult<number> {
  const type = C.SOCK_STREAM | C.SOCK_CLOEXEC | (nonblocking ? C.SOCK_NONBLOCK : 0);
  const fd = libc.socket(family === 6 ? C.AF_INET6 : C.AF_INET, type, 0) as number;
  return fd < 0 ? fail() : { ok: true, value: fd };
}

export function bindRaw(fd: number, ep: Endpoint): SysResult<void> {
  const sa = encodeSockaddr(ep);
  return libc.bind(fd, sa, sa.length) === 0 ? { ok: true, value: undefined } : fail();
}

export function listenRaw(fd: number, backlog: number): SysResult<void> {
  return libc.listen(fd, backlog) === 0 ? { ok: true, value: undefined } : fail();
}

/** connect(2). On a non-blocking socket the usual answer is EINPROGRESS (the SYN is out). */
export function connectRaw(fd: number, ep: Endpoint): SysResult<void> {
  const sa = encodeSockaddr(ep);
  return libc.connect(fd, sa, sa.length) === 0 ? { ok: true, value: undefined } : fail();
}

/** accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK: EAGAIN when the accept queue is empty. */
export function acceptRaw(fd: number): SysResult<{ fd: number; peer: Endpoint }> {
  const sa = Buffer.alloc(28);
  const len = [28];
  const nfd = libc.accept4(fd, sa, len, C.SOCK_CLOEXEC | C.SOCK_NONBLOCK) as number;
  return nfd < 0 ? fail() : { ok: true, value: { fd: nfd, peer: decodeSockaddr(sa) } };
}

/**
 * recv(2). `bytes.length === 0` is EOF: the peer's FIN was read (seed 002-i).
 * Flags: MSG_DONTWAIT makes it non-blocking (EAGAIN when nothing is there, seed 002-k);
 * MSG_PEEK leaves the data queued (the pool liveness check of seed 003-h).
 */
export function recvRaw(fd: number, max: number, flags: number): SysResult<Buffer> {
  const buf = Buffer.alloc(max);
  const n = Number(libc.recv(fd, buf, max, flags));
  return n < 0 ? fail() : { ok: true, value: buf.subarray(0, n) };
}

/** send(2); returns the bytes the kernel took. Without MSG_NOSIGNAL an EPIPE also raises SIGPIPE. */
export function sendRaw(fd: number, data: Buffer, flags: number): SysResult<number> {
  const n = Number(libc.send(fd, data, data.length, flags));
  return n < 0 ? fail() : { ok: true, value: n };
}

/** The three `how` values of shutdown(2). */
export type ShutdownHow = 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR';

export function shutdownRaw(fd: number, how: ShutdownHow): SysResult<void> {
  return libc.shutdown(fd, C[how]) === 0 ? { ok: true, value: undefined } : fail();
}

export function closeRaw(fd: number): SysResult<void> {
  return libc.close(fd) === 0 ? { ok: true, value: undefined } : fail();
}

export function socknameRaw(fd: number): SysResult<Endpoint> {
  const sa = Buffer.alloc(28);
  return libc.getsockname(fd, sa, [28]) === 0 ? { ok: true, value: decodeSockaddr(sa) } : fail();
}

export function peernameRaw(fd: number): SysResult<Endpoint> {
  const sa = Buffer.alloc(28);
  return libc.getpeername(fd, sa, [28]) === 0 ? { ok: true, value: decodeSockaddr(sa) } : fail();
}

/**
 * Sets or clears O_NONBLOCK (fcntl F_GETFL/F_SETFL). The lab's sockets are non-blocking; clearing
 * the flag for one call gives the blocking send()/recv() the articles' C code makes (seed 002-l).
 */
export function setNonBlockingRaw(fd: number, on: boolean): SysResult<void> {
  const flags = libc.fcntl(fd, C.F_GETFL) as number;
  if (flags < 0) return fail();
  const next = on ? flags | C.O_NONBLOCK : flags & ~C.O_NONBLOCK;
  return (libc.fcntl(fd, C.F_SETFL, 'int', next) as number) === 0 ? { ok: true, value: undefined } : fail();
}

/**
 * SO_SNDTIMEO / SO_RCVTIMEO (`struct timeval`, 64-bit): how long a blocking send()/recv() may
 * sleep before it gives up with EAGAIN (0 = for ever).
 */
export function setTimeoutOptRaw(fd: number, name: 'SO_SNDTIMEO' | 'SO_RCVTIMEO', ms: number): SysResult<void> {
  const b = Buffer.alloc(16);
  b.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  b.writeBigInt64LE(BigInt(Math.round((ms % 1000) * 1000)), 8);
  return libc.setsockopt(fd, C.SOL_SOCKET, C[name], b, 16) === 0 ? { ok: true, value: undefined } : fail();
}

/** setsockopt(2) with an `int` value. */
export function setIntOptRaw(fd: number, level: number, name: number, value: number): SysResult<void> {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return libc.setsockopt(fd, level, name, b, 4) === 0 ? { ok: true, value: undefined } : fail();
}

/** getsockopt(2) of an `int`. */
export function getIntOptRaw(fd: number, level: number, name: number): SysResult<number> {
  const b = Buffer.alloc(4);
  return libc.getsockopt(fd, level, name, b, [4]) === 0 ? { ok: true, value: b.readInt32LE(0) } : fail();
}

/** Throws a {@link SysError} for a failed result; returns the value otherwise. */
export function unwrap<T>(r: SysResult<T>, syscall: string, detail?: string): T {
  if (r.ok) return r.value;
  throw new SysError(syscall, errnoNumberOf(r.errno), detail);
}

function errnoNumberOf(name: string): number {
  const m = /^E(\d+)$/.exec(name);
  return m ? Number(m[1]) : errnoNumber(name);
}
