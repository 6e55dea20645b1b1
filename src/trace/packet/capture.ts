import { randomBytes } from 'node:crypto';
import { SysError } from '../../sys/errors.js';
import { C } from '../../sys/libc.js';
import {
  attachFilterRaw,
  bindPacketRaw,
  openPacketSocket,
  packetStatsRaw,
  PacketReceiver,
  realtimeNs,
  sendFrameRaw,
} from '../../sys/packet.js';
import { closeRaw, getIntOptRaw, setIntOptRaw } from '../../sys/socket.js';
import { captureProgram, MARKER_ETHERTYPE, MAX_SNAPLEN, normalizePortRanges, type PortRange } from './bpf.js';
import { decodeTcp, type DecodedTcp } from './decode.js';
import { errnoNumber } from '../../tcp/errno.js';
import { checkDurationMs } from '../../tcp/time.js';

/**
 * In-process packet capture on one interface of one network namespace: an AF_PACKET socket
 * (packet(7)) with our classic BPF filter in the kernel (./bpf.ts), frames read with their kernel
 * receive timestamps, and a flush barrier. What tcpdump did for the lab, without tcpdump.
 *
 * Several captures may watch the same interface: each sees the others' flush markers and skips
 * them, as it skips its own stale ones (a flush that timed out). Reading happens on the calling
 * thread (non-blocking recvmsg); nothing runs in the background between calls, so frames wait in
 * the socket's receive buffer (`bufferBytes`) until drain() or flush() reads them.
 */

/** Options of {@link openPacketCapture}. */
export interface PacketCaptureOptions {
  /**
   * The network namespace to capture in, as a namespace file: `/run/netns/NAME` (what
   * `ip netns add NAME` makes) or `/proc/PID/ns/net`. Default: this thread's namespace.
   */
  netnsPath?: string;
  /** Interface name in that namespace. Default `'lo'`; {@link PacketCapture.flush} needs `'lo'`. */
  iface?: string;
  /** Keep only TCP with the source or destination port in one of these ranges (both ends included); absent or empty: all TCP. */
  ports?: ReadonlyArray<PortRange>;
  /** Bytes kept of each frame, 1 … 262144. Default 262144 (libpcap's MAXIMUM_SNAPLEN): whole frames for pcap files. */
  snaplen?: number;
  /**
   * Receive buffer the kernel may fill before it drops frames (bytes, 65536 … 2^30). Default 4 MiB.
   * Set with SO_RCVBUFFORCE (needs CAP_NET_ADMIN, which root has), else SO_RCVBUF (capped by
   * net.core.rmem_max). The kernel doubles the value for bookkeeping (socket(7)).
   */
  bufferBytes?: number;
}

/** What {@link openPacketCapture} answers when this process cannot capture here. */
export interface CaptureUnavailable {
  available: false;
  /** One line, e.g. `not permitted: an AF_PACKET socket needs CAP_NET_RAW (socket: EPERM)`. */
  reason: string;
}

/** One captured frame. */
export interface CapturedPacket {
  /** The kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME), nanoseconds since the epoch. */
  epochNs: bigint;
  /** The same in milliseconds since the epoch, with the microsecond fraction (comparable to `Date.now()`). */
  epochMs: number;
  /** The captured bytes from the Ethernet header on (at most the snap length). */
  frame: Buffer;
  /** The frame's length on the wire, bytes (≥ `frame.length`). */
  origLen: number;
  /** The decoded TCP segment, or `null` when the frame is not TCP or is cut too short to decode. */
  tcp: DecodedTcp | null;
}

/** The kernel's counters for this capture since it was opened (sums of PACKET_STATISTICS readings). */
export interface PacketCaptureStats {
  /** Frames the filter accepted, flush markers and dropped frames included. */
  packets: number;
  /** Frames accepted but dropped because the receive buffer was full: lost to the capture. */
  drops: number;
}

/** Stable codes of {@link PacketCaptureError}. */
export type PacketCaptureErrorCode = 'CAPTURE_CLOSED' | 'FLUSH_IN_PROGRESS' | 'FLUSH_TIMEOUT' | 'FLUSH_UNSUPPORTED' | 'SEND_FAILED' | 'RECV_FAILED';

/**
 * A capture operation that failed. `packets` holds the frames read before the failure (a flush
 * that timed out has still read them off the socket, so they are handed over here, not lost).
 */
export class PacketCaptureError extends Error {
  constructor(
    readonly code: PacketCaptureErrorCode,
    message: string,
    readonly packets: CapturedPacket[] = [],
  ) {
    super(message);
    this.name = 'PacketCaptureError';
  }
}

/** The lifecycle: `open` ⇄ `flushing`; either → `closed` (final). */
export type PacketCaptureState = 'open' | 'flushing' | 'closed';

const DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024;
/** A drain reads at most this many frames; the rest stay queued for the next call, so a flood cannot hold the thread. */
const MAX_FRAMES_PER_DRAIN = 100_000;
const MARKER_MAGIC = 'tcp-teardown flush ';
const ENETDOWN = errnoNumber('ENETDOWN');

/** Every open capture, so that an exiting process closes them (see {@link PacketCapture.close}). */
const openCaptures = new Set<PacketCapture>();
let exitHookInstalled = false;
function trackOpen(c: PacketCapture): void {
  openCaptures.add(c);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const open of [...openCaptures]) open.close();
  });
}

let markerCounter = 0;

/**
 * Opens a capture: a packet socket created inside `netnsPath` (setns for the socket() call only,
 * src/sys/netns.ts), its filter attached before it is bound to `iface` (so nothing unfiltered is
 * ever queued), receive timestamps on. Synchronous.
 *
 * Never throws for an environment that cannot capture (not Linux, not root / no CAP_NET_RAW, no
 * CAP_SYS_ADMIN to enter the namespace, no such namespace or interface, interface down): it answers
 * {@link CaptureUnavailable} with a one-line reason, and the caller reports "packets not captured".
 * @throws RangeError for invalid options (ports, snaplen, bufferBytes, iface): a programming error.
 * @throws Error when this thread could not return from `netnsPath` to its own namespace (never
 *   seen; see src/sys/netns.ts `inNetns`): not an environment to carry on in.
 */
export function openPacketCapture(opts: PacketCaptureOptions = {}): PacketCapture | CaptureUnavailable {
  const iface = opts.iface ?? 'lo';
  const snaplen = opts.snaplen ?? MAX_SNAPLEN;
  const bufferBytes = opts.bufferBytes ?? DEFAULT_BUFFER_BYTES;
  if (!Number.isInteger(bufferBytes) || bufferBytes < 65536 || bufferBytes > 2 ** 30) {
    throw new RangeError(`bufferBytes: ${bufferBytes} is not a byte count in 65536…${2 ** 30}`);
  }
  if (iface.length === 0 || iface.length > 15 || iface.includes('/') || iface.includes('\0')) {
    throw new RangeError(`iface: ${JSON.stringify(iface)} is not an interface name (1…15 characters)`);
  }
  const ports = normalizePortRanges(opts.ports ?? []);
  const program = captureProgram({ ports, snaplen, dropOutgoing: iface === 'lo' });
  const netns = opts.netnsPath;

  if (process.platform !== 'linux') return unavailable(`packet capture needs Linux (this is ${process.platform})`);
  if (process.arch !== 'x64' && process.arch !== 'arm64') return unavailable(`packet capture supports x86_64 and aarch64 (this is ${process.arch})`);

  let fd: number;
  let ifindex: number;
  try {
    ({ fd, ifindex } = openPacketSocket(netns, iface));
  } catch (err) {
    if (err instanceof SysError) return unavailable(openFailure(err, netns, iface));
    throw err;
  }
  const fail = (what: string, errno: string): CaptureUnavailable => {
    closeRaw(fd);
    return unavailable(`${what} failed: ${errno}`);
  };
  const filtered = attachFilterRaw(fd, program);
  if (!filtered.ok) return fail('setsockopt(SO_ATTACH_FILTER)', filtered.errno);
  // A bigger buffer than rmem_max needs SO_RCVBUFFORCE (CAP_NET_ADMIN); without it, take what SO_RCVBUF gives.
  if (!setIntOptRaw(fd, C.SOL_SOCKET, C.SO_RCVBUFFORCE, bufferBytes).ok) setIntOptRaw(fd, C.SOL_SOCKET, C.SO_RCVBUF, bufferBytes);
  let receiver: PacketReceiver;
  try {
    receiver = new PacketReceiver(fd, snaplen);
  } catch (err) {
    closeRaw(fd);
    return unavailable(err instanceof Error ? err.message : String(err));
  }
  const bound = bindPacketRaw(fd, ifindex, C.ETH_P_ALL);
  if (!bound.ok) return fail(`bind(${iface})`, bound.errno);
  // Binding to an interface that is down succeeds but leaves ENETDOWN pending on the socket
  // (`packet_do_bind()`, net/packet/af_packet.c); reading SO_ERROR takes it.
  const pending = getIntOptRaw(fd, C.SOL_SOCKET, C.SO_ERROR);
  if (pending.ok && pending.value === ENETDOWN) {
    closeRaw(fd);
    return unavailable(`interface ${iface}${netns === undefined ? '' : ` in ${netns}`} is down (ip link set ${iface} up)`);
  }
  const capture = new PacketCapture({ fd, ifindex, iface, netnsPath: netns, snaplen, receiver });
  trackOpen(capture);
  return capture;
}

