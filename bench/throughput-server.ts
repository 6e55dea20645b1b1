/**
 * The servers of bench/throughput, in a process of their own (one core for the servers, one for
 * the clients): a tcp-teardown rpc echo, a node:http server answering every POST with its body,
 * and the floor — a raw `net` server that writes back every byte it reads.
 *
 * Parent → child IPC: nothing but disconnect, which closes everything and exits.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

import { createServer as createRpcServer } from '../src/rpc/index.js';
import { bindGrpc, createGrpcServer } from './lib-grpc.js';

const rpcServer = createRpcServer((request) => request.body, { maxInFlight: 1024 });

// No grpc.max_concurrent_streams: Node's HTTP/2 default (no limit) lets every caller's stream run.
const grpcServer = createGrpcServer((body) => body);

const httpServer = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
});
httpServer.keepAliveTimeout = 60_000;

const echo = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
});

await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const rpcAddress = await rpcServer.listen(0, '127.0.0.1');
const grpcPort = await bindGrpc(grpcServer);

process.on('disconnect', () => {
  httpServer.closeAllConnections();
  httpServer.close();
  echo.close();
  grpcServer.forceShutdown();
  void rpcServer.close({ deadlineMs: 100 }).finally(() => process.exit(0));
});
process.send?.({
  ready: true,
  rpcPort: rpcAddress.port,
  grpcPort,
  httpPort: (httpServer.address() as AddressInfo).port,
  echoPort: (echo.address() as AddressInfo).port,
});
