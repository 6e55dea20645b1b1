// readSocketSnapshot against the running kernel and real processes (owners, a socket shared
// with a child, another network namespace, an unprivileged caller), and on the fixture tree.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { readSocketObservations, readSocketSnapshot, readTcpRows, readTcpTablesSync } from '../../src/proc/index.js';
import { setGetdentsEnabled } from '../../src/proc/fd-scan.js';
import { setHelperEnabled } from '../../src/proc/helper.js';
import { needsRoot } from '../lab/helpers.js';
import { FIXTURES } from './fixtures.js';

const PROC_INDEX = fileURLToPath(new URL('../../src/proc/index.js', import.meta.url));

function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Spawns `node --input-type=module -e code` and resolves with its first stdout line. */
async function nodeChild(code: string, opts: { prefix?: string[]; stdio?: (number | 'ignore' | 'pipe' | 'inherit')[]; uid?: number; gid?: number } = {}): Promise<{ child: ChildProcess; line: string }> {
  const argv = [...(opts.prefix ?? []), process.execPath, '--input-type=module', '-e', code];
  const spawnOpts: Parameters<typeof spawn>[2] = { stdio: (opts.stdio ?? ['ignore', 'pipe', 'inherit']) as never };
  if (opts.uid !== undefined) spawnOpts.uid = opts.uid;
  if (opts.gid !== undefined) spawnOpts.gid = opts.gid;
  const child = spawn(argv[0] as string, argv.slice(1), spawnOpts);
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child exited (${String(code)}) before answering`)));
  });
  return { child, line };
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = once(child, 'exit');
  child.kill('SIGKILL');
  await gone;
}

describe('readSocketSnapshot: owners of live sockets', () => {
  let server: net.Server;
  let port: number;
  let holder: ChildProcess | undefined;
  let sharer: ChildProcess | undefined;
  let shared: net.Socket | undefined;
  const accepted: net.Socket[] = [];

  before(async () => {
    server = net.createServer((s) => accepted.push(s));
    port = await listen(server);
  });

  after(async () => {
    await kill(holder);
    await kill(sharer);
    shared?.destroy();
    for (const s of accepted) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('a child process that holds a connection is its owner, at the descriptor that links to it', async () => {
    const code = `import net from 'node:net'; const s = net.connect(${port}, '127.0.0.1', () => console.log(s.localPort)); setInterval(() => {}, 1000);`;
    const started = await nodeChild(code);
    holder = started.child;
    const childPort = Number(started.line);
    const snap = await readSocketSnapshot({ ports: [port] });
    assert.equal(snap.source, 'netlink');
    assert.equal(snap.ownersScanned, true);
    assert.ok(snap.scannedPids > 1);
    const mine = snap.sockets.find((s) => s.local === `127.0.0.1:${childPort}`);
    assert.ok(mine, 'no row for the child end');
    assert.equal(mine.state, 'ESTABLISHED');
    assert.equal(mine.owner?.pid, holder.pid);
    assert.equal(mine.owner?.command, 'node');
    assert.equal(readlinkSync(`/proc/${holder.pid}/fd/${mine.owner.fd}`), `socket:[${mine.inode}]`);
    const serverEnd = snap.sockets.find((s) => s.local === `127.0.0.1:${port}` && s.remote === `127.0.0.1:${childPort}`);
    assert.equal(serverEnd?.owner?.pid, process.pid);
    const listener = snap.sockets.find((s) => s.state === 'LISTEN' && s.local === `127.0.0.1:${port}`);
    assert.equal(listener?.owner?.pid, process.pid);
    assert.equal(listener?.sendQ, 511, "Node's default backlog, shown over netlink");
  });

  it('the same answer without helper threads, from /proc, and with an unfiltered snapshot', async () => {
    const summary = (s: Awaited<ReturnType<typeof readSocketSnapshot>>): string[] =>
      s.sockets
        .filter((o) => o.local.endsWith(`:${port}`) || o.remote.endsWith(`:${port}`))
        .map((o) => `${o.state} ${o.local} ${o.remote} ${o.owner?.pid ?? '-'}/${o.owner?.fd ?? '-'}`)
        .sort();
    const base = summary(await readSocketSnapshot({ ports: [port] }));
    assert.ok(base.length >= 3);
    assert.deepEqual(summary(await readSocketSnapshot({ ports: [port], threads: 0 })), base);
    assert.deepEqual(summary(await readSocketSnapshot({ ports: [port], source: 'proc' })), base);
    assert.deepEqual(summary(await readSocketSnapshot()), base);
    setHelperEnabled(false);
    try {
      assert.deepEqual(summary(await readSocketSnapshot({ ports: [port] })), base);
    } finally {
      setHelperEnabled(true);
    }
    setGetdentsEnabled(false); // the readdir path of architectures without getdents64's number
    try {
      assert.deepEqual(summary(await readSocketSnapshot({ ports: [port], threads: 0 })), base);
    } finally {
      setGetdentsEnabled(true);
    }
  });

  it('a socket inherited by a child has two holders, listed by pid then fd', async () => {
    shared = net.connect(port, '127.0.0.1');
    await once(shared, 'connect');
    const fd = (shared as unknown as { _handle: { fd: number } })._handle.fd;
    // The child gets the same socket as its fd 3 and keeps it.
    const started = await nodeChild(`console.log('up'); setInterval(() => {}, 1000);`, { stdio: ['ignore', 'pipe', 'inherit', fd] });
    sharer = started.child;
    const snap = await readSocketSnapshot({ ports: [shared.localPort as number] });
    const row = snap.sockets.find((s) => s.local === `127.0.0.1:${shared?.localPort}`);
    assert.ok(row);
    const holders = snap.sharedHolders.get(row.inode);
    assert.ok(holders, 'the shared socket is listed in sharedHolders');
    const want = [
      { pid: process.pid, fd },
      { pid: sharer.pid as number, fd: 3 },
    ].sort((a, b) => a.pid - b.pid);
    assert.deepEqual(
      holders.map((h) => ({ pid: h.pid, fd: h.fd })),
      want,
    );
    assert.deepEqual(row.owner, holders[0]);
  });

  it('owners: false and an empty match skip the scan', async () => {
    const none = await readSocketSnapshot({ owners: false, ports: [port] });
    assert.equal(none.ownersScanned, false);
    assert.ok(none.sockets.length > 0 && none.sockets.every((s) => s.owner === null));
    const empty = await readSocketSnapshot({ ports: [1], states: ['SYN_SENT'] });
    assert.deepEqual(empty.sockets, []);
    assert.equal(empty.ownersScanned, false);
    assert.equal(empty.scannedPids, 0);
  });
});

describe('readSocketSnapshot on the fixture tree', () => {
  it('gives the observations readSocketObservations gives (rows from /proc text, same owners)', async () => {
    const root = `${FIXTURES}owners`;
    const old = await readSocketObservations({ root });
    for (const threads of [undefined, 0, 1]) {
      const snap = await readSocketSnapshot(threads === undefined ? { root } : { root, threads });
      assert.equal(snap.source, 'proc');
      assert.deepEqual(snap.sockets, old.observations);
      assert.equal(snap.vanishedPids, old.vanishedPids);
      assert.equal(snap.unreadablePids, old.unreadablePids);
      assert.deepEqual(
        [...snap.sharedHolders],
        [[4242, [{ pid: 123, command: 'nginx', fd: 3 }, { pid: 456, command: 'node worker', fd: 5 }]]],
      );
    }
    setGetdentsEnabled(false);
    try {
      assert.deepEqual((await readSocketSnapshot({ root, threads: 0 })).sockets, old.observations);
    } finally {
      setGetdentsEnabled(true);
    }
    const cw = await readSocketSnapshot({ root, states: ['CLOSE_WAIT'] });
    assert.deepEqual(cw.sockets.map((s) => [s.local, s.owner?.pid]), [['127.0.0.1:8081', 456]]);
  });
});

describe('readSocketSnapshot in another network namespace', { skip: needsRoot }, () => {
  const ns = `tt-sd-${process.pid}`;
  let inside: ChildProcess | undefined;
  let insidePort: number;

  before(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    // `ip netns exec` execs the command, so the child's pid is the node process's.
    const code = `import net from 'node:net'; const s = net.createServer().listen(0, '127.0.0.1', () => console.log(s.address().port)); setInterval(() => {}, 1000);`;
    const started = await nodeChild(code, { prefix: ['ip', 'netns', 'exec', ns] });
    inside = started.child;
    insidePort = Number(started.line);
  });

  after(async () => {
    await kill(inside);
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // never created
    }
  });

  it("pid: reads that namespace's sockets over netlink (setns), and only those", async () => {
    const pid = inside?.pid as number;
    const rows = readTcpRows({ pid });
    assert.equal(rows.source, 'netlink');
    assert.deepEqual(
      rows.rows.map((r) => `${r.state} ${r.local}`),
      [`LISTEN 127.0.0.1:${insidePort}`],
    );
    assert.deepEqual(
      readTcpTablesSync({ pid }).map((r) => r.local),
      [`127.0.0.1:${insidePort}`],
    );
    const snap = await readSocketSnapshot({ pid });
    assert.equal(snap.sockets.length, 1);
    assert.equal(snap.sockets[0]?.owner?.pid, pid);
    assert.equal(snap.sockets[0]?.sendQ, 511);
    // This thread is back in its own namespace: its own listener is visible again.
    const server = net.createServer();
    const port = await listen(server);
    try {
      assert.ok(readTcpRows({ ports: [port] }).rows.some((r) => r.state === 'LISTEN'));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('without CAP_SYS_ADMIN (uid nobody) netlink cannot enter it: auto falls back to /proc/PID/net/tcp and says why', async () => {
    const pid = inside?.pid as number;
    const code =
      `const p = await import(${JSON.stringify(PROC_INDEX)});` +
      `const r = p.readTcpRows({ pid: ${pid} });` +
      `const s = await p.readSocketSnapshot();` +
      `console.log(JSON.stringify({ source: r.source, fallback: r.fallback, rows: r.rows.map((x) => x.local), unreadable: s.unreadablePids, scanned: s.scannedPids }));`;
    const { child, line } = await nodeChild(code, { uid: 65534, gid: 65534 });
    await kill(child);
    const out = JSON.parse(line) as { source: string; fallback: string; rows: string[]; unreadable: number; scanned: number };
    assert.equal(out.source, 'proc');
    assert.match(out.fallback, /(readlink|setns).*(EACCES|EPERM)/, 'it may not even read the namespace link');
    assert.deepEqual(out.rows, [`127.0.0.1:${insidePort}`]);
    assert.ok(out.unreadable > 0, "root's processes are unreadable to nobody, and counted");
    assert.ok(out.scanned >= 1, 'its own process is readable');
  });
});
