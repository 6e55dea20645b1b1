/**
 * The pool's waits on a virtual clock (test/rpc/virtual-clock.ts), real sockets otherwise: the
 * backoff after OVERLOADED and between connection attempts is exactly what backoffMs() draws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, encodeGoaway } from '../../src/rpc/index.js';
import { b, rejection, RawServer, until, withSetup } from './client-raw-server.js';
import { settle, VirtualClock } from './virtual-clock.js';

test('OVERLOADED: the call is re-sent exactly the drawn backoff later (first ceiling 10 ms, draw 0.5 → 7.5 ms)', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => (server.requests.length === 1 ? conn.error(req.id, 'OVERLOADED') : conn.answer(req)),
  });
  const clock = new VirtualClock();
  clock.draws.push(0.5);
  const client = createClient({ port: server.port, clock });
  await withSetup(server, client, async () => {
    const call = client.call('echo', b('o1'));
    await until(() => clock.requested.includes(7.5), 2000, 'the pool to wait 7.5 ms');
    await clock.advance(7);
    assert.equal(server.requests.length, 1, 're-sent before the backoff ended');
    await clock.advance(0.5);
    assert.equal((await call).toString(), 'o1');
    assert.equal(server.requests.length, 2);
    assert.equal(client.stats().transparentRetries, 1);
  });
});

test('a connection turned away (GOAWAY TOO_MANY_CONNECTIONS) is re-dialled only after the connection backoff (50 ms ceiling, draw 0 → 50 ms)', async () => {
  const server = await RawServer.start({ onConnection: (conn) => conn.write(encodeGoaway(0, 'TOO_MANY_CONNECTIONS', 0)) });
  const clock = new VirtualClock();
  clock.draws.push(0, 0);
  const client = createClient({ port: server.port, clock });
  await withSetup(server, client, async () => {
    const e1 = await rejection(client.call('echo', b('1')));
    assert.equal(e1.code, 'REFUSED');
    assert.equal(e1.processed, 'no');
    assert.equal(client.pool().connectFailures, 1);
    // Within the backoff: no dial, the call fails at once with the last attempt's error.
    await clock.advance(49);
    const e2 = await rejection(client.call('echo', b('2')));
    assert.equal(e2.code, 'REFUSED');
    assert.notEqual(e2, e1, 'a fresh error per call');
    await settle();
    assert.equal(server.conns.length, 1, 'dialled again within the backoff');
    await clock.advance(1);
    const e3 = await rejection(client.call('echo', b('3')));
    assert.equal(e3.code, 'REFUSED');
    await until(() => server.conns.length === 2, 1000, 'the second attempt');
    assert.equal(client.pool().connectFailures, 2);
    assert.equal(client.pool().target, 1, 'GOAWAY(TOO_MANY_CONNECTIONS) lowered the target');
  });
});
