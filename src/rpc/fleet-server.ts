/**
 * One server process of a fleet (`teardown rpc-demo --fleet`, bench/rolling-restart, bench/kill,
 * test/rpc/rolling-restart): the rolling-restart recipe of docs/rolling-restart.md in a process.
 *
 * argv: `port` (0: any), `ledger` (a file path), `workMs` (each call waits this long before it
 * answers), `reusePort` (`1` or `0`).
 * - It listens on 127.0.0.1:`port` (with SO_REUSEPORT when asked) and sends `{ port, pid }` over
 *   IPC (when it has a channel) and as one JSON line on stdout.
 * - Every call it runs appends its body (the call's id) and a newline to `ledger` with a
 *   synchronous write(2) before the handler's work starts, so the ledger still holds it when the
 *   process is SIGKILLed a moment later: the bench's ground truth of "ran".
 * - SIGTERM (or the IPC channel closing): server.close() — listener gone, GOAWAY(SHUTDOWN),
 *   calls in flight finish, clients close first — then exit 0.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { createServer } from './server.js';

const [portArg, ledgerPath, workArg, reuseArg] = process.argv.slice(2);
const port = Number(portArg);
const workMs = Number(workArg ?? '0');
if (!Number.isInteger(port) || port < 0 || port > 65_535 || ledgerPath === undefined || !Number.isFinite(workMs) || workMs < 0) {
  process.stderr.write('usage: fleet-server.js PORT LEDGER WORK_MS [REUSE_PORT 0|1]\n');
  process.exit(2);
}
const ledger = openSync(ledgerPath, 'a');
const server = createServer(
  async (request) => {
    writeSync(ledger, `${request.body.toString('utf8')}\n`);
    if (workMs > 0) await sleep(workMs);
    return Buffer.from('ok');
  },
  // A restart should not wait the default 2 s for a client that never closes.
  { drainMs: 1000, finalCloseMs: 2000 },
);
let address: { port: number };
try {
  address = await server.listen(port, '127.0.0.1', { reusePort: reuseArg === '1' });
} catch (err) {
  // EADDRINUSE is the expected one: the port is held by a listener without SO_REUSEPORT.
  process.stderr.write(`fleet-server: cannot listen on 127.0.0.1 port ${port}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

let closing = false;
const shutdown = (): void => {
  if (closing) return;
  closing = true;
  void server.close().finally(() => {
    closeSync(ledger);
    process.exit(0);
  });
};
process.on('SIGTERM', shutdown);
process.on('disconnect', shutdown);
const ready = { port: address.port, pid: process.pid };
process.send?.(ready);
process.stdout.write(`${JSON.stringify(ready)}\n`);
