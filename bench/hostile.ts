/**
 * hostile: what a hostile or broken client costs the server, tcp-teardown rpc against grpc-js
 * (HTTP/2), the same three attacks in the same run. Every server is a child process of its own
 * (bench/hostile-server) whose memory is its `VmRSS` in /proc/PID/status, read after a full GC in
 * the child (what it still holds, not garbage it has not collected yet), against the same reading
 * taken before the attack.
 *
 * (a) fragments: N connections each announce a 1 MiB request and send its payload one byte per
 *     write (each write waits for the previous one to reach the kernel). rpc: a REQUEST frame
 *     header announcing 1 MiB (the default maxPayloadBytes), then its payload. grpc-js, the same
 *     at the HTTP/2 level on a raw socket: preface, SETTINGS, the HEADERS of a unary call, then
 *     DATA frames (at most SETTINGS_MAX_FRAME_SIZE each, within the server's flow-control windows)
 *     whose first 5 bytes announce a 1 MiB gRPC message, each frame's payload one byte per write.
 *     Figure: server RSS growth ÷ bytes the server process actually read, which is bytes written
 *     − the attackers' Send-Q − the server sockets' Recv-Q (/proc/net/tcp, read when the attack
 *     stops).
 * (b) unread: C connections each send K calls whose answer is `answer bytes` and never read
 *     (the socket is paused: the kernel's windows close). rpc: the server's `maxBufferedBytes`
 *     budget; grpc-js has no such budget, its HTTP/2 flow control (64 KiB windows) bounds the bytes
 *     on the wire, not those the server holds. Figure: RSS growth against the budget.
 * (c) limit: a server at its connection limit and a client that wants more. rpc: server
 *     `maxConnections: 2` (128 calls in flight each), client `maxConnections: 8`, 400 callers of
 *     a 100 ms call in a closed loop. grpc-js has no server connection limit: a counting
 *     `net.Server` with `maxConnections: 2` stands in, and `grpc.max_concurrent_streams: 128`;
 *     its client opens one connection per address, so it never reaches the limit — that is the
 *     mapping, not a handicap. Figure: connection attempts per second, counted by the server.
 *
 * Environment: HOSTILE_MS length of the fragments attack and of the limit run (default 4000),
 * HOSTILE_CONNECTIONS fragment-attack connections (default 16).
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { readTcpTablesSync } from '../src/proc/index.js';
import { createClient, DEFAULT_MAX_PAYLOAD_BYTES, encodeRequest, FRAME_HEADER_BYTES } from '../src/rpc/index.js';
import { askChild, envInt, forkReady, procStatusBytes, stopChild, type BenchOptions, type BenchResult, type BenchTable } from './lib.js';
import { createGrpcClient, GRPC_JS_VERSION, GRPC_METHOD_PATH } from './lib-grpc.js';
import { grpcLengthPrefix, h2ClientStart, h2DataHeader, h2GrpcData, h2GrpcHeaders, h2Open, H2PeerWindows } from './lib-h2.js';
import type { ConnectionCounts } from './hostile-server.js';

const SERVER = fileURLToPath(new URL('./hostile-server.js', import.meta.url));
const MiB = 1 << 20;
const ANNOUNCED_BYTES = DEFAULT_MAX_PAYLOAD_BYTES;
const ANSWER_BYTES = 256 * 1024;
const BUDGET_BYTES = 4 * MiB;
const UNREAD_CONNECTIONS = 4;
const UNREAD_CALLS = 100;
const UNREAD_SETTLE_MS = 3000;
const LIMIT_CALLERS = 400;
const CLIENT_MAX_CONNECTIONS = 8;
/** The whole bench stops (children killed) if it runs longer than this. */
const BENCH_DEADLINE_MS = 110_000;

type Contender = 'rpc' | 'grpc';
type Scenario = 'fragments' | 'unread' | 'limit';

interface Server {
  child: ChildProcess;
  pid: number;
  port: number;
  budgetBytes: number | null;
}

const children = new Set<ChildProcess>();

