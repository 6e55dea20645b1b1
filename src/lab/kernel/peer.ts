/**
 * A lab peer: one real OS process that makes the socket calls a scenario asks for, over IPC.
 * Raw calls go straight to libc through src/sys, so the errno, SIGPIPE and blocking semantics
 * are the C ones the articles describe; `node*` ops use node:net, to show Node's own behaviour.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readNetCountersSync, socketInodeOfLink } from '../../proc/index.js';
import { errnoName } from '../../tcp/errno.js';
import net from 'node:net';
import { formatEndpoint } from '../../tcp/address.js';
import {
  LINUX,
  EpollWatch,
  enterNetns,
  acceptRaw,
  bindRaw,
  closeRaw,
  connectRaw,
  dupFromProcess,
  fdOf,
  getFileLimit,
  getIntOptRaw,
  openDevNull,
  listenRaw,
  peernameRaw,
  recvRaw,
  sendRaw,
  setFileLimit,
  setIntOptRaw,
  setLingerRaw,
  setNonBlockingRaw,
  setTimeoutOptRaw,
  shutdownRaw,
  socketRaw,
  socknameRaw,
  takeSigpipe,
  tcpInfoRaw,
  watchSigpipe,
  type SysResult,
} from '../../sys/index.js';
import type { ActorOp, CallResult, CallValue } from '../ops.js';
import type { HeldSocket, PeerRequest, PeerResponse } from './protocol.js';
import { LabRpcClient, serveFrames } from './rpc-peer.js';

interface RawSock {
  kind: 'raw';
  fd: number;
  closed: boolean;
  backlog?: number;
}
interface NodeSock {
  kind: 'node';
  socket: net.Socket;
  events: string[];
  /** The descriptor libuv accepted it on. */
  fd: number;
}
interface NodeListener {
  kind: 'node-server';
  server: net.Server;
  events: string[];
  fd: number;
  accepted: number;
}
type Held = RawSock | NodeSock | NodeListener;

const held = new Map<string, Held>();
const initialLimit = getFileLimit();
/** /dev/null descriptors that fill the table while the limit is lowered. */
const fillers: number[] = [];
watchSigpipe();

function raw(name: string): RawSock {
  const h = held.get(name);
  if (!h || h.kind !== 'raw') throw new Error(`no raw socket named ${name}`);
  if (h.closed) throw new Error(`socket ${name} was closed`);
  return h;
}

function fromSys<T>(r: SysResult<T>, value?: (v: T) => CallValue): CallResult {
  const sigpipe = takeSigpipe();
  const base: CallResult = r.ok ? { ok: true, ...(value ? { value: value(r.value) } : {}) } : { ok: false, errno: r.errno };
  return sigpipe ? { ...base, sigpipe } : base;
}

function waitReadable(fd: number, ms: number): void {
  if (ms <= 0) return;
  const w = new EpollWatch(fd, ['EPOLLIN', 'EPOLLRDHUP']);
  try {
    w.wait(ms);
  } finally {
    w.close();
  }
}

function newSocket(name: string, family: 4 | 6, opts: { rcvbuf?: number; sndbuf?: number; reuse?: boolean }): number {
  if (held.has(name) && !(held.get(name) as RawSock).closed) throw new Error(`socket name ${name} is already in use`);
  const r = socketRaw(family, true);
  if (!r.ok) throw Object.assign(new Error(`socket() failed: ${r.errno}`), { errno: r.errno });
  const fd = r.value;
  if (opts.reuse) setIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEADDR, 1);
  if (opts.rcvbuf) setIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_RCVBUF, opts.rcvbuf);
  if (opts.sndbuf) setIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_SNDBUF, opts.sndbuf);
  held.set(name, { kind: 'raw', fd, closed: false });
  return fd;
}

const loopback = (family: 4 | 6 = 4): string => (family === 6 ? '::1' : '127.0.0.1');