function unavailable(reason: string): CaptureUnavailable {
  return { available: false, reason };
}

/** A one-line reason for a failed open, naming what to change. */
function openFailure(err: SysError, netns: string | undefined, iface: string): string {
  const where = netns === undefined ? '' : ` in ${netns}`;
  if (err.syscall === 'socket' && (err.code === 'EPERM' || err.code === 'EACCES')) {
    return `not permitted: an AF_PACKET socket needs CAP_NET_RAW (root) (socket: ${err.code})`;
  }
  if (err.syscall === 'setns') return `not permitted: entering network namespace ${netns ?? ''} needs CAP_SYS_ADMIN (root) (setns: ${err.code})`;
  if (err.syscall === 'open' && err.code === 'ENOENT') return `no network namespace ${netns ?? ''} (open: ENOENT)`;
  if (err.syscall === 'open' && (err.code === 'EACCES' || err.code === 'EPERM')) return `not permitted: cannot open ${netns ?? ''} (open: ${err.code})`;
  if (err.syscall === 'if_nametoindex') return `no interface ${iface}${where} (if_nametoindex: ${err.code})`;
  return `${err.syscall} failed${where}: ${err.code}`;
}

/** What the constructor needs; only {@link openPacketCapture} makes one. */
interface CaptureParts {
  fd: number;
  ifindex: number;
  iface: string;
  netnsPath: string | undefined;
  snaplen: number;
  receiver: PacketReceiver;
}

/**
 * An open capture. Read it with {@link drain} (what is queued now) or {@link flush} (a barrier),
 * end it with {@link close}. Frames are returned once each, in the order the kernel queued them.
 */
export class PacketCapture {
  readonly available = true as const;
  readonly iface: string;
  readonly netnsPath: string | undefined;
  /** Bytes kept of each frame (the filter's return value). */
  readonly snaplen: number;
  readonly #fd: number;
  readonly #ifindex: number;
  readonly #receiver: PacketReceiver;
  #state: PacketCaptureState = 'open';
  #totals: PacketCaptureStats = { packets: 0, drops: 0 };

  constructor(parts: CaptureParts) {
    this.#fd = parts.fd;
    this.#ifindex = parts.ifindex;
    this.iface = parts.iface;
    this.netnsPath = parts.netnsPath;
    this.snaplen = parts.snaplen;
    this.#receiver = parts.receiver;
  }

  /** Where the lifecycle is. */
  get state(): PacketCaptureState {
    return this.#state;
  }

  /** The one place the state changes. @throws PacketCaptureError when `to` is not allowed from here. */
  #transition(from: readonly PacketCaptureState[], to: PacketCaptureState): void {
    if (!from.includes(this.#state)) {
      const code: PacketCaptureErrorCode = this.#state === 'closed' ? 'CAPTURE_CLOSED' : 'FLUSH_IN_PROGRESS';
      throw new PacketCaptureError(code, `packet capture is ${this.#state}: cannot go to ${to}`);
    }
    this.#state = to;
  }

  /**
   * Every frame queued on the socket now (non-blocking; at most 100 000 per call, the rest stay
   * queued). Flush markers are consumed, never returned.
   * @throws PacketCaptureError `CAPTURE_CLOSED` after close, `FLUSH_IN_PROGRESS` while a flush runs
   *   (it would take the flush's frames), `RECV_FAILED` for an errno other than EAGAIN/EINTR
   *   (ENETDOWN, once, when the interface went down since the last read).
   */
  drain(): CapturedPacket[] {
    this.#transition(['open'], 'open');
    const out: CapturedPacket[] = [];
    this.#read(out, null);
    return out;
  }

