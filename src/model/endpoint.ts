import type { ErrnoName, RstReason, SocketTimer, TcpFlag, TcpState } from '../tcp/index.js';
import type { Clock, TimerHandle } from './clock.js';
import {
  DEFAULT_RCVBUF,
  LOOPBACK_MSS,
  MAX_TCP_HEADER,
  SKB_HEAD_TRUESIZE,
  SKB_SHINFO_SIZE,
  SKB_STRUCT_SIZE,
  SOCK_MIN_SNDBUF,
  SYSCTL_WMEM_MAX,
  TCP_ATO_MIN_MS,
  TCP_DELACK_MAX_MS,
  TCP_INIT_CWND,
  TCP_MAX_QUICKACKS,
  TCP_MSS_DEFAULT,
  TCP_RETRIES2,
  TCP_RTO_MAX_MS,
  TCP_RTO_MIN_MS,
  TCP_TIMEOUT_INIT_MS,
  TCP_TIMEWAIT_LEN_MS,
  TCP_WMEM_DEFAULT,
  TCP_WMEM_MAX,
} from './constants.js';
import type { Sysctls } from './sysctls.js';
import { closeState, IllegalTransitionError, isLegalMove, type Transition } from './transitions.js';
import { has, segLen, type WireSegment } from './wire.js';

/** What an endpoint needs from its host: time, settings, the wire and the socket tables. */
export interface EndpointHost {
  readonly clock: Clock;
  readonly sysctls: Sysctls;
  /** One jiffy, ms (CONFIG_HZ=250: 4 ms): the granularity of the delayed-ACK timer. */
  readonly tickMs: number;
  transmit(seg: WireSegment): void;
  /** The endpoint reached CLOSE: take it out of the lookup tables (`inet_unhash()`). */
  unhash(ep: Endpoint): void;
  /** `tcp_time_wait()`: a timewait socket takes over the connection for `timeoutMs`. */
  timeWait(ep: Endpoint, substate: 'FIN_WAIT2' | 'TIME_WAIT', timeoutMs: number): void;
  /** Records a state change in the host's log (the lab's `transitions`). */
  logTransition(ep: Endpoint, t: Transition): void;
}

/** The result of a socket call, as the lab records one. */
export type CallResult<T = undefined> = { ok: true; value?: T } | { ok: false; errno: ErrnoName; sigpipe?: boolean };

/** What read() gives back: the lab's read value. */
export interface ReadValue {
  bytes: number;
  eof: boolean;
  text: string;
}

/** `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR` (shutdown(2)). */
export type ShutdownHow = 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR';

/** A listener's queues (`struct request_sock_queue` + `sk_ack_backlog`). */
export interface ListenQueues {
  /** listen()'s backlog after the somaxconn cap. */
  backlog: number;
  /** Connections done with the handshake, waiting for accept(). */
  acceptQueue: Endpoint[];
}

function fail<T>(errno: ErrnoName, sigpipe = false): CallResult<T> {
  return sigpipe ? { ok: false, errno, sigpipe } : { ok: false, errno };
}

/**
 * One TCP endpoint (a full socket, `struct tcp_sock`) with Linux's rules. Every state change goes
 * through {@link setState}; every rule names its source. Sequence numbers are absolute and do not
 * wrap. Driven by its {@link Host}: `segmentArrives()` for the wire, the syscall methods for the
 * application.
 */
export class Endpoint {
  state: TcpState = 'CLOSE';
  readonly transitions: Transition[] = [];
  /** The scenario's name for it, or `local>remote`. */
  label: string | null = null;
  local = '0.0.0.0:0';
  remote = '0.0.0.0:0';
  /** Set by close() (`SOCK_DEAD`): no descriptor will ever read it again; an orphan when not CLOSE. */
  dead = false;
  /** Gone from every table and from every descriptor: nothing refers to it any more. */
  destroyed = false;
  /** Pending socket error (`sk_err`), handed out once by the next call (`sock_error()`). */
  error: ErrnoName | null = null;
  /** `sk_shutdown`'s two bits. */
  rcvShutdown = false;
  sndShutdown = false;
  /** `SOCK_DONE`: a FIN arrived; read() returns 0 once the queue is empty. */
  doneFlag = false;
  /** SO_LINGER; `{ on: true, seconds: 0 }` makes close() abortive. */
  linger: { on: boolean; seconds: number } = { on: false, seconds: 0 };
  listenQueues: ListenQueues | null = null;
  /** Receive buffer size, bytes: bounds what may sit unread (the advertised window). */
  rcvbuf = DEFAULT_RCVBUF;

  // send side (RFC 9293 §3.3.1 names)
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence sent so far: after an RTO snd_nxt goes back, but ACKs up to this are valid. */
  sndMax = 0;
  sndWnd = 0;
  /** `max_window`: the largest window the peer ever offered, bytes (bounds the MSS: `tcp_bound_to_half_wnd()`). */
  maxWindow = 0;
  /**
   * `sk_sndbuf`, bytes: `tcp_wmem[1]` until the connection is established, then `tcp_sndbuf_expand()`'s
   * figure unless SO_SNDBUF locked it ({@link sndbufLocked}).
   */
  sndbuf = TCP_WMEM_DEFAULT;
  /** `SOCK_SNDBUF_LOCK`: SO_SNDBUF was set, so the kernel never resizes the buffer. */
  sndbufLocked = false;
  /**
   * The send queue's skbs (`tcp_rtx_queue` + `sk_write_queue`) by the sequence number each one's
   * data ends at, in order; the first starts at {@link bufSeq}. `sk_wmem_queued` is counted from these.
   */
  skbEnds: number[] = [];
  /** Unacknowledged + unsent data, starting at sequence {@link bufSeq}. */
  sendBuf = '';
  bufSeq = 0;
  finQueued = false;
  /**
   * `pushed_seq` marks: where a write without MSG_MORE ended (`tcp_push()` → `tcp_mark_push()`), or
   * where `forced_push()` marked an skb in the middle of a long write (more than half the peer's
   * largest window written since the last mark). A segment carries PSH when one of these falls
   * in it (an skb keeps its PSH when `tcp_grow_skb()` or GSO merges it into a larger packet).
   */
  pushMarks: number[] = [];
  // receive side
  irs = 0;
  rcvNxt = 0;
  /** `rcv_wup`: rcvNxt when the last ACK went out. */
  rcvWup = 0;
  recvBuf = '';
  /** The peer's FIN is in the queue, not yet read (counts 1 in Recv-Q). */
  finUnread = false;
  /** Last window advertised, bytes. */
  lastWindow = 0;