async function perform(req: Extract<PeerRequest, { kind: 'op' }>): Promise<CallResult> {
  const op: ActorOp = req.op;
  switch (op.op) {
    case 'listen': {
      let fd: number;
      try {
        fd = newSocket(op.sock, op.family ?? 4, { reuse: true, ...(op.rcvbuf ? { rcvbuf: op.rcvbuf } : {}) });
      } catch (e) {
        return { ok: false, errno: (e as { errno?: string }).errno ?? 'EINVAL' };
      }
      const b = bindRaw(fd, { address: loopback(op.family), port: 0 });
      if (!b.ok) return fromSys(b);
      const backlog = op.backlog ?? 128;
      (held.get(op.sock) as RawSock).backlog = backlog;
      return fromSys(listenRaw(fd, backlog), () => backlog);
    }
    case 'connect': {
      if (!req.address) throw new Error('connect needs a resolved address');
      let fd: number;
      try {
        fd = newSocket(op.sock, req.address.address.includes(':') ? 6 : 4, { ...(op.rcvbuf ? { rcvbuf: op.rcvbuf } : {}), ...(op.sndbuf ? { sndbuf: op.sndbuf } : {}) });
      } catch (e) {
        return { ok: false, errno: (e as { errno?: string }).errno ?? 'EINVAL' };
      }
      if (op.delayAck) setIntOptRaw(fd, LINUX.IPPROTO_TCP, LINUX.TCP_QUICKACK, 0);
      const r = connectRaw(fd, req.address);
      if (r.ok) return { ok: true };
      if (r.errno !== 'EINPROGRESS') return fromSys(r);
      return finishConnect(fd, op.waitMs ?? 1000);
    }
    case 'connectScan':
      return connectScan(op.offset, op.tries);
    case 'selfConnect': {
      const fd = newSocket(op.sock, 4, { reuse: true });
      const b = bindRaw(fd, { address: '127.0.0.1', port: 0 });
      if (!b.ok) return fromSys(b);
      const me = socknameRaw(fd);
      if (!me.ok) return fromSys(me);
      const r = connectRaw(fd, me.value);
      if (r.ok) return { ok: true };
      if (r.errno !== 'EINPROGRESS') return fromSys(r);
      return finishConnect(fd, 1000);
    }
    case 'accept': {
      const l = raw(op.sock);
      // Try first: waiting needs an epoll descriptor, which a process at its limit cannot get.
      let r = acceptRaw(l.fd);
      if (!r.ok && r.errno === 'EAGAIN' && (op.waitMs ?? 0) > 0) {
        waitReadable(l.fd, op.waitMs ?? 0);
        r = acceptRaw(l.fd);
      }
      if (r.ok) held.set(op.into, { kind: 'raw', fd: r.value.fd, closed: false });
      return fromSys(r, (v) => formatEndpoint(v.peer));
    }
    case 'write': {
      const s = raw(op.sock);
      if (op.fill) {
        let total = 0;
        const chunk = Buffer.alloc(65536, 0x78);
        for (;;) {
          const r = sendRaw(s.fd, chunk, LINUX.MSG_DONTWAIT);
          if (!r.ok) {
            const sig = takeSigpipe();
            if (r.errno === 'EAGAIN') return { ok: true, value: total };
            return { ok: false, errno: r.errno, value: total, ...(sig ? { sigpipe: true } : {}) };
          }
          total += r.value;
        }
      }
      const data = op.data !== undefined ? Buffer.from(op.data) : Buffer.alloc(op.bytes ?? 1, 0x78);
      if (op.defaultSigpipe) return writeFromChild(s.fd, data.toString('latin1'));
      if (op.blocking) {
        // A blocking send() only sleeps while the send buffer has no room; the guard bounds that sleep.
        return blockingCall(s.fd, 'SO_SNDTIMEO', 2000, () => sendRaw(s.fd, data, 0), (n, elapsedMs) => {
          const info = tcpInfoRaw(s.fd);
          return { bytes: n, elapsedMs, unacked: info.ok ? info.value.unacked : null };
        });
      }
      return fromSys(sendRaw(s.fd, data, LINUX.MSG_DONTWAIT), (n) => n);
    }
    case 'read': {
      const s = raw(op.sock);
      if (op.blocking) {
        const max = op.max ?? 65536;
        const flags = op.peek ? LINUX.MSG_PEEK : 0;
        return blockingCall(s.fd, 'SO_RCVTIMEO', op.waitMs || 2000, () => recvRaw(s.fd, max, flags), (b, elapsedMs) => ({
          bytes: b.length,
          eof: b.length === 0,
          text: b.subarray(0, 64).toString('latin1'),
          elapsedMs,
        }));
      }
      waitReadable(s.fd, op.waitMs ?? 0);
      const flags = LINUX.MSG_DONTWAIT | (op.peek ? LINUX.MSG_PEEK : 0);
      return fromSys(recvRaw(s.fd, op.max ?? 65536, flags), (b) => ({ bytes: b.length, eof: b.length === 0, text: b.subarray(0, 64).toString('latin1') }));
    }
    case 'drain': {
      const s = raw(op.sock);
      let total = 0;
      for (;;) {
        const r = recvRaw(s.fd, 1 << 20, LINUX.MSG_DONTWAIT);
        if (r.ok && r.value.length > 0) {
          total += r.value.length;
          continue;
        }
        if (r.ok) return { ok: true, value: { bytes: total, eof: true } };
        if (r.errno !== 'EAGAIN') return { ok: false, errno: r.errno, value: { bytes: total, eof: false } };
        const w = new EpollWatch(s.fd, ['EPOLLIN', 'EPOLLRDHUP']);
        const ready = w.wait(op.waitMs ?? 200);
        w.close();
        if (ready.length === 0) return { ok: true, value: { bytes: total, eof: false } };
      }
    }
    case 'shutdown':
      return fromSys(shutdownRaw(raw(op.sock).fd, op.how));
    case 'closeOnEof': {
      const s = raw(op.sock);
      const reply = op.write !== undefined ? Buffer.from(op.write) : null;
      const deadline = Date.now() + (op.waitMs ?? 5000);
      // Polled on timers, not in a loop: the process keeps answering the runner meanwhile.
      const tick = (): void => {
        if (s.closed) return;
        for (;;) {
          const r = recvRaw(s.fd, 65536, LINUX.MSG_DONTWAIT);
          if (r.ok && r.value.length > 0) continue;
          if (r.ok) {
            if (reply) sendRaw(s.fd, reply, LINUX.MSG_DONTWAIT | (op.more ? LINUX.MSG_MORE : 0));
            takeSigpipe();
            closeRaw(s.fd);
            s.closed = true;
            return;
          }
          if (r.errno !== 'EAGAIN') return;
          break;
        }
        if (Date.now() < deadline) setTimeout(tick, 1);
      };
      setTimeout(tick, 0);
      return { ok: true };
    }
    case 'close': {
      const n = held.get(op.sock);
      if (n?.kind === 'node') {
        n.socket.destroy();
        return { ok: true };
      }
      const s = raw(op.sock);
      const r = closeRaw(s.fd);
      s.closed = true;
      return fromSys(r);
    }
    case 'linger':
      return fromSys(setLingerRaw(raw(op.sock).fd, { onoff: true, seconds: op.seconds }));
    case 'quickack':
      return fromSys(setIntOptRaw(raw(op.sock).fd, LINUX.IPPROTO_TCP, LINUX.TCP_QUICKACK, op.on ? 1 : 0));
    case 'epoll': {
      const w = new EpollWatch(raw(op.sock).fd, ['EPOLLIN', 'EPOLLOUT', 'EPOLLRDHUP']);
      try {
        return { ok: true, value: w.wait(op.waitMs ?? 0) };
      } finally {
        w.close();
      }
    }
    case 'info':
      return fromSys(tcpInfoRaw(raw(op.sock).fd), (i) => ({ ...i }));
    case 'soError':
      return fromSys(getIntOptRaw(raw(op.sock).fd, LINUX.SOL_SOCKET, LINUX.SO_ERROR), (e) => (e === 0 ? 0 : errnoName(e)));
    case 'counters': {
      // /proc/net is this process's namespace: the scenario's own counters.
      const c = readNetCountersSync();
      const value: Record<string, number> = {};
      for (const n of op.names) value[n] = c['TcpExt']?.[n] ?? c['Tcp']?.[n] ?? -1;
      return { ok: true, value };
    }
    case 'acceptLoop':
      return acceptLoop(raw(op.sock).fd, op.ms);
    case 'limitFds': {
      // RLIMIT_NOFILE bounds descriptor *numbers*, so gaps below the limit would still be handed
      // out: set the limit just above the highest open descriptor, fill every gap with /dev/null,
      // then give back exactly `spare` of them.
      setFileLimit({ soft: highestFd() + 1 + op.spare, hard: initialLimit.hard });
      for (;;) {
        const r = openDevNull();
        if (!r.ok) break;
        fillers.push(r.fd);
      }
      for (let i = 0; i < op.spare; i++) {
        const fd = fillers.pop();
        if (fd !== undefined) closeRaw(fd);
      }
      return { ok: true, value: getFileLimit().soft };
    }
    case 'unlimitFds':
      for (const fd of fillers.splice(0)) closeRaw(fd);
      setFileLimit(initialLimit);
      return { ok: true, value: initialLimit.soft };
    case 'share': {
      if (!req.source) throw new Error('share needs the source pid and fd');
      try {
        const fd = dupFromProcess(req.source.pid, req.source.fd);
        held.set(op.sock, { kind: 'raw', fd, closed: false });
        return { ok: true, value: fd };
      } catch (e) {
        return { ok: false, errno: (e as { code?: string }).code ?? 'EINVAL' };
      }
    }
    case 'nodeServe':
      return nodeServe(op.sock, op.behaviour, op.idleMs ?? 1000, op.backlog ?? 511);
    case 'nodeEvents': {
      const h = held.get(op.sock);
      if (!h || h.kind === 'raw') throw new Error(`no node:net socket or server named ${op.sock}`);
      return { ok: true, value: [...h.events] };
    }
    case 'rpcServe':
      return rpcServe(op.sock);
    case 'rpcCalls':
      if (!req.address) throw new Error('rpcCalls needs a resolved address');
      return { ok: true, value: await rpcClient.calls(req.address, op.methods, op.until, op.afterEarlier ?? false) };
    case 'exit':
    case 'kill':
      throw new Error(`${op.op} is carried out by the runner`);
  }
}

