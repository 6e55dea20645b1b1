/**
 * The remedies of articles 002 and 003, run on the kernel: each test asserts the observed facts
 * (states, Recv-Q, errnos, epoll bits, segment flags), then the verdicts they lead to.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runOnKernel } from '../../src/lab/kernel/run.js';
import type { CallResult, CallValue } from '../../src/lab/ops.js';
import type { Scenario } from '../../src/lab/scenario.js';
import { TraceView } from '../../src/lab/trace.js';
import nodeServerEof from '../../src/lab/scenarios/node-server-eof.js';
import idleReaper from '../../src/lab/scenarios/idle-reaper.js';
import sigpipeThenClose from '../../src/lab/scenarios/sigpipe-then-close.js';
import nonblockingRead from '../../src/lab/scenarios/nonblocking-read.js';
import poolLivenessCheck from '../../src/lab/scenarios/pool-liveness-check.js';
import multiplexedEof from '../../src/lab/scenarios/multiplexed-eof.js';
import retryOnFreshConnection from '../../src/lab/scenarios/retry-on-fresh-connection.js';
import poolLowRate from '../../src/lab/scenarios/pool-low-rate.js';

const skip = process.getuid?.() !== 0 ? 'needs root for a network namespace' : false;

async function run(sc: Scenario): Promise<TraceView> {
  const t = new TraceView(await runOnKernel(sc));
  assert.ok(t.captured, `packets must be captured for these checks: ${t.trace.env.captureNote ?? ''}`);
  return t;
}

/** The object a call returned (read/drain results, TCP_INFO), or {}. */
function obj(r: CallResult): Record<string, CallValue> {
  const v = r.value;
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {};
}

function list(r: CallResult): string[] {
  return Array.isArray(r.value) ? r.value.map(String) : [];
}

function assertEof(r: CallResult, what: string): void {
  assert.equal(r.ok, true, `${what}: ${r.errno ?? ''}`);
  assert.equal(obj(r).bytes, 0, what);
  assert.equal(obj(r).eof, true, what);
}

function assertFails(r: CallResult, errno: string, what: string): void {
  assert.equal(r.ok, false, `${what} should fail`);
  assert.equal(r.errno, errno, what);
}

function verdicts(t: TraceView): Record<string, string> {
  return Object.fromEntries(t.trace.verdicts.map((v) => [v.claim, v.verdict]));
}

function hasFlag(t: TraceView, sock: string, from: string, to: string, flag: 'FIN' | 'RST'): boolean {
  return t.from(sock, t.segments(from, to)).some((s) => s.flags.includes(flag));
}

test('node-server-eof: only the server that closes on end leaves no CLOSE_WAIT (002-i, 002-j)', { skip }, async () => {
  const t = await run(nodeServerEof);
  // never-read: libuv still read the 4 B and the FIN into the paused stream; no event reached the app.
  assert.equal(t.sock('settled', 'never#1')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('settled', 'never#1')?.recvQ, 0);
  assert.deepEqual(list(t.result('never events')), []);
  // read-ignore-end: told of the EOF, ignores it.
  assert.equal(t.sock('settled', 'ignore#1')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('settled', 'ignore#1')?.recvQ, 0);
  assert.deepEqual(list(t.result('ignore events')), ['data:4', 'end']);
  // close-on-end: FIN back, the client's ACK ends LAST_ACK, the client is left in TIME_WAIT.
  assert.deepEqual(list(t.result('closer events')), ['data:4', 'end', 'close']);
  assert.equal(t.sock('settled', 'closer#1'), undefined);
  assert.equal(t.sock('settled', 'c')?.state, 'TIME_WAIT');
  assert.ok(hasFlag(t, 'closer#1', 'closed', 'settled', 'FIN'), 'closer sent FIN');
  assert.ok(!hasFlag(t, 'never#1', 'closed', 'settled', 'FIN'), 'never-read sent no FIN');
  assert.equal(t.sock('settled', 'a')?.state, 'FIN_WAIT2');
  // More than one paused read's worth: the rest and the FIN stay in the kernel (Recv-Q = data + 1).
  const bulk = t.sock('bulk settled', 'never#2');
  assert.equal(bulk?.state, 'CLOSE_WAIT');
  assert.ok(bulk !== undefined && bulk.recvQ > 1 && bulk.recvQ <= 100001, `Recv-Q ${bulk?.recvQ}`);
  assert.deepEqual(list(t.result('bulk events')), []);
  assert.deepEqual(verdicts(t), { '002-i': 'confirmed', '002-j': 'confirmed' });
});