  // delayed ACK (struct inet_connection_sock::icsk_ack)
  ackPending = false;
  ato = 0;
  quick = 0;
  pingpong = false;
  lrcvtimeMs = 0;
  rcvMss = TCP_MSS_DEFAULT;
  #delack: TimerHandle | null = null;

  // retransmission
  rtoMs = TCP_TIMEOUT_INIT_MS;
  /** The RTO once the handshake gave an RTT sample (`icsk_rto` after `tcp_set_rto()`), ms. */
  rtoBaseMs = TCP_RTO_MIN_MS;
  /** When our last SYN (or SYN-ACK) left, for the handshake's RTT sample. */
  synSentAtMs = 0;
  /** Retransmissions of the current segment; in SYN_SENT also the kernel's `total_rto` (both start at 0 there). */
  retransmits = 0;
  /** `retrans_stamp` of a SYN: when the first one went out, virtual ms. */
  synStampMs = 0;
  #rtx: TimerHandle | null = null;
  /** The orphaned-FIN_WAIT2 timer (`inet_csk_reset_keepalive_timer()` in FIN_WAIT2). */
  #finWait2: TimerHandle | null = null;

  constructor(readonly host: EndpointHost) {}

  get name(): string {
    return this.label ?? `${this.local}>${this.remote}`;
  }

  /** Sequence number of our FIN (valid when {@link finQueued}). */
  get finSeq(): number {
    return this.bufSeq + this.sendBuf.length;
  }

  /** `write_seq`: everything queued, FIN included. */
  get writeSeq(): number {
    return this.finSeq + (this.finQueued ? 1 : 0);
  }

  get finAcked(): boolean {
    return this.finQueued && this.sndUna === this.writeSeq;
  }

  /**
   * The one transition function (`tcp_set_state()`): rejects moves Linux never makes and
   * records `{ atMs, from, to }`.
   * @throws IllegalTransitionError for a move outside {@link LEGAL_MOVES}.
   */
  setState(to: TcpState, why: string): void {
    const from = this.state;
    if (!isLegalMove(from, to)) throw new IllegalTransitionError(from, to, why);
    this.state = to;
    // tcp_init_transfer() → tcp_init_buffer_space() on the move to ESTABLISHED.
    if (to === 'ESTABLISHED' && (from === 'SYN_SENT' || from === 'SYN_RECV')) this.#sndbufExpand();
    const t: Transition = { atMs: this.host.clock.nowMs, from, to, why };
    this.transitions.push(t);
    this.host.logTransition(this, t);
  }

  // ---------------------------------------------------------------- send buffer

