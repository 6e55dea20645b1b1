import type { ErrnoName, SocketObservation, TcpState } from '../tcp/index.js';
import type { Clock, TimerHandle } from './clock.js';
import { SOMAXCONN, TCP_TIMEOUT_INIT_MS, TCP_TIMEWAIT_LEN_MS } from './constants.js';
import { Endpoint, resetFor, type CallResult, type EndpointHost, type ReadValue, type ShutdownHow } from './endpoint.js';
import type { Network, SegmentSink } from './network.js';
import type { Random } from './random.js';
import { resolveSysctls, type Sysctls } from './sysctls.js';
import { TimewaitSock } from './timewait.js';
import type { Transition } from './transitions.js';
import { has, portOf, type WireSegment } from './wire.js';

/** A state change with the socket's name: the lab's `TraceTransition` without the epoch. */
export interface HostTransition extends Transition {
  socket: string;
}

/** An error set on a socket (`sk_err`, reported by `sk_error_report()`): what its next call returns. */
export interface HostSocketError {
  atMs: number;
  /** The endpoint's name when the error was set (`local>remote`, or its label). */
  socket: string;
  errno: ErrnoName;
}

/** The TcpExt counters the model keeps (`/proc/net/netstat` names). */
export interface HostCounters {
  /** `LINUX_MIB_LISTENOVERFLOWS`: SYNs and handshake ACKs dropped because the accept queue was full. */
  ListenOverflows: number;
  /** `LINUX_MIB_LISTENDROPS`: every drop at a listener (here: the overflows). */
  ListenDrops: number;
}

/** A connection between SYN and the handshake's ACK (`struct request_sock`, NEW_SYN_RECV). */
interface RequestSock {
  local: string;
  remote: string;
  iss: number;
  irs: number;
  /** When the last SYN-ACK left, for the handshake's RTT sample. */
  sentAtMs: number;
  retransmits: number;
  timer: TimerHandle;
}

export interface HostOptions {
  ip?: string;
  sysctls?: Partial<Sysctls>;
  /** Jiffy length, ms (CONFIG_HZ=250 → 4, the lab's kernel). */
  tickMs?: number;
}

function fail<T>(errno: ErrnoName): CallResult<T> {
  return { ok: false, errno };
}

const key = (local: string, remote: string): string => `${local}|${remote}`;

/** `a.b.c.d:port` with a port in 1..65535 (the model speaks IPv4 only). */
function isAddress(addr: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d{1,5})$/.exec(addr);
  if (m === null) return false;
  const port = Number(m[5]);
  return m.slice(1, 5).every((o) => Number(o) <= 255) && port >= 1 && port <= 65535;
}

/**
 * A machine: one IP, sysctls, a port table, listeners with SYN and accept queues, connected
 * endpoints, timewait sockets and processes holding descriptors. Pure: time from its
 * {@link Clock}, randomness (ISNs, port choice) from its {@link Random}.
 */
export class Host implements SegmentSink, EndpointHost {
  readonly ip: string;
  readonly sysctls: Sysctls;
  readonly tickMs: number;
  readonly clock: Clock;
  /** Every state change of every endpoint of this host, in order. */
  readonly transitions: HostTransition[] = [];
  /** Every error set on an endpoint (`sock:inet_sk_error_report`), in order. */
  readonly errors: HostSocketError[] = [];
  readonly counters: HostCounters = { ListenOverflows: 0, ListenDrops: 0 };
  readonly #established = new Map<string, Endpoint>();
  readonly #listeners = new Map<number, Endpoint>();
  readonly #requests = new Map<Endpoint, Map<string, RequestSock>>();
  readonly #timewait = new Map<string, TimewaitSock>();
  readonly #ports = new Map<number, number>();
  readonly #processes = new Map<number, Process>();
  readonly #inodes = new Map<Endpoint, number>();
  #nextPid = 1000;
  #nextInode = 10_000;