/** Runs `fn` against a fresh server process, which is stopped (SIGKILL after 500 ms) whatever happens. */
async function withServer<T>(contender: Contender, scenario: Scenario, fn: (s: Server) => Promise<T>): Promise<T> {
  const { child, ready } = await forkReady<{ port: number; budgetBytes: number | null }>(
    SERVER,
    [contender, scenario, String(ANSWER_BYTES), String(BUDGET_BYTES)],
    [...process.execArgv, '--expose-gc'],
  );
  children.add(child);
  try {
    return await fn({ child, pid: child.pid as number, port: ready.port, budgetBytes: ready.budgetBytes });
  } finally {
    await stopChild(child, 500);
    children.delete(child);
  }
}

/** What a server holds after a full collection in it, bytes. */
interface Held {
  /** VmRSS from /proc/PID/status: includes memory freed but not returned to the kernel. */
  rss: number;
  /** V8 heap in use + memory outside it held by JS objects (Buffers): what is still referenced. */
  live: number;
}

async function heldAfterGc(s: Server): Promise<Held> {
  const m = await askChild<{ gc: boolean; heapUsed: number; external: number }>(s.child, { cmd: 'gc' });
  if (!m.gc) throw new Error('the server process has no gc() (was it started with --expose-gc?)');
  return { rss: procStatusBytes(s.pid, 'VmRSS'), live: m.heapUsed + m.external };
}

/** Samples the server's VmRSS every 50 ms until stopped; resolves the highest reading. */
function rssPeak(s: Server): () => number {
  let peak = procStatusBytes(s.pid, 'VmRSS');
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, procStatusBytes(s.pid, 'VmRSS'));
    } catch {
      // The child is gone; the bench notices elsewhere.
    }
  }, 50);
  timer.unref(); // a bench that failed mid-attack must still be able to exit
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** An attacker's connection; `closedByServer` turns true if it closes before the attacker ends it (a server's defence). */
interface Attacker {
  socket: net.Socket;
  closedByServer: boolean;
}

function connect(port: number): Promise<Attacker> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      // From here a reset or EPIPE only means the server closed us: counted, not thrown.
      socket.on('error', () => undefined);
      const a: Attacker = { socket, closedByServer: false };
      socket.once('close', () => {
        if (!ending.has(socket)) a.closedByServer = true;
      });
      resolve(a);
    });
  });
}

/** Sockets the bench itself is closing (their close is not the server's doing). */
const ending = new WeakSet<net.Socket>();
function endAll(attackers: readonly Attacker[]): void {
  for (const a of attackers) {
    ending.add(a.socket);
    a.socket.destroy();
  }
}

/** Resolves false when the socket failed (the server closed it). */
function write(socket: net.Socket, chunk: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => socket.write(chunk, (err) => resolve(!err)));
}

/** A fragment attacker's next write: a chunk, or null while flow control says wait. */
type NextChunk = () => Buffer | null;

/** rpc: the 10-byte header at once, then the payload one byte at a time. */
function rpcFragments(): NextChunk {
  const frame = encodeRequest(1, 'echo', Buffer.alloc(ANNOUNCED_BYTES - 1 - 'echo'.length));
  let at = 0;
  return () => {
    if (at === 0) return frame.subarray(0, (at = FRAME_HEADER_BYTES));
    return at < frame.length ? frame.subarray(at, ++at) : null;
  };
}

/** grpc-js: HEADERS at once, then DATA frames: each header (the first with the 5-byte gRPC prefix) at once, payload byte by byte. */
function grpcFragments(windows: H2PeerWindows): NextChunk {
  const total = 5 + ANNOUNCED_BYTES;
  let opened = false;
  let sent = 0;
  let frameLeft = 0;
  const one = Buffer.alloc(1);
  return () => {
    if (!opened) {
      opened = true;
      return h2Open(GRPC_METHOD_PATH, 1);
    }
    if (frameLeft === 0) {
      const length = Math.min(windows.maxFrame, windows.allowance(1), total - sent);
      if (length < (sent === 0 ? 6 : 1)) return null;
      windows.spend(1, length);
      const header = h2DataHeader(1, length, false);
      if (sent === 0) {
        // The announcement: the gRPC length prefix goes at once, with the first frame's header.
        sent = 5;
        frameLeft = length - 5;
        return Buffer.concat([header, grpcLengthPrefix(ANNOUNCED_BYTES)]);
      }
      frameLeft = length;
      return header;
    }
    frameLeft--;
    sent++;
    return one;
  };
}

