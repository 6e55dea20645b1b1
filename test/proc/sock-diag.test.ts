// NETLINK_SOCK_DIAG against the running kernel: real sockets in several states, read both ways
// (netlink and /proc/net/tcp{,6}) and compared. No mocks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { isNetlinkUnavailable, readTcpRows, readTcpSockDiag, readTcpTablesSync, type TcpRow } from '../../src/proc/index.js';
import { acceptRaw, bindRaw, closeRaw, connectRaw, listenRaw, sendRaw, shutdownRaw, socketRaw, socknameRaw, SysError, unwrap } from '../../src/sys/index.js';
import { errnoNumber } from '../../src/tcp/errno.js';
import { formatEndpoint, type Endpoint } from '../../src/tcp/address.js';
import type { TcpState } from '../../src/tcp/state.js';
import { FIXTURES } from './fixtures.js';

const open: number[] = [];

function track(fd: number): number {
  open.push(fd);
  return fd;
}

function listener(address: string, backlog: number): { fd: number; ep: Endpoint } {
  const fd = track(unwrap(socketRaw(address.includes(':') ? 6 : 4, false), 'socket'));
  unwrap(bindRaw(fd, { address, port: 0 }), 'bind');
  unwrap(listenRaw(fd, backlog), 'listen');
  return { fd, ep: unwrap(socknameRaw(fd), 'getsockname') };
}

/** A blocking connect to `to`; the kernel completes the handshake without accept(). */
function connectTo(to: Endpoint): { fd: number; ep: Endpoint } {
  const fd = track(unwrap(socketRaw(to.address.includes(':') ? 6 : 4, false), 'socket'));
  unwrap(connectRaw(fd, to), 'connect');
  return { fd, ep: unwrap(socknameRaw(fd), 'getsockname') };
}

function accept(l: number): number {
  return track(unwrap(acceptRaw(l), 'accept4').fd);
}

function close(fd: number): void {
  const i = open.indexOf(fd);
  if (i >= 0) open.splice(i, 1);
  closeRaw(fd);
}

function key(local: Endpoint | string, remote: Endpoint | string): string {
  const s = (e: Endpoint | string): string => (typeof e === 'string' ? e : formatEndpoint(e));
  return `${s(local)}>${s(remote)}`;
}

