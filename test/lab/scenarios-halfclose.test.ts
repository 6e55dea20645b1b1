/**
 * The half-close scenarios on the real kernel: each test runs one scenario and asserts what the
 * kernel did (states, queues, errnos, segment flags), not just that a verdict came out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runOnKernel } from '../../src/lab/kernel/run.js';
import type { CallResult } from '../../src/lab/ops.js';
import type { Scenario } from '../../src/lab/scenario.js';
import { TraceView } from '../../src/lab/trace.js';
import { flagString } from '../../src/tcp/segment.js';
import writeAfterCloseVsShutdown from '../../src/lab/scenarios/write-after-close-vs-shutdown.js';
import idleCloseThenWrite from '../../src/lab/scenarios/idle-close-then-write.js';
import finWait2ForeverVsTimeout from '../../src/lab/scenarios/fin-wait2-forever-vs-timeout.js';
import selfConnect from '../../src/lab/scenarios/self-connect.js';
import simultaneousClose from '../../src/lab/scenarios/simultaneous-close.js';
import sharedDescriptor from '../../src/lab/scenarios/shared-descriptor.js';
import acceptedNeverClosed from '../../src/lab/scenarios/accepted-never-closed.js';

const skip = process.getuid?.() !== 0 ? 'needs root for a network namespace' : false;

async function run(sc: Scenario): Promise<TraceView> {
  const trace = await runOnKernel(sc);
  assert.ok(trace.segments !== null, `packets were not captured: ${trace.env.captureNote}`);
  return new TraceView(trace);
}

function verdictOf(t: TraceView, claim: string): string {
  const v = t.trace.verdicts.find((x) => x.claim === claim);
  assert.ok(v, `no verdict for ${claim}`);
  return v.verdict;
}

/** `{ bytes, eof }` of a read or drain result. */
function readOf(r: CallResult): { bytes: number; eof: boolean } {
  assert.ok(r.ok, `read failed: ${r.errno}`);
  const v = r.value as { bytes: number; eof: boolean };
  return { bytes: v.bytes, eof: v.eof };
}

/** Flags (`S`, `S.`, `F.`, `R` …) of the segments `name` sent from step `from` to step `to`. */
function flagsFrom(t: TraceView, name: string, from: string, to: string = from): string[] {
  return t.from(name, t.segments(from, to)).map((s) => flagString(s.flags));
}

test('write-after-close-vs-shutdown: RST after close(), EPIPE + SIGPIPE, reads EOF; ACKs after shutdown()', { skip }, async () => {
  const t = await run(writeAfterCloseVsShutdown);
  // Connection a: the peer close()d.
  assert.deepEqual(readOf(t.result('pa eof')), { bytes: 0, eof: true });
  assert.deepEqual(t.result('pa write 1'), { ok: true, value: 3 });
  assert.deepEqual(flagsFrom(t, 'pa', 'pa write 1', 'pa after write 1'), ['P.'], 'the data goes out');
  assert.deepEqual(flagsFrom(t, 'a', 'pa write 1', 'pa after write 1'), ['R'], 'answered by a bare RST');
  assert.equal(t.sock('pa after write 1', 'a'), undefined, 'the orphaned end is gone');
  assert.equal(t.sock('pa after write 1', 'pa')?.state, 'CLOSE');
  assert.deepEqual(t.result('pa SO_ERROR'), { ok: true, value: 'EPIPE' }, 'the RST left EPIPE on the CLOSE_WAIT socket');
  assert.deepEqual(t.result('pa write 2'), { ok: false, errno: 'EPIPE', sigpipe: true });
  assert.deepEqual(t.result('pa write by C'), { ok: false, value: { code: null, signal: 'SIGPIPE' } }, 'a default-disposition writer dies of SIGPIPE');
  assert.deepEqual(readOf(t.result('pa read')), { bytes: 0, eof: true }, 'not ECONNRESET: EOF');
  // Connection r: reads alone after the RST also return EOF.
  assert.deepEqual(readOf(t.result('pr read 1')), { bytes: 0, eof: true });
  assert.deepEqual(readOf(t.result('pr read 2')), { bytes: 0, eof: true });
  // Connection b: the peer shutdown(SHUT_WR).
  assert.deepEqual(t.result('pb write 1'), { ok: true, value: 3 });
  assert.deepEqual(t.result('pb write 2'), { ok: true, value: 3 });
  const fromB = flagsFrom(t, 'b', 'pb write 1', 'b read');
  assert.ok(!fromB.includes('R'), `no RST from b: ${fromB.join(' ')}`);
  assert.ok(fromB.includes('.'), 'the data is ACKed');
  assert.equal(t.sock('pb written', 'b')?.state, 'FIN_WAIT2');
  assert.equal(t.sock('pb written', 'b')?.recvQ, 6);
  assert.equal(t.sock('pb written', 'pb')?.sendQ, 0);
  assert.equal(readOf(t.result('b read')).bytes, 6);
  assert.equal(verdictOf(t, '004-g'), 'confirmed');
  assert.equal(verdictOf(t, '004-h'), 'partly');
  assert.equal(verdictOf(t, '004-i'), 'confirmed');
  assert.equal(verdictOf(t, '003-e'), 'confirmed');
});

