/**
 * The hedge and deadline interceptors, and a user's own interceptors in the chain (seed 003-k).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, deadline, hedge, retry, RpcError, type Interceptor } from '../../src/rpc/index.js';
import { rejection, b, RawServer, until, type RawConn, type RequestFrame } from './client-raw-server.js';

test('hedge: a slow first copy is overtaken by the second; the loser is cancelled with CANCEL', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      if (server.requests.length === 1) return; // the first copy hangs
      conn.answer(req);
    },
  });
  const client = createClient({ port: server.port, interceptors: [hedge({ delayMs: 50, maxAttempts: 3 })] });
  try {
    const t0 = performance.now();
    assert.equal((await client.call('get', b('h1'), { idempotent: true })).toString(), 'h1');
    const took = performance.now() - t0;
    assert.ok(took >= 45 && took < 500, `answered by the hedge after ${took.toFixed(0)} ms`);
    assert.equal(server.requests.length, 2, 'the third copy was never needed');
    const first = server.requests[0]!;
    await until(() => server.conns.some((c) => c.cancels.includes(first.id)), 1000, 'CANCEL for the first copy');
    assert.equal(client.stats().hedges, 1);
    assert.equal(client.stats().retries, 0);
  } finally {
    await client.close();
    await server.close();
  }
});

test('hedge: a non-idempotent call passes through with a single copy', async () => {
  const held: Array<{ conn: RawConn; req: RequestFrame }> = [];
  const server = await RawServer.start({ onRequest: (conn, req) => held.push({ conn, req }) });
  const client = createClient({ port: server.port, interceptors: [hedge({ delayMs: 10, maxAttempts: 3 })] });
  try {
    const p = client.call('pay', b('n1'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(held.length, 1);
    held[0]!.conn.answer(held[0]!.req);
    assert.equal((await p).toString(), 'n1');
    assert.equal(client.stats().hedges, 0);
  } finally {
    await client.close();
    await server.close();
  }
});

test('hedge: a copy lost on a broken connection starts the next at once; all lost → last error, processed maybe', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      server.run(req);
      if (conn.n === 1) conn.close();
      else conn.answer(req);
    },
  });
  const client = createClient({ port: server.port, maxIdempotentRetries: 0, interceptors: [hedge({ delayMs: 5000, maxAttempts: 2 })] });
  try {
    const t0 = performance.now();
    assert.equal((await client.call('get', b('x1'), { idempotent: true })).toString(), 'x1');
    assert.ok(performance.now() - t0 < 1000, 'did not wait for delayMs');
  } finally {
    await client.close();
    await server.close();
  }

  const always = await RawServer.start({
    onRequest: (conn, req) => {
      always.run(req);
      conn.close();
    },
  });
  const c2 = createClient({ port: always.port, maxIdempotentRetries: 0, interceptors: [hedge({ delayMs: 20, maxAttempts: 3 })] });
  try {
    const e = await rejection(c2.call('get', b('y1'), { idempotent: true }));
    assert.equal(e.code, 'CONNECTION_LOST');
    assert.equal(e.processed, 'maybe');
    assert.equal(always.runsOf('y1'), 3);
  } finally {
    await c2.close();
    await always.close();
  }
});

test('hedge: HANDLER_FAILED is an answer and ends the call', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      server.run(req);
      conn.error(req.id, 'HANDLER_FAILED', 'no such key');
    },
  });
  const client = createClient({ port: server.port, interceptors: [hedge({ delayMs: 200, maxAttempts: 3 })] });
  try {
    const e = await rejection(client.call('get', b('k'), { idempotent: true }));
    assert.equal(e.code, 'HANDLER_FAILED');
    assert.equal(e.processed, 'yes');
    assert.equal(server.runsOf('k'), 1);
  } finally {
    await client.close();
    await server.close();
  }
});

test('deadline: one deadline over all attempts, carried to the server in every REQUEST', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      server.run(req);
      setTimeout(() => conn.close(), 20);
    },
  });
  const client = createClient({
    port: server.port,
    maxIdempotentRetries: 0,
    interceptors: [deadline({ timeoutMs: 200 }), retry({ maxAttempts: 100, initialBackoffMs: 10, maxBackoffMs: 10, jitter: 0, budget: null })],
  });
  try {
    const t0 = performance.now();
    const e = await rejection(client.call('get', b('d'), { idempotent: true }));
    const took = performance.now() - t0;
    assert.ok(took < 400, `one deadline, not one per attempt (${took.toFixed(0)} ms)`);
    assert.ok(['CONNECTION_LOST', 'DEADLINE_EXCEEDED'].includes(e.code), e.code);
    assert.equal(e.processed, 'maybe');
    const deadlines = server.requests.map((r) => r.deadlineMs ?? -1);
    assert.ok(deadlines.length >= 2, `several attempts (${deadlines.length})`);
    assert.ok(deadlines.every((d) => d > 0 && d <= 200), `deadlines ${deadlines.join(',')}`);
    for (let i = 1; i < deadlines.length; i++) assert.ok((deadlines[i] as number) < (deadlines[i - 1] as number), 'time left shrinks across attempts');
  } finally {
    await client.close();
    await server.close();
  }
});

test('deadline: an earlier deadline set by the caller is kept', async () => {
  const server = await RawServer.start();
  const client = createClient({ port: server.port, interceptors: [deadline({ timeoutMs: 60_000 })] });
  try {
    await client.call('get', b('e'), { timeoutMs: 100 });
    await client.call('get', b('f'));
    const [e, f] = server.requests;
    assert.ok(e!.deadlineMs! <= 100);
    assert.ok(f!.deadlineMs! > 59_000);
    assert.throws(() => deadline({ timeoutMs: 0 }), /timeoutMs/);
    assert.throws(() => hedge({ delayMs: -1 }), /delayMs/);
    assert.throws(() => hedge({ delayMs: 1, maxAttempts: 6 }), /maxAttempts/);
  } finally {
    await client.close();
    await server.close();
  }
});

test('user interceptors: outermost first, may rewrite the call, may answer without calling next', async () => {
  const server = await RawServer.start();
  const log: string[] = [];
  const cache = new Map<string, Buffer>();
  const logging: Interceptor = async (call, next) => {
    log.push(`log in ${call.method}#${call.attempt}`);
    try {
      return await next(call);
    } finally {
      log.push(`log out ${call.method}`);
    }
  };
  const caching: Interceptor = async (call, next) => {
    const key = `${call.method}:${Buffer.from(call.body).toString()}`;
    const hit = cache.get(key);
    if (hit) {
      log.push('cache hit');
      return hit;
    }
    const r = await next({ ...call, body: Buffer.concat([Buffer.from(call.body), b('+tagged')]) });
    cache.set(key, r);
    return r;
  };
  const client = createClient({ port: server.port, interceptors: [logging, caching] });
  try {
    assert.equal((await client.call('get', b('u'))).toString(), 'u+tagged');
    assert.equal((await client.call('get', b('u'))).toString(), 'u+tagged');
    assert.equal(server.requests.length, 1, 'the second call never left the client');
    assert.deepEqual(log, ['log in get#1', 'log out get', 'log in get#1', 'cache hit', 'log out get']);
    assert.equal(client.stats().calls, 2);
    assert.equal(client.stats().succeeded, 2);
  } finally {
    await client.close();
    await server.close();
  }
});
