// Against the running kernel: real sockets, the real /proc. No mocks.
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import {
  readSocketObservations,
  readTcpTables,
  readTcpTablesSync,
  socketOwners,
  socketOwnersSync,
  type TcpRow,
} from '../../src/proc/index.js';

function listen(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve(server));
  });
}

function rowFor(rows: readonly TcpRow[], local: string, remote: string): TcpRow {
  const row = rows.find((r) => r.local === local && r.remote === remote);
  assert.ok(row, `no row ${local} -> ${remote} in /proc/net/tcp`);
  return row;
}

const myCommand = readFileSync('/proc/self/comm', 'utf8').trim();

describe('live loopback connection', () => {
  let server: net.Server;
  let client: net.Socket;
  let serverSide: net.Socket;
  let serverPort: number;
  let clientPort: number;

  before(async () => {
    server = await listen();
    serverPort = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    client = net.connect({ host: '127.0.0.1', port: serverPort });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    serverSide = await accepted;
    clientPort = client.localPort as number;
  });

  after(async () => {
    client?.destroy();
    serverSide?.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('both ends are ESTABLISHED rows with the right ports, and the listener is there', async () => {
    const rows = await readTcpTables({ families: [4] });
    const c = rowFor(rows, `127.0.0.1:${clientPort}`, `127.0.0.1:${serverPort}`);
    const s = rowFor(rows, `127.0.0.1:${serverPort}`, `127.0.0.1:${clientPort}`);
    const l = rowFor(rows, `127.0.0.1:${serverPort}`, '0.0.0.0:0');
    assert.equal(c.state, 'ESTABLISHED');
    assert.equal(s.state, 'ESTABLISHED');
    assert.equal(l.state, 'LISTEN');
    assert.equal(c.uid, process.getuid?.() ?? c.uid);
    assert.ok(c.inode > 0 && s.inode > 0 && c.inode !== s.inode);
  });

  it('socketOwners finds this process holding both ends, at descriptors that really link to them', async () => {
    const rows = readTcpTablesSync({ families: [4] });
    const c = rowFor(rows, `127.0.0.1:${clientPort}`, `127.0.0.1:${serverPort}`);
    const s = rowFor(rows, `127.0.0.1:${serverPort}`, `127.0.0.1:${clientPort}`);
    const inodes = new Set([c.inode, s.inode]);
    for (const scan of [await socketOwners({ inodes }), socketOwnersSync({ inodes }), await socketOwners({ inodes, netnsOf: process.pid })]) {
      for (const inode of inodes) {
        const owners = scan.owners.get(inode);
        assert.ok(owners, `no owner for inode ${inode}`);
        assert.equal(owners.length, 1);
        const [o] = owners as [{ pid: number; command: string; fd: number }];
        assert.equal(o.pid, process.pid);
        assert.equal(o.command, myCommand);
        assert.equal(readlinkSync(`/proc/self/fd/${o.fd}`), `socket:[${inode}]`);
      }
      assert.deepEqual([...scan.owners.keys()].sort(), [...inodes].sort());
    }
  });

  it('readSocketObservations gives both ends this process as owner', async () => {
    const snap = await readSocketObservations({ families: [4] });
    for (const [local, remote] of [
      [`127.0.0.1:${clientPort}`, `127.0.0.1:${serverPort}`],
      [`127.0.0.1:${serverPort}`, `127.0.0.1:${clientPort}`],
    ]) {
      const o = snap.observations.find((x) => x.local === local && x.remote === remote);
      assert.ok(o);
      assert.equal(o.state, 'ESTABLISHED');
      assert.equal(o.owner?.pid, process.pid);
    }
  });

  it('bytes written and not read show up in the peer\'s recvQ', async () => {
    serverSide.pause();
    await new Promise<void>((resolve) => client.write(Buffer.alloc(1000, 1), () => resolve()));
    let row: TcpRow | undefined;
    for (let i = 0; i < 50; i++) {
      row = rowFor(readTcpTablesSync({ families: [4] }), `127.0.0.1:${serverPort}`, `127.0.0.1:${clientPort}`);
      if (row.recvQ === 1000) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(row?.recvQ, 1000);
  });
});

describe('live TIME_WAIT', () => {
  it('the side that closes first leaves a short TIME_WAIT row, inode 0, timer ≤ 60 s', async () => {
    const server = await listen();
    const port = (server.address() as net.AddressInfo).port;
    server.on('connection', (s) => s.resume());
    const client = net.connect({ host: '127.0.0.1', port });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      const local = `127.0.0.1:${client.localPort}`;
      client.resume();
      client.end();
      await new Promise((r) => client.once('close', r));
      let row: TcpRow | undefined;
      for (let i = 0; i < 100 && row?.state !== 'TIME_WAIT'; i++) {
        row = (await readTcpTables({ families: [4] })).find((r) => r.local === local && r.remote === `127.0.0.1:${port}`);
        if (row?.state !== 'TIME_WAIT') await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(row, 'no row for the closed client');
      assert.equal(row.state, 'TIME_WAIT');
      assert.equal(row.inode, 0);
      assert.equal(row.timer.kind, 'time_wait');
      assert.ok(row.timer.remainingMs > 0 && row.timer.remainingMs <= 60_000, String(row.timer.remainingMs));
    } finally {
      client.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
