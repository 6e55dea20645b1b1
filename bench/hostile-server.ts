/**
 * One server under attack for bench/hostile, alone in its process so that its VmRSS is its own.
 *
 * argv: `<rpc|grpc> <fragments|unread|limit> <answer bytes> <budget bytes>`
 * - fragments: an echo server with default limits (rpc: maxPayloadBytes 1 MiB; grpc-js: 4 MiB
 *   messages).
 * - unread: every call is answered with the same `answer bytes` buffer (the handler allocates
 *   nothing: what grows is what the server holds). rpc: `maxBufferedBytes = budget bytes`; grpc-js
 *   has no such option, only HTTP/2 flow control.
 * - limit: calls sleep 100 ms. rpc: `maxConnections: 2`. grpc-js has no connection limit of its
 *   own: a counting `net.Server` with `maxConnections: 2` (Node closes what is over it) hands
 *   connections to the grpc-js server (`createConnectionInjector`), and
 *   `grpc.max_concurrent_streams` is set to rpc's per-connection `maxInFlight` (128).
 *
 * Parent → child IPC: `{ cmd: 'gc' }` → `{ gc, heapUsed, external }` (bytes, Node's
 * `process.memoryUsage()`) after a full collection (run with --expose-gc); `{ cmd: 'counts' }` → {@link ConnectionCounts}. Ready message:
 * `{ port, budgetBytes }`, budgetBytes the rpc server's `maxBufferedBytes` in the unread scenario, else null.
 * Exits when its IPC channel closes.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { createServer as createRpcServer, type RpcServer, type ServerOptions } from '../src/rpc/index.js';
import { bindGrpc, createGrpcServer, listenCounted } from './lib-grpc.js';

/** Connection attempts the server saw: served, and closed at once for being over its limit. */
export interface ConnectionCounts {
  served: number;
  overLimit: number;
}

const [contender, scenario, answerArg, budgetArg] = process.argv.slice(2);
const answerBytes = Number(answerArg);
const budgetBytes = Number(budgetArg);
const positive = (n: number): boolean => Number.isSafeInteger(n) && n > 0;
if ((contender !== 'rpc' && contender !== 'grpc') || !['fragments', 'unread', 'limit'].includes(scenario ?? '') || !positive(answerBytes) || !positive(budgetBytes)) {
  process.stderr.write('usage: hostile-server <rpc|grpc> <fragments|unread|limit> <answer bytes> <budget bytes>\n');
  process.exit(2);
}

const answer = Buffer.alloc(answerBytes, 1);
const counts: ConnectionCounts = { served: 0, overLimit: 0 };
const LIMIT_CONNECTIONS = 2;
const MAX_IN_FLIGHT = 128;

const handler = async (body: Buffer): Promise<Buffer> => {
  if (scenario === 'unread') return answer;
  if (scenario === 'limit') {
    await sleep(100);
    return Buffer.from('ok');
  }
  return body;
};

let close: () => Promise<void>;
let port: number;
let budget: number | null = null;
let grpcCounts: { accepted: number; dropped: number } | null = null;

if (contender === 'rpc') {
  const make = (options: ServerOptions): RpcServer => createRpcServer((req) => handler(req.body), options);
  let server: RpcServer;
  if (scenario === 'unread') {
    server = make({ maxBufferedBytes: budgetBytes });
    budget = budgetBytes;
  } else {
    server = make(scenario === 'limit' ? { maxConnections: LIMIT_CONNECTIONS, maxInFlight: MAX_IN_FLIGHT } : {});
  }
  server.on('connection', ({ mode }) => {
    if (mode === 'serve') counts.served++;
    else counts.overLimit++;
  });
  port = (await server.listen(0, '127.0.0.1')).port;
  close = () => server.close({ deadlineMs: 100 });
} else {
  const server = createGrpcServer(handler, scenario === 'limit' ? { 'grpc.max_concurrent_streams': MAX_IN_FLIGHT } : {});
  if (scenario === 'limit') {
    const listener = await listenCounted(server, LIMIT_CONNECTIONS);
    port = listener.port;
    grpcCounts = listener.counts;
    close = async () => listener.close();
  } else {
    port = await bindGrpc(server);
    close = async () => undefined;
  }
  const closeListener = close;
  close = async () => {
    await closeListener();
    server.forceShutdown();
  };
}

process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'gc') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    // V8 frees ArrayBuffer backing stores on a background thread after a GC: `external` still
    // counts them for a while. A second collection a moment later reads what is really held.
    setTimeout(() => {
      gc?.();
      const m = process.memoryUsage();
      process.send?.({ gc: gc !== undefined, heapUsed: m.heapUsed, external: m.external });
    }, 50);
  } else if (msg.cmd === 'counts') {
    process.send?.(grpcCounts ? { served: grpcCounts.accepted, overLimit: grpcCounts.dropped } : counts);
  }
});
process.on('disconnect', () => {
  void close().finally(() => process.exit(0));
});
process.send?.({ port, budgetBytes: budget });
