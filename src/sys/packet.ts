import { clockNs } from './clock.js';
import koffi from 'koffi';
import { C, lastErrno, libc } from './libc.js';
import { SysError } from './errors.js';
import { inNetns } from './netns.js';
import { errnoName } from '../tcp/errno.js';
import type { SysResult } from './socket.js';

/**
 * AF_PACKET sockets (packet(7)): a raw tap on one interface, as libpcap opens it on Linux, without
 * libpcap. Each call here is one syscall (or two, for the namespace dance) and reports the errno
 * instead of throwing, like the rest of src/sys; the capture built on it is src/trace/packet.
 * 64-bit Linux only (x86_64, aarch64): the struct layouts below are those of LP64.
 */

/** One classic BPF instruction, `struct sock_filter` of include/uapi/linux/filter.h. */
export interface BpfInsn {
  /** Opcode: class | size | mode (or op | src). 16 bits. */
  code: number;
  /** Jump offset when the condition holds (instructions to skip), 0..255. */
  jt: number;
  /** Jump offset when it does not, 0..255. */
  jf: number;
  /** The constant operand, unsigned 32 bits (negative offsets such as SKF_AD_OFF as their two's complement). */
  k: number;
}

/**
 * `sll_pkttype` values (include/uapi/linux/if_packet.h): how the frame met the interface.
 * `OUTGOING` is a frame the host transmitted, seen on the transmit tap (`dev_queue_xmit_nit()`).
 */
export const PACKET_TYPE = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4, LOOPBACK: 5 } as const;

/** One frame read from a packet socket. */
export interface ReceivedFrame {
  /** The captured bytes (a copy, at most the filter's snap length), starting at the link-layer header. */
  frame: Buffer;
  /** The frame's length on the wire in bytes (`tp_len` of PACKET_AUXDATA), ≥ `frame.length`. */
  origLen: number;
  /**
   * The kernel's receive timestamp (SO_TIMESTAMPNS), nanoseconds since the epoch, CLOCK_REALTIME:
   * taken when the frame entered the stack (`net_timestamp_check()` in `netif_rx()` for loopback,
   * `dev_queue_xmit_nit()` for the transmit tap). `null` if the kernel attached none.
   */
  epochNs: bigint | null;
  /** `sll_pkttype` ({@link PACKET_TYPE}). */
  pktType: number;
  /** `sll_ifindex`: the interface it was seen on. */
  ifindex: number;
  /** `sll_protocol`: the EtherType, host byte order. */
  protocol: number;
}

function ok<T>(value: T): SysResult<T> {
  return { ok: true, value };
}
function fail<T>(): SysResult<T> {
  return { ok: false, errno: errnoName(lastErrno()) };
}

/** Encodes a `struct sockaddr_ll` (20 bytes): family, protocol (network order), ifindex. */
function sockaddrLl(ifindex: number, protocol: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(C.AF_PACKET, 0);
  b.writeUInt16BE(protocol, 2);
  b.writeInt32LE(ifindex, 4);
  return b;
}

/**
 * bind(2) a packet socket to one interface and protocol (`sockaddr_ll`); from then on it receives
 * that interface's frames of that protocol (ETH_P_ALL: every frame, both directions).
 */
export function bindPacketRaw(fd: number, ifindex: number, protocol: number): SysResult<void> {
  const sa = sockaddrLl(ifindex, protocol);
  return libc.bind(fd, sa, sa.length) === 0 ? ok(undefined) : fail();
}

/**
 * setsockopt(SO_ATTACH_FILTER) with a classic BPF program (`struct sock_fprog` pointing at
 * `struct sock_filter[]`). The kernel copies and checks it (`sk_chk_filter()`): EINVAL for an
 * invalid program (a jump out of range, no final return, more than 4096 instructions).
 */
export function attachFilterRaw(fd: number, program: readonly BpfInsn[]): SysResult<void> {
  const filter = program.map((p) => ({ code: p.code, jt: p.jt, jf: p.jf, k: p.k >>> 0 }));
  const r = libc.setsockoptFprog(fd, C.SOL_SOCKET, C.SO_ATTACH_FILTER, { len: program.length, filter }, 16) as number;
  return r === 0 ? ok(undefined) : fail();
}