/** Keeps writing `next()` on `socket` until `endAt`; a null chunk waits for the server (a WINDOW_UPDATE). */
async function dribble(socket: net.Socket, next: NextChunk, endAt: number): Promise<void> {
  while (performance.now() < endAt && !socket.destroyed) {
    const chunk = next();
    if (chunk === null) await sleep(5);
    else if (!(await write(socket, chunk))) return;
  }
}

interface FragmentFigures {
  received: number;
  closedByServer: number;
  growth: number;
  liveGrowth: number;
  peakGrowth: number;
}

async function fragments(contender: Contender, connections: number, attackMs: number): Promise<FragmentFigures> {
  return withServer(contender, 'fragments', async (s) => {
    const base = await heldAfterGc(s);
    const attackers: Attacker[] = [];
    try {
      for (let i = 0; i < connections; i++) attackers.push(await connect(s.port));
      const peak = rssPeak(s);
      const endAt = performance.now() + attackMs;
      await Promise.all(
        attackers.map(({ socket }) => {
          if (contender === 'rpc') {
            socket.resume(); // reads (and drops) SETTINGS: attack (a) is not attack (b)
            return dribble(socket, rpcFragments(), endAt);
          }
          const windows = new H2PeerWindows((b) => socket.write(b));
          socket.on('data', (c: Buffer) => windows.push(c));
          return dribble(socket, grpcFragments(windows), endAt);
        }),
      );
      await sleep(200); // let the server read what is in its queues, then count what it has not
      const written = attackers.reduce((n, a) => n + a.socket.bytesWritten, 0);
      let queued = 0;
      for (const row of readTcpTablesSync({ families: [4] })) {
        if (row.state !== 'ESTABLISHED') continue;
        if (row.localPort === s.port) queued += row.recvQ;
        else if (row.remotePort === s.port) queued += row.sendQ;
      }
      const held = await heldAfterGc(s);
      const closedByServer = attackers.filter((a) => a.closedByServer).length;
      return {
        received: written - queued,
        closedByServer,
        growth: held.rss - base.rss,
        liveGrowth: held.live - base.live,
        peakGrowth: Math.max(peak(), held.rss) - base.rss,
      };
    } finally {
      endAll(attackers);
    }
  });
}

interface UnreadFigures {
  requestedBytes: number;
  budgetBytes: number | null;
  closedByServer: number;
  growth: number;
  liveGrowth: number;
  peakGrowth: number;
}

async function unread(contender: Contender): Promise<UnreadFigures> {
  return withServer(contender, 'unread', async (s) => {
    const base = await heldAfterGc(s);
    const attackers: Attacker[] = [];
    const peak = rssPeak(s);
    try {
      for (let c = 0; c < UNREAD_CONNECTIONS; c++) {
        const attacker = await connect(s.port);
        const socket = attacker.socket;
        socket.pause(); // never read: the attack
        attackers.push(attacker);
        const calls: Buffer[] = [];
        if (contender === 'rpc') {
          for (let i = 1; i <= UNREAD_CALLS; i++) calls.push(encodeRequest(i, 'big', Buffer.alloc(0)));
        } else {
          calls.push(h2ClientStart());
          for (let i = 0; i < UNREAD_CALLS; i++) calls.push(h2GrpcHeaders(GRPC_METHOD_PATH, 2 * i + 1), h2GrpcData(2 * i + 1, Buffer.alloc(0), true));
        }
        socket.write(Buffer.concat(calls));
      }
      await sleep(UNREAD_SETTLE_MS);
      const held = await heldAfterGc(s);
      return {
        requestedBytes: UNREAD_CONNECTIONS * UNREAD_CALLS * ANSWER_BYTES,
        budgetBytes: s.budgetBytes,
        closedByServer: attackers.filter((a) => a.closedByServer).length,
        growth: held.rss - base.rss,
        liveGrowth: held.live - base.live,
        peakGrowth: Math.max(peak(), held.rss) - base.rss,
      };
    } finally {
      peak();
      endAll(attackers);
    }
  });
}

interface LimitFigures {
  attempts: number;
  overLimit: number;
  perSecond: number;
  completedPerSecond: number;
  failed: number;
}