test('idle-close-then-write: CLOSE_WAIT/FIN_WAIT2, write ok, RST, then EOF and EPIPE', { skip }, async () => {
  const t = await run(idleCloseThenWrite);
  assert.equal(t.sock('idle-closed', 'c')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('idle-closed', 'c')?.recvQ, 1, 'the FIN counts as one byte in Recv-Q');
  assert.equal(t.sock('idle-closed', 's')?.state, 'FIN_WAIT2');
  assert.equal(t.sock('idle-closed', 's')?.owner, null);
  assert.ok(!flagsFrom(t, 'c', 's closed', 'client asleep').some((f) => f.includes('F')), 'the client sends no FIN');
  assert.deepEqual(t.result('c write 1'), { ok: true, value: 4 });
  assert.deepEqual(flagsFrom(t, 's', 'c write 1', 'c after write 1'), ['R']);
  assert.deepEqual(t.result('c write 2'), { ok: false, errno: 'EPIPE', sigpipe: true });
  assert.deepEqual(flagsFrom(t, 't', 'd write 1', 'd after write 1'), ['R']);
  assert.deepEqual(readOf(t.result('d read')), { bytes: 0, eof: true });
  assert.deepEqual(t.result('d write 2'), { ok: false, errno: 'EPIPE', sigpipe: true });
  assert.deepEqual(flagsFrom(t, 'd', 'd write 2'), [], 'the failed write sends nothing');
  for (const claim of ['003-a', '003-b', '003-c', '003-d', '003-m']) assert.equal(verdictOf(t, claim), 'confirmed', claim);
});

test('fin-wait2-forever-vs-timeout: shutdown() end stays in FIN_WAIT2, close() end goes after tcp_fin_timeout, no TIME_WAIT', { skip }, async () => {
  const t = await run(finWait2ForeverVsTimeout);
  assert.equal(t.trace.env.sysctls['net.ipv4.tcp_fin_timeout'], 2);
  const w = t.step('watch');
  const pics = w.watched ?? [];
  assert.ok(pics.length >= 2, 'the watch saw b go');
  assert.ok(pics.every((p) => p.sockets.find((s) => s.label === 'a')?.state === 'FIN_WAIT2'), 'a is FIN_WAIT2 in every picture');
  assert.equal(t.sock('watch', 'a')?.timer.kind, 'none', 'no timer bounds a');
  assert.ok(w.startMs + w.durationMs - t.step('a shut').startMs > 3000, 'watched for more than 3 s');
  assert.deepEqual(t.statesOf('b'), ['ESTABLISHED', 'FIN_WAIT2']);
  assert.equal(t.sock('watch', 'b'), undefined, 'b is gone at the end');
  const gone = pics.find((p) => !p.sockets.some((s) => s.label === 'b'));
  assert.ok(gone);
  const life = gone.atMs - t.step('b closed').startMs;
  assert.ok(life > 1700 && life < 2400, `b lived ${life} ms`);
  assert.equal(t.sock('watch', 'pb')?.state, 'CLOSE_WAIT', 'the passive end of b stays');
  assert.equal(verdictOf(t, '004-j'), 'confirmed');
});

test('self-connect: ESTABLISHED with itself, S S. . then F. ., TIME_WAIT', { skip }, async () => {
  const t = await run(selfConnect);
  const s = t.sock('established', 's');
  assert.equal(s?.state, 'ESTABLISHED');
  assert.equal(s?.local, s?.remote);
  assert.equal(t.step('established').after.sockets.filter((x) => x.state === 'LISTEN').length, 0);
  assert.deepEqual(flagsFrom(t, 's', 'connected', 'established'), ['S', 'S.', '.']);
  assert.deepEqual(flagsFrom(t, 's', 'close called', 'after close'), ['F.', '.']);
  assert.equal(t.sock('after close', 's')?.state, 'TIME_WAIT');
  for (const claim of ['004-m', '004-n', '004-p']) assert.equal(verdictOf(t, claim), 'confirmed', claim);
});

