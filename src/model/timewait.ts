import type { SocketTimer, TcpState } from '../tcp/index.js';
import type { TimerHandle } from './clock.js';
import { has, segLen, type WireSegment } from './wire.js';

/** What `tcp_timewait_state_process()` decided for a segment. */
export type TimewaitVerdict =
  /** Drop silently (`TCP_TW_SUCCESS`). */
  | 'drop'
  /** Answer with an ACK (`TCP_TW_ACK`). */
  | 'ack'
  /** Answer with a RST, reason TCP_TIMEWAIT_SOCKET, and kill the timewait socket. */
  | 'rst'
  /** The timewait socket is killed; the segment goes on (to a listener when it is a SYN). */
  | 'kill';

/**
 * A timewait socket (`struct inet_timewait_sock`): what is left of a connection after
 * `tcp_time_wait()`. Its substate is FIN_WAIT2 (an orphan waiting tcp_fin_timeout for the
 * peer's FIN) or TIME_WAIT (60 s); the only move is FIN_WAIT2 → TIME_WAIT.
 */
export class TimewaitSock {
  timer: TimerHandle | null = null;

  constructor(
    readonly local: string,
    readonly remote: string,
    public substate: 'FIN_WAIT2' | 'TIME_WAIT',
    public rcvNxt: number,
    readonly sndNxt: number,
    readonly window: number,
    readonly label: string,
  ) {}

  get state(): TcpState {
    return this.substate;
  }

  /** The one move a timewait socket makes (the peer's FIN ends the orphaned FIN_WAIT2). */
  enterTimeWait(): void {
    if (this.substate !== 'FIN_WAIT2') throw new Error(`timewait socket ${this.label}: ${this.substate} → TIME_WAIT is not a move`);
    this.substate = 'TIME_WAIT';
  }

  /**
   * `tcp_timewait_state_process()` (net/ipv4/tcp_minisocks.c). In FIN_WAIT2: a RST kills; new
   * data is answered with a RST (TCP_TIMEWAIT_SOCKET); the FIN at rcv_nxt moves to TIME_WAIT
   * (ACKed, timer restarted at 60 s); duplicates are dropped. In TIME_WAIT: a RST at rcv_nxt kills
   * (RFC 1337's hazard, as Linux does by default); a new SYN kills so a listener may take it;
   * anything else is ACKed (RFC 9293 §3.10.7.4), an ACK-bearing one restarting the 60 s.
   */
  process(seg: WireSegment): { verdict: TimewaitVerdict; restart: boolean } {
    const end = seg.seq + segLen(seg);
    if (this.substate === 'FIN_WAIT2') {
      if (has(seg, 'RST')) return { verdict: 'kill', restart: false };
      if (has(seg, 'SYN') && seg.seq >= this.rcvNxt) return { verdict: 'rst', restart: false };
      if (!has(seg, 'ACK') || end <= this.rcvNxt || end === seg.seq) return { verdict: 'drop', restart: false };
      if (!has(seg, 'FIN') || end !== this.rcvNxt + 1) return { verdict: 'rst', restart: false };
      this.enterTimeWait();
      this.rcvNxt = end;
      return { verdict: 'ack', restart: true };
    }
    // TIME_WAIT. In window (at rcv_nxt): a RST kills — TIME-WAIT assassination, RFC 1337, as
    // Linux does with tcp_rfc1337 = 0 — and a bare ACK restarts the 60 s.
    if (seg.seq === this.rcvNxt && (end === seg.seq || has(seg, 'RST'))) {
      if (has(seg, 'RST')) return { verdict: 'kill', restart: false };
      return { verdict: 'drop', restart: true };
    }
    // A new SYN above rcv_nxt may open a new connection (TCP_TW_SYN).
    if (has(seg, 'SYN') && !has(seg, 'ACK') && seg.seq > this.rcvNxt) return { verdict: 'kill', restart: false };
    if (has(seg, 'RST')) return { verdict: 'drop', restart: false };
    // Anything else (a retransmitted FIN, old data) is ACKed at once and, with ACK, restarts the 60 s.
    return { verdict: 'ack', restart: has(seg, 'ACK') };
  }

  observeTimer(nowMs: number): SocketTimer {
    return { kind: 'time_wait', remainingMs: this.timer ? this.timer.atMs - nowMs : 0, retransmits: 0 };
  }
}
