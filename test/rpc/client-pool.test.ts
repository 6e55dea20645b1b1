/**
 * The client's pool: idle connections that keep reading (003-h), idle timeout from the server's
 * hint, max lifetime, the bounded queue, self-connect (004-m), keepalive and TCP_USER_TIMEOUT,
 * deadlines with CANCEL, option validation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, encodeGoaway, RpcError, type RpcClient } from '../../src/rpc/index.js';
import { LINUX, getIntOptRaw, getUserTimeout } from '../../src/sys/index.js';
import { rejection, withSetup, b, RawServer, freePort, until, type RequestFrame } from './client-raw-server.js';

test('003-h: an idle connection closed by the server leaves the pool without a call; the next call opens a new one', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      conn.answer(req);
      if (conn.n === 1) setTimeout(() => conn.close(), 50);
    },
  });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    await client.call('echo', b('a'));
    assert.equal(client.pool().open, 1);
    await until(() => client.pool().open === 0, 1000, 'the pool to notice the FIN');
    assert.equal(client.stats().connectionsClosedBy['peer-eof'], 1);
    assert.equal((await client.call('echo', b('b'))).toString(), 'b');
    const s = client.stats();
    assert.equal(s.connectionsOpened, 2);
    assert.equal(s.failed, 0);
    assert.equal(s.transparentRetries + s.idempotentRetries, 0, 'nothing had to be re-sent');
    // host/port alone: one endpoint row, from the one pool's own counters.
    const [row, ...more] = client.endpoints();
    assert.deepEqual(more, []);
    assert.deepEqual(
      { host: row?.host, port: row?.port, state: row?.state, attempts: row?.attempts, opened: row?.connectionsOpened, closed: row?.connectionsClosed, ejections: row?.ejections },
      { host: '127.0.0.1', port: server.port, state: 'active', attempts: 2, opened: 2, closed: 1, ejections: 0 },
    );
  });
});

test('003-i: before reusing an idle connection the client lets the loop poll once, so a FIN already queued is read first', async () => {
  // The server answers and closes in the same tick: on loopback the FIN is in the client's
  // receive queue before the client, resuming from the answer, picks the connection again. With
  // a single setImmediate (undici's yield) half of these calls were written into the dead
  // connection and failed CONNECTION_LOST 'maybe'; the pool must pick a fresh connection instead.
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      conn.answer(req);
      conn.close();
    },
  });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    for (let i = 0; i < 30; i++) assert.equal((await client.call('write', b(`s${i}`))).toString(), `s${i}`);
    const s = client.stats();
    assert.equal(s.failed, 0);
    assert.equal(s.transparentRetries + s.idempotentRetries, 0, 'no call was ever put on a closed connection');
    assert.equal(s.connectionsOpened, 30);
    for (let i = 0; i < 30; i++) assert.equal(server.runsOf(`s${i}`), 1);
  });
});

test('idle timeout = min(own, server hint − margin); the client closes first', async () => {
  const server = await RawServer.start({ settings: { idleTimeoutMs: 400 } });
  const client = createClient({ port: server.port, idleTimeoutMs: 10_000, idleMarginMs: 300 });
  await withSetup(server, client, async () => {
    const t0 = Date.now();
    await client.call('echo', b('x'));
    assert.equal(client.pool().connections[0]?.idleTimeoutMs, 100);
    await until(() => client.stats().connectionsClosedBy.idle === 1, 2000, 'idle close');
    assert.ok(Date.now() - t0 >= 90, 'not before the idle timeout');
    await until(() => server.conns[0]!.clientClosedFirst, 1000, 'client FIN first');
    assert.equal(client.pool().open, 0);
  });
});

test('own idle timeout applies when the server gives no hint; a margin above the hint halves it', async () => {
  const server = await RawServer.start({ settings: { idleTimeoutMs: 0 } });
  const client = createClient({ port: server.port, idleTimeoutMs: 80 });
  const server2 = await RawServer.start({ settings: { idleTimeoutMs: 200 } });
  const client2 = createClient({ port: server2.port, idleMarginMs: 1000 });
  try {
    await withSetup(server, client, async () => {
      await client.call('echo', b('x'));
      assert.equal(client.pool().connections[0]?.idleTimeoutMs, 80);
      await until(() => client.stats().connectionsClosedBy.idle === 1, 1000, 'own idle close');
    });
    await withSetup(server2, client2, async () => {
      await client2.call('echo', b('x'));
      assert.equal(client2.pool().connections[0]?.idleTimeoutMs, 100);
    });
  } finally {
    await client2.close();
    await server2.close();
  }
});

test('max lifetime retires a connection: drain, then FIN from the client', async () => {
  let held: RequestFrame | null = null;
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      if (req.body.toString() === 'slow') held = req;
      else conn.answer(req);
    },
  });
  const client = createClient({ port: server.port, maxLifetimeMs: 100 });
  await withSetup(server, client, async () => {
    const slow = client.call('echo', b('slow'));
    await until(() => held !== null, 1000, 'slow call at the server');
    await sleep(150);
    // Retired but draining: the call in flight still gets its answer; new calls go elsewhere.
    assert.equal(client.pool().draining, 1);
    assert.equal((await client.call('echo', b('fresh'))).toString(), 'fresh');
    assert.equal(server.conns.length, 2);
    server.conns[0]!.answer(held!);
    assert.equal((await slow).toString(), 'slow');
    await until(() => client.stats().connectionsClosedBy['max-lifetime'] >= 1, 1000, 'max-lifetime close');
    assert.ok(server.conns[0]!.clientClosedFirst);
  });
});

test('bounded queue: beyond maxQueue a call fails QUEUE_FULL, processed no; queued calls run as capacity frees', async () => {
  const held: Array<{ conn: import('./client-raw-server.js').RawConn; req: RequestFrame }> = [];
  const server = await RawServer.start({ onRequest: (conn, req) => held.push({ conn, req }) });
  const client = createClient({ port: server.port, maxConnections: 1, maxInFlightPerConnection: 1, maxQueue: 2 });
  await withSetup(server, client, async () => {
    // Calls waiting for a connection count against maxQueue, also while the first one connects.
    const calls = [client.call('echo', b('q1'))];
    await until(() => held.length === 1, 1000, 'first call at the server');
    calls.push(client.call('echo', b('q2')), client.call('echo', b('q3')));
    assert.equal(client.pool().queued, 2);
    const e = await rejection(client.call('echo', b('q4')));
    assert.equal(e.code, 'QUEUE_FULL');
    assert.equal(e.processed, 'no');
    for (let i = 0; i < 3; i++) {
      await until(() => held.length > i, 1000, `call ${i + 1} at the server`);
      held[i]!.conn.answer(held[i]!.req);
    }
    assert.deepEqual((await Promise.all(calls)).map(String), ['q1', 'q2', 'q3']);
    assert.equal(server.runsOf('q4'), 0);
    assert.equal(client.stats().connectionsOpened, 1);
  });
});

test('004-m: a connection to itself is detected, closed, and fails SELF_CONNECT (processed no)', async () => {
  const port = await freePort();
  // Binding the source port to the destination port with nothing listening makes Linux complete
  // a simultaneous open with itself (nc -p 6666 127.0.0.1 6666).
  const client = createClient({ port, localAddress: '127.0.0.1', localPort: port, connectTimeoutMs: 1000 });
  await withSetup(null, client, async () => {
    const e = await rejection(client.call('echo', b('x')));
    assert.equal(e.code, 'SELF_CONNECT');
    assert.equal(e.processed, 'no');
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    const s = client.stats();
    assert.equal(s.connectionsOpened, 1);
    assert.equal(s.connectionsClosedBy['self-connect'], 1);
    assert.equal(client.pool().open, 0);
  });
});

test('nothing listening: CONNECT_FAILED with ECONNREFUSED, processed no; queued calls fail with it', async () => {
  const port = await freePort();
  const client = createClient({ port });
  await withSetup(null, client, async () => {
    const [a, c] = await Promise.allSettled([client.call('echo', b('1')), client.call('echo', b('2'))]);
    for (const r of [a, c]) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as RpcError;
      assert.equal(e.code, 'CONNECT_FAILED');
      assert.equal(e.errno, 'ECONNREFUSED');
      assert.equal(e.processed, 'no');
    }
    assert.equal(client.stats().connectionsOpened, 0);
  });
});

test('TCP keepalive and TCP_USER_TIMEOUT are set on every connection (read back from the kernel)', async () => {
  const server = await RawServer.start();
  const client = createClient({ port: server.port, keepalive: { idleMs: 2000, intervalMs: 1000, count: 4 }, userTimeoutMs: 7000 });
  await withSetup(server, client, async () => {
    await client.call('echo', b('x'));
    const fd = client.pool().connections[0]?.fd;
    assert.equal(typeof fd, 'number');
    const opt = (level: number, name: number): number => {
      const r = getIntOptRaw(fd as number, level, name);
      assert.ok(r.ok);
      return r.value;
    };
    assert.equal(opt(LINUX.SOL_SOCKET, LINUX.SO_KEEPALIVE), 1);
    assert.equal(opt(LINUX.IPPROTO_TCP, LINUX.TCP_KEEPIDLE), 2);
    assert.equal(opt(LINUX.IPPROTO_TCP, LINUX.TCP_KEEPINTVL), 1);
    assert.equal(opt(LINUX.IPPROTO_TCP, LINUX.TCP_KEEPCNT), 4);
    assert.equal(getUserTimeout(fd as number), 7000);
  });
});

test('deadline: the REQUEST carries the time left; when it passes the client sends CANCEL and fails DEADLINE_EXCEEDED (maybe)', async () => {
  const server = await RawServer.start({ onRequest: () => {} });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    const t0 = performance.now();
    const e = await rejection(client.call('slow', b('d1'), { timeoutMs: 120 }));
    const took = performance.now() - t0;
    assert.equal(e.code, 'DEADLINE_EXCEEDED');
    assert.equal(e.processed, 'maybe');
    assert.ok(took >= 110 && took < 1000, `took ${took} ms`);
    const req = server.requests[0]!;
    assert.ok(req.deadlineMs !== null && req.deadlineMs > 0 && req.deadlineMs <= 120, `deadline field ${req.deadlineMs}`);
    await until(() => server.conns[0]!.cancels.includes(req.id), 1000, 'CANCEL at the server');
  });
});

test('deadline while queued: DEADLINE_EXCEEDED with processed no, never sent', async () => {
  const server = await RawServer.start({ onRequest: () => {} });
  const client = createClient({ port: server.port, maxConnections: 1, maxInFlightPerConnection: 1 });
  await withSetup(server, client, async () => {
    void client.call('hold', b('h'), { timeoutMs: 2000 }).catch(() => {});
    await until(() => server.requests.length === 1, 1000, 'first call at the server');
    const e = await rejection(client.call('echo', b('late'), { timeoutMs: 50 }));
    assert.equal(e.code, 'DEADLINE_EXCEEDED');
    assert.equal(e.processed, 'no');
    assert.equal(server.requests.length, 1);
  });
});

test('AbortSignal: a written call is cancelled with a CANCEL frame; processed maybe', async () => {
  const server = await RawServer.start({ onRequest: () => {} });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    const ac = new AbortController();
    const p = client.call('slow', b('c1'), { signal: ac.signal });
    await until(() => server.requests.length === 1, 1000, 'call at the server');
    ac.abort();
    const e = await rejection(p);
    assert.equal(e.code, 'CANCELLED');
    assert.equal(e.processed, 'maybe');
    await until(() => server.conns[0]!.cancels.length === 1, 1000, 'CANCEL at the server');
  });
});

test('GOAWAY instead of SETTINGS (too many connections): the call fails REFUSED, processed no', async () => {
  const server = await RawServer.start({ settings: null, onConnection: (conn) => conn.write(encodeGoaway(0, 'TOO_MANY_CONNECTIONS', 0)) });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    const e = await rejection(client.call('echo', b('x')));
    assert.equal(e.code, 'REFUSED');
    assert.equal(e.processed, 'no');
    assert.match(e.message, /TOO_MANY_CONNECTIONS/);
    assert.equal(client.stats().goawaysReceived, 1);
  });
});

test('a request above the server’s announced maximum fails FRAME_TOO_LARGE and never reaches the wire', async () => {
  const server = await RawServer.start({ settings: { maxPayloadBytes: 1024 } });
  const client = createClient({ port: server.port });
  await withSetup(server, client, async () => {
    const e = await rejection(client.call('put', Buffer.alloc(2000)));
    assert.equal(e.code, 'FRAME_TOO_LARGE');
    assert.equal(e.processed, 'no');
    assert.equal((await client.call('put', b('small'))).toString(), 'small');
    assert.equal(server.requests.length, 1);
  });
});

test('a peer that does not speak the protocol: PROTOCOL_ERROR, connection closed', async () => {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const client = createClient({ port: (srv.address() as net.AddressInfo).port });
  try {
    const e = await rejection(client.call('echo', b('x')));
    assert.ok(e.code === 'PROTOCOL_ERROR' || e.code === 'CONNECT_FAILED', e.code);
    assert.equal(e.processed, 'no');
    assert.equal(client.stats().connectionsClosedBy['protocol-error'], 1);
  } finally {
    await client.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test('a server that does not send SETTINGS in time: connect timeout', async () => {
  const server = await RawServer.start({ settings: null });
  const client = createClient({ port: server.port, connectTimeoutMs: 100 });
  await withSetup(server, client, async () => {
    const e = await rejection(client.call('echo', b('x')));
    assert.equal(e.code, 'CONNECT_FAILED');
    assert.equal(e.errno, 'ETIMEDOUT');
    assert.equal(e.processed, 'no');
  });
});

test('connections spread over the pool up to maxConnections; fewest in flight is chosen', async () => {
  const held: Array<{ conn: import('./client-raw-server.js').RawConn; req: RequestFrame }> = [];
  const server = await RawServer.start({ onRequest: (conn, req) => held.push({ conn, req }) });
  const client = createClient({ port: server.port, maxConnections: 2, maxInFlightPerConnection: 2 });
  await withSetup(server, client, async () => {
    const calls = ['p1', 'p2', 'p3', 'p4', 'p5'].map((x) => client.call('echo', b(x)));
    await until(() => held.length === 4, 1000, 'four calls at the server');
    assert.equal(server.conns.length, 2);
    assert.equal(client.pool().queued, 1);
    for (const h of held.splice(0)) h.conn.answer(h.req);
    await until(() => held.length === 1, 1000, 'fifth call');
    held[0]!.conn.answer(held[0]!.req);
    assert.deepEqual((await Promise.all(calls)).map(String), ['p1', 'p2', 'p3', 'p4', 'p5']);
  });
});

test('options are validated at construction, naming the option', () => {
  assert.throws(() => createClient({ port: 0 }), /port must be an integer in 1\.\.65535/);
  assert.throws(() => createClient({ port: 80, maxConnections: 0 }), /maxConnections/);
  assert.throws(() => createClient({ port: 80, maxQueue: -1 }), /maxQueue/);
  assert.throws(() => createClient({ port: 80, idleTimeoutMs: Number.NaN }), /idleTimeoutMs/);
  assert.throws(() => createClient({ port: 80, keepalive: { idleMs: 1000, intervalMs: 1000, count: 0 } }), /keepalive\.count/);
  assert.throws(() => createClient({ port: 80, interceptors: [42 as never] }), /interceptors/);
  assert.throws(() => createClient({ port: 80, maxPayloadBytes: 1 }), /maxPayloadBytes/);
});

test('call arguments are checked', async () => {
  const client = createClient({ port: 9 });
  try {
    await assert.rejects(client.call('', b('x')), /method must be a non-empty string/);
    await assert.rejects(client.call('m'.repeat(256), b('x')), /at most 255/);
    await assert.rejects(client.call('m', 'text' as never), /body must be a Uint8Array/);
    await assert.rejects(client.call('m', b('x'), { timeoutMs: 0 }), /timeoutMs/);
  } finally {
    await client.close();
  }
});