  constructor(
    readonly network: Network,
    readonly random: Random,
    opts: HostOptions = {},
  ) {
    this.ip = opts.ip ?? '127.0.0.1';
    this.sysctls = resolveSysctls(opts.sysctls);
    this.tickMs = opts.tickMs ?? 4;
    this.clock = network.clock;
    network.attach(this);
  }

  /** Starts a process (for descriptors and `owner`). */
  spawn(command = 'model'): Process {
    const p = new Process(this, this.#nextPid++, command.slice(0, 15));
    this.#processes.set(p.pid, p);
    return p;
  }

  /** Live processes. */
  processes(): Process[] {
    return [...this.#processes.values()].filter((p) => !p.exited);
  }

  // ------------------------------------------------------------ EndpointHost

  transmit(seg: WireSegment): void {
    this.network.send(seg);
  }

  logTransition(ep: Endpoint, t: Transition): void {
    this.transitions.push({ ...t, socket: ep.name });
    // The endpoint sets sk_err just before tcp_done() (tcp_reset(), tcp_write_timeout()).
    if (t.to === 'CLOSE' && ep.error !== null) this.errors.push({ atMs: t.atMs, socket: ep.name, errno: ep.error });
  }

  unhash(ep: Endpoint): void {
    if (this.#established.get(key(ep.local, ep.remote)) === ep) this.#established.delete(key(ep.local, ep.remote));
    if (ep.dead) {
      if (!ep.destroyed) this.releasePort(ep.local);
      ep.destroyed = true;
    }
  }

  /**
   * `tcp_time_wait()`: a timewait socket takes the 4-tuple for `timeoutMs`; the full socket goes
   * to CLOSE (that is the move the kernel traces) and, when orphaned, is destroyed.
   */
  timeWait(ep: Endpoint, substate: 'FIN_WAIT2' | 'TIME_WAIT', timeoutMs: number): void {
    const tw = new TimewaitSock(ep.local, ep.remote, substate, ep.rcvNxt, ep.sndNxt, ep.rcvbuf, ep.name);
    const k = key(ep.local, ep.remote);
    this.#established.delete(k);
    this.#timewait.set(k, tw);
    this.#ports.set(portOf(ep.local), (this.#ports.get(portOf(ep.local)) ?? 0) + 1);
    this.#armTimewait(tw, timeoutMs);
    ep.setState('CLOSE', `tcp_time_wait(): ${substate} handed to a timewait socket`);
    ep.done('tcp_time_wait()');
  }

  #armTimewait(tw: TimewaitSock, ms: number): void {
    this.clock.cancel(tw.timer);
    tw.timer = this.clock.schedule(ms, () => this.#killTimewait(tw));
  }

  #killTimewait(tw: TimewaitSock): void {
    this.clock.cancel(tw.timer);
    const k = key(tw.local, tw.remote);
    if (this.#timewait.get(k) !== tw) return;
    this.#timewait.delete(k);
    this.releasePort(tw.local);
  }

  // ------------------------------------------------------------ ports

  /** @internal */
  claimPort(port: number): void {
    this.#ports.set(port, (this.#ports.get(port) ?? 0) + 1);
  }

  /** @internal */
  releasePort(local: string): void {
    const port = portOf(local);
    const n = (this.#ports.get(port) ?? 0) - 1;
    if (n > 0) this.#ports.set(port, n);
    else this.#ports.delete(port);
  }

  portInUse(port: number): boolean {
    return this.#ports.has(port);
  }

  /**
   * An ephemeral port from `ip_local_port_range`, starting at a random offset: connect()
   * scans even offsets from the range start first (`__inet_hash_connect()`), bind(0) and an
   * autobound listen() odd ones first (`inet_csk_find_open_port()`), so the two rarely collide.
   */
  ephemeralPort(parity: 'even' | 'odd'): number | null {
    const [low, high] = this.sysctls.ip_local_port_range;
    const remaining = high - low + 1;
    let offset = Math.floor(this.random.next() * remaining);
    offset = parity === 'even' ? offset & ~1 : offset | 1;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < remaining; i += 2) {
        const port = low + ((offset + i) % remaining);
        if (!this.#ports.has(port)) return port;
      }
      offset++;
      if (remaining === 1) break;
    }
    return null;
  }

  newIsn(): number {
    return Math.floor(this.random.next() * 2 ** 31);
  }

  // ------------------------------------------------------------ tables

  /** @internal */
  hashListener(ep: Endpoint): CallResult {
    const port = portOf(ep.local);
    if (this.#listeners.has(port)) return fail('EADDRINUSE');
    this.#listeners.set(port, ep);
    this.#requests.set(ep, new Map());
    return { ok: true };
  }

  /** @internal */
  hashConnected(ep: Endpoint): boolean {
    const k = key(ep.local, ep.remote);
    if (this.#established.has(k) || this.#timewait.has(k)) return false;
    this.#established.set(k, ep);
    return true;
  }

  /**
   * `inet_csk_listen_stop()`: the listener closes; requests are dropped, and every connection
   * still in the accept queue is disconnected (RST, reason TCP_STATE) and destroyed.
   */
  stopListener(ep: Endpoint): void {
    const port = portOf(ep.local);
    if (this.#listeners.get(port) === ep) this.#listeners.delete(port);
    for (const req of this.#requests.get(ep)?.values() ?? []) this.clock.cancel(req.timer);
    this.#requests.delete(ep);
    for (const child of ep.listenQueues?.acceptQueue ?? []) {
      child.dead = true;
      child.disconnect('inet_csk_listen_stop(): child never accepted');
    }
    if (ep.listenQueues) ep.listenQueues.acceptQueue = [];
    ep.setState('CLOSE', '__tcp_close(): close of a listener');
    ep.dead = true;
    ep.destroyed = true;
    this.releasePort(ep.local);
  }

  // ------------------------------------------------------------ input

  /**
   * `tcp_v4_rcv()`: demultiplex to a connection, a timewait socket, a listener; with none, a RST
   * (reason NO_SOCKET) unless the segment is a RST itself (RFC 9293 §3.10.7.1).
   */
  receive(seg: WireSegment): void {
    const k = key(seg.dst, seg.src);
    const ep = this.#established.get(k);
    if (ep !== undefined) {
      ep.segmentArrives(seg);
      return;
    }
    const tw = this.#timewait.get(k);
    if (tw !== undefined) {
      const { verdict, restart } = tw.process(seg);
      if (restart) this.#armTimewait(tw, TCP_TIMEWAIT_LEN_MS);
      if (verdict === 'ack') {
        this.transmit({ src: tw.local, dst: tw.remote, seq: tw.sndNxt, ack: tw.rcvNxt, flags: ['ACK'], data: '', window: tw.window });
        return;
      }
      if (verdict === 'drop') return;
      this.#killTimewait(tw);
      if (verdict === 'rst') {
        this.transmit(resetFor(seg, 'TCP_TIMEWAIT_SOCKET'));
        return;
      }
      if (!has(seg, 'SYN')) return;
    }
    const listener = this.#listeners.get(portOf(seg.dst));
    if (listener !== undefined && listener.state === 'LISTEN') {
      this.#listenerReceive(listener, seg);
      return;
    }
    if (!has(seg, 'RST')) this.transmit(resetFor(seg, 'NO_SOCKET'));
  }

  /**
   * A segment to a listener: `tcp_conn_request()` for a SYN (dropped when the accept queue holds
   * more than backlog — `sk_acceptq_is_full()` — so the client retransmits it at 1 s, 3 s, …),
   * `tcp_check_req()` for the ACK that completes a request (dropped too while the queue is full).
   */
  #listenerReceive(listener: Endpoint, seg: WireSegment): void {
    const queues = listener.listenQueues!;
    const requests = this.#requests.get(listener)!;
    const req = requests.get(seg.src);
    if (has(seg, 'RST')) {
      if (req) {
        this.clock.cancel(req.timer);
        requests.delete(seg.src);
        this.releasePort(req.local);
      }
      return;
    }
    if (has(seg, 'SYN') && !has(seg, 'ACK')) {
      if (req) {
        this.#sendSynAck(req, listener); // a retransmitted SYN: tcp_check_req() resends the SYN-ACK
        return;
      }
      if (queues.acceptQueue.length > queues.backlog) return this.#overflow();
      const r: RequestSock = {
        local: seg.dst,
        remote: seg.src,
        iss: this.newIsn(),
        irs: seg.seq,
        sentAtMs: this.clock.nowMs,
        retransmits: 0,
        timer: this.clock.schedule(TCP_TIMEOUT_INIT_MS, () => this.#synAckTimer(listener, r)),
      };
      requests.set(seg.src, r);
      this.claimPort(portOf(seg.dst));
      this.#sendSynAck(r, listener);
      return;
    }
    if (req === undefined) {
      if (has(seg, 'ACK')) this.transmit(resetFor(seg, 'TCP_FLAGS'));
      return;
    }
    if (!has(seg, 'ACK')) return;
    if (seg.ack !== req.iss + 1) {
      this.transmit(resetFor(seg, 'TCP_INVALID_ACK_SEQUENCE'));
      return;
    }
    if (queues.acceptQueue.length > queues.backlog) return this.#overflow(); // tcp_check_req(): ACK dropped
    this.clock.cancel(req.timer);
    requests.delete(seg.src);
    const child = new Endpoint(this);
    child.state = 'LISTEN'; // tcp_create_openreq_child() clones the listener
    child.local = req.local;
    child.remote = req.remote;
    child.rcvbuf = listener.rcvbuf;
    child.lastWindow = listener.rcvbuf; // rcv_wnd: what the SYN-ACK advertised
    // sk_clone_lock(): the child copies sk_sndbuf and its lock.
    child.sndbuf = listener.sndbuf;
    child.sndbufLocked = listener.sndbufLocked;
    child.iss = req.iss;
    child.sndUna = req.iss + 1;
    child.sndNxt = req.iss + 1;
    child.sndMax = req.iss + 1;
    child.bufSeq = req.iss + 1;
    child.irs = req.irs;
    child.rcvNxt = req.irs + 1;
    child.rcvWup = child.rcvNxt;
    child.synSentAtMs = req.sentAtMs;
    child.setState('SYN_RECV', 'tcp_create_openreq_child(): handshake ACK for a request');
    this.#established.set(key(child.local, child.remote), child);
    queues.acceptQueue.push(child);
    child.segmentArrives(seg); // SYN_RECV → ESTABLISHED, and any data riding the ACK
  }

  /** A segment dropped for a full accept queue: LINUX_MIB_LISTENOVERFLOWS and LINUX_MIB_LISTENDROPS (`tcp_listendrop()`). */
  #overflow(): void {
    this.counters.ListenOverflows++;
    this.counters.ListenDrops++;
  }

  #sendSynAck(req: RequestSock, listener: Endpoint): void {
    req.sentAtMs = this.clock.nowMs;
    this.transmit({ src: req.local, dst: req.remote, seq: req.iss, ack: req.irs + 1, flags: ['SYN', 'ACK'], data: '', window: listener.rcvbuf });
  }

  /** `reqsk_timer_handler()`: SYN-ACK again at 1 s, 2 s, 4 s… up to tcp_synack_retries. */
  #synAckTimer(listener: Endpoint, req: RequestSock): void {
    const requests = this.#requests.get(listener);
    if (requests?.get(req.remote) !== req) return;
    req.retransmits++;
    if (req.retransmits > this.sysctls.tcp_synack_retries) {
      requests.delete(req.remote);
      this.releasePort(req.local);
      return;
    }
    this.#sendSynAck(req, listener);
    req.timer = this.clock.schedule(TCP_TIMEOUT_INIT_MS * 2 ** req.retransmits, () => this.#synAckTimer(listener, req));
  }

  // ------------------------------------------------------------ observation

  /** @internal */
  inodeOf(ep: Endpoint): number {
    let n = this.#inodes.get(ep);
    if (n === undefined) {
      n = this.#nextInode++;
      this.#inodes.set(ep, n);
    }
    return n;
  }

  /**
   * Every socket /proc/net/tcp would list, in the lab's `SocketObservation` shape: listeners
   * (Recv-Q = accept queue, Send-Q = backlog), requests (SYN_RECV, no owner), connections,
   * timewait sockets (FIN_WAIT2 or TIME_WAIT, timer `time_wait`).
   */
  observe(): SocketObservation[] {
    const now = this.clock.nowMs;
    const out: SocketObservation[] = [];
    const ownerOf = (ep: Endpoint): SocketObservation['owner'] => {
      for (const p of this.#processes.values()) {
        const fd = p.fdOf(ep);
        if (fd !== null) return { pid: p.pid, command: p.command, fd };
      }
      return null;
    };
    for (const l of this.#listeners.values()) {
      const owner = ownerOf(l);
      out.push({
        local: l.local,
        remote: '0.0.0.0:0',
        state: 'LISTEN',
        recvQ: l.listenQueues!.acceptQueue.length,
        sendQ: l.listenQueues!.backlog,
        owner,
        inode: owner ? this.inodeOf(l) : 0,
        timer: { kind: 'none', remainingMs: 0, retransmits: 0 },
      });
      for (const r of this.#requests.get(l)?.values() ?? []) {
        out.push({ local: r.local, remote: r.remote, state: 'SYN_RECV', recvQ: 0, sendQ: 0, owner: null, inode: 0, timer: { kind: 'retransmit', remainingMs: r.timer.atMs - now, retransmits: r.retransmits } });
      }
    }
    for (const ep of this.#established.values()) {
      const owner = ownerOf(ep);
      out.push({
        local: ep.local,
        remote: ep.remote,
        state: ep.state,
        recvQ: ep.recvBuf.length + (ep.finUnread ? 1 : 0),
        sendQ: ep.writeSeq - ep.sndUna,
        owner,
        inode: owner ? this.inodeOf(ep) : 0,
        timer: ep.timer(),
      });
    }
    for (const tw of this.#timewait.values()) {
      out.push({ local: tw.local, remote: tw.remote, state: tw.state, recvQ: 0, sendQ: 0, owner: null, inode: 0, timer: tw.observeTimer(now) });
    }
    return out;
  }

  /** The state of the connection `local → remote` as /proc would show it, or null when it is in no table. */
  stateOf(local: string, remote: string): TcpState | null {
    const k = key(local, remote);
    const ep = this.#established.get(k);
    if (ep) return ep.state;
    const tw = this.#timewait.get(k);
    if (tw) return tw.state;
    const l = this.#listeners.get(portOf(local));
    if (l && remote === '0.0.0.0:0') return 'LISTEN';
    if (l && this.#requests.get(l)?.has(remote)) return 'SYN_RECV';
    return null;
  }
}

/**
 * A process: descriptors to endpoints, and the socket API as calls that never block (a call
 * that would wait gives EAGAIN / EINPROGRESS; the caller advances the clock and asks again).
 * Results have the lab's call-result shape.
 */
export class Process {
  readonly #fds = new Map<number, Endpoint>();
  #nextFd = 3;
  exited = false;

  constructor(
    readonly host: Host,
    readonly pid: number,
    readonly command: string,
  ) {}

  /** The descriptor of `ep` in this process, or null. */
  fdOf(ep: Endpoint): number | null {
    for (const [fd, e] of this.#fds) if (e === ep) return fd;
    return null;
  }

  /** The endpoint behind `fd` (for inspection), or undefined. */
  endpoint(fd: number): Endpoint | undefined {
    return this.#fds.get(fd);
  }

  #install(ep: Endpoint): number {
    const fd = this.#nextFd++;
    this.#fds.set(fd, ep);
    return fd;
  }

  #get(fd: number): Endpoint | ErrnoName {
    if (this.exited) return 'ESRCH';
    return this.#fds.get(fd) ?? 'EBADF';
  }

  /** socket(AF_INET, SOCK_STREAM): a new endpoint in CLOSE. */
  socket(): CallResult<number> {
    if (this.exited) return fail('ESRCH');
    const ep = new Endpoint(this.host);
    return { ok: true, value: this.#install(ep) };
  }

  /** bind(2) to `port` of the host's IP; 0 picks an ephemeral port (odd offsets first). EADDRINUSE when taken. */
  bind(fd: number, port = 0): CallResult<number> {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (ep.local !== '0.0.0.0:0' || ep.state !== 'CLOSE') return fail('EINVAL');
    if (!Number.isInteger(port) || port < 0 || port > 65535) return fail('EINVAL');
    let p = port;
    if (p === 0) {
      const e = this.host.ephemeralPort('odd');
      if (e === null) return fail('EADDRINUSE');
      p = e;
    } else if (this.host.portInUse(p)) return fail('EADDRINUSE');
    this.host.claimPort(p);
    ep.local = `${this.host.ip}:${p}`;
    return { ok: true, value: p };
  }

  /** listen(2): backlog capped at somaxconn (4096); binds an ephemeral port when unbound. Returns the backlog. */
  listen(fd: number, backlog = 128): CallResult<number> {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (ep.state !== 'CLOSE') return fail('EINVAL');
    if (ep.local === '0.0.0.0:0') {
      const b = this.bind(fd, 0);
      if (!b.ok) return fail(b.errno);
    }
    const capped = Math.max(0, Math.min(Math.floor(backlog), SOMAXCONN));
    ep.listenQueues = { backlog: capped, acceptQueue: [] };
    const h = this.host.hashListener(ep);
    if (!h.ok) return fail(h.errno);
    ep.setState('LISTEN', 'inet_csk_listen_start()');
    return { ok: true, value: capped };
  }

  /**
   * connect(2), non-blocking: sends the SYN and returns EINPROGRESS (the lab's connect waits for
   * the handshake; here the caller advances the clock and reads {@link connected}). An unbound
   * socket gets an ephemeral port (even offsets first).
   */
  connect(fd: number, remote: string): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (!isAddress(remote)) return fail('EINVAL');
    if (ep.state === 'SYN_SENT') return fail('EALREADY');
    if (ep.state !== 'CLOSE' || ep.transitions.length > 0) return fail('EISCONN');
    if (ep.local === '0.0.0.0:0') {
      const p = this.host.ephemeralPort('even');
      if (p === null) return fail('EADDRNOTAVAIL');
      this.host.claimPort(p);
      ep.local = `${this.host.ip}:${p}`;
    }
    ep.remote = remote;
    if (!this.host.hashConnected(ep)) return fail('EADDRNOTAVAIL');
    ep.iss = this.host.newIsn();
    ep.sndUna = ep.iss;
    ep.sndNxt = ep.iss;
    ep.bufSeq = ep.iss + 1;
    ep.setState('SYN_SENT', 'tcp_v4_connect()');
    ep.sendSyn();
    return fail('EINPROGRESS');
  }

  /** What a connect in progress came to: ok once ESTABLISHED, the socket error (ECONNREFUSED, ETIMEDOUT) once failed, else EINPROGRESS. */
  connected(fd: number): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (ep.state === 'SYN_SENT' || ep.state === 'SYN_RECV') return fail('EINPROGRESS');
    if (ep.error !== null && ep.state === 'CLOSE') {
      const e = ep.error;
      ep.error = null;
      return fail(e);
    }
    return { ok: true };
  }

  /** accept(2), non-blocking: the oldest connection of the accept queue as a new descriptor, or EAGAIN. */
  accept(fd: number): CallResult<number> {
    const l = this.#get(fd);
    if (typeof l === 'string') return fail(l);
    if (l.state !== 'LISTEN' || l.listenQueues === null) return fail('EINVAL');
    const child = l.listenQueues.acceptQueue.shift();
    if (child === undefined) return fail('EAGAIN');
    return { ok: true, value: this.#install(child) };
  }

  /** send(2) with MSG_DONTWAIT (and MSG_MORE when `more`) of `data`, or of `data` filler bytes when a number. */
  write(fd: number, data: string | number, more = false): CallResult<number> {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (ep.state === 'LISTEN') return fail('ENOTCONN');
    return ep.write(typeof data === 'number' ? 'x'.repeat(data) : data, more);
  }

  /**
   * TCP_QUICKACK: 0 enters ping-pong (delayed-ACK) mode; 1 leaves it and sends a pending ACK at
   * once. Source: `do_tcp_setsockopt()` TCP_QUICKACK, `inet_csk_enter_pingpong_mode()`.
   */
  setQuickack(fd: number, on: boolean): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    ep.pingpong = !on;
    if (on && ep.ackPending && ep.state !== 'CLOSE' && ep.state !== 'LISTEN') ep.sendAck();
    return { ok: true };
  }

  /** recv(2) with MSG_DONTWAIT. */
  read(fd: number, max?: number): CallResult<ReadValue> {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    return ep.read(max);
  }

  shutdown(fd: number, how: ShutdownHow): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    return ep.shutdown(how);
  }

  /** SO_LINGER {on, seconds}. */
  setLinger(fd: number, on: boolean, seconds: number): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (!Number.isInteger(seconds) || seconds < 0) return fail('EINVAL');
    ep.linger = { on, seconds };
    return { ok: true };
  }

  /** SO_RCVBUF, bytes: bounds unread data and so the advertised window; a listener passes it to its children. */
  setRcvbuf(fd: number, bytes: number): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > 2 ** 31 - 1) return fail('EINVAL');
    ep.rcvbuf = bytes;
    return { ok: true };
  }