  /** `tcp_ack_update_window()`: the peer's window, and `max_window`, the largest it offered. */
  #setSndWnd(window: number): void {
    this.sndWnd = window;
    if (window > this.maxWindow) this.maxWindow = window;
  }

  /**
   * `tcp_current_mss()` as bounded by `tcp_bound_to_half_wnd()`: at most half the largest window
   * the peer offered (all of it when that is ≤ TCP_MSS_DEFAULT), never below 68 − 32 header
   * bytes; on loopback this is also the write's `size_goal` (`tcp_xmit_size_goal()`: one
   * segment per skb once the half window is below 64 KiB), bytes.
   */
  mssNow(): number {
    const cutoff = this.maxWindow > TCP_MSS_DEFAULT ? this.maxWindow >> 1 : this.maxWindow;
    if (cutoff > 0 && LOOPBACK_MSS > cutoff) return Math.max(cutoff, 68 - 32);
    return LOOPBACK_MSS;
  }

  /**
   * `sk_wmem_queued`: each skb of the send queue costs its payload (`skb_copy_to_page_nocache()`)
   * plus {@link SKB_HEAD_TRUESIZE} for its head (`tcp_stream_alloc_skb()`), bytes.
   */
  get wmemQueued(): number {
    let total = 0;
    let start = this.bufSeq;
    for (const end of this.skbEnds) {
      total += end - start + SKB_HEAD_TRUESIZE;
      start = end;
    }
    return total;
  }

  /**
   * `sk_stream_memory_free()`: a new skb may be allocated while `sk_wmem_queued < sk_sndbuf`
   * (`tcp_notsent_lowat` is UINT_MAX by default, so `tcp_stream_memory_free()` never says no).
   */
  sendBufferFree(): boolean {
    return this.wmemQueued < this.sndbuf;
  }

  /**
   * SO_SNDBUF (`sk_setsockopt()`): the request capped at `wmem_max`, doubled for the kernel's
   * overhead, at least SOCK_MIN_SNDBUF; locked (`SOCK_SNDBUF_LOCK`) from then on.
   */
  setSndbuf(bytes: number): void {
    this.sndbuf = Math.max(Math.min(bytes, SYSCTL_WMEM_MAX) * 2, SOCK_MIN_SNDBUF);
    this.sndbufLocked = true;
  }

  /**
   * `tcp_sndbuf_expand()` from `tcp_init_buffer_space()`: unless SO_SNDBUF locked it, room for
   * 2 · max(cwnd, TCP_INIT_CWND) segments, each costing roundup_pow_of_two(mss + MAX_TCP_HEADER +
   * shinfo) + sizeof(sk_buff), at most `tcp_wmem[2]`; never shrinks. The model has no cwnd:
   * TCP_INIT_CWND. On loopback with a full window that is ~2.6 MB, so a 16 KiB write never waits.
   */
  #sndbufExpand(): void {
    if (this.sndbufLocked) return;
    const perMss = 2 ** Math.ceil(Math.log2(this.mssNow() + MAX_TCP_HEADER + SKB_SHINFO_SIZE)) + SKB_STRUCT_SIZE;
    const sndmem = Math.min(2 * TCP_INIT_CWND * perMss, TCP_WMEM_MAX);
    if (sndmem > this.sndbuf) this.sndbuf = sndmem;
  }

  // ---------------------------------------------------------------- output

  #window(): number {
    return Math.max(0, this.rcvbuf - this.recvBuf.length);
  }

  #segment(flags: TcpFlag[], seq: number, data = ''): WireSegment {
    const window = this.#window();
    this.lastWindow = window;
    return { src: this.local, dst: this.remote, seq, ack: this.rcvNxt, flags, data, window };
  }

  /** `tcp_event_ack_sent()`: any segment with ACK clears the pending ACK and counts down quick-ack. */
  #ackSent(): void {
    if (this.quick > 0) {
      this.quick--;
      if (this.quick === 0) this.ato = TCP_ATO_MIN_MS;
    }
    this.ackPending = false;
    this.host.clock.cancel(this.#delack);
    this.#delack = null;
    this.rcvWup = this.rcvNxt;
  }

  /** `tcp_send_ack()`. */
  sendAck(): void {
    this.host.transmit(this.#segment(['ACK'], this.sndNxt));
    this.#ackSent();
  }

  /** `tcp_send_active_reset()`: RST+ACK at snd_nxt, with the kernel's reason. */
  sendActiveReset(reason: RstReason): void {
    const seg = this.#segment(['RST', 'ACK'], this.sndNxt);
    seg.rstReason = reason;
    this.host.transmit(seg);
  }

  /** Sends the SYN of an active open (`tcp_connect()`). */
  sendSyn(): void {
    this.synStampMs = this.host.clock.nowMs; // retrans_stamp: the first SYN's time
    this.synSentAtMs = this.host.clock.nowMs;
    this.host.transmit(this.#segment(['SYN'], this.iss));
    if (this.sndNxt === this.iss) this.sndNxt = this.iss + 1;
    this.sndMax = Math.max(this.sndMax, this.sndNxt);
    this.#armRetransmit();
  }

  /** The SYN-ACK of a simultaneous open (`tcp_rcv_synsent_state_process()`): same ISN as the SYN. */
  #sendSynAck(): void {
    this.synSentAtMs = this.host.clock.nowMs;
    this.host.transmit(this.#segment(['SYN', 'ACK'], this.iss));
    this.#ackSent();
  }

  /**
   * Sends what the window allows (`tcp_write_xmit()`): segments of at most one MSS, PSH on the
   * last one; a queued FIN rides the last data segment when that one is still unsent
   * (`tcp_send_fin()`), else goes alone.
   */
  push(): void {
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECV' || this.state === 'CLOSE' || this.state === 'LISTEN') return;
    const wndEnd = this.sndUna + this.sndWnd;
    for (;;) {
      const dataEnd = this.finSeq;
      if (this.sndNxt < dataEnd) {
        const room = wndEnd - this.sndNxt;
        if (room <= 0) break;
        // One packet per call of tcp_transmit_skb(): on loopback (GSO, no segmentation before the
        // capture) it holds up to 64 KiB, and since 6.12 `tcp_grow_skb()` pulls the next skbs'
        // bytes into the head skb up to the window, so a reopened 4096 B window gets one 4096 B packet.
        const len = Math.min(LOOPBACK_MSS, dataEnd - this.sndNxt, room);
        const off = this.sndNxt - this.bufSeq;
        const last = this.sndNxt + len === dataEnd;
        const fin = last && this.finQueued;
        // PSH only where a write without MSG_MORE ended (`tcp_push()`, `tcp_mark_push()`).
        const psh = this.pushMarks.some((m) => m > this.sndNxt && m <= this.sndNxt + len);
        const flags: TcpFlag[] = [...(fin ? (['FIN'] as const) : []), ...(psh ? (['PSH'] as const) : []), 'ACK'];
        const seg = this.#segment(flags, this.sndNxt, this.sendBuf.slice(off, off + len));
        if (len > this.mssNow()) seg.gsoSize = this.mssNow();
        this.host.transmit(seg);
        this.#dataSent();
        this.#ackSent();
        this.sndNxt += len + (fin ? 1 : 0);
        continue;
      }
      if (this.finQueued && this.sndNxt === dataEnd) {
        this.host.transmit(this.#segment(['FIN', 'ACK'], this.sndNxt));
        this.#ackSent();
        this.sndNxt += 1;
      }
      break;
    }
    if (this.sndNxt > this.sndMax) this.sndMax = this.sndNxt;
    if (this.sndUna < this.sndNxt) this.#armRetransmit();
  }

  /**
   * The handshake's RTT sample sets the RTO (`tcp_rtt_estimator()` first sample: srtt = m,
   * mdev = 2m; `tcp_set_rto()`: srtt + max(mdev, TCP_RTO_MIN), in whole jiffies, at most
   * TCP_RTO_MAX): 204 ms on loopback, 600 ms for a 200 ms RTT. Later samples are not taken.
   */
  rttSample(ms: number): void {
    const m = Math.max(0, ms);
    const tick = this.host.tickMs;
    this.rtoBaseMs = Math.min(Math.ceil((m + Math.max(2 * m, TCP_RTO_MIN_MS)) / tick) * tick, TCP_RTO_MAX_MS);
    this.rtoMs = this.rtoBaseMs;
  }

  /** `tcp_event_data_sent()`: answering within `ato` of the last data received means ping-pong. */
  #dataSent(): void {
    if (this.ato > 0 && this.host.clock.nowMs - this.lrcvtimeMs < this.ato) this.pingpong = true;
  }

  #armRetransmit(): void {
    if (this.#rtx !== null) return;
    this.#rtx = this.host.clock.schedule(this.rtoMs, () => this.#retransmitTimer());
  }

  #stopRetransmit(): void {
    this.host.clock.cancel(this.#rtx);
    this.#rtx = null;
  }

  /**
   * `tcp_retransmit_timer()`: go back to snd_una and send again with the RTO doubled (RFC 6298
   * §5.5); SYN_SENT gives up after `tcp_syn_retries` (`tcp_write_timeout()`: ETIMEDOUT).
   */
  #retransmitTimer(): void {
    this.#rtx = null;
    if (this.sndUna >= this.sndNxt) return;
    if (this.state === 'SYN_SENT') {
      this.#synRetransmitTimer();
      return;
    }
    this.retransmits++;
    const limit = this.state === 'SYN_RECV' ? this.host.sysctls.tcp_syn_retries : TCP_RETRIES2;
    if (this.retransmits > limit) {
      this.error = 'ETIMEDOUT';
      this.done('tcp_write_timeout(): retries exhausted');
      return;
    }
    this.rtoMs = Math.min(this.rtoMs * 2, TCP_RTO_MAX_MS);
    this.sndNxt = this.sndUna;
    this.push();
  }

  /**
   * The SYN's retransmission timer, as Linux 6.5+ runs it (net/ipv4/tcp_timer.c):
   * - `tcp_write_timeout()`: ETIMEDOUT once `tcp_syn_retries + tcp_syn_linear_timeouts`
   *   retransmissions were made, or once the time since the first SYN (`retrans_stamp`) reaches
   *   `tcp_model_timeout(tcp_syn_retries, TCP_TIMEOUT_INIT)` — what exponential backoff would have
   *   taken (`retransmits_timed_out()`), so tcp_syn_retries 1 dies at 3 s after SYNs at 0, 1 and 2 s;
   * - else the SYN again (`tcp_update_rto_stats()` counts it in `total_rto`), and the RTO doubles
   *   only once `total_rto` exceeds `tcp_syn_linear_timeouts` (`tcp_retransmit_timer()`, out_reset_timer).
   */
  #synRetransmitTimer(): void {
    const s = this.host.sysctls;
    const sinceFirstMs = this.host.clock.nowMs - this.synStampMs;
    const expired =
      this.retransmits >= s.tcp_syn_retries + s.tcp_syn_linear_timeouts || (this.retransmits > 0 && sinceFirstMs >= modelTimeoutMs(s.tcp_syn_retries, TCP_TIMEOUT_INIT_MS));
    if (expired) {
      this.error = 'ETIMEDOUT';
      this.done('tcp_write_timeout(): SYN retries exhausted');
      return;
    }
    this.retransmits++;
    this.synSentAtMs = this.host.clock.nowMs;
    this.host.transmit(this.#segment(['SYN'], this.iss));
    if (this.retransmits > s.tcp_syn_linear_timeouts) this.rtoMs = Math.min(this.rtoMs * 2, TCP_RTO_MAX_MS);
    this.#armRetransmit();
  }

  // ---------------------------------------------------------------- delayed ACK

  /** `tcp_in_quickack_mode()`: quick ACKs left and not in ping-pong (interactive) mode. */
  inQuickackMode(): boolean {
    return this.quick > 0 && !this.pingpong;
  }

  /**
   * `tcp_incr_quickack()`: up to 16 immediate ACKs, rcv_wnd / (2·rcv_mss) of them, 2 when that is
   * 0. rcv_wnd is the window last advertised (a 4096 B receive buffer and 2048 B segments: one
   * quick ACK, so the second segment's ACK is delayed, as the kernel's close-unsent-data trace shows).
   */
  #incrQuickack(): void {
    const n = Math.min(Math.floor(this.lastWindow / (2 * this.rcvMss)) || 2, TCP_MAX_QUICKACKS);
    if (n > this.quick) this.quick = n;
  }

  /** `tcp_event_data_recv()`: schedules an ACK and tunes `ato` from the inter-arrival gap. */
  #eventDataRecv(len: number): void {
    // `len` is the segment's size as tcp_measure_rcv_mss() sees it: gso_size for a GSO packet.
    this.ackPending = true;
    if (len >= this.rcvMss) this.rcvMss = Math.min(len, LOOPBACK_MSS); // tcp_measure_rcv_mss()
    const now = this.host.clock.nowMs;
    if (this.ato === 0) {
      this.#incrQuickack();
      this.ato = TCP_ATO_MIN_MS;
    } else {
      const m = now - this.lrcvtimeMs;
      if (m <= TCP_ATO_MIN_MS / 2) this.ato = this.ato / 2 + TCP_ATO_MIN_MS / 2;
      else if (m < this.ato) this.ato = Math.min(this.ato / 2 + m, this.rtoMs);
      else if (m > this.rtoMs) this.#incrQuickack();
    }
    this.lrcvtimeMs = now;
  }

  /**
   * `__tcp_ack_snd_check()`: ACK now when more than one full segment is unacknowledged or in
   * quick-ack mode; else `tcp_send_delayed_ack()`.
   */
  #ackSndCheck(): void {
    if (!this.ackPending) return;
    if (this.rcvNxt - this.rcvWup > this.rcvMss || this.inQuickackMode()) this.sendAck();
    else this.#sendDelayedAck();
  }

  /**
   * `tcp_send_delayed_ack()`: `ato` capped at TCP_DELACK_MIN on loopback (the RTT is below it);
   * the timer fires on the first jiffy after `now + ato` — before any data `ato` is 0, so the
   * ACK of a bare FIN goes out within a tick (the lab saw 1.6–4.9 ms), after data ~40 ms (41.6 ms).
   */
  #sendDelayedAck(): void {
    const clock = this.host.clock;
    const tick = this.host.tickMs;
    const ato = Math.min(this.ato, TCP_ATO_MIN_MS);
    const fireAt = (Math.floor((clock.nowMs + ato) / tick) + 1) * tick;
    if (this.#delack !== null && !this.#delack.cancelled) {
      if (this.#delack.atMs <= clock.nowMs + ato / 4) {
        this.sendAck();
        return;
      }
      if (this.#delack.atMs <= fireAt) return;
      clock.cancel(this.#delack);
    }
    this.#delack = clock.schedule(fireAt - clock.nowMs, () => this.#delackTimer());
  }

  /** `tcp_delack_timer_handler()`: a missed delayed ACK leaves ping-pong mode, then the ACK goes. */
  #delackTimer(): void {
    this.#delack = null;
    if (!this.ackPending || this.state === 'CLOSE') return;
    if (this.pingpong) {
      this.pingpong = false;
      this.ato = TCP_ATO_MIN_MS;
    } else {
      this.ato = Math.min(this.ato * 2, this.rtoMs);
    }
    this.sendAck();
  }

  // ---------------------------------------------------------------- input

  /** A segment for this connection (the host did the demultiplexing). */
  segmentArrives(seg: WireSegment): void {
    if (this.state === 'CLOSE' || this.state === 'LISTEN') return;
    if (this.state === 'SYN_SENT') {
      this.#synSent(seg);
      return;
    }
    this.#synchronized(seg);
  }

  /** `tcp_rcv_synsent_state_process()` (RFC 9293 §3.10.7.3). */
  #synSent(seg: WireSegment): void {
    if (has(seg, 'ACK') && seg.ack !== this.iss + 1) {
      if (!has(seg, 'RST')) this.#resetFor(seg, 'TCP_INVALID_ACK_SEQUENCE');
      return;
    }
    if (has(seg, 'RST')) {
      if (has(seg, 'ACK')) this.reset('tcp_reset(): RST in SYN_SENT');
      return;
    }
    if (!has(seg, 'SYN')) return;
    this.irs = seg.seq;
    this.rcvNxt = seg.seq + 1;
    this.rcvWup = this.rcvNxt;
    this.#setSndWnd(seg.window);
    if (has(seg, 'ACK')) {
      this.sndUna = seg.ack;
      this.#stopRetransmit();
      this.retransmits = 0;
      this.rttSample(this.host.clock.nowMs - this.synSentAtMs);
      this.setState('ESTABLISHED', 'tcp_rcv_synsent_state_process(): SYN-ACK acknowledges our SYN');
      if (this.pingpong && this.sendBuf.length === 0) {
        // TCP_QUICKACK 0 before connect(): the handshake's ACK is held back up to TCP_DELACK_MAX,
        // in quick-ack mode so the next data is ACKed at once (`tcp_rcv_synsent_state_process()`).
        this.ackPending = true;
        this.quick = TCP_MAX_QUICKACKS;
        this.host.clock.cancel(this.#delack);
        this.#delack = this.host.clock.schedule(TCP_DELACK_MAX_MS, () => this.#delackTimer());
        return;
      }
      this.sendAck();
      this.push();
      return;
    }
    // Simultaneous open (RFC 9293 §3.5 Figure 8), which is also how a socket connects to itself.
    this.setState('SYN_RECV', 'tcp_rcv_synsent_state_process(): SYN without ACK (simultaneous open)');
    this.#sendSynAck();
  }

  /** `tcp_validate_incoming()` + `tcp_rcv_state_process()` for every synchronized state. */
  #synchronized(seg: WireSegment): void {
    // RST: RFC 5961 §3.2 — exactly rcv_nxt resets, elsewhere in the window asks a challenge ACK.
    if (has(seg, 'RST')) {
      if (seg.seq === this.rcvNxt) this.reset('tcp_reset(): RST at rcv_nxt');
      else if (seg.seq > this.rcvNxt && seg.seq < this.rcvNxt + this.#window()) this.sendAck();
      return;
    }
    if (has(seg, 'SYN')) {
      const simultaneousOpen = this.state === 'SYN_RECV' && has(seg, 'ACK') && seg.seq + 1 === this.rcvNxt && seg.ack === this.sndNxt;
      if (!simultaneousOpen) {
        this.sendAck(); // tcp_send_challenge_ack(): RFC 5961 §4
        return;
      }
    }
    if (!has(seg, 'ACK')) return; // tcp_rcv_state_process(): "if (!th->ack) discard"
    if (seg.ack > Math.max(this.sndNxt, this.sndMax)) {
      this.sendAck(); // tcp_ack(): ACK of unsent data, answered with an ACK and dropped
      return;
    }
    if (this.state === 'SYN_RECV') {
      this.sndUna = Math.max(this.sndUna, seg.ack);
      this.#setSndWnd(seg.window);
      this.#stopRetransmit();
      this.retransmits = 0;
      this.rttSample(this.host.clock.nowMs - this.synSentAtMs);
      this.setState('ESTABLISHED', 'tcp_rcv_state_process(): ACK of our SYN in SYN_RECV');
      if (has(seg, 'SYN')) this.sendAck();
    }
    if (seg.ack > this.sndUna) this.#ackAdvance(seg.ack);
    this.#setSndWnd(seg.window); // tcp_ack_update_window()

    switch (this.state) {
      case 'FIN_WAIT1':
        if (!this.finAcked) break;
        this.setState('FIN_WAIT2', 'tcp_rcv_state_process(): our FIN acknowledged in FIN_WAIT1');
        this.sndShutdown = true;
        if (!this.dead) break;
        if (seg.data.length > 0) {
          // "Receive out of order FIN after close()": data for a closed socket.
          this.#abortOnData(seg);
          return;
        }
        {
          const tmo = this.finTimeMs();
          if (tmo > TCP_TIMEWAIT_LEN_MS) this.#armFinWait2(tmo - TCP_TIMEWAIT_LEN_MS);
          else if (has(seg, 'FIN')) this.#armFinWait2(tmo);
          else {
            this.host.timeWait(this, 'FIN_WAIT2', tmo);
            return;
          }
        }
        break;
      case 'CLOSING':
        if (this.finAcked) {
          this.host.timeWait(this, 'TIME_WAIT', TCP_TIMEWAIT_LEN_MS);
          return;
        }
        break;
      case 'LAST_ACK':
        if (this.finAcked) {
          this.done('tcp_rcv_state_process(): our FIN acknowledged in LAST_ACK');
          return;
        }
        break;
      default:
        break;
    }

    if (seg.data.length > 0 || has(seg, 'FIN')) {
      // tcp_rcv_state_process() step 7. After their FIN nothing new can come in CLOSE_WAIT,
      // CLOSING, LAST_ACK; an old segment there is handled as in FIN_WAIT* (ACKed as a duplicate).
      const s = this.state;
      const afterTheirFin = s === 'CLOSE_WAIT' || s === 'CLOSING' || s === 'LAST_ACK';
      if (!(afterTheirFin && seg.seq >= this.rcvNxt)) {
        const finWait = afterTheirFin || s === 'FIN_WAIT1' || s === 'FIN_WAIT2';
        // RFC 1122 §4.2.2.13 as Linux applies it: new data after SHUT_RD / close() is reset.
        if (finWait && this.rcvShutdown && seg.data.length > 0 && seg.seq + seg.data.length > this.rcvNxt) {
          this.#abortOnData(seg);
          return;
        }
        if (finWait || s === 'ESTABLISHED' || s === 'SYN_RECV') this.#dataQueue(seg);
      }
    }
    if (this.state === 'CLOSE') return;
    this.#ackSndCheck();
    this.push(); // tcp_data_snd_check(): the ACK may have opened the window
  }

  /** `tcp_ack()` → `tcp_clean_rtx_queue()`: drops acknowledged bytes, restarts or stops the RTO. */
  #ackAdvance(ack: number): void {
    const dataAcked = Math.min(ack, this.finSeq) - this.bufSeq;
    if (dataAcked > 0) {
      this.sendBuf = this.sendBuf.slice(dataAcked);
      this.bufSeq += dataAcked;
      // tcp_clean_rtx_queue(): a wholly acknowledged skb is freed (`tcp_wmem_free_skb()` gives its
      // truesize back to sk_wmem_queued); a partly acknowledged one stays (`tcp_trim_head()`).
      while (this.skbEnds.length > 0 && this.skbEnds[0]! <= this.bufSeq) this.skbEnds.shift();
      this.pushMarks = this.pushMarks.filter((m) => m > this.bufSeq);
    }
    this.sndUna = ack;
    if (this.sndNxt < ack) this.sndNxt = ack; // an ACK for what went out before an RTO rewound snd_nxt
    this.retransmits = 0;
    this.rtoMs = this.rtoBaseMs;
    this.#stopRetransmit();
    if (this.sndUna < this.sndNxt) this.#armRetransmit();
  }

  /** `tcp_data_queue()`: in-order data is queued (SHUT_RD or not), a FIN goes to `tcp_fin()`. */
  #dataQueue(seg: WireSegment): void {
    let seq = seg.seq;
    let data = seg.data;
    const end = seg.seq + segLen(seg);
    if (end <= this.rcvNxt && segLen(seg) > 0) {
      // A duplicate: tcp_data_queue() enters quick-ack mode and ACKs at once (D-SACK).
      this.sendAck();
      return;
    }
    if (seq < this.rcvNxt) {
      data = data.slice(this.rcvNxt - seq);
      seq = this.rcvNxt;
    }
    if (seq > this.rcvNxt) {
      // Out of order: Linux keeps it in the ofo queue and SACKs; the model drops it and
      // sends the duplicate ACK at once, so the sender's RTO fills the hole.
      this.sendAck();
      return;
    }
    if (data.length > this.#window()) {
      this.sendAck(); // no room: tcp_data_queue() drops and ACKs (zero window)
      return;
    }
    if (data.length > 0) {
      this.recvBuf += data;
      this.rcvNxt += data.length;
      this.#eventDataRecv(seg.gsoSize ?? data.length);
    }
    if (has(seg, 'FIN')) {
      this.rcvNxt += 1;
      this.finUnread = true;
      this.#fin();
    }
  }

  /**
   * `tcp_fin()` (RFC 9293 §3.10.7.4 eighth step): ESTABLISHED → CLOSE_WAIT and ping-pong mode (so
   * its ACK is delayed); in FIN_WAIT1 an immediate ACK and CLOSING; in FIN_WAIT2 an immediate
   * ACK and the timewait socket.
   */
  #fin(): void {
    this.ackPending = true;
    this.rcvShutdown = true;
    this.doneFlag = true;
    switch (this.state) {
      case 'SYN_RECV':
      case 'ESTABLISHED':
        this.setState('CLOSE_WAIT', 'tcp_fin(): FIN received');
        this.pingpong = true;
        break;
      case 'FIN_WAIT1':
        this.sendAck();
        this.setState('CLOSING', 'tcp_fin(): FIN in FIN_WAIT1 (simultaneous close)');
        break;
      case 'FIN_WAIT2':
        this.sendAck();
        this.host.timeWait(this, 'TIME_WAIT', TCP_TIMEWAIT_LEN_MS);
        break;
      default:
        break;
    }
  }

  /** New data after close()/SHUT_RD in FIN_WAIT*: LINUX_MIB_TCPABORTONDATA, `tcp_reset()` and a RST. */
  #abortOnData(seg: WireSegment): void {
    this.#resetFor(seg, 'TCP_ABORT_ON_DATA');
    this.reset('tcp_rcv_state_process(): data after shutdown of the receive side');
  }

  /** `tcp_v4_send_reset()` in answer to `seg` (RFC 9293 §3.10.7.1 reset generation). */
  #resetFor(seg: WireSegment, reason: RstReason): void {
    this.host.transmit(resetFor(seg, reason));
  }

  /**
   * `tcp_reset()`: a RST was accepted. The error the next call sees: ECONNREFUSED in SYN_SENT,
   * EPIPE in CLOSE_WAIT, ECONNRESET elsewhere; then `tcp_done()`.
   */
  reset(why: string): void {
    if (this.state === 'CLOSE') return;
    this.error = this.state === 'SYN_SENT' ? 'ECONNREFUSED' : this.state === 'CLOSE_WAIT' ? 'EPIPE' : 'ECONNRESET';
    this.sendBuf = '';
    this.skbEnds = [];
    this.bufSeq = this.sndNxt;
    this.finQueued = false;
    this.done(why);
  }

  /** `tcp_done()`: CLOSE, timers off, out of the tables; an orphan is destroyed. */
  done(why: string): void {
    if (this.state !== 'CLOSE') this.setState('CLOSE', why);
    this.rcvShutdown = true;
    this.sndShutdown = true;
    this.stopTimers();
    this.host.unhash(this);
  }

  stopTimers(): void {
    this.#stopRetransmit();
    this.host.clock.cancel(this.#delack);
    this.#delack = null;
    this.host.clock.cancel(this.#finWait2);
    this.#finWait2 = null;
  }

  /** `tcp_fin_time()`: tcp_fin_timeout, but at least 3.5 RTO, ms. */
  finTimeMs(): number {
    return Math.max(this.host.sysctls.tcp_fin_timeout * 1000, this.rtoMs * 3.5);
  }

  /** The FIN_WAIT2 timer of an orphan (`tcp_keepalive_timer()` in FIN_WAIT2). */
  #armFinWait2(ms: number): void {
    this.host.clock.cancel(this.#finWait2);
    this.#finWait2 = this.host.clock.schedule(ms, () => {
      this.#finWait2 = null;
      if (this.state !== 'FIN_WAIT2') return;
      const rest = this.finTimeMs() - TCP_TIMEWAIT_LEN_MS;
      if (rest > 0) this.host.timeWait(this, 'FIN_WAIT2', rest);
      else {
        this.sendActiveReset('TCP_ABORT_ON_LINGER');
        this.done('tcp_keepalive_timer(): orphaned FIN_WAIT2 timed out');
      }
    });
  }

  /** The pending timer as /proc/net/tcp reports it. */
  timer(): SocketTimer {
    const now = this.host.clock.nowMs;
    if (this.#rtx !== null) return { kind: 'retransmit', remainingMs: this.#rtx.atMs - now, retransmits: this.retransmits };
    if (this.#finWait2 !== null) return { kind: 'keepalive', remainingMs: this.#finWait2.atMs - now, retransmits: 0 };
    return { kind: 'none', remainingMs: 0, retransmits: 0 };
  }

  // ---------------------------------------------------------------- the application's side

  /**
   * recv(2), non-blocking: queued data first; then the pending error once (`sock_error()`);
   * then 0 (EOF) after a FIN or SHUT_RD; ENOTCONN on a socket never connected; else EAGAIN.
   * Source: `tcp_recvmsg_locked()`.
   */
  read(max = Number.MAX_SAFE_INTEGER): CallResult<ReadValue> {
    if (this.state === 'LISTEN') return fail('ENOTCONN');
    if (this.recvBuf.length > 0) {
      const text = this.recvBuf.slice(0, max);
      this.recvBuf = this.recvBuf.slice(text.length);
      this.#cleanupRbuf();
      return { ok: true, value: { bytes: text.length, eof: false, text } };
    }
    if (this.doneFlag) {
      this.finUnread = false;
      return { ok: true, value: { bytes: 0, eof: true, text: '' } };
    }
    if (this.error !== null) {
      const errno = this.error;
      this.error = null;
      return fail(errno);
    }
    if (this.rcvShutdown) return { ok: true, value: { bytes: 0, eof: true, text: '' } };
    if (this.state === 'CLOSE') return fail('ENOTCONN');
    return fail('EAGAIN');
  }

  /** `tcp_cleanup_rbuf()`: a read that at least doubles a small advertised window sends an update. */
  #cleanupRbuf(): void {
    if (this.rcvShutdown || this.state === 'CLOSE') return;
    const open = Math.max(0, this.rcvWup + this.lastWindow - this.rcvNxt); // tcp_receive_window()
    const next = this.#window();
    if (2 * open <= this.rcvbuf && next > 0 && next >= 2 * open) this.sendAck();
  }

  /**
   * send(2) with MSG_DONTWAIT: in ESTABLISHED/CLOSE_WAIT as much of the data as the send buffer
   * takes is queued and pushed (with `more`, MSG_MORE, queued only); the count queued, or EAGAIN
   * when the buffer is full. Else the
   * pending error once, then EPIPE with SIGPIPE (`sk_stream_error()`); SYN_SENT gives EAGAIN.
   * Source: `tcp_sendmsg_locked()`, `sk_stream_wait_connect()`.
   */
  write(data: string, more = false): CallResult<number> {
    if (this.error !== null) {
      const errno = this.error;
      this.error = null;
      return fail(errno, errno === 'EPIPE');
    }
    if (this.sndShutdown) return fail('EPIPE', true);
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECV') return fail('EAGAIN');
    if (this.state !== 'ESTABLISHED' && this.state !== 'CLOSE_WAIT') return fail('EPIPE', true); // never connected too
    if (data.length === 0) return { ok: true, value: 0 };
    // tcp_sendmsg_locked(): fill the tail skb up to size_goal while it is unsent; a new skb only
    // while sk_stream_memory_free(); a full skb at the head of what is unsent goes at once
    // (`tcp_push_one()`). No room for even one byte: EAGAIN (`sk_stream_wait_memory()`, timeout 0).
    const goal = this.mssNow();
    let copied = 0;
    while (copied < data.length) {
      const n = this.skbEnds.length;
      const tailStart = n > 1 ? this.skbEnds[n - 2]! : this.bufSeq;
      let room = n > 0 && tailStart >= this.sndNxt ? goal - (this.skbEnds[n - 1]! - tailStart) : 0;
      if (room <= 0) {
        if (!this.sendBufferFree()) break;
        this.skbEnds.push(this.finSeq);
        room = goal;
      }
      const chunk = Math.min(room, data.length - copied);
      this.sendBuf += data.slice(copied, copied + chunk);
      this.skbEnds[this.skbEnds.length - 1]! += chunk;
      copied += chunk;
      if (!more && chunk === room && copied < data.length) {
        // forced_push(): more than half the largest window written since the last mark.
        const end = this.finSeq;
        const last = this.pushMarks.at(-1) ?? this.bufSeq;
        if (end > last + (this.maxWindow >> 1)) this.pushMarks.push(end);
        this.push(); // tcp_push_one() / __tcp_push_pending_frames()
      }
    }
    if (copied === 0) return fail('EAGAIN');
    // MSG_MORE (`tcp_push()` skipped): the data waits in the send queue for more, or for the FIN
    // of close(), and its segment carries no PSH.
    if (!more) {
      this.pushMarks.push(this.finSeq);
      this.push();
    }
    return { ok: true, value: copied };
  }


  /**
   * shutdown(2): SHUT_RD only marks the receive side (Linux sends nothing and still ACKs and
   * queues data — claim 004-q contradicted); SHUT_WR moves by `tcp_close_state()` and sends a FIN
   * (`tcp_shutdown()`). ENOTCONN on a socket not connected (`inet_shutdown()`).
   */
  shutdown(how: ShutdownHow): CallResult {
    if (this.state === 'CLOSE' || this.state === 'LISTEN') return fail('ENOTCONN');
    if (how !== 'SHUT_WR') this.rcvShutdown = true;
    if (how !== 'SHUT_RD' && !this.sndShutdown) {
      this.sndShutdown = true;
      this.#closeState('tcp_shutdown(): SHUT_WR');
    }
    return { ok: true };
  }

  /** `tcp_close_state()` then `tcp_send_fin()`: the FIN is queued behind unsent data. */
  #closeState(why: string): void {
    const { to, sendFin } = closeState(this.state);
    if (to !== this.state) this.setState(to, why);
    if (to === 'CLOSE') {
      this.done(why);
      return;
    }
    if (sendFin) {
      this.finQueued = true;
      this.push();
    }
  }

  /**
   * The last descriptor closed (`__tcp_close()`): unread data → RST (TCP_ABORT_ON_CLOSE, RFC 9293
   * §3.10.4); SO_LINGER {1, 0} → `tcp_disconnect()`, RST (TCP_STATE); else FIN behind unsent
   * data. The orphan lives on: FIN_WAIT2 goes to a timewait socket for tcp_fin_timeout.
   */
  close(): void {
    const listening = this.state === 'LISTEN';
    this.dead = true;
    this.rcvShutdown = true;
    this.sndShutdown = true;
    if (listening) return; // the host stops the listener (inet_csk_listen_stop)
    if (this.state === 'CLOSE') {
      this.host.unhash(this);
      return;
    }
    if (this.recvBuf.length > 0) {
      this.setState('CLOSE', '__tcp_close(): unread data (TCP_ABORT_ON_CLOSE)');
      this.sendActiveReset('TCP_ABORT_ON_CLOSE');
      this.done('__tcp_close()');
      return;
    }
    if (this.linger.on && this.linger.seconds === 0) {
      this.disconnect('__tcp_close(): SO_LINGER {1, 0} → tcp_disconnect()');
      return;
    }
    const { to, sendFin } = closeState(this.state);
    if (to !== this.state) this.setState(to, '__tcp_close(): tcp_close_state()');
    if (to === 'CLOSE') {
      this.done('__tcp_close()');
      return;
    }
    if (sendFin) {
      this.finQueued = true;
      this.push();
    }
    if (this.state === 'FIN_WAIT2') {
      // adjudge_to_death: an orphan already in FIN_WAIT2 goes to the timewait socket now.
      const tmo = this.finTimeMs();
      if (tmo > TCP_TIMEWAIT_LEN_MS) this.#armFinWait2(tmo - TCP_TIMEWAIT_LEN_MS);
      else this.host.timeWait(this, 'FIN_WAIT2', tmo);
    }
  }

  /**
   * `tcp_disconnect()`: a RST (reason TCP_STATE) from the states `tcp_need_reset()` names, then
   * CLOSE.
   */
  disconnect(why: string): void {
    const s = this.state;
    if (s === 'ESTABLISHED' || s === 'CLOSE_WAIT' || s === 'FIN_WAIT1' || s === 'FIN_WAIT2' || s === 'SYN_RECV') {
      this.sendActiveReset('TCP_STATE');
    } else if ((s === 'CLOSING' || s === 'LAST_ACK') && this.sndNxt !== this.writeSeq) {
      this.sendActiveReset('TCP_STATE');
    }
    this.done(why);
  }
}

