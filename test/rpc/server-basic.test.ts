// The rpc server's calls on real loopback sockets: SETTINGS, answers, limits, deadlines,
// cancellation, options, and no descriptor or thread left behind. A raw frame client drives it.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';

import { CallAbortedError, createServer, encodeCancel, encodeError, encodePing, encodeRequest, type Handler, type RpcRequest } from '../../src/rpc/index.js';
import { LINUX, SysError, getIntOptRaw, getUserTimeout, peernameRaw, socknameRaw } from '../../src/sys/index.js';
import { RawClient, Resources, eventually, openFds, sleep, threads } from './server-helpers.js';

const res = new Resources();
afterEach(() => res.release());

async function serve(handler: Handler, options: Parameters<typeof createServer>[1] = {}): Promise<{ port: number; server: ReturnType<typeof createServer> }> {
  const server = res.add(createServer(handler, { idleTimeoutMs: 0, ...options }));
  const { port } = await server.listen();
  return { port, server };
}

async function client(port: number): Promise<RawClient> {
  const c = res.add(await RawClient.connect(port));
  await c.frame('SETTINGS');
  return c;
}

const echo: Handler = (req) => Buffer.concat([Buffer.from(`${req.method}:`), req.body]);

describe('rpc server: calls', () => {
  it('sends SETTINGS first, with its idle timeout and limits', async () => {
    const { port } = await serve(echo, { idleTimeoutMs: 12_345, maxInFlight: 7, maxPayloadBytes: 4096 });
    const c = res.add(await RawClient.connect(port));
    const s = await c.frame('SETTINGS');
    assert.deepEqual(c.frames[0], s, 'SETTINGS is the first frame');
    assert.deepEqual({ idle: s.idleTimeoutMs, inFlight: s.maxInFlight, payload: s.maxPayloadBytes }, { idle: 12_345, inFlight: 7, payload: 4096 });
  });

  it('runs a request and answers with the handler body; the handler sees the request and its context', async () => {
    const seen: { req: RpcRequest; remote: string; connectionId: number; aborted: boolean }[] = [];
    const { port, server } = await serve((req, ctx) => {
      seen.push({ req, remote: ctx.remote, connectionId: ctx.connectionId, aborted: ctx.signal.aborted });
      return Buffer.from(`hello ${req.body.toString()}`);
    });
    const c = await client(port);
    c.request(1, 'greet', 'world', { idempotent: true, deadlineMs: 5000 });
    const a = await c.answer(1);
    assert.equal(a.type, 'RESPONSE');
    assert.equal(a.type === 'RESPONSE' && a.body.toString(), 'hello world');
    assert.equal(seen.length, 1);
    const [s] = seen as [(typeof seen)[number]];
    assert.deepEqual({ ...s.req, body: s.req.body.toString() }, { id: 1, method: 'greet', body: 'world', idempotent: true, deadlineMs: 5000 });
    assert.equal(s.remote, `127.0.0.1:${c.localPort}`);
    assert.equal(s.connectionId, 1);
    assert.equal(s.aborted, false);
    assert.equal(server.stats().calls, 1);
  });

  it('answers by id, in completion order, many calls in flight on one connection (003-j)', async () => {
    const { port } = await serve(async (req) => {
      await sleep(Number(req.body.toString()));
      return req.body;
    });
    const c = await client(port);
    c.request(1, 'sleep', '120');
    c.request(2, 'sleep', '10');
    c.request(3, 'sleep', '60');
    await c.answer(1);
    const order = c.frames.filter((f) => f.type === 'RESPONSE').map((f) => f.id);
    assert.deepEqual(order, [2, 3, 1]);
  });

  it('answers PING with PONG carrying the same 8 bytes', async () => {
    const { port } = await serve(echo);
    const c = await client(port);
    c.write(encodePing('PING', Buffer.from('01234567')));
    const pong = await c.frame('PONG');
    assert.equal(pong.data.toString(), '01234567');
  });

  it('a handler that throws (or rejects, or returns a non-buffer) → ERROR HANDLER_FAILED with its message', async () => {
    const { port, server } = await serve(async (req) => {
      if (req.method === 'sync') throw new Error('sync failure');
      if (req.method === 'async') {
        await sleep(5);
        throw new Error('async failure');
      }
      if (req.method === 'string') throw 'a bare string';
      return 'not a buffer' as unknown as Uint8Array;
    });
    const c = await client(port);
    c.request(1, 'sync');
    c.request(2, 'async');
    c.request(3, 'string');
    c.request(4, 'wrong-type');
    const answers = await Promise.all([1, 2, 3, 4].map((id) => c.answer(id)));
    assert.deepEqual(
      answers.map((a) => (a.type === 'ERROR' ? [a.code, a.message] : [a.type])),
      [
        ['HANDLER_FAILED', 'sync failure'],
        ['HANDLER_FAILED', 'async failure'],
        ['HANDLER_FAILED', 'a bare string'],
        ['HANDLER_FAILED', 'handler returned string, not a Uint8Array'],
      ],
    );
    assert.equal(server.stats().handlerFailures, 4);
  });

  it('a response over maxPayloadBytes is not sent: ERROR RESPONSE_TOO_LARGE instead (the handler ran), the connection stays usable', async () => {
    const { port, server } = await serve((req) => (req.method === 'big' ? Buffer.alloc(200) : Buffer.from('ok')), { maxPayloadBytes: 100 });
    const c = await client(port);
    c.request(1, 'big');
    const a = await c.answer(1);
    assert.equal(a.type, 'ERROR');
    assert.equal(a.type === 'ERROR' && a.code, 'RESPONSE_TOO_LARGE');
    assert.match(a.type === 'ERROR' ? a.message : '', /200 bytes exceeds the server's maxPayloadBytes \(100\)/);
    assert.equal(server.stats().responsesTooLarge, 1);
    c.request(2, 'small');
    assert.equal((await c.answer(2)).type, 'RESPONSE');
  });
});

describe('rpc server: deadlines and cancellation', () => {
  it('handlerTimeoutMs: DEADLINE_EXCEEDED and the handler signal aborted with the reason', async () => {
    let reason: unknown = null;
    const { port, server } = await serve(
      (_req, ctx) =>
        new Promise<Uint8Array>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            setTimeout(() => resolve(Buffer.from('too late')), 10); // its late answer must not be sent
          });
        }),
      { handlerTimeoutMs: 100 },
    );
    const c = await client(port);
    const t0 = performance.now();
    c.request(1, 'slow');
    const a = await c.answer(1);
    const took = performance.now() - t0;
    assert.equal(a.type === 'ERROR' && a.code, 'DEADLINE_EXCEEDED');
    assert.ok(took >= 90 && took < 1000, `answered after ${took} ms`);
    assert.ok(reason instanceof CallAbortedError && reason.code === 'DEADLINE_EXCEEDED', `abort reason ${String(reason)}`);
    await sleep(50);
    assert.equal(c.frames.filter((f) => f.id === 1).length, 1, 'exactly one answer for id 1');
    assert.equal(server.stats().deadlineExceeded, 1);
  });

  it("the request's own deadline wins when shorter; a deadline of 0 is not run", async () => {
    let runs = 0;
    const { port } = await serve(
      async (_req, ctx) => {
        runs++;
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
        return Buffer.alloc(0);
      },
      { handlerTimeoutMs: 10_000 },
    );
    const c = await client(port);
    const t0 = performance.now();
    c.request(1, 'slow', '', { deadlineMs: 80 });
    const a = await c.answer(1);
    assert.equal(a.type === 'ERROR' && a.code, 'DEADLINE_EXCEEDED');
    assert.ok(performance.now() - t0 < 2000);
    c.request(2, 'slow', '', { deadlineMs: 0 });
    const b = await c.answer(2);
    assert.equal(b.type === 'ERROR' && b.code, 'DEADLINE_EXCEEDED');
    assert.equal(runs, 1, 'the call with deadline 0 never reached the handler');
  });

  it('CANCEL aborts the handler and is answered CANCELLED; a CANCEL for an unknown id is ignored', async () => {
    let reason: unknown = null;
    const { port, server } = await serve(async (req, ctx) => {
      if (req.method === 'quick') return Buffer.from('q');
      await new Promise((r) => ctx.signal.addEventListener('abort', r));
      reason = ctx.signal.reason;
      return Buffer.from('after abort');
    });
    const c = await client(port);
    c.request(1, 'wait');
    await sleep(20);
    c.write(encodeCancel(1));
    const a = await c.answer(1);
    assert.equal(a.type === 'ERROR' && a.code, 'CANCELLED');
    assert.ok(reason instanceof CallAbortedError && reason.code === 'CANCELLED');
    c.write(encodeCancel(99));
    c.request(2, 'quick');
    assert.equal((await c.answer(2)).type, 'RESPONSE');
    assert.equal(c.frames.filter((f) => f.id === 1).length, 1);
    assert.equal(server.stats().cancelled, 1);
  });
});