  /** SO_SNDBUF, bytes: doubled and locked as the kernel does (`sk_setsockopt()`); a listener passes it to its children. */
  setSndbuf(fd: number, bytes: number): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > 2 ** 31 - 1) return fail('EINVAL');
    ep.setSndbuf(bytes);
    return { ok: true };
  }

  /** close(2): the endpoint closes when no other descriptor (in any process) holds it. */
  close(fd: number): CallResult {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    this.#fds.delete(fd);
    if (this.#heldElsewhere(ep)) return { ok: true };
    if (ep.state === 'LISTEN') {
      ep.close();
      this.host.stopListener(ep);
    } else {
      ep.close();
    }
    return { ok: true };
  }

  /** Shares `fd` with `other` (SCM_RIGHTS / pidfd_getfd): both hold one endpoint. */
  shareWith(fd: number, other: Process): CallResult<number> {
    const ep = this.#get(fd);
    if (typeof ep === 'string') return fail(ep);
    if (other.exited) return fail('ESRCH');
    return { ok: true, value: other.#install(ep) };
  }

  #heldElsewhere(ep: Endpoint): boolean {
    if (this.fdOf(ep) !== null) return true;
    for (const p of this.host.processes()) if (p !== this && p.fdOf(ep) !== null) return true;
    return false;
  }

  /** exit_group(2): every descriptor is closed, in order. */
  exit(): CallResult {
    if (this.exited) return fail('ESRCH');
    for (const fd of [...this.#fds.keys()]) this.close(fd);
    this.exited = true;
    return { ok: true };
  }
}