/**
 * One send()/recv() in blocking mode, as C code makes it: O_NONBLOCK cleared for the call, the
 * SO_*TIMEO guard set so a call that would sleep for ever ends with EAGAIN, both restored after.
 */
function blockingCall<T>(
  fd: number,
  guard: 'SO_SNDTIMEO' | 'SO_RCVTIMEO',
  guardMs: number,
  call: () => SysResult<T>,
  value: (v: T, elapsedMs: number) => CallValue,
): CallResult {
  const nb = setNonBlockingRaw(fd, false);
  if (!nb.ok) return fromSys(nb);
  setTimeoutOptRaw(fd, guard, guardMs);
  const t0 = process.hrtime.bigint();
  const r = call();
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const result = fromSys(r, (v) => value(v, elapsedMs));
  setTimeoutOptRaw(fd, guard, 0);
  setNonBlockingRaw(fd, true);
  return result.ok ? result : { ...result, value: { elapsedMs } };
}

const SIGPIPE_WRITER = fileURLToPath(new URL('./sigpipe-writer.js', import.meta.url));

/** One write by a child holding the socket as descriptor 3, with SIGPIPE's default disposition. */
function writeFromChild(fd: number, data: string): CallResult {
  const r = spawnSync(process.execPath, [SIGPIPE_WRITER, data], { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 3000 });
  const errno = r.stderr?.toString().trim();
  return { ok: r.status === 0, ...(errno ? { errno } : {}), value: { code: r.status, signal: r.signal } };
}

