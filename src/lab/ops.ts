import type { ShutdownHow } from '../sys/socket.js';

/**
 * What an actor can do, as plain data. These are the verbs of every scenario; a backend (the
 * real kernel, or the model later) gives each its meaning. Socket names are scenario-local
 * (`'L'`, `'c'`, `'s'`); addresses are never written in a scenario.
 */
export type ActorOp =
  /** socket() + bind() to an ephemeral loopback port + listen(backlog). */
  | { op: 'listen'; sock: string; backlog?: number; rcvbuf?: number; family?: 4 | 6 }
  /** socket() + connect() to the listener `to`; waits up to `waitMs` for the handshake (EINPROGRESS if still pending). */
  | {
      op: 'connect';
      sock: string;
      to: string;
      waitMs?: number;
      rcvbuf?: number;
      sndbuf?: number;
      /**
       * TCP_QUICKACK 0 before connect(): the socket is in pingpong (delayed-ACK) mode, so the kernel
       * holds back the handshake's last ACK for up to TCP_DELACK_MAX (200 ms) while the socket is
       * already ESTABLISHED (`tcp_rcv_synsent_state_process()`): the server sees that ACK late.
       */
      delayAck?: boolean;
    }
  /**
   * connect() to 127.0.0.1:(low + `offset`) of the namespace's `ip_local_port_range`, with no listener
   * there, `tries` times: each attempt is refused, unless the kernel picked the destination port as
   * the source port, and the socket connected to itself (then it is aborted with SO_LINGER 0).
   * Reports `{ port, tries, selfConnects, refused, sourcePorts }` (seeds 004-m, 004-p).
   */
  | { op: 'connectScan'; sock: string; offset: number; tries: number }
  /** socket() + SO_REUSEADDR + bind(P) + connect(P): the self-connect of seeds 004-m/004-p. */
  | { op: 'selfConnect'; sock: string }
  /** accept4() on listener `sock`, naming the new socket `into`; waits up to `waitMs` for a connection. */
  | { op: 'accept'; sock: string; into: string; waitMs?: number }
  /**
   * send(MSG_DONTWAIT) of `data`, or of `bytes` filler bytes, or until the send buffer is full (`fill`).
   * With `blocking`: one send() with flags 0 on the socket switched to blocking mode for the call
   * (SO_SNDTIMEO 2 s as a guard), the C write of seed 002-l; reports `{ bytes, elapsedMs, unacked }`,
   * `unacked` read from TCP_INFO the moment send() returned.
   */
  | {
      op: 'write';
      sock: string;
      data?: string;
      bytes?: number;
      fill?: boolean;
      blocking?: boolean;
      /**
       * The write is made by a child process holding the socket, with SIGPIPE's default disposition
       * and unblocked, as a C program has it: the result says `{ code, signal }` of the child
       * (`signal: 'SIGPIPE'` when the write killed it) (seed 004-h).
       */
      defaultSigpipe?: boolean;
    }
  /**
   * recv(): waits up to `waitMs` for readability (0 = non-blocking), `peek` = MSG_PEEK. With
   * `blocking`: one recv() with flags 0 on the socket switched to blocking mode (SO_RCVTIMEO
   * `waitMs`, default 2 s, as a guard); the result also has `elapsedMs` (seed 002-l).
   */
  | { op: 'read'; sock: string; max?: number; waitMs?: number; peek?: boolean; blocking?: boolean }
  /** recv() until EAGAIN (after `waitMs` of quiet) or EOF; reports the bytes and whether EOF was read. */
  | { op: 'drain'; sock: string; waitMs?: number }
  | { op: 'shutdown'; sock: string; how: ShutdownHow }
  /**
   * An event-driven passive close, armed: returns at once; from then on the process polls `sock`
   * every millisecond, reads (and drops) what arrives, and the moment read() returns 0 (the
   * peer's FIN) it sends `write` if given, then close()s — with no runner round trip in between,
   * so it happens inside the ~40 ms the kernel holds back its ACK of the FIN (seeds 004-k, 004-l).
   * Gives up after `waitMs` (default 5 s).
   */
  | {
      op: 'closeOnEof';
      sock: string;
      write?: string;
      waitMs?: number;
      /** Send `write` with MSG_MORE: the data waits in the send queue, and close() puts its FIN on that segment (`tcp_send_fin()`). */
      more?: boolean;
    }
  | { op: 'close'; sock: string }
  /** SO_LINGER {1, seconds}; 0 makes close() abortive (RST). */
  | { op: 'linger'; sock: string; seconds: number }
  /** TCP_QUICKACK 0 puts the socket in delayed-ACK mode for the next segments. */
  | { op: 'quickack'; sock: string; on: boolean }
  /** epoll_wait on the socket: which readiness bits are set (seeds 002-j, 003-l). */
  | { op: 'epoll'; sock: string; waitMs?: number }
  /** TCP_INFO of the socket: state, unacked, rtt. */
  | { op: 'info'; sock: string }
  /** getsockopt(SO_ERROR): the error the kernel left on the socket (and clears); the value is its errno name, or 0. */
  | { op: 'soError'; sock: string }
  /** The namespace's TCP counters (`/proc/net/netstat` TcpExt, `/proc/net/snmp` Tcp) named in `names`. */
  | { op: 'counters'; names: string[] }
  /**
   * The accept loop of a level-triggered epoll server for `ms`: each time epoll_wait reports the
   * listener readable, one accept(). Reports `{ wakeups, accepted, errors }` (errno name → count) (seed 001-f).
   */
  | { op: 'acceptLoop'; sock: string; ms: number }
  /** Lowers RLIMIT_NOFILE to what the process holds now plus `spare`, so the next socket or accept() fails with EMFILE. */
  | { op: 'limitFds'; spare: number }
  /** Restores RLIMIT_NOFILE. */
  | { op: 'unlimitFds' }
  /** Duplicates `from`'s socket `sock` into this process (pidfd_getfd): two processes hold one socket. */
  | { op: 'share'; sock: string; from: string }
  /** The process exits (exit_group: the kernel closes every descriptor it held). */
  | { op: 'exit' }
  /** The process is killed with a signal. */
  | { op: 'kill'; signal: 'SIGKILL' | 'SIGTERM' | 'SIGINT' }
  /** A node:net server: accepts with libuv and behaves as `behaviour`; its connections are named `sock#1`, `sock#2`, … */
  | { op: 'nodeServe'; sock: string; behaviour: NodeServerBehaviour; idleMs?: number; backlog?: number }
  /** The events ('data', 'end', 'close', 'error:ECONNRESET', 'server-error:EMFILE', …) node:net emitted so far. */
  | { op: 'nodeEvents'; sock: string }
  /**
   * A server speaking the rpc protocol (docs/protocol.md) on node:net: SETTINGS, then each REQUEST
   * answered with its body, except method `hold` (read, never answered). Connections are named
   * `sock#1`, `sock#2`, …; `close` on one destroys it (a FIN when nothing is unread).
   */
  | { op: 'rpcServe'; sock: string }
  /**
   * Calls through the real `tcp-teardown/rpc` client (`createClient`, one connection at most) to
   * rpc server `to`: starts `methods` at once; with `afterEarlier`, first waits for every call an
   * earlier step started to settle. Returns when the `first` or `all` new calls settled:
   * `{ earlier, calls }`, each `{ method, ok, bytes | code, processed, errno }` or `'pending'` (seed 003-j's remedy).
   */
  | { op: 'rpcCalls'; to: string; methods: string[]; until: 'first' | 'all'; afterEarlier?: boolean };

