// How the rpc server's connections end, checked in the kernel's socket table (/proc/net/tcp via
// src/proc): idle GOAWAY and the client closing first (002-g, 002-i), a request crossing the
// GOAWAY, a client that ignores it (shutdown(SHUT_WR), 003-e), and EOF with calls in flight.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import { createServer, type Handler, type ServerEvents } from '../../src/rpc/index.js';
import { fdOf, tcpInfo } from '../../src/sys/index.js';
import { RawClient, Resources, eventually, rowOf, rowsOnPort, sleep } from './server-helpers.js';

const res = new Resources();
afterEach(() => res.release());

const echo: Handler = (req) => req.body;

describe('rpc server: idle reaping (002-g)', () => {
  it('GOAWAY(IDLE, lastId) after idleTimeoutMs with the connection kept open; the client closes first → no CLOSE_WAIT, TIME_WAIT on the client', async () => {
    const server = res.add(createServer(echo, { idleTimeoutMs: 150, drainMs: 5000 }));
    const closes: ServerEvents['connectionClose'][] = [];
    server.on('connectionClose', (e) => closes.push(e));
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    c.request(1, 'x', 'a');
    c.request(2, 'x', 'b');
    await c.answer(2);
    const t0 = performance.now();
    const g = await c.frame('GOAWAY');
    assert.ok(performance.now() - t0 >= 100, 'GOAWAY only after the idle timeout');
    assert.deepEqual([g.lastId, g.reason, g.idleTimeoutMs], [2, 'IDLE', 150]);
    // The server has not closed: both ends ESTABLISHED, no FIN from the server.
    await sleep(50);
    assert.equal(c.eof, false);
    assert.equal((await rowOf('server', port, c.localPort))?.state, 'ESTABLISHED');
    // The client, told by GOAWAY and with nothing in flight, closes its side.
    c.end();
    await c.waitEof(1000);
    await c.waitClosed(1000);
    const rows = await eventually(
      'server socket gone and client in TIME_WAIT',
      async () => {
        const server = await rowOf('server', port, c.localPort);
        const client = await rowOf('client', port, c.localPort);
        return server === undefined && client?.state === 'TIME_WAIT' ? { client } : undefined;
      },
      5000,
    );
    assert.equal(rows.client.state, 'TIME_WAIT');
    assert.ok(!(await rowsOnPort(port)).some((r) => r.state === 'CLOSE_WAIT'), 'no CLOSE_WAIT on the port');
    const st = server.stats();
    assert.deepEqual(
      { goaways: st.goawaysSent, peerFirst: st.peerClosedFirst, halfClosed: st.halfClosedAfterDrain, resets: st.resets, open: st.connectionsOpen },
      { goaways: 1, peerFirst: 1, halfClosed: 0, resets: 0, open: 0 },
    );
    assert.equal(closes[0]?.peerClosedFirst, true);
  });

  it('a REQUEST that crosses the GOAWAY (id > lastId) is answered REFUSED and never reaches the handler', async () => {
    const ran: number[] = [];
    const server = res.add(
      createServer(
        (req) => {
          ran.push(req.id);
          return req.body;
        },
        { idleTimeoutMs: 100, drainMs: 5000 },
      ),
    );
    const refused: ServerEvents['refused'][] = [];
    server.on('refused', (e) => refused.push(e));
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    c.request(1, 'x');
    await c.answer(1);
    const g = await c.frame('GOAWAY');
    assert.equal(g.lastId, 1);
    // Written as if the GOAWAY had not been read yet (it was on the wire when the client wrote).
    c.request(2, 'transfer', 'must not run');
    c.request(3, 'transfer', 'must not run either');
    const [a2, a3] = [await c.answer(2), await c.answer(3)];
    assert.deepEqual([a2.type === 'ERROR' && a2.code, a3.type === 'ERROR' && a3.code], ['REFUSED', 'REFUSED']);
    assert.deepEqual(ran, [1]);
    assert.deepEqual(
      refused.map((r) => r.id),
      [2, 3],
    );
    assert.equal(server.stats().refused, 2);
    assert.equal(server.stats().calls, 1);
    c.end();
    await c.waitClosed();
  });

  it('a client that ignores GOAWAY: after drainMs the server half-closes (FIN, no RST); late writes are ACKed and discarded; reset at finalCloseMs', async () => {
    const server = res.add(createServer(echo, { idleTimeoutMs: 100, drainMs: 250, finalCloseMs: 2000 }));
    const events: string[] = [];
    let closed: ServerEvents['connectionClose'] | null = null;
    server.on('halfClose', () => events.push('halfClose'));
    server.on('reset', (e) => events.push(`reset:${e.reason}`));
    server.on('connectionClose', (e) => (closed = e));
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    c.request(1, 'x');
    await c.answer(1);
    await c.frame('GOAWAY');
    const tGoaway = performance.now();
    // The client does not close. drainMs later the server's FIN arrives: shutdown(SHUT_WR).
    await c.waitEof(2000);
    const drained = performance.now() - tGoaway;
    assert.ok(drained >= 200, `EOF ${drained} ms after GOAWAY, expected about drainMs (250)`);
    assert.deepEqual(events, ['halfClose']);
    const clientFd = fdOf(c.socket);
    assert.equal(tcpInfo(clientFd).state, 'CLOSE_WAIT', 'the client got a FIN');
    await eventually('server FIN_WAIT2', async () => ((await rowOf('server', port, c.localPort))?.state === 'FIN_WAIT2' ? true : undefined), 5000);
    // The trap of 003-a..d: against a server that close()d, this write would be answered with RST
    // and the next one would fail. Here the server only shut its write side: both are ACKed.
    c.request(2, 'late', 'x'.repeat(100));
    await sleep(60);
    c.request(3, 'later', 'y'.repeat(100));
    await sleep(60);
    assert.equal(c.errno, null, 'no ECONNRESET/EPIPE on the client');
    const s = await rowOf('server', port, c.localPort);
    assert.equal(s?.state, 'FIN_WAIT2', 'the server socket still exists and still reads');
    assert.equal(s?.recvQ, 0, 'the server read (and discarded) the late writes');
    const info = tcpInfo(clientFd);
    assert.deepEqual([info.state, info.unacked, info.notsentBytes], ['CLOSE_WAIT', 0, 0], 'the late writes were sent and ACKed');
    assert.equal(c.frames.filter((f) => f.id === 2 || f.id === 3).length, 0, 'late requests: no answer after the FIN');
    // The client never closes: at finalCloseMs (after the SHUT_WR) the server resets.
    await eventually('reset at finalCloseMs', () => (closed !== null ? true : undefined), 5000);
    const lived = performance.now() - tGoaway;
    assert.ok(lived >= 250 + 1900, `reset ${lived} ms after GOAWAY, expected drainMs + finalCloseMs (2250)`);
    assert.deepEqual(events, ['halfClose', 'reset:final-deadline']);
    assert.ok((closed as ServerEvents['connectionClose'] | null)!.discardedBytes >= 200);
    // The RST takes the client's socket out of CLOSE_WAIT too (tcp_reset()).
    await c.waitReset(2000);
    await eventually('both sockets gone (RST)', async () => ((await rowsOnPort(port)).length === 0 ? true : undefined), 5000);
    const st = server.stats();
    assert.deepEqual([st.halfClosedAfterDrain, st.resets, st.peerClosedFirst], [1, 1, 0]);
  });

  it('a client that closes after the server half-closed: the server reads its FIN and closes, no reset', async () => {
    const server = res.add(createServer(echo, { idleTimeoutMs: 50, drainMs: 100, finalCloseMs: 5000 }));
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    await c.frame('GOAWAY');
    await c.waitEof(2000);
    c.end();
    await c.waitClosed(1000);
    await eventually('server closed', () => (server.connections === 0 ? true : undefined), 1000);
    const st = server.stats();
    assert.deepEqual([st.halfClosedAfterDrain, st.resets], [1, 0]);
    // The server sent the first FIN here, so TIME_WAIT is the server's; no CLOSE_WAIT anywhere.
    const rows = await rowsOnPort(port);
    assert.ok(!rows.some((r) => r.state === 'CLOSE_WAIT'), JSON.stringify(rows.map((r) => r.state)));
  });
});

