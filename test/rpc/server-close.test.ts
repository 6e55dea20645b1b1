// server.close() and maxConnections on real sockets: GOAWAY(SHUTDOWN) everywhere, calls in flight
// answered, clients that close first, stragglers reset at the deadline; connections over the
// limit told GOAWAY(TOO_MANY_CONNECTIONS) with lastId 0.
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';

import { CallAbortedError, createServer, type Handler, type ServerEvents } from '../../src/rpc/index.js';
import { RawClient, Resources, eventually, rowsOnPort, sleep } from './server-helpers.js';

const res = new Resources();
afterEach(() => res.release());

const echo: Handler = (req) => req.body;

function connectFails(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      reject(new Error('connected to a closed server'));
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'EIO'));
  });
}

describe('rpc server: close()', () => {
  it('GOAWAY(SHUTDOWN) on every connection; a call in flight is still answered; polite clients close first; a straggler is reset at the deadline', async () => {
    let abortedBy: unknown = null;
    const server = createServer(
      async (req, ctx) => {
        if (req.method === 'slow') await sleep(150);
        if (req.method === 'forever') {
          await new Promise((r) => ctx.signal.addEventListener('abort', r));
          abortedBy = ctx.signal.reason;
        }
        return req.body;
      },
      { idleTimeoutMs: 0, drainMs: 200, finalCloseMs: 5000 },
    );
    res.onRelease(() => server.close({ deadlineMs: 0 }));
    const resets: ServerEvents['reset'][] = [];
    server.on('reset', (e) => resets.push(e));
    const { port } = await server.listen();
    const polite = res.add(await RawClient.connect(port));
    const busy = res.add(await RawClient.connect(port));
    const straggler = res.add(await RawClient.connect(port));
    for (const c of [polite, busy, straggler]) await c.frame('SETTINGS');
    busy.request(1, 'slow', 'in flight');
    straggler.request(1, 'forever');
    await sleep(20);

    const t0 = performance.now();
    let closedAt = 0;
    const closing = server.close({ deadlineMs: 800 }).then(() => (closedAt = performance.now() - t0));

    const goaways = await Promise.all([polite, busy, straggler].map((c) => c.frame('GOAWAY')));
    assert.deepEqual(
      goaways.map((g) => [g.reason, g.lastId]),
      [
        ['SHUTDOWN', 0],
        ['SHUTDOWN', 1],
        ['SHUTDOWN', 1],
      ],
    );
    // The listener is gone at once: new connections are refused by the kernel.
    assert.equal(await connectFails(port), 'ECONNREFUSED');
    // The polite client closes; the busy one still gets its answer, then closes; a request sent
    // after the GOAWAY is refused unrun.
    polite.end();
    busy.request(2, 'echo', 'after goaway');
    const a1 = await busy.answer(1);
    assert.equal(a1.type === 'RESPONSE' && a1.body.toString(), 'in flight');
    const a2 = await busy.answer(2);
    assert.equal(a2.type === 'ERROR' && a2.code, 'REFUSED');
    busy.end();
    await polite.waitClosed(1000);
    await busy.waitClosed(1000);
    // The straggler ignores everything: its call never ends and it never closes.
    await closing;
    assert.ok(closedAt >= 750 && closedAt < 2000, `close() resolved after ${closedAt} ms; deadline 800`);
    assert.deepEqual(
      resets.map((r) => r.reason),
      ['server-close-deadline'],
    );
    assert.ok(abortedBy instanceof CallAbortedError && abortedBy.code === 'CONNECTION_CLOSED', 'the running handler was aborted');
    await straggler.waitReset(2000);
    const st = server.stats();
    assert.equal(server.connections, 0);
    assert.deepEqual(
      { goaways: st.goawaysSent, refused: st.refused, peerFirst: st.peerClosedFirst, resets: st.resets, closed: st.connectionsClosed },
      { goaways: 3, refused: 1, peerFirst: 2, resets: 1, closed: 3 },
    );
    await eventually('no CLOSE_WAIT, nothing of the server left but TIME_WAIT on the clients', async () => {
      const rows = await rowsOnPort(port);
      return rows.every((r) => r.localPort !== port) ? true : undefined;
    }, 5000);
  });

  it('a straggler gets the server FIN after drainMs (SHUT_WR) before the deadline resets it', async () => {
    const server = createServer(echo, { idleTimeoutMs: 0, drainMs: 100, finalCloseMs: 5000 });
    res.onRelease(() => server.close({ deadlineMs: 0 }));
    const { port } = await server.listen();
    const c = res.add(await RawClient.connect(port));
    await c.frame('SETTINGS');
    const closing = server.close({ deadlineMs: 1000 });
    await c.frame('GOAWAY');
    await c.waitEof(1000);
    assert.equal(server.stats().halfClosedAfterDrain, 1);
    // It closes now, inside the deadline: a normal close, no reset.
    c.end();
    await closing;
    assert.equal(server.stats().resets, 0);
  });

  it('close() before listen, twice, and with nothing open resolves promptly', async () => {
    const idle = createServer(echo);
    await idle.close();
    const server = createServer(echo);
    await server.listen();
    const t0 = performance.now();
    const [a, b] = [server.close(), server.close()];
    assert.equal(a, b, 'the same promise');
    await a;
    assert.ok(performance.now() - t0 < 500);
    assert.equal(server.address, null);
  });

  it("close()'s deadline 0 resets every connection at once", async () => {
    const server = createServer(echo, { idleTimeoutMs: 0 });
    const { port } = await server.listen();
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.connect(port)));
    for (const c of clients) res.add(c);
    for (const c of clients) await c.frame('SETTINGS');
    await server.close({ deadlineMs: 0 });
    assert.equal(server.stats().resets, 3);
    for (const c of clients) await c.waitReset(1000);
  });
});

