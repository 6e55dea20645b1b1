// Child process for fleet.test.ts: one rpc server of a fleet, with a ledger of the calls its
// handler ran, so the test can check from outside that no call ran twice and that the servers
// that stayed up took the work. Does nothing unless started by that test (the test runner loads
// every file under dist/test).
//   argv[2]: port to listen on (0: any); env TT_RPC_FLEET_HANDLER_MS: handler time, ms;
//   env TT_RPC_FLEET_LEDGER: a file each id is appended to before the handler runs (it survives a
//   SIGKILL, which the IPC ledger does not); env TT_RPC_FLEET_REUSEPORT=1: listen with SO_REUSEPORT
//   (a second process on the same port, as in a rolling restart); env TT_RPC_FLEET_SLOW_MS: handler
//   time of calls whose body starts with `slow-` (a long call in flight during a drain).
//   IPC in: { kind: 'ledger' } → { kind: 'ledger', ran: string[] }; { kind: 'close' } →
//   server.close() (GOAWAY SHUTDOWN, drain) then { kind: 'closed' }.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from '../../src/rpc/index.js';

export type FleetChildMessage = { kind: 'ready'; port: number } | { kind: 'ledger'; ran: string[] } | { kind: 'closed' };

async function main(send: (m: FleetChildMessage) => void): Promise<void> {
  const handlerMs = Number(process.env.TT_RPC_FLEET_HANDLER_MS ?? '0');
  const slowMs = Number(process.env.TT_RPC_FLEET_SLOW_MS ?? '0');
  const ran: string[] = [];
  const ledgerFile = process.env.TT_RPC_FLEET_LEDGER;
  const server = createServer(async (req) => {
    const id = req.body.toString('utf8');
    ran.push(id);
    if (ledgerFile) appendFileSync(ledgerFile, `${id}\n`);
    const ms = id.startsWith('slow-') ? slowMs : handlerMs;
    if (ms > 0) await sleep(ms);
    return Buffer.from(String(process.pid));
  });
  const { port } = await server.listen(Number(process.argv[2] ?? '0'), '127.0.0.1', { reusePort: process.env.TT_RPC_FLEET_REUSEPORT === '1' });
  process.on('message', (m: { kind: string }) => {
    if (m.kind === 'ledger') send({ kind: 'ledger', ran });
    else if (m.kind === 'close') void server.close().then(() => send({ kind: 'closed' }));
  });
  send({ kind: 'ready', port });
}

if (process.env.TT_RPC_FLEET_CHILD === '1' && process.send !== undefined) {
  const send = process.send.bind(process);
  main((m) => send(m)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