/**
 * The accept loop of a level-triggered epoll server: wait, accept, again, for `ms`. The epoll
 * descriptor takes one of the /dev/null fillers' places, so accept() still has none to spare.
 */
function acceptLoop(fd: number, ms: number): CallResult {
  const filler = fillers.pop();
  if (filler !== undefined) closeRaw(filler);
  const w = new EpollWatch(fd, ['EPOLLIN']);
  let wakeups = 0;
  let accepted = 0;
  const errors: Record<string, number> = {};
  const end = Date.now() + ms;
  try {
    while (Date.now() < end && wakeups < 1_000_000) {
      if (w.wait(Math.max(0, end - Date.now())).length === 0) continue;
      wakeups++;
      const r = acceptRaw(fd);
      if (r.ok) {
        accepted++;
        closeRaw(r.value.fd);
      } else errors[r.errno] = (errors[r.errno] ?? 0) + 1;
    }
  } finally {
    w.close();
    if (filler !== undefined) {
      const again = openDevNull();
      if (again.ok) fillers.push(again.fd);
    }
  }
  return { ok: true, value: { wakeups, accepted, errors } };
}

/**
 * connect() to 127.0.0.1:(range start + offset), `tries` times, no listener there: which source
 * port the kernel picks each time, and how often it is the destination port itself (a self-connect).
 */