describe('rpc server: peer EOF (002-i, 002-j)', () => {
  it('EOF with calls in flight: every answer is still delivered, then the server closes (no CLOSE_WAIT left)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const server = res.add(
      createServer(
        async (req) => {
          await gate;
          await sleep(10 * req.id);
          return Buffer.from(`answer ${req.id}`);
        },
        { idleTimeoutMs: 0 },
      ),
    );
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    c.request(1, 'slow');
    c.request(2, 'slow');
    c.request(3, 'slow');
    c.end(); // half-close: the client still reads (004-j)
    // While the calls run the server is in CLOSE_WAIT, as it must be: it owes three answers.
    await eventually('server CLOSE_WAIT while calls run', async () => ((await rowOf('server', port, c.localPort))?.state === 'CLOSE_WAIT' ? true : undefined), 5000);
    assert.equal(c.eof, false);
    release();
    await c.waitEof(2000);
    const answers = c.frames.filter((f) => f.type === 'RESPONSE');
    assert.deepEqual(
      answers.map((f) => f.type === 'RESPONSE' && f.body.toString()),
      ['answer 1', 'answer 2', 'answer 3'],
      'all three answers arrive before the server FIN',
    );
    await c.waitClosed(1000);
    await eventually(
      'server socket gone, client in TIME_WAIT',
      async () => {
        const [s, cl] = [await rowOf('server', port, c.localPort), await rowOf('client', port, c.localPort)];
        return s === undefined && cl?.state === 'TIME_WAIT' ? true : undefined;
      },
      5000,
    );
    assert.equal(server.stats().peerClosedFirst, 1);
    assert.equal(server.stats().resets, 0);
  });

  it('EOF with nothing in flight: the server closes at once', async () => {
    const server = res.add(createServer(echo, { idleTimeoutMs: 0 }));
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    await c.frame('SETTINGS');
    const t0 = performance.now();
    c.end();
    await c.waitEof(1000);
    assert.ok(performance.now() - t0 < 500);
    await c.waitClosed(1000);
    await eventually('no server socket', async () => ((await rowOf('server', port, c.localPort)) === undefined ? true : undefined), 5000);
  });

  it('the idle timer runs only while nothing is in flight: a call longer than idleTimeoutMs is not reaped', async () => {
    const server = res.add(
      createServer(
        async () => {
          await sleep(300);
          return Buffer.from('done');
        },
        { idleTimeoutMs: 100, drainMs: 5000 },
      ),
    );
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    c.request(1, 'long');
    const a = await c.answer(1);
    assert.equal(a.type, 'RESPONSE');
    assert.equal(c.frames.some((f) => f.type === 'GOAWAY'), false, 'no GOAWAY while the call ran');
    const t0 = performance.now();
    await c.frame('GOAWAY');
    assert.ok(performance.now() - t0 >= 80, 'the idle clock restarted when the call ended');
    c.end();
    await c.waitClosed();
  });
});
