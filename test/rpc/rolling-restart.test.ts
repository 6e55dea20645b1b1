// The server side of a rolling restart on one port, with real processes (src/rpc/fleet-server.ts)
// and the kernel behaviour it has to live with: SO_REUSEPORT lets the new process listen while the
// old one drains, and a reuseport listener that closes resets the connections in its accept queue
// unless net.ipv4.tcp_migrate_req is 1 (inet_csk_listen_stop(), net/ipv4/inet_connection_sock.c).
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { createClient, createServer, RpcError } from '../../src/rpc/index.js';
import { LINUX, acceptRaw, bindRaw, closeRaw, connectRaw, inNetns, listenRaw, recvRaw, setIntOptRaw, shutdownRaw, socketRaw, socknameRaw, unwrap, writeNetnsSysctl } from '../../src/sys/index.js';
import { testNetns } from '../trace/netns.js';

const FLEET_SERVER = fileURLToPath(new URL('../../src/rpc/fleet-server.js', import.meta.url));

interface Started {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
}

/** A fleet-server process, killed by pid in t.after even when the test fails. */
async function startServer(t: TestContext, port: number, ledger: string, reusePort: boolean): Promise<Started> {
  const child = fork(FLEET_SERVER, [String(port), ledger, '2', reusePort ? '1' : '0'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const ready = await Promise.race([
    new Promise<{ port: number }>((resolve) => child.once('message', resolve)),
    exited.then((code) => {
      throw new Error(`fleet-server exited ${code} before listening: ${stderr.trim()}`);
    }),
  ]);
  return { child, port: ready.port, exited };
}

function ledgerIds(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

describe('rolling restart on one port (SO_REUSEPORT)', () => {
  it('a single-endpoint client under load sees 0 failed calls across an old → new process handover', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tt-rolling-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const oldLedger = join(dir, 'old');
    const newLedger = join(dir, 'new');
    const old = await startServer(t, 0, oldLedger, true);
    const client = createClient({ host: '127.0.0.1', port: old.port, maxConnections: 4 });
    t.after(() => client.close({ timeoutMs: 1000 }));

    let running = true;
    let next = 0;
    const succeeded: string[] = [];
    const failures: RpcError[] = [];
    const callers = Array.from({ length: 24 }, async () => {
      while (running) {
        const id = `c${next++}`;
        try {
          await client.call('work', Buffer.from(id), { timeoutMs: 5000 });
          succeeded.push(id);
        } catch (e) {
          failures.push(e as RpcError);
        }
      }
    });
    await sleep(300);
    const fresh = await startServer(t, old.port, newLedger, true);
    assert.equal(fresh.port, old.port);
    const beforeHandover = succeeded.length;
    old.child.kill('SIGTERM');
    assert.equal(await old.exited, 0, 'the old process closes gracefully and exits 0');
    await sleep(300);
    running = false;
    await Promise.all(callers);

    assert.deepEqual(
      failures.map((f) => `${f.code} processed=${f.processed}: ${f.message}`),
      [],
    );
    const oldRan = ledgerIds(oldLedger);
    const newRan = ledgerIds(newLedger);
    // Not vacuous: both processes served, and calls went on after the handover.
    assert.ok(oldRan.length > 0 && newRan.length > 0, `old ran ${oldRan.length}, new ran ${newRan.length}`);
    assert.ok(succeeded.length > beforeHandover + 50, `only ${succeeded.length - beforeHandover} calls after the new process started`);
    const runs = new Map<string, number>();
    for (const id of [...oldRan, ...newRan]) runs.set(id, (runs.get(id) ?? 0) + 1);
    assert.deepEqual([...runs].filter(([, n]) => n > 1), [], 'no call ran twice');
    assert.deepEqual(succeeded.filter((id) => !runs.has(id)), [], 'every answered call is in a ledger');
  });

  it('listen() checks reusePort: a non-boolean is a TypeError, the server stays unstarted', async () => {
    const server = createServer(() => Buffer.from('ok'));
    await assert.rejects(server.listen(0, '127.0.0.1', { reusePort: 'yes' as unknown as boolean }), TypeError);
    assert.equal(server.address, null);
  });

  it('without reusePort the new process cannot listen while the old one runs (EADDRINUSE, exit 1, no stack)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tt-rolling-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const old = await startServer(t, 0, join(dir, 'old'), false);
    await assert.rejects(startServer(t, old.port, join(dir, 'new'), true), (e: Error) => {
      assert.match(e.message, /exited 1 before listening: fleet-server: cannot listen .*EADDRINUSE/);
      assert.doesNotMatch(e.message, /\n\s+at /);
      return true;
    });
  });
});

/**
 * A listener that never accepts, in this process (raw descriptor, SO_REUSEPORT): connections to
 * it complete the handshake and wait in its accept queue, as in an old server process between
 * its last accept() and its close(). Closed in t.after unless the test closed it.
 */
function stuckListener(t: TestContext): { port: number; close(): void } {
  const fd = unwrap(socketRaw(4, true), 'socket');
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    closeRaw(fd);
  };
  t.after(close);
  unwrap(setIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEPORT, 1), 'SO_REUSEPORT');
  unwrap(bindRaw(fd, { address: '127.0.0.1', port: 0 }), 'bind');
  unwrap(listenRaw(fd, 16), 'listen');
  return { port: unwrap(socknameRaw(fd), 'getsockname').port, close };
}

