/**
 * Memory under hostile peers (issue 9), measured in a child-process server (test/rpc/memory-child)
 * through process.memoryUsage() after a forced GC: a peer that sends a large frame one byte per
 * write, and clients that ask for large answers and never read them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import { encodeRequest, FRAME_HEADER_BYTES, type ServerOptions } from '../../src/rpc/index.js';
import type { MemoryReport } from './memory-child.js';

const CHILD = fileURLToPath(new URL('./memory-child.js', import.meta.url));
const MiB = 1 << 20;

async function startChild(t: { after(fn: () => unknown): void }, options: ServerOptions): Promise<{ child: ChildProcess; port: number; memory(): Promise<MemoryReport> }> {
  const child = fork(CHILD, [], {
    env: { ...process.env, TT_RPC_MEMORY_CHILD: '1', TT_RPC_MEMORY_OPTIONS: JSON.stringify(options) },
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  t.after(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  const [ready] = (await once(child, 'message')) as [{ kind: string; port: number }];
  const memory = async (): Promise<MemoryReport> => {
    child.send({ kind: 'memory' });
    for (;;) {
      const [m] = (await once(child, 'message')) as [MemoryReport];
      if (m.kind === 'memory') return m;
    }
  };
  return { child, port: ready.port, memory };
}

function connect(port: number, sockets: net.Socket[]): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    sockets.push(s);
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

test('2: a 1 MiB REQUEST sent one byte per write grows server memory by at most 2 × the bytes received + 16 MB', async (t) => {
  const { port, memory } = await startChild(t, {});
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  const CONNECTIONS = 100;
  const BYTES_EACH = 2000;
  for (let i = 0; i < CONNECTIONS; i++) await connect(port, sockets);
  const before = await memory();
  // A REQUEST announcing a 1 MiB payload; its header goes in one write, its payload one byte per
  // write, each write on its own turn of the event loop so the server reads it on its own.
  const frame = encodeRequest(1, 'upload', Buffer.alloc(MiB - 1 - 'upload'.length));
  for (const s of sockets) s.write(frame.subarray(0, FRAME_HEADER_BYTES));
  const one = Buffer.from([0x62]);
  for (let n = 0; n < BYTES_EACH; n++) {
    for (const s of sockets) s.write(one);
    await turn();
  }
  await sleep(300);
  const after = await memory();
  const received = CONNECTIONS * (FRAME_HEADER_BYTES + BYTES_EACH);
  const grew = after.rss - before.rss;
  process.stdout.write(`# 1-byte writes: ${received} bytes received over ${CONNECTIONS} connections; server RSS ${(before.rss / MiB).toFixed(1)} → ${(after.rss / MiB).toFixed(1)} MiB (+${(grew / MiB).toFixed(1)} MiB, ${(grew / received).toFixed(0)} bytes per byte)\n`);
  assert.ok(grew <= 2 * received + 16 * MiB, `server RSS grew ${(grew / MiB).toFixed(1)} MiB for ${received} bytes received (at most ${((2 * received + 16 * MiB) / MiB).toFixed(1)} MiB)`);
});

test('3: clients that ask for 1 MiB answers and never read hold at most maxBufferedBytes in the server', async (t) => {
  const maxBufferedBytes = 32 * MiB;
  const { port, memory } = await startChild(t, { maxBufferedBytes, maxInFlight: 128 });
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < 8; i++) await connect(port, sockets);
  const before = await memory();
  for (const s of sockets) {
    s.pause(); // never read: the answers pile up in the server once the kernel buffers are full
    const calls: Buffer[] = [];
    for (let id = 1; id <= 32; id++) calls.push(encodeRequest(id, 'big', Buffer.alloc(0)));
    s.write(Buffer.concat(calls));
  }
  await sleep(1500);
  const after = await memory();
  const grew = after.rss - before.rss;
  process.stdout.write(
    `# never-reading clients: 8 × 32 calls for 1 MiB; server RSS ${(before.rss / MiB).toFixed(1)} → ${(after.rss / MiB).toFixed(1)} MiB (+${(grew / MiB).toFixed(1)} MiB); ` +
      `buffered ${((after.stats.bufferedBytes ?? 0) / MiB).toFixed(1)} MiB; dropped ${after.stats.responsesDropped ?? '?'}; refused unrun ${after.stats.overloaded}\n`,
  );
  assert.ok(grew <= maxBufferedBytes + 16 * MiB, `server RSS grew ${(grew / MiB).toFixed(1)} MiB (at most maxBufferedBytes ${maxBufferedBytes / MiB} MiB + 16 MiB)`);
  assert.ok((after.stats.bufferedBytes ?? 0) <= maxBufferedBytes, 'the budget holds in the server\'s own accounting');
});