describe('rpc server: limits', () => {
  it('maxInFlight: one call more is answered OVERLOADED and never run; served again once calls finish', async () => {
    const ran: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { port, server } = await serve(
      async (req) => {
        ran.push(req.id);
        if (req.method === 'wait') await gate;
        return Buffer.from('done');
      },
      { maxInFlight: 2 },
    );
    const c = await client(port);
    c.request(1, 'wait');
    c.request(2, 'wait');
    c.request(3, 'wait');
    const a3 = await c.answer(3);
    assert.equal(a3.type === 'ERROR' && a3.code, 'OVERLOADED');
    assert.deepEqual(ran, [1, 2]);
    release();
    await c.answer(1);
    await c.answer(2);
    c.request(4, 'now');
    assert.equal((await c.answer(4)).type, 'RESPONSE');
    assert.deepEqual(ran, [1, 2, 4]);
    assert.equal(server.stats().overloaded, 1);
  });

  it('a request id that does not increase is a protocol error: ERROR 0 PROTOCOL_ERROR, GOAWAY, EOF; never run twice', async () => {
    let runs = 0;
    const { port, server } = await serve(() => {
      runs++;
      return Buffer.from('x');
    });
    const c = await client(port);
    c.request(5, 'a');
    await c.answer(5);
    c.request(5, 'a'); // a replay: must not run again
    const err = await c.frame('ERROR', 0);
    assert.equal(err.code, 'PROTOCOL_ERROR');
    assert.match(err.message, /not greater than the previous id 5/);
    const g = await c.frame('GOAWAY');
    assert.deepEqual([g.lastId, g.reason], [5, 'PROTOCOL_ERROR']);
    await c.waitEof();
    assert.equal(runs, 1);
    assert.equal(server.stats().protocolErrors, 1);
  });

  it('a frame of the server-to-client direction from a client is a protocol error', async () => {
    const { port } = await serve(echo);
    const c = await client(port);
    c.write(encodeError(1, 'REFUSED', 'clients do not send this'));
    const err = await c.frame('ERROR', 0);
    assert.match(err.message, /ERROR frame is sent by servers/);
    await c.waitEof();
  });
});