/** The kernel's counters of a packet socket (`struct tpacket_stats`). */
export interface PacketStats {
  /** Frames the filter accepted since the last read, dropped ones included. */
  packets: number;
  /** Of those, frames dropped because the receive queue was full (`sk_rcvbuf`). */
  drops: number;
}

/**
 * getsockopt(SOL_PACKET, PACKET_STATISTICS). Reading resets both counters
 * (`packet_getsockopt()` in net/packet/af_packet.c), so callers add up the readings.
 */
export function packetStatsRaw(fd: number): SysResult<PacketStats> {
  const b = Buffer.alloc(8);
  if (libc.getsockopt(fd, C.SOL_PACKET, C.PACKET_STATISTICS, b, [8]) !== 0) return fail();
  return ok({ packets: b.readUInt32LE(0), drops: b.readUInt32LE(4) });
}

/**
 * sendto(2) of one whole frame (link-layer header included, SOCK_RAW) out of interface `ifindex`,
 * with `sll_protocol` = `protocol` (the frame's EtherType). Returns the bytes sent.
 * A frame sent this way is not shown to the sending socket on the transmit tap
 * (`skb_loop_sk()` in `dev_queue_xmit_nit()`, net/core/dev.c); on loopback it comes back as an
 * incoming frame like any other.
 */
export function sendFrameRaw(fd: number, ifindex: number, protocol: number, frame: Buffer): SysResult<number> {
  const sa = sockaddrLl(ifindex, protocol);
  const n = Number(libc.sendto(fd, frame, frame.length, 0, sa, sa.length));
  return n < 0 ? fail() : ok(n);
}

/** clock_gettime(CLOCK_REALTIME) in nanoseconds since the epoch: the clock skb timestamps use (`ktime_get_real()`). */
export function realtimeNs(): bigint {
  return clockNs('realtime');
}

/** What {@link openPacketSocket} made. */
export interface OpenedPacketSocket {
  fd: number;
  /** The interface's index in the socket's namespace. */
  ifindex: number;
}

/**
 * A packet socket for interface `iface` in the network namespace `netns` (a namespace file such as
 * `/run/netns/NAME` or `/proc/PID/ns/net`; `undefined`: this thread's), created with protocol 0,
 * so it receives nothing until {@link bindPacketRaw}. The socket() call and the interface lookup
 * happen inside `netns` ({@link inNetns}); the socket keeps answering for that namespace after the
 * thread has left it.
 * @throws SysError: EPERM (no CAP_NET_RAW, or no CAP_SYS_ADMIN to enter `netns`), ENOENT (no such
 *   namespace file), ENODEV (no such interface there), EMFILE.
 */
export function openPacketSocket(netns: string | undefined, iface: string): OpenedPacketSocket {
  return inNetns(
    netns,
    () => {
      const fd = libc.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0) as number;
      if (fd < 0) throw new SysError('socket', lastErrno(), 'AF_PACKET, SOCK_RAW');
      const ifindex = libc.if_nametoindex(iface) as number;
      if (ifindex === 0) {
        const errno = lastErrno();
        libc.close(fd);
        throw new SysError('if_nametoindex', errno, iface);
      }
      return { fd, ifindex };
    },
    (made) => libc.close(made.fd),
  );
}

// struct msghdr on LP64: name ptr @0, namelen u32 @8, iov ptr @16, iovlen @24, control ptr @32,
// controllen @40, flags i32 @48; 56 bytes. struct cmsghdr: len u64, level i32, type i32, data @16.
const MSGHDR_BYTES = 56;
const CMSG_HDR = 16;
const CONTROL_BYTES = 256; // a timespec cmsg (32) and a tpacket_auxdata cmsg (40), with room to spare
const SOCKADDR_LL_BYTES = 32;

/**
 * Reads whole frames from one packet socket with recvmsg(2), reusing one set of buffers (the
 * `struct msghdr` points at them by address, so they live as long as this object). Asks the
 * socket for SO_TIMESTAMPNS and PACKET_AUXDATA, the two control messages each frame brings.
 */
