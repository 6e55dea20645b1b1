/**
 * The client's outcome rules (docs/protocol.md, "What the client may conclude") against raw
 * servers that misbehave precisely. Each server counts how many times each call ran (keyed by
 * body), so "retried" and "ran once" are measured, not assumed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, retry, RpcError, type RpcClient } from '../../src/rpc/index.js';
import { rejection, withSetup, b, RawServer, until } from './client-raw-server.js';

test('a normal call is answered; close() sends the FIN first and counts client-closed', async () => {
  const server = await RawServer.start();
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    assert.equal((await client.call('echo', b('hello'))).toString(), 'hello');
    const s = client.stats();
    assert.equal(s.calls, 1);
    assert.equal(s.succeeded, 1);
    assert.equal(s.connectionsOpened, 1);
    await client.close();
    await until(() => server.conns[0]?.clientClosedFirst === true, 1000, 'client FIN at the server');
    assert.equal(client.stats().connectionsClosedBy['client-closed'], 1);
    await assert.rejects(client.call('echo', b('late')), (e: RpcError) => e.code === 'CLIENT_CLOSED' && e.processed === 'no');
  });
});

test('rule 2: GOAWAY(lastId) with calls in flight — calls above lastId are re-sent elsewhere and each runs once', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      if (conn.n > 1) return conn.answer(req);
      if (conn.requests.length < 3) return;
      const [first, ...rest] = conn.requests;
      // Read three, promise to answer only the first; the others are refused later (the client
      // must not wait for that REFUSED, and must ignore it).
      conn.goaway(first!.id, 'SHUTDOWN');
      setTimeout(() => conn.answer(first!), 30);
      setTimeout(() => rest.forEach((r) => conn.error(r.id, 'REFUSED', 'above lastId')), 60);
    },
  });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    const bodies = ['g1', 'g2', 'g3'];
    const out = await Promise.all(bodies.map((x) => client.call('write', b(x))));
    assert.deepEqual(
      out.map((o) => o.toString()),
      bodies,
    );
    for (const x of bodies) assert.equal(server.runsOf(x), 1, `${x} ran once`);
    const s = client.stats();
    assert.equal(s.goawaysReceived, 1);
    assert.equal(s.transparentRetries, 2);
    assert.equal(s.retries, 0);
    await until(() => client.stats().connectionsClosedBy.goaway === 1, 1000, 'connection 1 closed after GOAWAY');
    await until(() => server.conns[0]!.clientClosedFirst, 1000, 'client FIN first on connection 1');
  });
});

test('rule 2: REFUSED is re-sent transparently on another connection, any method', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => (conn.n === 1 ? conn.error(req.id, 'REFUSED', 'closing') : conn.answer(req)),
  });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    assert.equal((await client.call('write', b('r1'))).toString(), 'r1');
    assert.equal(server.runsOf('r1'), 1);
    assert.equal(server.conns.length, 2);
    assert.equal(client.stats().transparentRetries, 1);
  });
});

test('rule 2 bound: a server that refuses everything cannot loop the client for ever', async () => {
  const server = await RawServer.start({ onRequest: (conn, req) => conn.error(req.id, 'REFUSED') });
  const client = createClient({ port: server.port, maxTransparentRetries: 2 });
  await withSetup(server, client, async () => {
    const e = await rejection(client.call('write', b('x')));
    assert.equal(e.code, 'REFUSED');
    assert.equal(e.processed, 'no');
    assert.equal(e.attempts, 3);
    assert.equal(server.requests.length, 3);
    assert.equal(client.stats().transparentRetries, 2);
  });
});

test('rule 2: OVERLOADED is re-sent after a short backoff', async () => {
  let refusedOnce = false;
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      if (!refusedOnce) {
        refusedOnce = true;
        return conn.error(req.id, 'OVERLOADED');
      }
      conn.answer(req);
    },
  });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    assert.equal((await client.call('write', b('o1'))).toString(), 'o1');
    assert.equal(server.runsOf('o1'), 1);
    assert.equal(client.stats().transparentRetries, 1);
  });
});

for (const how of ['close', 'reset'] as const) {
  const errno = how === 'close' ? 'EOF' : 'ECONNRESET';
  test(`rule 3: read, then ${how === 'close' ? 'FIN' : 'RST'} without answering — non-idempotent fails 'maybe' and is not re-sent`, async () => {
    const server = await RawServer.start({
      onRequest: (conn, req) => {
        server.run(req); // it ran; the answer is lost with the connection
        conn[how]();
      },
    });
    const client = createClient({ port: server.port });
    await withSetup(server, client, async () => {
      const e = await rejection(client.call('charge', b('pay-1')));
      assert.equal(e.code, 'CONNECTION_LOST');
      assert.equal(e.processed, 'maybe');
      assert.equal(e.errno, errno);
      assert.equal(server.runsOf('pay-1'), 1);
      assert.equal(server.requests.length, 1, 'not re-sent');
      const s = client.stats();
      assert.equal(s.transparentRetries + s.idempotentRetries + s.retries, 0);
      await until(() => client.stats().connectionsClosedBy[how === 'close' ? 'peer-eof' : 'peer-reset'] === 1, 1000, 'close reason');
    });
  });

  test(`rule 3: read, then ${how === 'close' ? 'FIN' : 'RST'} without answering — an idempotent call is re-sent`, async () => {
    const server = await RawServer.start({
      onRequest: (conn, req) => {
        if (conn.n > 1) return conn.answer(req);
        server.run(req);
        conn[how]();
      },
    });
    const client = createClient({ port: server.port });
    await withSetup(server, client, async () => {
      assert.equal((await client.call('get', b('read-1'), { idempotent: true })).toString(), 'read-1');
      assert.equal(server.runsOf('read-1'), 2, 'ran twice, which an idempotent call allows');
      assert.equal(client.stats().idempotentRetries, 1);
      assert.equal(client.stats().transparentRetries, 0);
    });
  });
}

test('the trap: a server that half-closes and keeps reading ran the call; EOF is no licence to retry it', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      server.run(req); // runs every call it reads, even after its own FIN
      if (!conn.ended) conn.halfClose();
    },
  });
  // Even a retry interceptor in the chain must not re-send it.
  const client = createClient({ port: server.port, interceptors: [retry({ maxAttempts: 5, initialBackoffMs: 1, maxBackoffMs: 5 })] });
  await withSetup(server, client, async () => {
    const e = await rejection(client.call('transfer', b('t-1')));
    assert.equal(e.code, 'CONNECTION_LOST');
    assert.equal(e.processed, 'maybe');
    assert.equal(e.errno, 'EOF');
    assert.equal(server.runsOf('t-1'), 1);
    assert.equal(server.requests.length, 1, 'a blind retry would have run it again');
    assert.equal(client.stats().retries, 0);
  });
});

test('rule 1: a call still queued in the client when the connection dies was never written and is re-sent', async () => {
  // Connection 1 never reads: a 16 MiB call fills the kernel's buffers and stays in the one
  // outstanding write; a small call behind it stays in the client's own queue. Then RST.
  const server = await RawServer.start({
    stallReading: (conn) => conn.n === 1,
    onConnection: (conn) => {
      if (conn.n === 1) setTimeout(() => conn.reset(), 300);
    },
  });
  const client = createClient({ port: server.port, maxPayloadBytes: 64 << 20 });
  await withSetup(server, client, async () => {
    const big = client.call('upload', Buffer.alloc(16 << 20, 0x61));
    // Calls queued together leave in one write: the small call comes once the big one is being
    // written (connection ready, big call in flight), so it waits in the client's own queue.
    while (client.pool().ready === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setImmediate(resolve));
    const small = client.call('write', b('behind'));
    const [bigResult, smallResult] = await Promise.allSettled([big, small]);
    assert.equal(bigResult.status, 'rejected');
    const e = (bigResult as PromiseRejectedResult).reason as RpcError;
    assert.equal(e.code, 'CONNECTION_LOST');
    assert.equal(e.processed, 'maybe', 'partly in the kernel: may have been read');
    assert.equal(smallResult.status, "fulfilled", String((smallResult as PromiseRejectedResult).reason));
    assert.equal((smallResult as PromiseFulfilledResult<Buffer>).value.toString(), 'behind');
    assert.equal(server.runsOf('behind'), 1);
    assert.equal(server.conns[0]!.requests.length, 0, 'connection 1 never read anything');
    assert.equal(client.stats().transparentRetries, 1);
  });
});

test('rule 4: HANDLER_FAILED is final and says the server ran it', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      server.run(req);
      conn.error(req.id, 'HANDLER_FAILED', 'boom');
    },
  });
  const client = createClient({ port: server.port, interceptors: [retry({ initialBackoffMs: 1, maxBackoffMs: 2 })] });
  await withSetup(server, client, async () => {
    const e = await rejection(client.call('do', b('h1'), { idempotent: true }));
    assert.equal(e.code, 'HANDLER_FAILED');
    assert.equal(e.processed, 'yes');
    assert.match(e.message, /boom/);
    assert.equal(server.runsOf('h1'), 1, 'the default retryOn never retries what ran');
  });
});

test('a written call lost, then refused on the retry, still reports processed maybe', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      if (conn.n === 1) {
        server.run(req);
        return conn.close();
      }
      conn.error(req.id, 'REFUSED');
    },
  });
  const client = createClient({ port: server.port, maxTransparentRetries: 1 });
  await withSetup(server, client, async () => {
    const e = await rejection(client.call('get', b('m1'), { idempotent: true }));
    assert.equal(e.code, 'REFUSED');
    assert.equal(e.processed, 'maybe', 'the first attempt may have run');
  });
});