async function limit(contender: Contender, runMs: number): Promise<LimitFigures> {
  return withServer(contender, 'limit', async (s) => {
    let call: () => Promise<unknown>;
    let close: () => Promise<void>;
    if (contender === 'rpc') {
      const client = createClient({ host: '127.0.0.1', port: s.port, maxConnections: CLIENT_MAX_CONNECTIONS });
      call = () => client.call('sleep', Buffer.alloc(0));
      close = () => client.close();
    } else {
      const client = createGrpcClient(s.port);
      call = () => client.call(Buffer.alloc(0));
      close = async () => client.close();
    }
    let completed = 0;
    let failed = 0;
    const started = performance.now();
    const endAt = started + runMs;
    try {
      const callers = Promise.all(
        Array.from({ length: LIMIT_CALLERS }, async () => {
          while (performance.now() < endAt) {
            await call().then(
              () => completed++,
              () => failed++,
            );
          }
        }),
      );
      // Counted at the end of the window, so calls still finishing do not stretch it.
      await sleep(runMs);
      const counts = await askChild<ConnectionCounts>(s.child, { cmd: 'counts' });
      const seconds = (performance.now() - started) / 1000;
      await Promise.race([callers, sleep(5000)]);
      const attempts = counts.served + counts.overLimit;
      return { attempts, overLimit: counts.overLimit, perSecond: attempts / seconds, completedPerSecond: completed / seconds, failed };
    } finally {
      await close();
    }
  });
}