/** How a node:net server treats its connections (the naive code beside the remedies 002-g..k). */
export type NodeServerBehaviour =
  /** pause()s every connection and never reads: it never sees 'end' (naive). */
  | 'never-read'
  /** reads, with allowHalfOpen, and never ends or destroys: sees 'end' and ignores it (naive, seed 002-f in Node). */
  | 'read-ignore-end'
  /** reads and calls end() on 'end' (remedy 002-i/002-j in Node). */
  | 'close-on-end'
  /** never reads, but destroys connections idle for `idleMs` (remedy 002-g). */
  | 'idle-close'
  /** answers each chunk it reads with `ok:` + the chunk, ends on 'end', and destroys connections idle for `idleMs` (the idle-reaping RPC server of seed 003-g). */
  | 'answer-idle-close';

/** A step of a scenario: an actor's call, or a runner-level pause/watch. */
export type Step =
  | ({ actor: string; label?: string } & ActorOp)
  | { actor?: undefined; label?: string; op: 'wait'; ms: number }
  /**
   * Observe every `everyMs` for `ms`, keeping each distinct picture (to catch states that pass).
   * With `atLeast`, the watch lasts at least the sysctl's value (seconds) plus `plusMs`, so a run
   * with another value of the sysctl (`--sysctl`) still watches past it.
   */
  | { actor?: undefined; label?: string; op: 'watch'; ms: number; everyMs: number; atLeast?: { sysctl: string; plusMs: number } };

/**
 * How long a watch step lasts, ms, under `sysctls` (the run's values, by kernel name): its `ms`,
 * or its `atLeast` sysctl's seconds plus `plusMs` when that is longer.
 */
function watchMs(step: { ms: number; atLeast?: { sysctl: string; plusMs: number } }, sysctls: Readonly<Record<string, number>>): number {
  const s = step.atLeast === undefined ? undefined : sysctls[step.atLeast.sysctl];
  return s === undefined || step.atLeast === undefined ? step.ms : Math.max(step.ms, s * 1000 + step.atLeast.plusMs);
}

/**
 * A step as a run under `sysctls` performs and records it (both backends): plain data (a label
 * function or any other function dropped), a watch sized by a sysctl at the length it has here.
 */
export function resolveStep(step: Step, sysctls: Readonly<Record<string, number>>): Step {
  const plain = JSON.parse(JSON.stringify(step)) as Step;
  return plain.op === 'watch' ? { ...plain, ms: watchMs(plain, sysctls) } : plain;
}

/** Outcome of one call. */
export interface CallResult {
  ok: boolean;
  /** errno name when a call failed (`EPIPE`), or `EINPROGRESS` for a connect still pending. */
  errno?: string;
  /** True when the call raised SIGPIPE (caught, so the process lives to report it). */
  sigpipe?: boolean;
  /** What the call returned: bytes written or read, the text read, epoll bits, TCP_INFO … */
  value?: CallValue;
}

export type CallValue = string | number | boolean | null | CallValue[] | { [k: string]: CallValue };
