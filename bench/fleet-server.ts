/**
 * One server process of bench/rolling-restart and bench/kill for the HTTP and gRPC contenders (the
 * rpc contender's is src/rpc/fleet-server.ts, the same contract). Each does the same work: read
 * the call's id, append it to the ledger, wait `workMs`, answer "ok".
 *
 * argv: `kind` (`http` | `grpc`), `port` (0: any), `ledger` (a file path), `workMs`.
 * - The ledger: the id and a newline, appended with a synchronous write(2) before the work starts,
 *   so it survives a SIGKILL that comes a moment later (the benches' ground truth of "ran").
 * - Ready: sends `{ port, pid }` over IPC.
 * - SIGTERM: each server's own graceful shutdown, then exit 0.
 *   - http (node:http, keep-alive): server.close() (stop listening; Node 20 also closes idle
 *     keep-alive connections) and closeIdleConnections(); answers from then on carry
 *     `Connection: close`, so a busy connection closes after its answer.
 *   - grpc (grpc-js): server.tryShutdown() — stop listening, HTTP/2 GOAWAY on every session, wait
 *     for the calls in flight.
 *   After 10 s whatever is left is cut (closeAllConnections / forceShutdown).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { createGrpcServer, grpc } from './lib-grpc.js';

const [kind, portArg, ledgerPath, workArg] = process.argv.slice(2);
const port = Number(portArg);
const workMs = Number(workArg);
if ((kind !== 'http' && kind !== 'grpc') || !Number.isInteger(port) || port < 0 || port > 65_535 || ledgerPath === undefined || !(workMs >= 0)) {
  process.stderr.write('usage: fleet-server.js http|grpc PORT LEDGER WORK_MS\n');
  process.exit(2);
}
const ledger = openSync(ledgerPath, 'a');
const ran = (id: string): void => {
  writeSync(ledger, `${id}\n`);
};
const FORCE_AFTER_MS = 10_000;
let closing = false;
let shutdown: () => void;
let boundPort: number;

if (kind === 'http') {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      ran(Buffer.concat(chunks).toString('utf8'));
      void sleep(workMs).then(() => {
        if (closing) res.setHeader('Connection', 'close');
        res.setHeader('Content-Length', '2');
        res.end('ok');
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  boundPort = (server.address() as AddressInfo).port;
  shutdown = () => {
    server.close(() => {
      closeSync(ledger);
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), FORCE_AFTER_MS).unref();
  };
} else {
  const server = createGrpcServer(async (body) => {
    ran(body.toString('utf8'));
    await sleep(workMs);
    return Buffer.from('ok');
  });
  boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  shutdown = () => {
    const force = setTimeout(() => server.forceShutdown(), FORCE_AFTER_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      closeSync(ledger);
      process.exit(0);
    });
  };
}

process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  shutdown();
});
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
process.send?.({ port: boundPort, pid: process.pid });