describe('rpc server: maxConnections', () => {
  it('one connection over the limit gets SETTINGS then GOAWAY(lastId 0, TOO_MANY_CONNECTIONS); its calls are refused; it closes cleanly; later ones are served again', async () => {
    const ran: string[] = [];
    const server = res.add(
      createServer(
        (req) => {
          ran.push(req.body.toString());
          return req.body;
        },
        { maxConnections: 2, idleTimeoutMs: 0, drainMs: 5000 },
      ),
    );
    const modes: string[] = [];
    server.on('connection', (e) => modes.push(e.mode));
    const { port } = await server.listen();
    const a = res.add(await RawClient.connect(port));
    const b = res.add(await RawClient.connect(port));
    await a.frame('SETTINGS');
    await b.frame('SETTINGS');
    const c = res.add(await RawClient.connect(port));
    await c.frame('SETTINGS');
    const g = await c.frame('GOAWAY');
    assert.deepEqual([g.lastId, g.reason], [0, 'TOO_MANY_CONNECTIONS']);
    c.request(1, 'x', 'from c');
    const refusedAnswer = await c.answer(1);
    assert.equal(refusedAnswer.type === 'ERROR' && refusedAnswer.code, 'REFUSED');
    c.end();
    await c.waitClosed(1000);
    assert.equal(server.stats().peerClosedFirst, 1, 'the rejected client closed first: its TIME_WAIT, not ours');
    // The served two work; when one leaves, a new connection is served.
    a.request(1, 'x', 'from a');
    assert.equal((await a.answer(1)).type, 'RESPONSE');
    b.end();
    await b.waitClosed(1000);
    await eventually('b gone on the server', () => (server.connections === 1 ? true : undefined), 1000);
    const d = res.add(await RawClient.connect(port));
    d.request(1, 'x', 'from d');
    assert.equal((await d.answer(1)).type, 'RESPONSE');
    assert.equal(d.frames.some((f) => f.type === 'GOAWAY'), false);
    assert.deepEqual(ran, ['from a', 'from d']);
    assert.deepEqual(modes, ['serve', 'serve', 'over-limit', 'serve']);
    assert.equal(server.stats().rejectedConnections, 1);
  });
});
