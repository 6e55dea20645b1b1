/** The model's small parts: the clock, the transition table, port choice, loss and determinism. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { TCP_STATES, type TcpState } from '../../src/tcp/index.js';
import { Clock, closeState, Endpoint, IllegalTransitionError, isLegalMove, LEGAL_MOVES, seededRandom, World } from '../../src/model/index.js';
import { Lab, value } from './helpers.js';

test('Clock runs events in time order, ties in scheduling order, skips cancelled ones', () => {
  const clock = new Clock();
  const seen: string[] = [];
  clock.schedule(5, () => seen.push(`b@${clock.nowMs}`));
  clock.schedule(1, () => seen.push(`a@${clock.nowMs}`));
  clock.schedule(5, () => seen.push(`c@${clock.nowMs}`));
  const x = clock.schedule(3, () => seen.push('x'));
  clock.cancel(x);
  clock.schedule(2, () => clock.schedule(1, () => seen.push(`nested@${clock.nowMs}`)));
  assert.equal(clock.advance(4), 3); // a, the scheduler at 2, nested
  assert.equal(clock.nowMs, 4);
  assert.deepEqual(seen, ['a@1', 'nested@3']);
  clock.advance(1);
  assert.deepEqual(seen, ['a@1', 'nested@3', 'b@5', 'c@5']);
  clock.schedule(60_000, () => seen.push('late'));
  assert.equal(clock.runUntilIdle(), 1);
  assert.equal(clock.nowMs, 60_005);
});

test('Clock rejects delays a timer cannot hold and a loop that never goes idle', () => {
  const clock = new Clock();
  assert.throws(() => clock.schedule(-1, () => {}), RangeError);
  assert.throws(() => clock.schedule(2 ** 31, () => {}), RangeError);
  assert.throws(() => clock.schedule(Number.NaN, () => {}), RangeError);
  assert.throws(() => clock.advance(-5), RangeError);
  const again = (): void => void clock.schedule(1, again);
  again();
  assert.throws(() => clock.runUntilIdle(100), /still busy/);
});

test('the transition table: every listed move is legal, a few Linux never makes are not, TIME_WAIT is never a full socket state', () => {
  for (const [from, tos] of Object.entries(LEGAL_MOVES) as [TcpState, TcpState[]][]) for (const to of tos) assert.ok(isLegalMove(from, to));
  const never: [TcpState, TcpState][] = [
    ['CLOSE', 'ESTABLISHED'],
    ['ESTABLISHED', 'LISTEN'],
    ['FIN_WAIT2', 'FIN_WAIT1'],
    ['CLOSE_WAIT', 'FIN_WAIT1'],
    ['LAST_ACK', 'TIME_WAIT'],
    ['CLOSING', 'FIN_WAIT2'],
  ];
  for (const [from, to] of never) assert.ok(!isLegalMove(from, to), `${from} → ${to}`);
  for (const s of TCP_STATES) assert.ok(!isLegalMove(s, 'TIME_WAIT'), `${s} → TIME_WAIT`);
  const ep = new Endpoint(new World().host);
  assert.throws(() => ep.setState('ESTABLISHED', 'test'), IllegalTransitionError);
  assert.equal(ep.state, 'CLOSE');
  assert.equal(ep.transitions.length, 0);
});

test('tcp_close_state(): the state close()/SHUT_WR moves to and whether a FIN goes', () => {
  const table: [TcpState, TcpState, boolean][] = [
    ['ESTABLISHED', 'FIN_WAIT1', true],
    ['SYN_RECV', 'FIN_WAIT1', true],
    ['CLOSE_WAIT', 'LAST_ACK', true],
    ['SYN_SENT', 'CLOSE', false],
    ['LISTEN', 'CLOSE', false],
    ['FIN_WAIT1', 'FIN_WAIT1', false],
    ['FIN_WAIT2', 'FIN_WAIT2', false],
    ['CLOSING', 'CLOSING', false],
    ['LAST_ACK', 'LAST_ACK', false],
    ['CLOSE', 'CLOSE', false],
  ];
  for (const [from, to, sendFin] of table) assert.deepEqual(closeState(from), { to, sendFin }, from);
});

test('ports: connect() takes even offsets from ip_local_port_range first, bind(0)/listen() odd ones (__inet_hash_connect)', () => {
  const lab = new Lab({ seed: 42, host: { sysctls: { ip_local_port_range: [20000, 20999] } } });
  const { addr } = lab.listen();
  const lport = Number(addr.split(':')[1]);
  assert.equal((lport - 20000) % 2, 1);
  for (let i = 0; i < 20; i++) {
    const c = lab.connect(addr, `c${i}`);
    const port = Number(lab.ep(lab.client, c).local.split(':')[1]);
    assert.ok(port >= 20000 && port <= 20999);
    assert.equal((port - 20000) % 2, 0, `port ${port}`);
  }
});

test('ports: a range of two ports admits two connections, the third connect() fails EADDRNOTAVAIL', () => {
  const lab = new Lab({ host: { sysctls: { ip_local_port_range: [40000, 40001] } } });
  const srv = lab.w.host.spawn('srv');
  const L = value(srv.socket());
  value(srv.bind(L, 8080));
  value(srv.listen(L));
  for (let i = 0; i < 2; i++) lab.connect('127.0.0.1:8080', `c${i}`);
  const fd = value(lab.client.socket());
  assert.deepEqual(lab.client.connect(fd, '127.0.0.1:8080'), { ok: false, errno: 'EADDRNOTAVAIL' });
  assert.deepEqual(srv.bind(value(srv.socket()), 8080), { ok: false, errno: 'EADDRINUSE' });
});

test('bad settings are refused with a RangeError', () => {
  assert.throws(() => new World({ host: { sysctls: { ip_local_port_range: [5000, 4000] } } }), RangeError);
  assert.throws(() => new World({ host: { sysctls: { tcp_fin_timeout: -1 } } }), RangeError);
  assert.throws(() => new World({ host: { sysctls: { tcp_fin_timeout: 3_000_000 } } }), RangeError);
  assert.throws(() => new World({ link: { loss: 2 } }), RangeError);
});

/** Request/response then close, under a lossy, jittery link. */
function lossyRun(seed: number): { wire: string[]; got: string; states: (string | null)[] } {
  const lab = new Lab({ seed, link: { loss: 0.2, jitterMs: 0.5 } });
  const { fd: L, addr } = lab.listen();
  const c = lab.connect(addr);
  lab.advance(20_000);
  const s = value(lab.server.accept(L));
  lab.ep(lab.server, s);
  value(lab.client.write(c, 'hello, lossy world'));
  lab.advance(20_000);
  const got = value(lab.server.read(s)).text;
  value(lab.client.close(c));
  lab.advance(20_000);
  value(lab.server.close(s));
  lab.advance(30_000);
  return { wire: lab.wire(), got, states: [lab.clientState(c), lab.serverState(s)] };
}

