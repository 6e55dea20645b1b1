// Child process for server-emfile.test.ts: an rpc server whose process has exactly FREE_SLOTS
// descriptors left. Does nothing unless started by that test (the test runner loads every file
// under dist/test).
import { readdirSync } from 'node:fs';

import { createServer } from '../../src/rpc/index.js';
import { closeRaw, getFileLimit, openDevNull, setFileLimit } from '../../src/sys/index.js';

/** Descriptors left free for accepted connections. */
export const FREE_SLOTS = 2;

export type ChildRequest = { kind: 'stats' } | { kind: 'cpu-start' } | { kind: 'cpu-stop' } | { kind: 'exit' };

async function main(send: (m: unknown) => void): Promise<void> {
  const server = createServer(async (req) => Buffer.from(`served ${req.body.toString()}`), {
    idleTimeoutMs: 0,
    acceptBackoffMs: { initialMs: 10, maxMs: 250 },
  });
  const { port } = await server.listen();
  // RLIMIT_NOFILE bounds descriptor numbers, not counts: set it just above the highest open one,
  // fill every hole below with /dev/null until EMFILE, then free exactly FREE_SLOTS.
  const maxFd = Math.max(...readdirSync('/proc/self/fd').map(Number));
  const limit = getFileLimit();
  setFileLimit({ soft: maxFd + 1 + FREE_SLOTS, hard: limit.hard });
  const fillers: number[] = [];
  for (;;) {
    const r = openDevNull();
    if (!r.ok) break;
    fillers.push(r.fd);
  }
  for (const fd of fillers.splice(0, FREE_SLOTS)) closeRaw(fd);
  let cpu0 = process.cpuUsage();
  process.on('message', (m: ChildRequest) => {
    switch (m.kind) {
      case 'stats':
        send({ kind: 'stats', stats: server.stats(), connections: server.connections });
        return;
      case 'cpu-start':
        cpu0 = process.cpuUsage();
        return;
      case 'cpu-stop': {
        const d = process.cpuUsage(cpu0);
        send({ kind: 'cpu', micros: d.user + d.system });
        return;
      }
      case 'exit':
        void server.close({ deadlineMs: 500 }).then(() => process.exit(0));
        return;
    }
  });
  send({ kind: 'ready', port });
}

if (process.env.TT_RPC_EMFILE_CHILD === '1' && process.send !== undefined) {
  const send = process.send.bind(process);
  main((m) => send(m)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