const MIGRATE_REQ = (() => {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
  } catch {
    return 'absent';
  }
})();

describe('a connection reset in a closing listener\'s accept queue (tcp_migrate_req=0): the calls waiting for it are re-queued, not failed', { skip: MIGRATE_REQ === '1' ? 'net.ipv4.tcp_migrate_req is 1 here: the kernel moves the queued connection instead of resetting it' : false }, () => {
  for (const kind of ['host/port', 'endpoints'] as const) {
    it(`${kind} client: the call waiting for the reset connection is answered by the new process`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'tt-rolling-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const old = stuckListener(t);
      const target = { host: '127.0.0.1', port: old.port };
      const client = kind === 'host/port' ? createClient({ ...target, maxConnections: 1 }) : createClient({ endpoints: [target], maxConnections: 1 });
      t.after(() => client.close({ timeoutMs: 1000 }));
      const call = client.call('work', Buffer.from('queued-1'), { timeoutMs: 5000 });
      call.catch(() => undefined);
      // The handshake completed into the old listener's queue; the client waits for SETTINGS.
      for (let i = 0; client.pool().connections.every((c) => c.state !== 'handshake'); i++) {
        assert.ok(i < 300, `no connection reached handshake: ${JSON.stringify(client.pool())}`);
        await sleep(10);
      }
      const ledger = join(dir, 'new');
      await startServer(t, old.port, ledger, true);
      old.close(); // inet_csk_listen_stop(): the queued connection is reset (RST)
      const answer = await call.catch((e: unknown) => e);
      assert.ok(!(answer instanceof Error), `the call failed: ${answer instanceof RpcError ? `${answer.code} processed=${answer.processed}: ${answer.message}` : String(answer)}`);
      assert.deepEqual(ledgerIds(ledger), ['queued-1'], 'the new process ran it, once');
      const s = client.stats();
      t.diagnostic(`connections opened ${s.connectionsOpened}, closed by ${JSON.stringify(Object.fromEntries(Object.entries(s.connectionsClosedBy).filter(([, n]) => n > 0)))}, transparent re-sends ${s.transparentRetries}`);
      assert.ok(s.connectionsClosedBy['peer-reset'] >= 1, 'the first connection was reset (else the test proves nothing)');
    });
  }
});

/** Two reuseport listeners on one port in `netns`, `n` clients connected; then the first listener shuts down. */
function closeOneOfTwo(netns: string, n: number): { listeners: [number, number]; clients: number[] } {
  return inNetns(netns, () => {
    const listen = (port: number): number => {
      const fd = unwrap(socketRaw(4, true), 'socket');
      unwrap(setIntOptRaw(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEPORT, 1), 'SO_REUSEPORT');
      unwrap(bindRaw(fd, { address: '127.0.0.1', port }), 'bind');
      unwrap(listenRaw(fd, 128), 'listen');
      return fd;
    };
    const a = listen(0);
    const port = unwrap(socknameRaw(a), 'getsockname').port;
    const b = listen(port);
    const clients: number[] = [];
    for (let i = 0; i < n; i++) {
      const fd = unwrap(socketRaw(4, true), 'socket');
      const r = connectRaw(fd, { address: '127.0.0.1', port });
      if (!r.ok && r.errno !== 'EINPROGRESS') throw new Error(`connect: ${r.errno}`);
      clients.push(fd);
    }
    return { listeners: [a, b] as [number, number], clients };
  });
}

describe('kernel: a closing SO_REUSEPORT listener and its accept queue (needs root for a namespace)', { skip: process.getuid?.() !== 0 ? 'needs root: makes a network namespace to set net.ipv4.tcp_migrate_req' : false }, () => {
  for (const migrate of [0, 1] as const) {
    it(`tcp_migrate_req=${migrate}: queued connections are ${migrate === 0 ? 'reset' : 'moved to the other listener'}`, async (t) => {
      const ns = testNetns(t);
      writeNetnsSysctl(ns.path, 'net.ipv4.tcp_migrate_req', migrate);
      const n = 32;
      const { listeners, clients } = closeOneOfTwo(ns.path, n);
      t.after(() => {
        for (const fd of [...listeners, ...clients]) closeRaw(fd);
      });
      await sleep(100); // loopback handshakes complete; nothing is accepted yet
      unwrap(shutdownRaw(listeners[0], 'SHUT_RD'), 'shutdown(listener)');
      let acceptedByOther = 0;
      for (;;) {
        const r = acceptRaw(listeners[1]);
        if (!r.ok) break;
        acceptedByOther++;
        closeRaw(r.value.fd);
      }
      let reset = 0;
      for (const fd of clients) {
        const r = recvRaw(fd, 1, LINUX.MSG_DONTWAIT);
        if (!r.ok && r.errno === 'ECONNRESET') reset++;
      }
      if (migrate === 0) {
        // The 4-tuple hash put some of 32 on each listener (all on one: odds 2^-31).
        assert.ok(reset > 0, 'some connections were queued on the closed listener and reset');
        assert.equal(reset + acceptedByOther, n);
      } else {
        assert.equal(reset, 0);
        assert.equal(acceptedByOther, n);
      }
    });
  }
});
