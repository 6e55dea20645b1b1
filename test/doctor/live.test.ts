// The doctor against real misbehaving processes on this machine's kernel. No mocks: every
// socket is real, every owner is read from /proc. Each test filters to its own ports, so other
// sockets on the machine do not matter.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';

import { diagnose, DoctorWatch, readKernelState, runDoctor, type Finding, type DoctorSocket } from '../../src/index.js';
import { closingClient, halfClosingClient, kill, killAll, leakyServer, stalledServer, until } from './children.js';

/** The pid of a process reference, or null for none / unreadable. */
function pidOf(p: unknown): number | null {
  return typeof p === 'object' && p !== null && 'pid' in p ? (p as { pid: number }).pid : null;
}

after(killAll);

function only<I extends Finding['id']>(findings: Finding[], id: I): Extract<Finding, { id: I }>[] {
  return findings.filter((f): f is Extract<Finding, { id: I }> => f.id === id);
}

const count = (socks: readonly DoctorSocket[], state: string, pred: (s: DoctorSocket) => boolean = () => true): number =>
  socks.filter((s) => s.state === state && pred(s)).length;

describe('a server that never closes after EOF (seed 002-f)', () => {
  it('read EOF, never closed: close-wait-leak names its pid, Recv-Q 0', async () => {
    const server = await leakyServer('read-eof');
    try {
      const port = server.ready.port as number;
      await closingClient(port);
      await until([port], (s) => count(s.sockets, 'CLOSE_WAIT', (x) => x.recvQ === 0 && x.owner !== null) === 1 && count(s.sockets, 'FIN_WAIT2') === 1);
      const report = await runDoctor({ ports: [port] });
      const [leak, ...more] = only(report.findings, 'close-wait-leak');
      assert.ok(leak, `no close-wait-leak in ${report.findings.map((f) => f.id).join(', ')}`);
      assert.equal(more.length, 0);
      assert.equal(leak.claim, '002-f');
      assert.equal(leak.severity, 'warning');
      assert.deepEqual(leak.evidence.process, { pid: server.pid, command: 'node' });
      assert.equal(leak.evidence.count, 1);
      assert.equal(leak.evidence.eofReadNotClosed, 1);
      assert.equal(leak.evidence.eofUnread, 0);
      assert.deepEqual(leak.evidence.localPorts, [port]);
      assert.match(leak.title, /the EOF was read and close\(\) never called/);
      assert.match(leak.advice, new RegExp(`node\\(${server.pid}\\)`));
      assert.equal(pidOf(leak.sockets[0]?.owner), server.pid);
      assert.equal(report.exitCode, 1);
      // The client's end: closed, process gone: an orphaned FIN_WAIT2, bounded by tcp_fin_timeout.
      const [orphans] = only(report.findings, 'fin-wait2-orphans');
      assert.ok(orphans, 'the client end is an orphaned FIN_WAIT2');
      assert.equal(orphans.evidence.count, 1);
      assert.equal(orphans.severity, 'info');
      // Both ends on this machine: paired (004-d), FIN_WAIT2 end orphaned, CLOSE_WAIT end held by the server.
      const [pair] = only(report.findings, 'teardown-pair');
      assert.equal(pair?.evidence.finWait2, null);
      assert.deepEqual(pair?.evidence.closeWait, { pid: server.pid, command: 'node' });
    } finally {
      await kill(server);
    }
  });

  it('never read: Recv-Q holds the data and the FIN (4 + 1), the finding says it is not reading at all', async () => {
    const server = await leakyServer('never-read');
    try {
      const port = server.ready.port as number;
      await closingClient(port, 2);
      await until([port], (s) => count(s.sockets, 'CLOSE_WAIT', (x) => x.recvQ === 5 && x.owner !== null) === 2);
      const report = await runDoctor({ ports: [port] });
      const [leak] = only(report.findings, 'close-wait-leak');
      assert.ok(leak);
      assert.equal(leak.evidence.process.pid, server.pid);
      assert.equal(leak.evidence.count, 2);
      assert.equal(leak.evidence.eofUnread, 2);
      assert.equal(leak.evidence.recvQBytes, 10);
      assert.match(leak.title, /the EOF was never read \(nobody reads these sockets\)/);
    } finally {
      await kill(server);
    }
  });
});