test('simultaneous-close: both FIN_WAIT1 with FINs held back, CLOSING, both TIME_WAIT', { skip }, async () => {
  const t = await run(simultaneousClose);
  assert.equal(t.sock('both closed', 'c')?.state, 'FIN_WAIT1');
  assert.equal(t.sock('both closed', 's')?.state, 'FIN_WAIT1');
  assert.ok((t.sock('both closed', 'c')?.sendQ ?? 0) > 1, 'data queued before c\'s FIN');
  assert.ok((t.sock('both closed', 's')?.sendQ ?? 0) > 1, 'data queued before s\'s FIN');
  assert.equal(t.segments('listen', 'both closed').filter((x) => x.flags.includes('FIN')).length, 0, 'no FIN left before anyone read');
  assert.deepEqual(readOf(t.result('c drained')), { bytes: 16384, eof: true });
  assert.equal(t.sock('c closing', 'c')?.state, 'CLOSING');
  assert.equal(t.sock('c closing', 's')?.state, 'FIN_WAIT2');
  assert.equal(readOf(t.result('s drained')).eof, true);
  assert.deepEqual(
    t.step('both time_wait').after.sockets.filter((x) => x.inTable && (x.label === 'c' || x.label === 's')).map((x) => `${x.label} ${x.state}`),
    ['c TIME_WAIT', 's TIME_WAIT'],
  );
  assert.equal(verdictOf(t, '004-o'), 'confirmed');
});

test('shared-descriptor: close() by one holder sends nothing, shutdown() by either acts on the socket', { skip }, async () => {
  const t = await run(sharedDescriptor);
  const pids = t.trace.env.actors;
  const holders = (label: string, name: string): number[] => (t.sock(label, name)?.holders ?? []).map((h) => h.pid).sort();
  const ab = [pids['A']?.pid, pids['B']?.pid].sort() as number[];
  assert.deepEqual(holders('c shared', 'c'), ab);
  assert.equal(t.sock('c after A closed', 'c')?.state, 'ESTABLISHED');
  assert.deepEqual(holders('c after A closed', 'c'), [pids['B']?.pid]);
  assert.deepEqual(flagsFrom(t, 'c', 'A closes c', 'c after A closed'), [], 'close() by A sends nothing');
  assert.deepEqual(flagsFrom(t, 'c', 'B shuts c', 'c after B shut'), ['F.']);
  assert.equal(t.sock('c after B shut', 'c')?.state, 'FIN_WAIT2');
  assert.deepEqual(flagsFrom(t, 'd', 'A shuts d', 'd after A shut'), ['F.']);
  assert.deepEqual(holders('d after A shut', 'd'), ab);
  assert.equal(t.sock('d after A shut', 'd')?.state, 'FIN_WAIT2');
  assert.deepEqual(t.result('B writes d'), { ok: false, errno: 'EPIPE', sigpipe: true });
  assert.equal(verdictOf(t, '003-f'), 'confirmed');
});

test('accepted-never-closed: CLOSE_WAIT held by the server, orphan FIN_WAIT2 after SIGINT, same 4-tuple', { skip }, async () => {
  const t = await run(acceptedNeverClosed);
  assert.deepEqual(t.result('client killed').value, { code: null, signal: 'SIGINT' });
  assert.deepEqual(flagsFrom(t, 'c', 'client killed', 'after kill'), ['F.'], 'the kill sends FIN');
  assert.deepEqual(readOf(t.result('server reads eof')), { bytes: 0, eof: true });
  assert.deepEqual(readOf(t.result('server reads again')), { bytes: 0, eof: true });
  const s = t.sock('later', 's');
  const c = t.sock('later', 'c');
  assert.equal(s?.state, 'CLOSE_WAIT');
  assert.equal(s?.actor, 'server');
  assert.equal(c?.state, 'FIN_WAIT2');
  assert.equal(c?.owner, null);
  assert.equal(c?.local, s?.remote);
  assert.equal(c?.remote, s?.local);
  assert.equal(verdictOf(t, '002-f'), 'confirmed');
  assert.equal(verdictOf(t, '004-d'), 'confirmed');
});