test('idle-reaper: the reaper destroys its CLOSE_WAIT after the idle time, the naive server keeps it (002-g)', { skip }, async () => {
  const t = await run(idleReaper);
  assert.equal(t.sock('before the timeout', 'naive#1')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('before the timeout', 'reaper#1')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('after the timeout', 'naive#1')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('after the timeout', 'reaper#1'), undefined);
  assert.equal(t.sock('after the timeout', 'b')?.state, 'TIME_WAIT', 'the reaper closed with a FIN the client ACKed');
  assert.deepEqual(list(t.result('reaper events')), ['timeout', 'close']);
  const segs = t.segments('client closed', 'after the timeout');
  const cFin = t.from('b', segs).find((s) => s.flags.includes('FIN'));
  const rFin = t.from('reaper#1', segs).find((s) => s.flags.includes('FIN'));
  assert.ok(cFin && rFin, 'both FINs captured');
  const gap = rFin.epochMs - cFin.epochMs;
  assert.ok(gap >= 280 && gap < 500, `the reaper's FIN came ${gap} ms after the client's, expected ~300`);
  assert.ok(!hasFlag(t, 'naive#1', 'client closed', 'after the timeout', 'FIN'));
  assert.deepEqual(verdicts(t), { '002-g': 'confirmed' });
});

test('sigpipe-then-close: RST, then EPIPE + SIGPIPE; the socket leaves the table but the fd stays until close() (002-h)', { skip }, async () => {
  const t = await run(sigpipeThenClose);
  assert.equal(t.sock('close wait', 's')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('close wait', 's')?.recvQ, 1, 'the FIN counts 1 in Recv-Q until read');
  assert.equal(t.sock('close wait', 'c')?.state, 'FIN_WAIT2');
  const first = t.result('first send');
  assert.deepEqual([first.ok, first.value, first.sigpipe], [true, 3, undefined]);
  assert.ok(hasFlag(t, 'c', 'first send', 'first send', 'RST'), 'the closed client answered the data with RST');
  const second = t.result('second send');
  assertFails(second, 'EPIPE', 'second send');
  assert.equal(second.sigpipe, true);
  assert.equal(obj(t.result('tcp info')).state, 'CLOSE');
  const held = t.sock('later', 's');
  assert.ok(held, 'the process still holds s');
  assert.deepEqual([held.state, held.inTable, held.actor], ['CLOSE', false, 'server']);
  assert.equal(t.sock('later', 'c'), undefined, 'the RST removed the client end too');
  assert.equal(t.sock('closed', 's'), undefined);
  assert.deepEqual(verdicts(t), { '002-h': 'confirmed' });
});

test('nonblocking-read: EAGAIN idle, EPOLLIN+EPOLLRDHUP and 0 after FIN, EPOLLERR+EPOLLHUP and ECONNRESET after RST (002-j, 002-k, 003-l)', { skip }, async () => {
  const t = await run(nonblockingRead);
  assertFails(t.result('idle read'), 'EAGAIN', 'idle read');
  assert.ok(!list(t.result('idle epoll')).includes('EPOLLIN'));
  const fin = list(t.result('epoll after FIN'));
  assert.ok(fin.includes('EPOLLIN') && fin.includes('EPOLLRDHUP'), fin.join(' '));
  assert.ok(!fin.includes('EPOLLERR') && !fin.includes('EPOLLHUP'), fin.join(' '));
  assertEof(t.result('read after FIN'), 'read after FIN');
  assert.equal(t.sock('read after FIN', 's')?.recvQ, 0, 'reading the EOF consumed the FIN');
  assert.equal(t.sock('after close', 's'), undefined, 'no CLOSE_WAIT left');
  assert.equal(t.sock('after close', 'c')?.state, 'TIME_WAIT');
  assert.ok(hasFlag(t, 'r', 'peer reset', 'peer reset', 'RST'));
  const rst = list(t.result('epoll after RST'));
  assert.ok(rst.includes('EPOLLERR') && rst.includes('EPOLLHUP') && rst.includes('EPOLLIN'), rst.join(' '));
  assertFails(t.result('read after RST'), 'ECONNRESET', 'read after RST');
  assertEof(t.result('read again after RST'), 'read after the error was reported');
  assert.deepEqual(verdicts(t), { '002-k': 'confirmed', '002-j': 'confirmed', '003-l': 'confirmed' });
});

