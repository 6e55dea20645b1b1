/**
 * Hostile and unlucky peers (issue 9), through the public API on real sockets: a server that
 * turns connections away (reconnect storm), durations beyond what a timer holds, an answer
 * larger than the client accepts, a long-lived AbortSignal shared by hedged calls, one error
 * object handed to several calls, and timeoutMs 0. Memory under hostile peers is in
 * memory.test.ts (measured in a child process).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, createServer, deadline, hedge, RpcError } from '../../src/rpc/index.js';
import { b, freePort, rejection } from './client-raw-server.js';

test('1: a server at maxConnections does not draw a reconnect storm: <= 20 connection attempts per second, every call succeeds', async () => {
  const server = createServer(async (req) => {
    await sleep(100);
    return req.body;
  }, { maxConnections: 2, maxInFlight: 4, idleTimeoutMs: 0 });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = createClient({ port, maxConnections: 8, maxQueue: 1000 });
  try {
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => client.call('slow', b(`c${i}`))));
    const seconds = (performance.now() - t0) / 1000;
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 0, `failed: ${failed.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3).join('; ')}`);
    const attempts = server.stats().connectionsAccepted;
    const perSecond = attempts / seconds;
    process.stdout.write(`# storm: ${attempts} connection attempts in ${seconds.toFixed(2)} s = ${perSecond.toFixed(1)}/s; refused ${server.stats().rejectedConnections}; pool target ${client.pool().target}\n`);
    assert.ok(perSecond <= 20, `${attempts} connection attempts in ${seconds.toFixed(2)} s = ${perSecond.toFixed(0)}/s (at most 20/s)`);
  } finally {
    await client.close({ timeoutMs: 500 });
    await server.close({ deadlineMs: 0 });
  }
});

test('4: durations beyond 2^31−1 ms are refused at construction or call, naming the option', async () => {
  const port = await freePort();
  assert.throws(() => createClient({ port, maxLifetimeMs: 2 ** 31 }), (e: Error) => e instanceof RangeError && /maxLifetimeMs/.test(e.message));
  assert.throws(() => createClient({ port, idleTimeoutMs: 2 ** 31 }), (e: Error) => e instanceof RangeError && /idleTimeoutMs/.test(e.message));
  assert.throws(() => createClient({ port, connectTimeoutMs: Infinity }), (e: Error) => e instanceof RangeError && /connectTimeoutMs/.test(e.message));
  assert.throws(() => deadline({ timeoutMs: 30 * 24 * 3600 * 1000 }), (e: Error) => e instanceof RangeError && /deadline: timeoutMs/.test(e.message));
  assert.throws(() => hedge({ delayMs: 2 ** 31 }), (e: Error) => e instanceof RangeError && /hedge: delayMs/.test(e.message));
  const client = createClient({ port });
  try {
    await assert.rejects(client.call('m', b('x'), { timeoutMs: 2 ** 31 }), (e: Error) => e instanceof RangeError && /timeoutMs/.test(e.message) && /2\^31/.test(e.message));
  } finally {
    await client.close();
  }
});

test('4: a call with the longest legal timeout (2^31−1 ms) is answered, not failed after 1 ms', async () => {
  const server = createServer((req) => req.body, { idleTimeoutMs: 0 });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = createClient({ port, interceptors: [deadline({ timeoutMs: 2 ** 31 - 1 })] });
  try {
    assert.equal((await client.call('echo', b('long'), { timeoutMs: 2 ** 31 - 1 })).toString(), 'long');
  } finally {
    await client.close();
    await server.close({ deadlineMs: 0 });
  }
});

test("5: an answer over the client's maxPayloadBytes fails only its own call (FRAME_TOO_LARGE, processed yes); the other calls on the connection succeed and run once", async () => {
  const runs = new Map<string, number>();
  const server = createServer(
    async (req) => {
      const key = req.body.toString();
      runs.set(key, (runs.get(key) ?? 0) + 1);
      if (req.method === 'big') return Buffer.alloc(100 << 10);
      await sleep(50);
      return req.body;
    },
    { maxPayloadBytes: 4 << 20, idleTimeoutMs: 0 },
  );
  const { port } = await server.listen(0, '127.0.0.1');
  const client = createClient({ port, maxPayloadBytes: 64 << 10, maxConnections: 1 });
  try {
    const others = [
      ...Array.from({ length: 5 }, (_, i) => client.call('slow', b(`n${i}`))),
      client.call('slow', b('idem'), { idempotent: true }),
    ];
    await sleep(10);
    const e = await rejection(client.call('big', b('big'), { idempotent: true }));
    assert.equal(e.code, 'FRAME_TOO_LARGE');
    assert.equal(e.processed, 'yes');
    assert.deepEqual((await Promise.all(others)).map(String), ['n0', 'n1', 'n2', 'n3', 'n4', 'idem']);
    for (const [key, n] of runs) assert.equal(n, 1, `${key} ran ${n} times`);
    assert.equal(client.stats().connectionsOpened, 1, 'the connection survived');
    assert.equal(server.stats().responsesTooLarge, 1);
  } finally {
    await client.close();
    await server.close({ deadlineMs: 0 });
  }
});

test('6: hedged calls sharing one long-lived AbortSignal add one listener to it, none once settled, and no MaxListenersExceeded warning', async () => {
  const server = createServer(async (req) => {
    await sleep(30);
    return req.body;
  }, { idleTimeoutMs: 0 });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = createClient({ port, interceptors: [hedge({ delayMs: 10, maxAttempts: 2 })] });
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on('warning', onWarning);
  const scope = new AbortController();
  try {
    const calls = Array.from({ length: 40 }, (_, i) => client.call('echo', b(`h${i}`), { idempotent: true, signal: scope.signal }));
    await sleep(20);
    const during = getEventListeners(scope.signal, 'abort').length;
    await Promise.all(calls);
    await sleep(10);
    const after = getEventListeners(scope.signal, 'abort').length;
    assert.ok(during <= 1, `${during} abort listeners on the shared signal with 40 calls in flight`);
    assert.equal(after, 0, 'listeners left on the shared signal after every call settled');
    assert.deepEqual(warnings.map((w) => w.name).filter((n) => n === 'MaxListenersExceededWarning'), []);
    // The shared signal still cancels every call that uses it.
    const pending = [client.call('echo', b('x1'), { idempotent: true, signal: scope.signal }), client.call('echo', b('x2'), { signal: scope.signal })];
    scope.abort();
    for (const p of pending) assert.equal((await rejection(p)).code, 'CANCELLED');
  } finally {
    process.off('warning', onWarning);
    await client.close();
    await server.close({ deadlineMs: 0 });
  }
});

test('7: calls failed by one connection failure each get their own RpcError', async () => {
  const port = await freePort();
  const client = createClient({ port });
  try {
    const errors = await Promise.all([1, 2, 3].map((i) => rejection(client.call('echo', b(`e${i}`)))));
    for (const e of errors) {
      assert.equal(e.code, 'CONNECT_FAILED');
      assert.equal(e.attempts, 1);
    }
    assert.equal(new Set(errors).size, 3, 'one error object was shared between calls');
  } finally {
    await client.close();
  }
});

test("8: timeoutMs 0 fails the call as an RpcError: DEADLINE_EXCEEDED, processed 'no'", async () => {
  const port = await freePort();
  const client = createClient({ port });
  try {
    const e = await rejection(client.call('echo', b('zero'), { timeoutMs: 0 }));
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, 'DEADLINE_EXCEEDED');
    assert.equal(e.processed, 'no');
    assert.equal(client.stats().connectionsOpened, 0, 'nothing was sent');
  } finally {
    await client.close();
  }
});
