/**
 * The servers of bench/idle-reap, in a process of their own so their event loop and timers do
 * not share the clients' (the race being measured is between two processes, as in seed 003).
 *
 * Both close connections idle for `T` ms and count every call they run, by the call's id:
 * - HTTP/1.1 (node:http) closing a keep-alive connection T ms after its last response, as nginx's
 *   `keepalive_timeout` does. Node's own `keepAliveTimeout` is switched off: Node 20 closes only
 *   1 s after it (a buffer added against exactly this race), so it would not be "the same idle
 *   timeout". `Connection: keep-alive` is set by hand so Node sends no `Keep-Alive: timeout=`
 *   hint: the article's server gives none, nor does nginx by default.
 * - tcp-teardown rpc with `idleTimeoutMs = T`.
 * - grpc-js with `grpc.max_connection_idle_ms = T`: a connection with no stream open for T ms
 *   gets an HTTP/2 GOAWAY and is closed once its streams are done (Node's `session.close()`).
 *   Its connections come through a counting listener (bench/lib-grpc `listenCounted`), so the
 *   bench can show that reaps happened.
 *
 * argv: T (ms). Parent → child IPC: `{ cmd: 'counts', prefix }` → `{ counts: [id, n][], grpcConnections }`
 * for the ids starting with `prefix`. The child prints nothing; it exits when its IPC channel closes.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { createServer as createRpcServer } from '../src/rpc/index.js';
import { createGrpcServer, listenCounted } from './lib-grpc.js';

const idleMs = Number(process.argv[2]);
if (!Number.isInteger(idleMs) || idleMs <= 0) {
  process.stderr.write('usage: idle-reap-server <idle timeout ms>\n');
  process.exit(2);
}

const counts = new Map<string, number>();
function count(id: string): void {
  counts.set(id, (counts.get(id) ?? 0) + 1);
}

const idleTimers = new Map<Socket, NodeJS.Timeout>();
const httpServer = http.createServer((req, res) => {
  const socket = req.socket;
  clearTimeout(idleTimers.get(socket));
  res.on('finish', () => {
    // close() with nothing unread: a FIN, as nginx sends at keepalive_timeout.
    idleTimers.set(socket, setTimeout(() => socket.destroy(), idleMs));
  });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    count(Buffer.concat(chunks).toString('utf8'));
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('Content-Length', '2');
    res.end('ok');
  });
});
httpServer.keepAliveTimeout = 0;
httpServer.on('connection', (socket: Socket) => {
  socket.on('data', () => clearTimeout(idleTimers.get(socket)));
  socket.on('close', () => {
    clearTimeout(idleTimers.get(socket));
    idleTimers.delete(socket);
  });
});

const rpcServer = createRpcServer(
  (request) => {
    count(request.body.toString('utf8'));
    return Buffer.from('ok');
  },
  { idleTimeoutMs: idleMs },
);

const grpcServer = createGrpcServer(
  (body) => {
    count(body.toString('utf8'));
    return Buffer.from('ok');
  },
  { 'grpc.max_connection_idle_ms': idleMs },
);

await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const rpcAddress = await rpcServer.listen(0, '127.0.0.1');
const grpcListener = await listenCounted(grpcServer);

process.on('message', (msg: { cmd: string; prefix: string }) => {
  if (msg.cmd === 'counts') {
    const out: [string, number][] = [];
    for (const [id, n] of counts) if (id.startsWith(msg.prefix)) out.push([id, n]);
    process.send?.({ counts: out, grpcConnections: grpcListener.counts.accepted });
  }
});
process.on('disconnect', () => {
  httpServer.closeAllConnections();
  httpServer.close();
  grpcListener.close();
  grpcServer.forceShutdown();
  void rpcServer.close({ deadlineMs: 100 }).finally(() => process.exit(0));
});
process.send?.({ ready: true, httpPort: (httpServer.address() as AddressInfo).port, rpcPort: rpcAddress.port, grpcPort: grpcListener.port });
