import type { CapturedSegment } from '../tcp/index.js';
import type { Clock } from './clock.js';
import type { Random } from './random.js';
import { has, ipOf, type WireSegment } from './wire.js';

/** Whatever takes segments off a link: a {@link Host}. */
export interface SegmentSink {
  readonly ip: string;
  receive(seg: WireSegment): void;
}

/** How a link treats segments. All randomness comes from the injected {@link Random}. */
export interface LinkOptions {
  /** One-way delay, ms (loopback on the lab's machine: ~0.01 ms). */
  delayMs?: number;
  /** Probability in [0, 1] that a segment is lost. */
  loss?: number;
  /** Extra random delay in [0, jitterMs) ms per segment, which reorders segments. */
  jitterMs?: number;
}

/**
 * Links between hosts, keyed by IP. Every segment sent is recorded in {@link segments} in the
 * lab's `CapturedSegment` shape (relative seq/ack, as tcpdump shows them), as a capture at the
 * sender would see it, lost or not. `epochMs` is virtual time too (the model's epoch is 0).
 */
export class Network {
  readonly segments: CapturedSegment[] = [];
  /** Segments the link dropped (indices into {@link segments}). */
  readonly lost: number[] = [];
  /** Set false to stop recording (the bench counts without keeping). */
  record = true;
  /** Segments sent so far, recorded or not. */
  sent = 0;
  readonly #hosts = new Map<string, SegmentSink>();
  readonly #isn = new Map<string, number>();
  readonly #opts: Required<LinkOptions>;

  constructor(
    readonly clock: Clock,
    readonly random: Random,
    opts: LinkOptions = {},
  ) {
    this.#opts = { delayMs: opts.delayMs ?? 0.01, loss: opts.loss ?? 0, jitterMs: opts.jitterMs ?? 0 };
    if (!(this.#opts.delayMs >= 0) || !(this.#opts.loss >= 0 && this.#opts.loss <= 1) || !(this.#opts.jitterMs >= 0)) {
      throw new RangeError('link options: delayMs and jitterMs must be >= 0, loss in [0, 1]');
    }
  }

  attach(host: SegmentSink): void {
    if (this.#hosts.has(host.ip)) throw new Error(`an host with ${host.ip} is already attached`);
    this.#hosts.set(host.ip, host);
  }

  /** Puts a segment on the link; it arrives after the link's delay unless lost. */
  send(seg: WireSegment): void {
    this.sent++;
    const dir = `${seg.src}>${seg.dst}`;
    if (has(seg, 'SYN') && !has(seg, 'ACK')) this.#isn.set(dir, seg.seq);
    if (has(seg, 'SYN') && has(seg, 'ACK')) this.#isn.set(dir, seg.seq);
    if (this.record) this.segments.push(this.#captured(seg));
    const o = this.#opts;
    if (o.loss > 0 && this.random.next() < o.loss) {
      if (this.record) this.lost.push(this.segments.length - 1);
      return;
    }
    const delay = o.delayMs + (o.jitterMs > 0 ? this.random.next() * o.jitterMs : 0);
    const to = this.#hosts.get(ipOf(seg.dst));
    if (to === undefined) return; // no route: the segment vanishes, as into an unused address
    this.clock.schedule(delay, () => to.receive(seg));
  }

  #captured(seg: WireSegment): CapturedSegment {
    const isnOut = this.#isn.get(`${seg.src}>${seg.dst}`);
    const isnIn = this.#isn.get(`${seg.dst}>${seg.src}`);
    const acked = has(seg, 'ACK');
    const out: CapturedSegment = {
      timeMs: this.clock.nowMs,
      epochMs: this.clock.nowMs,
      src: seg.src,
      dst: seg.dst,
      flags: [...seg.flags],
      seq: isnOut === undefined ? null : seg.seq - isnOut,
      ack: acked ? (isnIn === undefined ? null : seg.ack - isnIn) : null,
      length: seg.data.length,
      window: seg.window,
      seqAbs: seg.seq,
      ackAbs: acked ? seg.ack : null,
    };
    if (has(seg, 'RST')) out.rstReason = seg.rstReason ?? null;
    return out;
  }
}