/**
 * `tcp_v4_send_reset()`: the RST that answers `seg` (RFC 9293 §3.10.7.1): with ACK → `seq =
 * SEG.ACK`, RST alone; without → `seq 0, ack = SEG.SEQ + SEG.LEN`, RST+ACK.
 */
export function resetFor(seg: WireSegment, reason: RstReason): WireSegment {
  if (has(seg, 'ACK')) return { src: seg.dst, dst: seg.src, seq: seg.ack, ack: 0, flags: ['RST'], data: '', window: 0, rstReason: reason };
  return { src: seg.dst, dst: seg.src, seq: 0, ack: seg.seq + segLen(seg), flags: ['RST', 'ACK'], data: '', window: 0, rstReason: reason };
}

/**
 * `tcp_model_timeout()` (net/ipv4/tcp_timer.c): how long `boundary` retransmissions take with the
 * RTO doubling from `rtoBaseMs` and capped at TCP_RTO_MAX, ms.
 */
function modelTimeoutMs(boundary: number, rtoBaseMs: number): number {
  const linearBackoffThresh = Math.floor(Math.log2(TCP_RTO_MAX_MS / rtoBaseMs));
  if (boundary <= linearBackoffThresh) return ((2 << boundary) - 1) * rtoBaseMs;
  return ((2 << linearBackoffThresh) - 1) * rtoBaseMs + (boundary - linearBackoffThresh) * TCP_RTO_MAX_MS;
}