const mib = (b: number): number => Math.round((b / MiB) * 100) / 100;
const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? '1' : '∞';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const attackMs = envInt('HOSTILE_MS', 4000);
  const connections = envInt('HOSTILE_CONNECTIONS', 16);
  const watchdog = setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
    opts.progress(`over ${BENCH_DEADLINE_MS} ms: server processes killed`);
  }, BENCH_DEADLINE_MS);
  try {
    const frag = new Map<Contender, FragmentFigures>();
    const unr = new Map<Contender, UnreadFigures>();
    const lim = new Map<Contender, LimitFigures>();
    for (const c of ['rpc', 'grpc'] as const) {
      opts.progress(`${c}: (a) ${connections} connections dribbling 1-byte writes of a ${mib(ANNOUNCED_BYTES)} MiB message for ${attackMs} ms`);
      frag.set(c, await fragments(c, connections, attackMs));
    }
    for (const c of ['rpc', 'grpc'] as const) {
      opts.progress(`${c}: (b) ${UNREAD_CONNECTIONS} connections × ${UNREAD_CALLS} calls for ${ANSWER_BYTES / 1024} KiB answers, never read`);
      unr.set(c, await unread(c));
    }
    for (const c of ['rpc', 'grpc'] as const) {
      opts.progress(`${c}: (c) ${LIMIT_CALLERS} callers of a 100 ms call against a server limited to 2 connections, ${attackMs} ms`);
      lim.set(c, await limit(c, attackMs));
    }
    const [fr, fg] = [frag.get('rpc') as FragmentFigures, frag.get('grpc') as FragmentFigures];
    const [ur, ug] = [unr.get('rpc') as UnreadFigures, unr.get('grpc') as UnreadFigures];
    const [lr, lg] = [lim.get('rpc') as LimitFigures, lim.get('grpc') as LimitFigures];
    const perByte = (f: FragmentFigures, g: number): number => (f.received > 0 ? g / f.received : NaN);
    const grpcLabel = `grpc-js ${GRPC_JS_VERSION}`;
    const table: BenchTable = {
      title: 'server cost of each attack (one run; RSS after a full GC in the server unless "peak")',
      head: ['attack', 'figure', 'tcp-teardown rpc', grpcLabel, `rpc ÷ grpc-js`],
      rows: [
        ['(a) 1-byte fragments', 'bytes the server read', fr.received, fg.received, ratio(fr.received, fg.received)],
        ['(a) 1-byte fragments', 'connections the server closed', fr.closedByServer, fg.closedByServer, ratio(fr.closedByServer, fg.closedByServer)],
        ['(a) 1-byte fragments', 'RSS growth, MiB', mib(fr.growth), mib(fg.growth), ratio(fr.growth, fg.growth)],
        ['(a) 1-byte fragments', 'RSS growth ÷ bytes read', round(perByte(fr, fr.growth)), round(perByte(fg, fg.growth)), ratio(perByte(fr, fr.growth), perByte(fg, fg.growth))],
        ['(a) 1-byte fragments', 'live heap+external growth ÷ bytes read', round(perByte(fr, fr.liveGrowth)), round(perByte(fg, fg.liveGrowth)), ratio(perByte(fr, fr.liveGrowth), perByte(fg, fg.liveGrowth))],
        ['(a) 1-byte fragments', 'peak RSS growth ÷ bytes read', round(perByte(fr, fr.peakGrowth)), round(perByte(fg, fg.peakGrowth)), ratio(perByte(fr, fr.peakGrowth), perByte(fg, fg.peakGrowth))],
        ['(b) never-reading clients', 'answers asked for, MiB', mib(ur.requestedBytes), mib(ug.requestedBytes), '1'],
        ['(b) never-reading clients', 'server budget, MiB', ur.budgetBytes === null ? 'none (option missing)' : mib(ur.budgetBytes), 'none (flow control: 64 KiB windows)', ''],
        ['(b) never-reading clients', 'connections the server closed', ur.closedByServer, ug.closedByServer, ratio(ur.closedByServer, ug.closedByServer)],
        ['(b) never-reading clients', 'RSS growth, MiB', mib(ur.growth), mib(ug.growth), ratio(ur.growth, ug.growth)],
        ['(b) never-reading clients', 'live heap+external growth, MiB', mib(ur.liveGrowth), mib(ug.liveGrowth), ratio(ur.liveGrowth, ug.liveGrowth)],
        ['(b) never-reading clients', 'peak RSS growth, MiB', mib(ur.peakGrowth), mib(ug.peakGrowth), ratio(ur.peakGrowth, ug.peakGrowth)],
        ['(b) never-reading clients', 'RSS growth ÷ rpc budget', round(ur.growth / BUDGET_BYTES), round(ug.growth / BUDGET_BYTES), ratio(ur.growth, ug.growth)],
        ['(c) server at its limit', 'connection attempts/s', round(lr.perSecond, 1), round(lg.perSecond, 1), ratio(lr.perSecond, lg.perSecond)],
        ['(c) server at its limit', 'attempts over the limit', lr.overLimit, lg.overLimit, ratio(lr.overLimit, lg.overLimit)],
        ['(c) server at its limit', 'calls completed/s', Math.round(lr.completedPerSecond), Math.round(lg.completedPerSecond), ratio(lr.completedPerSecond, lg.completedPerSecond)],
        ['(c) server at its limit', 'calls failed', lr.failed, lg.failed, ratio(lr.failed, lg.failed)],
      ],
    };
    return {
      bench: 'hostile',
      title: 'what hostile clients cost a server: memory per byte received, memory held for unread answers, reconnects at a connection limit',
      params: {
        fragmentConnections: connections,
        attackMs,
        announcedBytes: ANNOUNCED_BYTES,
        unreadConnections: UNREAD_CONNECTIONS,
        unreadCallsPerConnection: UNREAD_CALLS,
        answerBytes: ANSWER_BYTES,
        rpcBudgetBytes: BUDGET_BYTES,
        limitCallers: LIMIT_CALLERS,
      },
      rows: [],
      ratios: [],
      notes: [
        'every server is its own child process; memory is VmRSS from /proc/PID/status after a full GC in it, growth over the reading before the attack; "live" is heapUsed + external from its process.memoryUsage() after that GC: what is still referenced (RSS also keeps memory freed but not returned)',
        '(a) bytes read = bytes written − attackers\' Send-Q − server Recv-Q (/proc/net/tcp); grpc-js gets the same bytes as HTTP/2 DATA within its flow-control windows',
        '(b) grpc-js has no server-side budget for answers; HTTP/2 flow control stops bytes on the wire (64 KiB per stream and per connection), not the answers the server holds',
        '(c) grpc-js: net.Server maxConnections 2 in front (grpc-js has no limit of its own), grpc.max_concurrent_streams 128 = rpc\'s maxInFlight; its client keeps one connection per address and queues streams, so it never meets the limit',
      ],
      tables: [table],
    };
  } finally {
    clearTimeout(watchdog);
    for (const c of children) c.kill('SIGKILL');
  }
}
