/**
 * The client against the real rpc server (src/rpc/server.ts): the protocol's happy paths end to
 * end — many calls in flight, the client's idle close landing before the server's (002-g), and
 * server shutdown with calls in flight (GOAWAY, every call run exactly once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, createServer, RpcError, type Handler } from '../../src/rpc/index.js';
import { until } from './client-raw-server.js';

function counting(delayMs = 0): { handler: Handler; runs: Map<string, number> } {
  const runs = new Map<string, number>();
  const handler: Handler = async (req) => {
    const key = req.body.toString();
    runs.set(key, (runs.get(key) ?? 0) + 1);
    if (delayMs > 0) await sleep(delayMs);
    return Buffer.concat([Buffer.from(`${req.method}:`), req.body]);
  };
  return { handler, runs };
}

test('many calls in flight over a small pool, each answered and run once', async () => {
  const { handler, runs } = counting(5);
  const server = createServer(handler, { idleTimeoutMs: 0 });
  const { port } = await server.listen();
  const client = createClient({ port, maxConnections: 2 });
  try {
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    const out = await Promise.all(keys.map((k) => client.call('echo', Buffer.from(k))));
    assert.deepEqual(out.map(String), keys.map((k) => `echo:${k}`));
    for (const k of keys) assert.equal(runs.get(k), 1);
    assert.ok(client.stats().connectionsOpened <= 2);
    assert.equal(server.stats().overloaded, 0);
  } finally {
    await client.close();
    await server.close({ deadlineMs: 1000 });
  }
});

test("the server's maxInFlight from SETTINGS caps the client: no OVERLOADED", async () => {
  const { handler } = counting(20);
  const server = createServer(handler, { idleTimeoutMs: 0, maxInFlight: 2 });
  const { port } = await server.listen();
  const client = createClient({ port, maxConnections: 1 });
  try {
    await Promise.all(Array.from({ length: 8 }, (_, i) => client.call('echo', Buffer.from(`c${i}`))));
    assert.equal(server.stats().overloaded, 0);
    assert.equal(client.pool().connections[0]?.maxInFlight, 2);
  } finally {
    await client.close();
    await server.close({ deadlineMs: 1000 });
  }
});

test('002-g: the client retires an idle connection before the server would; its FIN goes first', async () => {
  const { handler } = counting();
  const server = createServer(handler, { idleTimeoutMs: 400 });
  const { port } = await server.listen();
  const client = createClient({ port, idleMarginMs: 200 });
  try {
    await client.call('echo', Buffer.from('x'));
    await until(() => client.stats().connectionsClosedBy.idle === 1, 2000, 'client idle close');
    await until(() => server.connections === 0, 2000, 'server side closed');
    assert.equal(server.stats().goawaysSent, 0, 'the server never had to send GOAWAY(IDLE)');
    assert.equal(server.stats().peerClosedFirst, 1, 'TIME_WAIT lands on the client');
    assert.equal(client.stats().goawaysReceived, 0);
  } finally {
    await client.close();
    await server.close({ deadlineMs: 1000 });
  }
});

test('server.close() with calls in flight: GOAWAY, the calls finish, each ran once, the client closes first', async () => {
  const { handler, runs } = counting(100);
  const server = createServer(handler, { idleTimeoutMs: 0 });
  const { port } = await server.listen();
  const client = createClient({ port });
  try {
    const keys = ['s1', 's2', 's3'];
    const calls = keys.map((k) => client.call('echo', Buffer.from(k)));
    await until(() => runs.size === 3, 1000, 'handlers running');
    const closing = server.close({ deadlineMs: 3000 });
    assert.deepEqual((await Promise.all(calls)).map(String), keys.map((k) => `echo:${k}`));
    await closing;
    for (const k of keys) assert.equal(runs.get(k), 1);
    await until(() => client.pool().open === 0, 1000, 'client connection closed');
    const s = client.stats();
    assert.equal(s.goawaysReceived, 1);
    assert.equal(s.connectionsClosedBy.goaway, 1);
    assert.equal(server.stats().resets, 0);
    assert.equal(server.stats().halfClosedAfterDrain, 0, 'the client closed within drainMs');
    assert.equal(server.stats().peerClosedFirst, 1);
    // The listener is gone: a new call cannot connect, and says it never ran.
    await assert.rejects(client.call('echo', Buffer.from('late')), (e: RpcError) => e.code === 'CONNECT_FAILED' && e.processed === 'no');
  } finally {
    await client.close();
    await server.close({ deadlineMs: 0 });
  }
});

test('a handler that throws: HANDLER_FAILED, processed yes', async () => {
  const server = createServer(() => {
    throw new Error('out of stock');
  }, { idleTimeoutMs: 0 });
  const { port } = await server.listen();
  const client = createClient({ port });
  try {
    await assert.rejects(client.call('buy', Buffer.from('1')), (e: RpcError) => e.code === 'HANDLER_FAILED' && e.processed === 'yes' && /out of stock/.test(e.message));
  } finally {
    await client.close();
    await server.close({ deadlineMs: 1000 });
  }
});
