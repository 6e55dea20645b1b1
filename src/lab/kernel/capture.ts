/**
 * Packet capture for the kernel backend: an AF_PACKET socket opened inside the scenario's
 * namespace (src/trace/packet), its frames turned into the lab's {@link CapturedSegment}s with
 * sequence numbers relative to each direction's ISN.
 *
 * Capture is optional equipment: {@link LabCapture.open} never throws for an environment that
 * cannot capture (not root, no namespace); it answers a reason, and the report says "packets not
 * captured: <reason>" and carries on.
 */
import { openPacketCapture, PacketCaptureError, writePcapFile, type CapturedPacket, type DecodedTcp, type PacketCapture } from '../../trace/index.js';
import type { CapturedSegment, TcpOptions } from '../../tcp/segment.js';
import { resources } from './cleanup.js';

/** `a - b` modulo 2^32: sequence-space distance. */
function seqDiff(a: number, b: number): number {
  return (a - b) >>> 0;
}

/** The lab's spelling of a decoded segment's options (src/tcp's {@link TcpOptions}). */
function optionsOf(tcp: DecodedTcp, peerIsn: number | undefined): TcpOptions {
  const o = tcp.options;
  const out: TcpOptions = {};
  if (o.mss !== null) out.mss = o.mss;
  if (o.windowScale !== null) out.wscale = o.windowScale;
  if (o.sackPermitted) out.sackOk = true;
  if (o.sackBlocks.length > 0) {
    // SACK blocks name the data receiver's peer's sequence space: relative to the other side's ISN.
    out.sack = o.sackBlocks.map((b) => (peerIsn === undefined ? [b.left, b.right] : [seqDiff(b.left, peerIsn), seqDiff(b.right, peerIsn)]));
  }
  if (o.timestamps) out.ts = { val: o.timestamps.tsval, ecr: o.timestamps.tsecr };
  if (o.otherKinds.length > 0) out.other = [...o.otherKinds];
  return out;
}

/**
 * Turns absolute sequence numbers into numbers relative to each direction's ISN, one segment at
 * a time. A direction's ISN is the `seq` of its SYN; a segment whose sender's SYN was not seen
 * keeps `seq: null` (and `ack: null` when the receiver's SYN was not seen); the absolute numbers
 * are kept beside them either way.
 */
export class Relativizer {
  /** ISN per direction, keyed `src>dst`. */
  private readonly isn = new Map<string, number>();

  /** @param originEpochMs time zero of every segment's `timeMs`. */
  constructor(private readonly originEpochMs: number) {}

  push(epochMs: number, tcp: DecodedTcp): CapturedSegment {
    const key = `${tcp.src}>${tcp.dst}`;
    const reverse = `${tcp.dst}>${tcp.src}`;
    if (tcp.flags.includes('SYN')) {
      const known = this.isn.get(key);
      // A SYN without ACK carrying a different ISN on a 4-tuple we already know is a new
      // incarnation of the connection (port reuse after TIME_WAIT): the peer's old ISN no longer
      // applies. A first SYN must not clear the reverse direction: in a simultaneous open both
      // SYNs are "first" and each needs the other's ISN.
      if (known !== undefined && known !== tcp.seq && !tcp.flags.includes('ACK')) this.isn.delete(reverse);
      this.isn.set(key, tcp.seq);
    }
    const ownIsn = this.isn.get(key);
    const peerIsn = this.isn.get(reverse);
    const seg: CapturedSegment = {
      timeMs: epochMs - this.originEpochMs,
      epochMs,
      src: tcp.src,
      dst: tcp.dst,
      flags: [...tcp.flags],
      seq: ownIsn !== undefined ? seqDiff(tcp.seq, ownIsn) : null,
      ack: tcp.ack !== null && peerIsn !== undefined ? seqDiff(tcp.ack, peerIsn) : null,
      length: tcp.payloadLength,
      window: tcp.window,
      seqAbs: tcp.seq,
      ackAbs: tcp.ack,
      options: optionsOf(tcp, peerIsn),
    };
    if (seg.options && Object.keys(seg.options).length === 0) delete seg.options;
    return seg;
  }
}

/** Segments from captured packets (frames that are not TCP are skipped), times from `originEpochMs`. */
export function segmentsOf(packets: readonly CapturedPacket[], originEpochMs: number): CapturedSegment[] {
  const r = new Relativizer(originEpochMs);
  const out: CapturedSegment[] = [];
  for (const p of packets) if (p.tcp) out.push(r.push(p.epochMs, p.tcp));
  return out;
}

/** How long stop() waits for its flush marker to come back. */
const FLUSH_TIMEOUT_MS = 2000;

/**
 * The capture of one scenario: frames collected as the steps go ({@link poll} after each, so the
 * socket's receive buffer never fills), then a flush barrier at {@link stop}, so no segment sent
 * before it is missing.
 */
export class LabCapture {
  readonly #capture: PacketCapture;
  readonly #packets: CapturedPacket[] = [];
  readonly #unregister: () => void;

  private constructor(capture: PacketCapture) {
    this.#capture = capture;
    this.#unregister = resources.onRelease(this, () => capture.close());
  }

  /**
   * Opens a capture on `lo` inside the namespace at `netnsPath`, for TCP on `ports` only.
   * @returns the capture, or `{ reason }` when this environment cannot capture.
   */
  static open(netnsPath: string, ports: readonly [number, number]): LabCapture | { reason: string } {
    const c = openPacketCapture({ netnsPath, ports: [ports] });
    if (c.available === false) return { reason: c.reason };
    return new LabCapture(c);
  }

  /** Reads whatever the kernel has queued so far. */
  poll(): void {
    for (const p of this.#capture.drain()) this.#packets.push(p);
  }

  /**
   * Flushes, closes, and returns every packet.
   * @returns `note`: null when the flush barrier came back (nothing sent before stop() is
   *   missing), else what went wrong; `drops`: frames the kernel dropped for a full buffer.
   */
  async stop(): Promise<{ packets: CapturedPacket[]; note: string | null; drops: number }> {
    let note: string | null = null;
    try {
      for (const p of await this.#capture.flush(FLUSH_TIMEOUT_MS)) this.#packets.push(p);
    } catch (e) {
      if (e instanceof PacketCaptureError) for (const p of e.packets ?? []) this.#packets.push(p);
      note = `capture flush failed: ${e instanceof Error ? e.message : String(e)}`;
    }
    const drops = this.#capture.stats().drops;
    this.close();
    return { packets: this.#packets, note, drops };
  }

  close(): void {
    this.#capture.close();
    this.#unregister();
  }
}

/** Writes `packets` as a standard pcap file (what Wireshark and `tcpdump -r` open). */
export function writeScenarioPcap(path: string, packets: readonly CapturedPacket[]): void {
  writePcapFile(path, packets);
}
