// Seed 001-f against the rpc server: a server process out of descriptors (RLIMIT_NOFILE lowered
// with src/sys in a child process) gets more connections than it can accept. It must survive,
// count EMFILE, not spin, leave the connections waiting in the kernel's accept queue (not
// accept-and-drop them as node:net does), and serve them once descriptors free up.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, it } from 'node:test';

import type { ServerStats } from '../../src/rpc/index.js';
import { FREE_SLOTS, type ChildRequest } from './emfile-child.js';
import { RawClient, eventually, rowsOnPort, sleep } from './server-helpers.js';

let child: ChildProcess | null = null;
const clients: RawClient[] = [];
after(async () => {
  for (const c of clients) c.destroy();
  if (child !== null && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
});

function ask<T>(req: ChildRequest, replyKind: string): Promise<T> {
  const c = child as ChildProcess;
  return new Promise((resolve) => {
    const on = (m: { kind: string }): void => {
      if (m.kind !== replyKind) return;
      c.off('message', on);
      resolve(m as T);
    };
    c.on('message', on);
    c.send(req);
  });
}

it('EMFILE: survives, counts, backs off without spinning, keeps connections queued and serves them when descriptors free up (001-f)', async (t) => {
  child = fork(new URL('./emfile-child.js', import.meta.url), [], { env: { ...process.env, TT_RPC_EMFILE_CHILD: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [ready] = (await once(child, 'message')) as [{ kind: 'ready'; port: number }];
  assert.equal(ready.kind, 'ready');
  const port = ready.port;
  const N = FREE_SLOTS * 3;
  for (let i = 0; i < N; i++) {
    const c = await RawClient.connect(port); // the kernel completes the handshake, accept() or not (001-a)
    clients.push(c);
    c.request(1, 'call', `c${i}`); // written before any accept: must not be lost
  }
  // Exactly FREE_SLOTS are accepted and served; the rest wait.
  await Promise.all(clients.slice(0, FREE_SLOTS).map((c) => c.answer(1)));
  await sleep(200);
  const served = clients.filter((c) => c.frames.length > 0).length;
  assert.equal(served, FREE_SLOTS, 'only as many accepted as there are descriptors');
  const waiting = clients.filter((c) => c.frames.length === 0);
  assert.ok(waiting.every((c) => !c.eof && c.errno === null), 'the waiting clients got no FIN and no RST');
  // In the kernel: those connections sit in the accept queue, ESTABLISHED and held by no process.
  const rows = await rowsOnPort(port);
  const queued = rows.filter((r) => r.localPort === port && r.state === 'ESTABLISHED' && r.inode === 0);
  assert.equal(queued.length, N - FREE_SLOTS, `accept-queue rows: ${JSON.stringify(rows.map((r) => [r.local, r.remote, r.state, r.inode]))}`);

  // Not spinning: over one second out of descriptors, the server process uses little CPU.
  child.send({ kind: 'cpu-start' } satisfies ChildRequest);
  await sleep(1000);
  const { micros } = await ask<{ micros: number }>({ kind: 'cpu-stop' }, 'cpu');
  assert.ok(micros < 150_000, `server used ${micros} µs of CPU in 1 s while out of descriptors`);
  const { stats } = await ask<{ stats: ServerStats }>({ kind: 'stats' }, 'stats');
  const emfile = stats.acceptErrors.EMFILE ?? 0;
  // Backoff 10 ms doubling to 250 ms: about a dozen attempts in ~1.3 s, not thousands.
  assert.ok(emfile >= 3 && emfile <= 40, `EMFILE counted ${emfile} times: ${JSON.stringify(stats.acceptErrors)}`);
  assert.equal(stats.connectionsAccepted, FREE_SLOTS);
  t.diagnostic(`out of descriptors for ~1.2 s: ${emfile} EMFILE attempts, ${micros} µs CPU in the measured second`);

  // Free descriptors: the served clients close, the server closes its ends (no CLOSE_WAIT), and
  // the next backoff retry accepts the queued connections, whose early requests are answered.
  for (let round = 0; round < N / FREE_SLOTS; round++) {
    const batch = clients.slice(round * FREE_SLOTS, (round + 1) * FREE_SLOTS);
    for (const c of batch) {
      const a = await c.answer(1, 3000);
      assert.equal(a.type === 'RESPONSE' && a.body.toString(), `served c${clients.indexOf(c)}`);
      c.end();
    }
    await Promise.all(batch.map((c) => c.waitClosed(3000)));
  }
  const final = await ask<{ stats: ServerStats; connections: number }>({ kind: 'stats' }, 'stats');
  assert.equal(final.stats.connectionsAccepted, N);
  assert.equal(final.stats.calls, N, 'every request written while queued was run, once');
  await eventually('server connections closed', async () => ((await ask<{ connections: number }>({ kind: 'stats' }, 'stats')).connections === 0 ? true : undefined), 3000);
  child.send({ kind: 'exit' } satisfies ChildRequest);
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, 'the server process survived and exited cleanly');
});