function connectScan(offset: number, tries: number): CallResult {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/).map(Number);
  const port = (low ?? 0) + offset;
  let selfConnects = 0;
  let refused = 0;
  const sourcePorts: number[] = [];
  for (let i = 0; i < tries; i++) {
    const r = socketRaw(4, true);
    if (!r.ok) return fromSys(r);
    const fd = r.value;
    const c = connectRaw(fd, { address: '127.0.0.1', port });
    const me = socknameRaw(fd);
    if (me.ok) sourcePorts.push(me.value.port);
    const done = c.ok ? { ok: true } : c.errno === 'EINPROGRESS' ? finishConnect(fd, 200) : fromSys(c);
    if (done.ok) {
      selfConnects++;
      // Aborted: no TIME_WAIT holds the port for the next attempt.
      setLingerRaw(fd, { onoff: true, seconds: 0 });
    } else if (done.errno === 'ECONNREFUSED') refused++;
    closeRaw(fd);
  }
  return { ok: true, value: { port, tries, selfConnects, refused, sourcePorts } };
}

function finishConnect(fd: number, waitMs: number): CallResult {
  const w = new EpollWatch(fd, ['EPOLLOUT']);
  const ready = w.wait(waitMs);
  w.close();
  if (ready.length === 0) return { ok: false, errno: 'EINPROGRESS' };
  const soError = getIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_ERROR);
  if (!soError.ok) return { ok: false, errno: soError.errno };
  return soError.value === 0 ? { ok: true } : { ok: false, errno: errnoName(soError.value) };
}

function recordNodeEvents(socket: net.Socket, events: string[]): void {
  socket.on('data', (d) => events.push(`data:${d.length}`));
  socket.on('end', () => events.push('end'));
  socket.on('close', (hadError) => events.push(hadError ? 'close:error' : 'close'));
  socket.on('error', (e: NodeJS.ErrnoException) => events.push(`error:${e.code ?? e.message}`));
  socket.on('timeout', () => events.push('timeout'));
}

