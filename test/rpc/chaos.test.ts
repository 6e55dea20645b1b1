// Chaos: the server randomly crashes (close, no GOAWAY), resets (SO_LINGER 0) and stalls
// connections while 10 000 calls with deadlines run through a client with a retry interceptor.
// Every call must settle once, within its deadline; no non-idempotent call may run twice; what
// the client says about a failed call ("not run" / "may have run" / "ran") must be true of the
// server's count; and afterwards no descriptor is left open and no socket sits in CLOSE_WAIT.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { readTcpTables } from '../../src/proc/index.js';
import { RpcError, createClient, createServer, retry, type RpcClient, type RpcServer } from '../../src/rpc/index.js';
import { eventually, openFds, prng } from './server-helpers.js';

const CALLS = 10_000;
const LANES = 200;

async function warmUp(): Promise<void> {
  await readTcpTables();
  const s = createServer((req) => req.body);
  const { port } = await s.listen(0, '127.0.0.1');
  const c = createClient({ port });
  await c.call('warm', Buffer.from('up'));
  await c.close();
  await s.close();
}

describe('rpc chaos: crashes, resets and stalls under 10k calls with deadlines', () => {
  let server: RpcServer | null = null;
  let client: RpcClient | null = null;
  let chaos: NodeJS.Timeout | null = null;
  after(async () => {
    if (chaos) clearInterval(chaos);
    await client?.close({ timeoutMs: 100 }).catch(() => undefined);
    await server?.close({ deadlineMs: 100 }).catch(() => undefined);
  });

  it('every call settles once within its deadline, truthfully; nothing runs twice that must not; nothing leaks', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    // Descriptors a process opens once and keeps (Node's /dev/null for workers, the proc reader's
    // worker thread) are opened by a warm-up round, so the count below measures leaks only.
    await warmUp();
    const fdsBefore = openFds();
    const runs = new Map<string, number>();
    server = createServer(
      async (req) => {
        const id = req.body.toString('utf8');
        runs.set(id, (runs.get(id) ?? 0) + 1);
        if (rand() < 0.1) await sleep(Math.floor(rand() * 20));
        return req.body;
      },
      { idleTimeoutMs: 300, drainMs: 100, finalCloseMs: 300, handlerTimeoutMs: 2000 },
    );
    const { port } = await server.listen(0, '127.0.0.1');
    client = createClient({
      port,
      maxConnections: 16,
      maxQueue: CALLS,
      interceptors: [retry({ maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 50 })],
    });
    const faults = { close: 0, reset: 0, stall: 0 };
    chaos = setInterval(() => {
      const ids = server?.connectionIds() ?? [];
      if (ids.length === 0) return;
      const id = ids[Math.floor(rand() * ids.length)] as number;
      const r = rand();
      const fault = r < 0.4 ? 'close' : r < 0.8 ? 'reset' : 'stall';
      if (server?.injectFault(id, fault, 50 + Math.floor(rand() * 250))) faults[fault]++;
    }, 10);

    interface Outcome {
      id: string;
      idempotent: boolean;
      timeoutMs: number;
      tookMs: number;
      settled: number;
      error: RpcError | Error | null;
    }
    const outcomes: Outcome[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (next < CALLS) {
          const n = next++;
          const o: Outcome = { id: `c${n}`, idempotent: n % 2 === 0, timeoutMs: 200 + Math.floor(rand() * 400), tookMs: 0, settled: 0, error: null };
          outcomes.push(o);
          const t0 = performance.now();
          await client!.call('echo', Buffer.from(o.id), { idempotent: o.idempotent, timeoutMs: o.timeoutMs }).then(
            (body) => {
              o.settled++;
              assert.equal(body.toString('utf8'), o.id, 'a response answered the wrong call');
            },
            (e: unknown) => {
              o.settled++;
              o.error = e instanceof Error ? e : new Error(String(e));
            },
          );
          o.tookMs = performance.now() - t0;
        }
      }),
    );
    clearInterval(chaos);
    chaos = null;

    const why = `(seed ${seed}; faults ${JSON.stringify(faults)})`;
    assert.equal(outcomes.length, CALLS);
    assert.ok(faults.close + faults.reset + faults.stall >= 20, `too few faults injected to mean anything ${why}`);
    // Timers fire late on a loaded 2-core machine; a call may overrun its deadline by that much, not more.
    const slackMs = 150;
    const failed = outcomes.filter((o) => o.error !== null);
    for (const o of outcomes) {
      assert.equal(o.settled, 1, `${o.id} settled ${o.settled} times ${why}`);
      assert.ok(o.tookMs <= o.timeoutMs + slackMs, `${o.id} took ${o.tookMs.toFixed(0)} ms with a ${o.timeoutMs} ms deadline ${why}`);
      const ran = runs.get(o.id) ?? 0;
      if (!o.idempotent) assert.ok(ran <= 1, `non-idempotent ${o.id} ran ${ran} times ${why}`);
      if (o.error === null) {
        assert.ok(ran >= 1, `${o.id} succeeded but the server never ran it ${why}`);
        continue;
      }
      assert.ok(o.error instanceof RpcError, `${o.id} failed with a ${o.error.name}, not an RpcError: ${o.error.message}`);
      // The client's word about the server must be true: "not run" means not run (yet: a call the
      // server has read but not started cannot run after the client gave up, since CANCEL follows).
      if (o.error.processed === 'no') assert.equal(ran, 0, `${o.id} failed ${o.error.code} "not run" but ran ${ran} times ${why}`);
      if (o.error.processed === 'yes') assert.ok(ran >= 1, `${o.id} failed ${o.error.code} "ran" but never ran ${why}`);
    }
    const stats = client.stats();
    process.stdout.write(
      `# chaos ${why}: ${failed.length} of ${CALLS} failed (${[...new Set(failed.map((o) => (o.error as RpcError).code))].join(', ')}); ` +
        `retries ${stats.retries}, transparent ${stats.transparentRetries}, connections ${stats.connectionsOpened}\n`,
    );
    assert.equal(stats.illegalTransitions, 0, `client connections refused illegal state moves ${why}`);
    // Chaos must not make the layer give up on everything.
    assert.ok(failed.length < CALLS / 2, `${failed.length} of ${CALLS} calls failed ${why}`);

    await client.close();
    client = null;
    await server.close();
    assert.equal(server.stats().illegalTransitions, 0, `server connections refused illegal state moves ${why}`);
    server = null;
    await eventually(
      'no CLOSE_WAIT on either side of the server port',
      async () => ((await readTcpTables()).some((r) => r.state === 'CLOSE_WAIT' && (r.localPort === port || r.remotePort === port)) ? undefined : true),
      5000,
    );
    await eventually(`descriptors back to the ${fdsBefore} open before`, () => (openFds() <= fdsBefore ? true : undefined), 5000);
  });
});