export class PacketReceiver {
  readonly #fd: number;
  readonly #data: Buffer;
  readonly #iov = Buffer.alloc(16);
  readonly #control = Buffer.alloc(CONTROL_BYTES);
  readonly #name = Buffer.alloc(SOCKADDR_LL_BYTES);
  readonly #msg = Buffer.alloc(MSGHDR_BYTES);

  /**
   * @param maxFrameBytes the largest frame kept whole (bytes); longer ones are cut to it, their
   *   `origLen` still the true length.
   * @throws SysError when SO_TIMESTAMPNS or PACKET_AUXDATA cannot be set.
   */
  constructor(fd: number, maxFrameBytes: number) {
    this.#fd = fd;
    this.#data = Buffer.alloc(maxFrameBytes);
    for (const [level, name, label] of [
      [C.SOL_SOCKET, C.SO_TIMESTAMPNS, 'SO_TIMESTAMPNS'],
      [C.SOL_PACKET, C.PACKET_AUXDATA, 'PACKET_AUXDATA'],
    ] as const) {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1, 0);
      if (libc.setsockopt(fd, level, name, one, 4) !== 0) throw new SysError(`setsockopt(${label})`, lastErrno());
    }
    this.#iov.writeBigUInt64LE(koffi.address(this.#data), 0);
    this.#iov.writeBigUInt64LE(BigInt(this.#data.length), 8);
    this.#msg.writeBigUInt64LE(koffi.address(this.#name), 0);
    this.#msg.writeBigUInt64LE(koffi.address(this.#iov), 16);
    this.#msg.writeBigUInt64LE(1n, 24);
    this.#msg.writeBigUInt64LE(koffi.address(this.#control), 32);
  }

  /**
   * One non-blocking recvmsg(MSG_DONTWAIT): the next queued frame, or `null` when none is queued
   * (EAGAIN). EINTR is retried; any other errno is returned.
   */
  recv(): SysResult<ReceivedFrame | null> {
    for (;;) {
      this.#msg.writeUInt32LE(SOCKADDR_LL_BYTES, 8);
      this.#msg.writeBigUInt64LE(BigInt(CONTROL_BYTES), 40);
      this.#msg.writeInt32LE(0, 48);
      const n = Number(libc.recvmsg(this.#fd, this.#msg, C.MSG_DONTWAIT));
      if (n < 0) {
        const errno = lastErrno();
        if (errno === 4) continue; // EINTR
        if (errno === 11) return ok(null); // EAGAIN
        return { ok: false, errno: errnoName(errno) };
      }
      const kept = Math.min(n, this.#data.length);
      const frame = Buffer.allocUnsafe(kept);
      this.#data.copy(frame, 0, 0, kept);
      let epochNs: bigint | null = null;
      let origLen = n;
      const controlLen = Number(this.#msg.readBigUInt64LE(40));
      for (let off = 0; off + CMSG_HDR <= controlLen; ) {
        const len = Number(this.#control.readBigUInt64LE(off));
        if (len < CMSG_HDR || off + len > controlLen) break;
        const level = this.#control.readInt32LE(off + 8);
        const type = this.#control.readInt32LE(off + 12);
        if (level === C.SOL_SOCKET && type === C.SO_TIMESTAMPNS && len >= CMSG_HDR + 16) {
          epochNs = this.#control.readBigInt64LE(off + CMSG_HDR) * 1_000_000_000n + this.#control.readBigInt64LE(off + CMSG_HDR + 8);
        } else if (level === C.SOL_PACKET && type === C.PACKET_AUXDATA && len >= CMSG_HDR + 8) {
          origLen = this.#control.readUInt32LE(off + CMSG_HDR + 4); // tp_len
        }
        off += (len + 7) & ~7;
      }
      return ok({
        frame,
        origLen: Math.max(origLen, kept),
        epochNs,
        pktType: this.#name.readUInt8(10),
        ifindex: this.#name.readInt32LE(4),
        protocol: this.#name.readUInt16BE(2),
      });
    }
  }
}