  /**
   * A barrier: every frame that reached the interface's packet taps before this call is in the
   * result. It sends a marker frame (EtherType 0x88B5, a token unique to this call) out of the same
   * socket on lo and reads until that marker comes back. The sender does not see its own frame on
   * the transmit tap (`skb_loop_sk()` in `dev_queue_xmit_nit()`, net/core/dev.c), and
   * `loopback_xmit()` hands it to the receive path, where the socket sees it once, as an incoming
   * frame, behind everything queued before it (verified live in test/trace/capture.test.ts).
   *
   * The limit of that promise: loopback delivers a frame to the taps in the NET_RX softirq of the
   * CPU that sent it — normally before the sending syscall returns; a frame whose softirq was
   * deferred to ksoftirqd on another CPU can still arrive after the marker.
   *
   * @param timeoutMs how long to wait for the marker, ms (1 … 2^31−1).
   * @throws PacketCaptureError `FLUSH_TIMEOUT` and `RECV_FAILED` (frames read so far in `packets`), `SEND_FAILED`,
   *   `FLUSH_UNSUPPORTED` on an interface other than lo, `CAPTURE_CLOSED` (also when closed while
   *   waiting), `FLUSH_IN_PROGRESS` when another flush has not finished.
   * @throws RangeError for a bad `timeoutMs`.
   */
  async flush(timeoutMs: number): Promise<CapturedPacket[]> {
    checkDurationMs('PacketCapture.flush: timeoutMs', timeoutMs, 1);
    if (this.iface !== 'lo') {
      throw new PacketCaptureError('FLUSH_UNSUPPORTED', `flush needs the marker to loop back, which only lo does (this capture is on ${this.iface}); use drain()`);
    }
    this.#transition(['open'], 'flushing');
    const out: CapturedPacket[] = [];
    const token = `${process.pid}-${++markerCounter}-${randomBytes(8).toString('hex')}`;
    const marker = markerFrame(token);
    const sent = sendFrameRaw(this.#fd, this.#ifindex, MARKER_ETHERTYPE, marker);
    if (!sent.ok) {
      this.#transition(['flushing'], 'open');
      throw new PacketCaptureError('SEND_FAILED', `sendto(marker) failed: ${sent.errno}`);
    }
    const deadline = Date.now() + timeoutMs;
    let waitMs = 1;
    for (;;) {
      let seen: boolean;
      try {
        seen = this.#read(out, token);
      } catch (err) {
        this.#transition(['flushing'], 'open'); // RECV_FAILED: the capture stays usable (or closable)
        throw err;
      }
      if (seen) {
        this.#transition(['flushing'], 'open');
        return out;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#transition(['flushing'], 'open');
        throw new PacketCaptureError('FLUSH_TIMEOUT', `flush marker ${token} not seen within ${timeoutMs} ms`, out);
      }
      await sleep(Math.min(waitMs, left));
      waitMs = Math.min(waitMs * 2, 20);
      if (this.#state === 'closed') throw new PacketCaptureError('CAPTURE_CLOSED', 'packet capture closed during flush', out);
    }
  }

  /**
   * The kernel's counters since open (PACKET_STATISTICS; each reading resets the kernel's, so they
   * are added up here). After close: the totals at close.
   */
  stats(): PacketCaptureStats {
    if (this.#state !== 'closed') {
      const s = packetStatsRaw(this.#fd);
      if (s.ok) this.#totals = { packets: this.#totals.packets + s.value.packets, drops: this.#totals.drops + s.value.drops };
    }
    return { ...this.#totals };
  }

  /**
   * Closes the socket; frames still queued are discarded. Idempotent. Open captures are also
   * closed on process 'exit' (a descriptor the kernel would reclaim anyway, but tidily).
   */
  close(): void {
    if (this.#state === 'closed') return;
    this.stats();
    this.#transition(['open', 'flushing'], 'closed');
    closeRaw(this.#fd);
    openCaptures.delete(this);
  }

  /**
   * Reads queued frames into `out` until the queue is empty (or the per-call bound), consuming
   * markers. Returns true when the marker carrying `token` was among them (reading stops there).
   */
  #read(out: CapturedPacket[], token: string | null): boolean {
    for (let n = 0; n < MAX_FRAMES_PER_DRAIN; n++) {
      const r = this.#receiver.recv();
      if (!r.ok) throw new PacketCaptureError('RECV_FAILED', `recvmsg(AF_PACKET) failed: ${r.errno}`, out);
      const f = r.value;
      if (f === null) return false;
      if (f.frame.length >= 14 && f.frame.readUInt16BE(12) === MARKER_ETHERTYPE) {
        if (token !== null && markerToken(f.frame) === token) return true;
        continue; // an older marker (a flush that timed out) or another capture's
      }
      // The kernel always stamps when SO_TIMESTAMPNS is on; the fallback only keeps a frame that
      // somehow came without one, with the time it was read.
      const epochNs = f.epochNs ?? realtimeNs();
      out.push({ epochNs, epochMs: Number(epochNs / 1000n) / 1000, frame: f.frame, origLen: f.origLen, tcp: decodeTcp(f.frame, f.origLen) });
    }
    return false;
  }
}

/** A marker frame: zero MACs (lo's), EtherType 0x88B5, then the magic text and the token. */
function markerFrame(token: string): Buffer {
  const body = Buffer.from(MARKER_MAGIC + token, 'latin1');
  const f = Buffer.alloc(14 + body.length);
  f.writeUInt16BE(MARKER_ETHERTYPE, 12);
  body.copy(f, 14);
  return f;
}

function markerToken(frame: Buffer): string | null {
  const text = frame.subarray(14).toString('latin1');
  return text.startsWith(MARKER_MAGIC) ? text.slice(MARKER_MAGIC.length) : null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