function nodeServe(name: string, behaviour: string, idleMs: number, backlog: number): Promise<CallResult> {
  const events: string[] = [];
  const server = net.createServer({ allowHalfOpen: behaviour !== 'close-on-end' });
  const listener: NodeListener = { kind: 'node-server', server, events, fd: -1, accepted: 0 };
  held.set(name, listener);
  server.on('error', (e: NodeJS.ErrnoException) => events.push(`server-error:${e.code ?? e.message}`));
  server.on('connection', (socket) => {
    const connName = `${name}#${++listener.accepted}`;
    const connEvents: string[] = [];
    held.set(connName, { kind: 'node', socket, events: connEvents, fd: fdOf(socket) });
    events.push(`connection:${connName}`);
    recordNodeEvents(socket, connEvents);
    switch (behaviour) {
      case 'never-read':
        socket.pause();
        break;
      case 'read-ignore-end':
        socket.resume();
        break;
      case 'close-on-end':
        socket.on('end', () => socket.end());
        socket.resume();
        break;
      case 'idle-close':
        socket.pause();
        socket.setTimeout(idleMs, () => socket.destroy());
        break;
      case 'answer-idle-close':
        socket.on('data', (d: Buffer) => socket.write(`ok:${d.toString('latin1')}`));
        socket.on('end', () => socket.end());
        socket.setTimeout(idleMs, () => socket.destroy());
        break;
    }
  });
  return new Promise((resolve) => {
    server.listen({ host: '127.0.0.1', port: 0, backlog }, () => {
      listener.fd = fdOf(server);
      resolve({ ok: true, value: backlog });
    });
  });
}

const rpcClient = new LabRpcClient();

/** A frame-speaking rpc server; its connections are named `name#1`, `name#2`, … */
function rpcServe(name: string): Promise<CallResult> {
  const server = net.createServer({ allowHalfOpen: true });
  const listener: NodeListener = { kind: 'node-server', server, events: [], fd: -1, accepted: 0 };
  held.set(name, listener);
  server.on('connection', (socket) => {
    const connName = `${name}#${++listener.accepted}`;
    held.set(connName, { kind: 'node', socket, events: [], fd: fdOf(socket) });
    listener.events.push(`connection:${connName}`);
    serveFrames(socket);
  });
  return new Promise((resolve) => {
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      listener.fd = fdOf(server);
      resolve({ ok: true });
    });
  });
}

function highestFd(): number {
  return Math.max(...readdirSync('/proc/self/fd').map(Number));
}

function inodeOf(fd: number): number {
  try {
    return Math.max(0, socketInodeOfLink(readlinkSync(`/proc/self/fd/${fd}`)));
  } catch {
    return 0;
  }
}

function describe(): HeldSocket[] {
  const out: HeldSocket[] = [];
  for (const [name, h] of held) {
    const fd = h.kind === 'raw' ? (h.closed ? -1 : h.fd) : h.kind === 'node' ? (h.socket.destroyed ? -1 : h.fd) : h.server.listening ? h.fd : -1;
    if (fd < 0) continue;
    const local = socknameRaw(fd);
    const remote = peernameRaw(fd);
    const info = tcpInfoRaw(fd);
    out.push({
      name,
      fd,
      inode: inodeOf(fd),
      local: local.ok ? formatEndpoint(local.value) : null,
      remote: remote.ok ? formatEndpoint(remote.value) : null,
      state: info.ok ? info.value.state : null,
      ...(h.kind === 'raw' && h.backlog !== undefined ? { backlog: h.backlog } : {}),
    });
  }
  return out;
}

function reply(msg: PeerResponse): void {
  process.send?.(msg);
}

// The scenario's namespace, entered before any socket is made (the lab passes its file's path).
const netns = process.env['TT_NETNS'];
if (netns) {
  try {
    enterNetns(netns);
  } catch (e) {
    process.stderr.write(`peer: cannot enter ${netns}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(70);
  }
}

process.on('message', (raw: unknown) => {
  const req = raw as PeerRequest;
  if (req.kind === 'describe') {
    reply({ id: req.id, kind: 'describe', sockets: describe() });
    return;
  }
  perform(req).then(
    (result) => reply({ id: req.id, kind: 'result', result }),
    (e: unknown) => reply({ id: req.id, kind: 'error', message: e instanceof Error ? e.message : String(e) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, kind: 'result', result: { ok: true, value: process.pid } } satisfies PeerResponse);