describe('a server whose event loop is stalled after listen() (seed 001)', () => {
  it('never-accepted: CLOSE_WAIT with no owner, the listener and its pid named', async () => {
    const server = await stalledServer();
    try {
      const port = server.ready.port as number;
      await closingClient(port);
      const snap = await until([port], (s) => count(s.sockets, 'CLOSE_WAIT') === 1 && count(s.sockets, 'FIN_WAIT2') === 1);
      const cw = snap.sockets.find((s) => s.state === 'CLOSE_WAIT');
      assert.equal(cw?.owner, null, 'no process holds a connection that was never accepted');
      assert.equal(cw?.inode, 0);
      const kernel = await readKernelState();
      const findings = diagnose({ sockets: snap.sockets, ownersScanned: true, unreadablePids: snap.unreadablePids, ...kernel });
      assert.equal(only(findings, 'close-wait-leak').length, 0, 'not blamed on a process that never held it');
      const [na] = only(findings, 'never-accepted');
      assert.ok(na, `no never-accepted in ${findings.map((f) => f.id).join(', ')}`);
      assert.equal(na.claim, '001-c');
      assert.equal(na.evidence.listener, `127.0.0.1:${port}`);
      assert.deepEqual(na.evidence.listenerOwner, { pid: server.pid, command: 'node' });
      assert.equal(na.evidence.count, 1);
      assert.equal(na.evidence.acceptQueue, 1);
      assert.deepEqual(na.evidence.recvQ, [5], '4 bytes of "ping" + the FIN');
      assert.match(na.title, /no owner/);
      assert.match(na.advice, /not calling accept\(\)/);
      assert.equal(na.sockets[0]?.state, 'LISTEN');
    } finally {
      await kill(server);
    }
  });
});

describe('a stalled server with a full accept queue (seed 001-a)', () => {
  it('over netlink the backlog is known: the accept queue is judged full (critical), ListenOverflows counted', async (t) => {
    const server = await stalledServer(1);
    const port = server.ready.port as number;
    const clients: net.Socket[] = [];
    try {
      // backlog 1: the kernel completes backlog + 1 = 2 handshakes, then drops SYNs.
      let connected = 0;
      await new Promise<void>((resolve) => {
        for (let i = 0; i < 3; i++) {
          const c = net.connect(port, '127.0.0.1', () => ++connected === 2 && resolve());
          c.on('error', () => {});
          clients.push(c);
        }
      });
      const report = await runDoctor({ ports: [port] });
      if (report.source !== 'netlink') {
        t.skip('sock_diag unavailable: /proc/net/tcp does not show the backlog');
        return;
      }
      const [q] = only(report.findings, 'accept-queue');
      assert.ok(q, report.findings.map((f) => f.id).join(', '));
      assert.equal(q.severity, 'critical');
      assert.deepEqual({ ...q.evidence, somaxconn: null }, { listener: `127.0.0.1:${port}`, listenerOwner: { pid: server.pid, command: 'node' }, acceptQueue: 2, backlog: 1, somaxconn: null, full: true });
      assert.match(q.title, /has 2 connections waiting for accept\(\) of backlog 1: full, new handshakes are dropped/);
      assert.ok(!report.limits.some((l) => /backlogs unknown/.test(l)));
    } finally {
      for (const c of clients) c.destroy();
      await kill(server);
    }
  });
});

describe('a client that half-closes and waits, a server that never closes (seeds 004-j, 004-d)', () => {
  it('FIN_WAIT2 held by the client, CLOSE_WAIT held by the server, paired with both pids', async () => {
    const server = await leakyServer('read-eof');
    const client = await halfClosingClient(server.ready.port as number);
    try {
      const port = server.ready.port as number;
      await until([port], (s) => count(s.sockets, 'FIN_WAIT2') === 1 && count(s.sockets, 'CLOSE_WAIT') === 1);
      const watch = new DoctorWatch();
      await runDoctor({ ports: [port], watch });
      const report = await runDoctor({ ports: [port], watch });

      const [held] = only(report.findings, 'fin-wait2-held');
      assert.ok(held, `no fin-wait2-held in ${report.findings.map((f) => f.id).join(', ')}`);
      assert.equal(held.claim, '004-j');
      assert.deepEqual(held.evidence.process, { pid: client.pid, command: 'node' });
      assert.deepEqual(held.evidence.peers, [{ pid: server.pid, command: 'node' }]);
      assert.equal(held.sockets[0]?.local, `127.0.0.1:${client.ready.localPort}`);
      assert.ok((held.evidence.oldestSeenMs ?? -1) >= 0, 'the watch knows how long it has been seen');

      const [leak] = only(report.findings, 'close-wait-leak');
      assert.equal(leak?.evidence.process.pid, server.pid);
      assert.deepEqual(leak?.evidence.peers, [{ pid: client.pid, command: 'node' }]);

      const [pair, ...others] = only(report.findings, 'teardown-pair');
      assert.equal(others.length, 0);
      assert.equal(pair?.claim, '004-d');
      assert.deepEqual(pair?.evidence.finWait2, { pid: client.pid, command: 'node' });
      assert.deepEqual(pair?.evidence.closeWait, { pid: server.pid, command: 'node' });
      assert.deepEqual(pair?.evidence.connections, [{ finWait2: `127.0.0.1:${client.ready.localPort}`, closeWait: `127.0.0.1:${port}` }]);
      assert.equal(only(report.findings, 'fin-wait2-orphans').length, 0, 'a held FIN_WAIT2 is no orphan');
    } finally {
      await kill(client);
      await kill(server);
    }
  });
});