function index(rows: readonly TcpRow[]): Map<string, TcpRow> {
  return new Map(rows.map((r) => [key(r.local, r.remote), r]));
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function ipv6Loopback(): boolean {
  const r = socketRaw(6, false);
  if (!r.ok) return false;
  const ok = bindRaw(r.value, { address: '::1', port: 0 }).ok;
  closeRaw(r.value);
  return ok;
}

/** The sockets this file makes, by `local>remote`, with the state each must be in. */
const expected = new Map<string, TcpState>();
let backlogListener: Endpoint;
let unread: string;

after(() => {
  for (const fd of open.splice(0)) closeRaw(fd);
});

describe('readTcpSockDiag against /proc/net/tcp, live sockets in several states', () => {
  before(async () => {
    const any = { address: '0.0.0.0', port: 0 };
    // LISTEN with backlog 3 and one connection never accepted (accept queue 1).
    const l1 = listener('127.0.0.1', 3);
    backlogListener = l1.ep;
    expected.set(key(l1.ep, any), 'LISTEN');
    const pending = connectTo(l1.ep);
    expected.set(key(pending.ep, l1.ep), 'ESTABLISHED');

    // ESTABLISHED both ways, 100 bytes unread at the server end.
    const l2 = listener('127.0.0.1', 16);
    expected.set(key(l2.ep, any), 'LISTEN');
    const c2 = connectTo(l2.ep);
    const s2 = accept(l2.fd);
    unwrap(sendRaw(c2.fd, Buffer.alloc(100, 7), 0), 'send');
    expected.set(key(c2.ep, l2.ep), 'ESTABLISHED');
    expected.set(key(l2.ep, c2.ep), 'ESTABLISHED');
    unread = key(l2.ep, c2.ep);
    void s2;

    // The client half-closes, the server never reads: CLOSE_WAIT (server) and FIN_WAIT2 (client).
    const c3 = connectTo(l2.ep);
    accept(l2.fd);
    unwrap(shutdownRaw(c3.fd, 'SHUT_WR'), 'shutdown');
    expected.set(key(c3.ep, l2.ep), 'FIN_WAIT2');
    expected.set(key(l2.ep, c3.ep), 'CLOSE_WAIT');

    // The client closes first, then the server: the client end lingers in TIME_WAIT.
    const c4 = connectTo(l2.ep);
    const s4 = accept(l2.fd);
    close(c4.fd);
    await until('the FIN of the TIME_WAIT pair', () => index(readTcpTablesSync({ families: [4] })).get(key(l2.ep, c4.ep))?.state === 'CLOSE_WAIT');
    close(s4);
    expected.set(key(c4.ep, l2.ep), 'TIME_WAIT');

    if (ipv6Loopback()) {
      const l6 = listener('::1', 8);
      const c6 = connectTo(l6.ep);
      accept(l6.fd);
      expected.set(key(l6.ep, { address: '::', port: 0 }), 'LISTEN');
      expected.set(key(c6.ep, l6.ep), 'ESTABLISHED');
      expected.set(key(l6.ep, c6.ep), 'ESTABLISHED');
    }
    await until('every socket in its state', () => {
      const rows = index(readTcpTablesSync());
      return [...expected].every(([k, st]) => rows.get(k)?.state === st);
    });
  });

  it('finds every socket in the expected state, with the fields /proc shows', () => {
    const diag = index(readTcpSockDiag());
    const proc = index(readTcpTablesSync());
    for (const [k, state] of expected) {
      const d = diag.get(k);
      const p = proc.get(k);
      assert.ok(d, `netlink has no row ${k}`);
      assert.ok(p, `/proc has no row ${k}`);
      assert.equal(d.state, state, k);
      // Everything but the backlog and the timer's resolution is the same number, from the same kernel field.
      const { timer: dt, sendQ: ds, ...dRest } = d;
      const { timer: pt, sendQ: ps, ...pRest } = p;
      assert.deepEqual(dRest, pRest, k);
      if (state !== 'LISTEN') assert.equal(ds, ps, `${k} sendQ`);
      assert.equal(dt.kind, pt.kind, `${k} timer kind`);
      assert.equal(dt.retransmits, pt.retransmits, `${k} retransmits`);
      assert.ok(Math.abs(dt.remainingMs - pt.remainingMs) <= 250, `${k}: timer ${dt.remainingMs} ms over netlink, ${pt.remainingMs} ms in /proc`);
    }
  });

  it('LISTEN: recvQ is the accept queue in both, sendQ the backlog over netlink (0 in /proc)', () => {
    const k = key(backlogListener, { address: '0.0.0.0', port: 0 });
    const d = index(readTcpSockDiag({ families: [4] })).get(k);
    const p = index(readTcpTablesSync({ families: [4] })).get(k);
    assert.equal(d?.recvQ, 1);
    assert.equal(p?.recvQ, 1);
    assert.equal(d?.sendQ, 3);
    assert.equal(p?.sendQ, 0);
  });

  it('unread bytes, TIME_WAIT and FIN_WAIT2 rows look as the kernel keeps them', () => {
    const rows = index(readTcpSockDiag());
    assert.equal(rows.get(unread)?.recvQ, 100);
    for (const [k, st] of expected) {
      const r = rows.get(k) as TcpRow;
      if (st === 'TIME_WAIT') {
        assert.equal(r.inode, 0, 'a TIME_WAIT mini-socket has no file');
        assert.equal(r.timer.kind, 'time_wait');
        assert.ok(r.timer.remainingMs > 0 && r.timer.remainingMs <= 60_000, String(r.timer.remainingMs));
      }
      if (st === 'FIN_WAIT2' || st === 'CLOSE_WAIT') assert.ok(r.inode > 0, `${st} is still held by this process`);
    }
  });

  it('the state filter runs in the kernel and returns those states only', () => {
    const cases: TcpState[][] = [['CLOSE_WAIT'], ['LISTEN', 'TIME_WAIT'], ['FIN_WAIT2'], ['ESTABLISHED']];
    for (const states of cases) {
      const rows = readTcpSockDiag({ states });
      assert.ok(rows.every((r) => states.includes(r.state)), `${states.join(',')}: got ${[...new Set(rows.map((r) => r.state))].join(',')}`);
      const got = new Set(rows.map((r) => key(r.local, r.remote)));
      for (const [k, st] of expected) if (states.includes(st)) assert.ok(got.has(k), `${states.join(',')} misses ${k}`);
    }
    assert.deepEqual(readTcpSockDiag({ states: [] }), []);
  });

  it('ports keep sockets whose local or remote port matches; families picks the tables', () => {
    const port = backlogListener.port;
    const rows = readTcpSockDiag({ ports: [port] });
    assert.ok(rows.length >= 2);
    assert.ok(rows.every((r) => r.localPort === port || r.remotePort === port));
    assert.ok(readTcpSockDiag({ families: [6] }).every((r) => r.family === 6));
    assert.throws(() => readTcpSockDiag({ ports: [70000] }), RangeError);
    assert.throws(() => readTcpSockDiag({ families: [5 as 4] }), RangeError);
  });

  it('readTcpRows: netlink by default; source "proc" gives /proc rows with the same filters', () => {
    const auto = readTcpRows({ states: ['CLOSE_WAIT', 'FIN_WAIT2'] });
    assert.equal(auto.source, 'netlink');
    assert.equal(auto.fallback, undefined);
    const proc = readTcpRows({ source: 'proc', states: ['CLOSE_WAIT', 'FIN_WAIT2'] });
    assert.equal(proc.source, 'proc');
    assert.ok(proc.rows.every((r) => r.state === 'CLOSE_WAIT' || r.state === 'FIN_WAIT2'));
    const mine = [...expected].filter(([, st]) => st === 'CLOSE_WAIT' || st === 'FIN_WAIT2').map(([k]) => k);
    for (const r of [auto.rows, proc.rows]) {
      const got = new Set(r.map((x) => key(x.local, x.remote)));
      for (const k of mine) assert.ok(got.has(k), k);
    }
  });
});

describe('readTcpRows fallback', () => {
  it('a procfs fixture tree is read as /proc text, and says why', () => {
    const root = `${FIXTURES}basic`;
    const r = readTcpRows({ root });
    assert.equal(r.source, 'proc');
    assert.match(r.fallback ?? '', /is not \/proc/);
    assert.deepEqual(r.rows, readTcpTablesSync({ root }));
    const listen = readTcpRows({ root, states: ['LISTEN'] }).rows;
    assert.ok(listen.length > 0 && listen.every((x) => x.state === 'LISTEN'));
    assert.throws(() => readTcpRows({ root, source: 'netlink' }), RangeError);
  });

  it('netlink "unavailable" means the errnos a missing or forbidden sock_diag gives, nothing else', () => {
    for (const name of ['EPROTONOSUPPORT', 'EAFNOSUPPORT', 'EPERM', 'EACCES', 'ENOENT']) assert.ok(isNetlinkUnavailable(new SysError('socket', errnoNumber(name))), name);
    for (const name of ['ENOBUFS', 'EMFILE', 'EINVAL']) assert.ok(!isNetlinkUnavailable(new SysError('recv', errnoNumber(name))), name);
    assert.ok(!isNetlinkUnavailable(new Error('EPERM')));
  });
});