test('pool-liveness-check: EAGAIN / 0 / ECONNRESET, and a passed check followed by a lost request (003-h, 003-i)', { skip }, async () => {
  const t = await run(poolLivenessCheck);
  assertFails(t.result('check idle'), 'EAGAIN', 'check on an idle connection');
  assertEof(t.result('check after FIN'), 'check after the server closed');
  assert.equal(t.sock('check after FIN', 'c')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('check after FIN', 'c')?.recvQ, 1, 'MSG_PEEK leaves the FIN queued');
  assertFails(t.result('check after RST'), 'ECONNRESET', 'check after the server reset');
  // The race.
  assertFails(t.result('race check'), 'EAGAIN', 'race check');
  assert.equal(t.sock('race: server closes', 'x')?.state, 'CLOSE_WAIT');
  const sent = t.result('race: request sent');
  assert.deepEqual([sent.ok, sent.value], [true, 7]);
  assert.ok(hasFlag(t, 'sx', 'race: request sent', 'race: response', 'RST'), 'the request drew a RST');
  assertEof(t.result('race: response'), 'response');
  assert.deepEqual(verdicts(t), { '003-h': 'confirmed', '003-i': 'confirmed' });
});

test('multiplexed-eof: a raw send after EOF draws a RST; the rpc client sends nothing into the dead connection (003-j)', { skip }, async () => {
  const t = await run(multiplexedEof);
  // The naive raw socket.
  assert.equal(obj(t.result('server reads')).bytes, 12, 'one read() took all three requests');
  assert.ok(hasFlag(t, 's', 'server closes', 'server closes', 'FIN'));
  assert.deepEqual(obj(t.result('client reads')), { bytes: 4, eof: true });
  const after = t.result('send after EOF');
  assert.deepEqual([after.ok, after.value], [true, 4]);
  assert.ok(hasFlag(t, 's', 'send after EOF', 'send after EOF', 'RST'));
  assertFails(t.result('send after RST'), 'EPIPE', 'send after the RST');
  assert.equal(t.result('send after RST').sigpipe, true);
  // The remedy: the rpc client.
  assert.deepEqual(obj(t.result('rpc: three in flight'))['calls'], [{ method: 'echo', ok: true, bytes: 4 }, 'pending', 'pending']);
  assert.ok(hasFlag(t, 'R#1', 'rpc: server closes', 'rpc: calls after EOF', 'FIN'));
  assert.ok(!hasFlag(t, 'R#1', 'rpc: server closes', 'rpc: calls after EOF', 'RST'));
  const final = obj(t.result('rpc: calls after EOF'));
  const lost = { ok: false, code: 'CONNECTION_LOST', processed: 'maybe', errno: 'EOF' };
  assert.deepEqual(final['earlier'], [{ method: 'echo', ok: true, bytes: 4 }, { method: 'hold', ...lost }, { method: 'hold', ...lost }]);
  assert.deepEqual(final['calls'], [{ method: 'later1', ok: true, bytes: 6 }, { method: 'later2', ok: true, bytes: 6 }]);
  const late = t.from('~R#1', t.segments('rpc: calls after EOF'));
  assert.equal(late.filter((s) => s.length > 0).length, 0, 'no data on R#1 after the EOF');
  assert.ok(t.from('~R#2', t.segments('rpc: calls after EOF')).some((s) => s.length > 0), 'the later calls went to R#2');
  assert.deepEqual(verdicts(t), { '003-j': 'confirmed' });
});

test('retry-on-fresh-connection: EOF on the reaped connection, the answer on a fresh one (003-k)', { skip }, async () => {
  const t = await run(retryOnFreshConnection);
  assert.equal(t.sock('pooled and closed', 'c1')?.state, 'CLOSE_WAIT');
  const send1 = t.result('attempt 1: send');
  assert.deepEqual([send1.ok, send1.value], [true, 4]);
  assert.ok(hasFlag(t, 's1', 'attempt 1: send', 'attempt 1: response', 'RST'));
  assertEof(t.result('attempt 1: response'), 'attempt 1');
  assert.equal(obj(t.result('server reads call')).text, 'call');
  assert.equal(obj(t.result('attempt 2: response')).text, 'answer');
  assert.deepEqual(verdicts(t), { '003-k': 'confirmed' });
});

test('pool-low-rate: failures only on reused pooled connections at a low rate (003-g)', { skip }, async () => {
  const t = await run(poolLowRate);
  const text = (label: string): CallValue | undefined => obj(t.result(label)).text;
  for (const l of ['busy 1', 'busy 2', 'busy 3', 'quiet 1', 'fresh 1', 'fresh 2', 'fresh 3']) assert.equal(text(l), `ok:${l}`, l);
  for (const l of ['quiet 2', 'quiet 3']) {
    const sent = t.result(`${l}: sent`);
    assert.deepEqual([sent.ok, sent.value], [true, l.length], `${l}: the kernel accepted the request`);
    assertEof(t.result(l), `${l} on a reaped connection`);
  }
  assert.ok(hasFlag(t, '~pool1', 'quiet 1', 'quiet 2: sent', 'FIN'), 'the server reaped pool1 between its two calls');
  assert.deepEqual(verdicts(t), { '003-g': 'confirmed' });
});