test('loss and jitter come from the seeded PRNG: the same seed gives the same run; retransmission delivers the data anyway', () => {
  const a = lossyRun(7);
  const b = lossyRun(7);
  assert.deepEqual(a, b);
  assert.equal(a.got, 'hello, lossy world');
  const other = lossyRun(8);
  assert.notDeepEqual(other.wire, a.wire);
  const r1 = seededRandom(1);
  const r2 = seededRandom(1);
  for (let i = 0; i < 5; i++) assert.equal(r1.next(), r2.next());
});

test('src/model is pure: no node: modules, no real clock, no timers, no Math.random; only src/tcp types from outside', () => {
  const dir = fileURLToPath(new URL('../../../src/model/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 8);
  for (const f of files) {
    const text = readFileSync(`${dir}${f}`, 'utf8');
    for (const m of text.matchAll(/from '([^']+)'/g)) {
      const spec = m[1]!;
      assert.ok(spec.startsWith('./') || spec === '../tcp/index.js', `${f} imports ${spec}`);
      if (spec === '../tcp/index.js') assert.match(text, /import type \{[^}]*\} from '\.\.\/tcp\/index\.js'/, `${f}: src/tcp only as types`);
    }
    assert.doesNotMatch(text, /\bDate\b|setTimeout|setInterval|Math\.random|performance\.now|process\./, f);
  }
});

test('bad input to calls: unknown descriptor EBADF, malformed address EINVAL, a dead process ESRCH', () => {
  const lab = new Lab();
  assert.deepEqual(lab.client.read(99), { ok: false, errno: 'EBADF' });
  const fd = value(lab.client.socket());
  for (const bad of ['nonsense', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '300.1.1.1:80', '[::1]:80']) {
    assert.deepEqual(lab.client.connect(fd, bad), { ok: false, errno: 'EINVAL' }, bad);
  }
  assert.deepEqual(lab.client.bind(fd, 70000), { ok: false, errno: 'EINVAL' });
  assert.deepEqual(lab.client.setLinger(fd, true, -1), { ok: false, errno: 'EINVAL' });
  value(lab.client.exit());
  assert.deepEqual(lab.client.socket(), { ok: false, errno: 'ESRCH' });
});

test('lossy links, 40 seeds: no illegal move, the bytes arrive intact and in order, and every socket is gone once the timers ran', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const lab = new Lab({ seed, link: { loss: 0.25, jitterMs: 2 } });
    const { fd: L, addr } = lab.listen();
    const c = lab.connect(addr);
    lab.advance(30_000);
    assert.deepEqual(lab.client.connected(c), { ok: true }, `seed ${seed}`);
    const s = value(lab.server.accept(L));
    const sent = Array.from({ length: 20 }, (_, i) => `msg${i};`).join('');
    for (let i = 0; i < 20; i++) {
      value(lab.client.write(c, `msg${i};`));
      lab.advance(0.3);
    }
    let got = '';
    for (let t = 0; t < 600 && got.length < sent.length; t++) {
      const r = lab.server.read(s);
      if (r.ok) got += r.value!.text;
      lab.advance(100);
    }
    assert.equal(got, sent, `seed ${seed}`);
    value(lab.client.close(c));
    lab.advance(30_000);
    assert.equal(value(lab.server.read(s)).eof, true, `seed ${seed}`);
    value(lab.server.close(s));
    value(lab.server.close(L));
    lab.w.clock.runUntilIdle();
    assert.deepEqual(lab.w.host.observe(), [], `seed ${seed}`);
  }
});
