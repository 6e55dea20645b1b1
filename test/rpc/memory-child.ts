// Child process for memory.test.ts: an rpc server whose memory the test measures from outside,
// so the test runner's own heap does not blur the figures. Does nothing unless started by that
// test (the test runner loads every file under dist/test). Started with --expose-gc.
import { createServer, type ServerOptions } from '../../src/rpc/index.js';

export type MemoryChildRequest = { kind: 'memory' } | { kind: 'exit' };
export interface MemoryReport {
  kind: 'memory';
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  stats: ReturnType<ReturnType<typeof createServer>['stats']>;
}

/** 1 MiB answer shared by every call, so the handler itself allocates nothing. */
const BIG = Buffer.alloc(1 << 20, 0x61);

async function main(send: (m: unknown) => void): Promise<void> {
  const options = JSON.parse(process.env.TT_RPC_MEMORY_OPTIONS ?? '{}') as ServerOptions;
  const server = createServer((req) => (req.method === 'big' ? BIG : req.body), { idleTimeoutMs: 0, ...options });
  const { port } = await server.listen(0, '127.0.0.1');
  process.on('message', (m: MemoryChildRequest) => {
    if (m.kind === 'exit') {
      void server.close({ deadlineMs: 0 }).then(() => process.exit(0));
      return;
    }
    (globalThis as { gc?: () => void }).gc?.();
    const u = process.memoryUsage();
    send({ kind: 'memory', rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers, stats: server.stats() } satisfies MemoryReport);
  });
  send({ kind: 'ready', port });
}

if (process.env.TT_RPC_MEMORY_CHILD === '1' && process.send !== undefined) {
  const send = process.send.bind(process);
  main((m) => send(m)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