describe('rpc server: options and listen', () => {
  it('rejects bad options at construction with a message naming the option', () => {
    const h: Handler = () => Buffer.alloc(0);
    assert.throws(() => createServer(h, { idleTimeoutMs: -1 }), /ServerOptions\.idleTimeoutMs must be an integer in 0\.\./);
    assert.throws(() => createServer(h, { drainMs: 1.5 }), /ServerOptions\.drainMs/);
    assert.throws(() => createServer(h, { maxInFlight: 0 }), /ServerOptions\.maxInFlight/);
    assert.throws(() => createServer(h, { maxPayloadBytes: 8 }), /ServerOptions\.maxPayloadBytes must be an integer in 16\.\./);
    assert.throws(() => createServer(h, { handlerTimeoutMs: 2 ** 31 }), /ServerOptions\.handlerTimeoutMs/);
    assert.throws(() => createServer(h, { acceptBackoffMs: { initialMs: 100, maxMs: 10 } }), /acceptBackoffMs\.maxMs \(10\) must be >= acceptBackoffMs\.initialMs \(100\)/);
    assert.throws(() => createServer(h, { keepalive: { idleMs: 1000, intervalMs: 1000, count: 0 } }), /ServerOptions\.keepalive\.count/);
    assert.throws(() => createServer(h, { idleTimeout: 5 } as never), /no option "idleTimeout"/);
    assert.throws(() => createServer('nope' as never), /handler must be a function/);
  });

  it('listen: EADDRINUSE as a SysError; a second listen() and a listen() after close() throw', async () => {
    const { port, server } = await serve(echo);
    const other = res.add(createServer(echo));
    await assert.rejects(other.listen(port), (e: unknown) => e instanceof SysError && e.code === 'EADDRINUSE');
    await assert.rejects(server.listen(), /already|listening/);
    await server.close();
    await assert.rejects(server.listen(), /closed/);
    await assert.rejects(
      new Promise((resolve, reject) => net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject)),
      /ECONNREFUSED/,
    );
  });

  it('applies keepalive and TCP_USER_TIMEOUT to accepted sockets without breaking them (read back from the kernel)', async () => {
    const { port } = await serve(echo, { keepalive: { idleMs: 30_000, intervalMs: 5000, count: 3 }, userTimeoutMs: 20_000 });
    const c = await client(port);
    c.write(encodeRequest(1, 'm', Buffer.from('b')));
    assert.equal((await c.answer(1)).type, 'RESPONSE');
    // The server's end of this connection is a descriptor of this process: local port = the
    // server's, peer port = the client's.
    const fd = readdirSync('/proc/self/fd')
      .map(Number)
      .find((n) => {
        const local = socknameRaw(n);
        const peer = peernameRaw(n);
        return local.ok && peer.ok && local.value.port === port && peer.value.port === c.localPort;
      });
    assert.ok(fd !== undefined, "the server's socket of this connection");
    const opt = (level: number, name: number): number => {
      const r = getIntOptRaw(fd, level, name);
      assert.ok(r.ok);
      return r.value;
    };
    assert.equal(opt(LINUX.SOL_SOCKET, LINUX.SO_KEEPALIVE), 1);
    assert.deepEqual([opt(LINUX.IPPROTO_TCP, LINUX.TCP_KEEPIDLE), opt(LINUX.IPPROTO_TCP, LINUX.TCP_KEEPINTVL), opt(LINUX.IPPROTO_TCP, LINUX.TCP_KEEPCNT)], [30, 5, 3]);
    assert.equal(getUserTimeout(fd), 20_000);
  });

  it('leaves no descriptor and no thread behind after listen, connections and close', async () => {
    // Warm up: Node and libuv open a few descriptors once per process (the first worker, the first socket).
    {
      const { port, server } = await serve(echo);
      const c = await client(port);
      c.end();
      await c.waitClosed();
      await server.close();
    }
    await sleep(50);
    const fds0 = openFds();
    const threads0 = threads();
    for (let round = 0; round < 3; round++) {
      const server = createServer(echo, { idleTimeoutMs: 0, drainMs: 50, finalCloseMs: 50 });
      const { port } = await server.listen();
      const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(port)));
      for (const c of clients) {
        await c.frame('SETTINGS');
        c.request(1, 'x');
        await c.answer(1);
      }
      clients[0]?.end(); // one closes first, the others are shut and reset by close()
      await server.close({ deadlineMs: 200 });
      for (const c of clients) c.destroy();
    }
    await eventually('descriptors back to the baseline', () => (openFds() <= fds0 ? true : undefined), 3000);
    await eventually('threads back to the baseline', () => (threads() <= threads0 ? true : undefined), 3000);
  });
});
