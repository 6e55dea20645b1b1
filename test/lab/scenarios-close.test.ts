/**
 * The "close" scenarios on the real kernel: each test runs one scenario and asserts the facts it
 * recorded (states, queues, errnos, segment flags), not only that a verdict came out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runOnKernel } from '../../src/lab/kernel/run.js';
import type { CapturedSegment } from '../../src/tcp/segment.js';
import type { CallResult } from '../../src/lab/ops.js';
import type { Scenario } from '../../src/lab/scenario.js';
import { TraceView, type Trace } from '../../src/lab/trace.js';
import { flagString } from '../../src/tcp/segment.js';
import closeVsShutdown from '../../src/lab/scenarios/close-vs-shutdown.js';
import shutRd from '../../src/lab/scenarios/shut-rd.js';
import closeUnreadData from '../../src/lab/scenarios/close-unread-data.js';
import closeUnsentData from '../../src/lab/scenarios/close-unsent-data.js';
import finOnExitAndKill from '../../src/lab/scenarios/fin-on-exit-and-kill.js';
import threeVsFourWay from '../../src/lab/scenarios/three-vs-four-way.js';
import blockingWriteRtt from '../../src/lab/scenarios/blocking-write-rtt.js';

const skip = process.getuid?.() !== 0 ? 'needs root for a network namespace' : false;

async function run(sc: Scenario): Promise<{ trace: Trace; t: TraceView }> {
  const trace = await runOnKernel(sc);
  assert.ok(trace.segments !== null, `packets not captured: ${trace.env.captureNote}`);
  return { trace, t: new TraceView(trace) };
}

function verdict(trace: Trace, claim: string): string {
  const v = trace.verdicts.find((x) => x.claim === claim);
  assert.ok(v, `no verdict for ${claim}`);
  return v.verdict;
}

/** The flags of what `sock` sent during steps `from`..`to`, tcpdump style (`F.`, `R`, `P.`). */
function sent(t: TraceView, sock: string, from: string, to: string = from): string[] {
  return t.from(sock, t.segments(from, to)).map((s) => flagString(s.flags));
}

function obj(r: CallResult): Record<string, unknown> {
  assert.ok(typeof r.value === 'object' && r.value !== null && !Array.isArray(r.value), `not an object: ${JSON.stringify(r)}`);
  return r.value as Record<string, unknown>;
}

/** Both directions of one connection during steps `from`..`to`, from its first FIN on. */
function fromFirstFin(t: TraceView, a: string, b: string, from: string, to: string): CapturedSegment[] {
  const segs = t.segments(from, to);
  const conn = [...t.from(a, segs), ...t.from(b, segs)].sort((x, y) => x.epochMs - y.epochMs);
  return conn.slice(conn.findIndex((s) => s.flags.includes('FIN')));
}

test('close-vs-shutdown: SHUT_RD sends nothing; SHUT_WR, SHUT_RDWR and close() send FIN; only close() lets go of the socket', { skip }, async () => {
  const { trace, t } = await run(closeVsShutdown);

  assert.deepEqual(sent(t, 'rd', 'rd shut'), []);
  assert.deepEqual(sent(t, 'wr', 'wr shut'), ['F.']);
  assert.deepEqual(sent(t, 'rdwr', 'rdwr shut'), ['F.']);
  assert.deepEqual(sent(t, 'cl', 'cl closed'), ['F.']);

  const at = (name: string) => t.sock('settled', name);
  assert.equal(at('rd')?.state, 'ESTABLISHED');
  assert.equal(at('srd')?.state, 'ESTABLISHED');
  for (const [mine, theirs] of [['wr', 'swr'], ['rdwr', 'srdwr'], ['cl', 'scl']] as const) {
    assert.equal(at(mine)?.state, 'FIN_WAIT2', mine);
    assert.equal(at(theirs)?.state, 'CLOSE_WAIT', theirs);
  }
  assert.equal(at('rd')?.actor, 'client');
  assert.equal(at('wr')?.actor, 'client');
  assert.equal(at('rdwr')?.actor, 'client');
  assert.equal(at('cl')?.owner, null, 'close() gave up the descriptor');
  assert.notEqual(at('cl')?.timer.kind, 'none', 'the orphan runs the FIN_WAIT2 timer');
  assert.equal(at('rdwr')?.timer.kind, 'none', 'the held SHUT_RDWR socket has no FIN_WAIT2 timer');

  // Which directions still work.
  assert.equal(obj(t.result('rd read'))['eof'], true);
  assert.equal(t.result('rd write').value, 1);
  assert.equal(obj(t.result('wr read'))['text'], 'to wr');
  assert.equal(t.result('wr write').errno, 'EPIPE');
  assert.equal(t.result('wr write').sigpipe, true);
  assert.equal(obj(t.result('rdwr read'))['eof'], true);
  assert.equal(t.result('rdwr write').errno, 'EPIPE');

  // Data into a shut read side, held (SHUT_RDWR) or orphaned (close()): RST both times.
  assert.deepEqual(sent(t, 'rdwr', 'srdwr writes', 'answered'), ['R']);
  assert.deepEqual(sent(t, 'cl', 'scl writes', 'answered'), ['R']);

  // wr's teardown completed: TIME_WAIT in the table, and the client still holds its socket (CLOSE, out of the table).
  const wr = t.step('wr torn down').after.sockets.filter((s) => s.label === 'wr');
  assert.ok(wr.some((s) => s.inTable && s.state === 'TIME_WAIT' && s.owner === null), JSON.stringify(wr));
  assert.ok(wr.some((s) => !s.inTable && s.state === 'CLOSE' && s.actor === 'client'), JSON.stringify(wr));

  for (const claim of ['002-a', '002-b', '002-c', '004-c']) assert.equal(verdict(trace, claim), 'confirmed', claim);
});

test('shut-rd: SHUT_RD tells the peer nothing, and later data is ACKed, queued and readable', { skip }, async () => {
  const { trace, t } = await run(shutRd);

  assert.deepEqual(t.segments('shut rd', 'after shut').map((s) => flagString(s.flags)), []);
  assert.deepEqual(t.result('peer epoll').value, ['EPOLLOUT']);
  assert.equal(t.sock('after shut', 's')?.state, 'ESTABLISHED');
  assert.equal(t.sock('after shut', 'c')?.state, 'ESTABLISHED');
  assert.equal(obj(t.result('read before data'))['eof'], true, 'read() returns 0 with no FIN');

  // The peer's 14 bytes: ACKed, in Recv-Q, returned by read(), then 0 again.
  assert.equal(t.result('peer writes').value, 14);
  assert.deepEqual(sent(t, 'c', 'peer writes', 'data settled'), ['.']);
  assert.equal(t.sock('data settled', 'c')?.recvQ, 14);
  assert.equal(t.sock('data settled', 's')?.sendQ, 0);
  assert.equal(obj(t.result('read after data'))['text'], 'after SHUT_RD!');
  assert.equal(obj(t.result('read again'))['eof'], true);

  assert.equal(verdict(trace, '002-e'), 'confirmed');
  assert.equal(verdict(trace, '004-q'), 'contradicted');
});

test('close-unread-data: close() with unread bytes sends RST and the peer reads ECONNRESET; SO_LINGER {1,0} too', { skip }, async () => {
  const { trace, t } = await run(closeUnreadData);

  assert.deepEqual(sent(t, 's0', 's0 closed'), ['F.'], 'control: everything read, FIN');
  assert.equal(t.sock('c1 request queued', 's1')?.recvQ, 7);
  assert.deepEqual(sent(t, 's1', 's1 closed'), ['R.']);
  assert.equal(t.sock('s1 closed', 's1'), undefined, 'no FIN_WAIT left behind');
  assert.equal(t.result('c1 read').errno, 'ECONNRESET');

  assert.deepEqual(sent(t, 's2', 's2 closed'), ['R.']);
  assert.equal(t.result('c2 read').errno, 'ECONNRESET');
  assert.equal(t.sock('after abort', 's2'), undefined, 'no TIME_WAIT after an abortive close');

  assert.equal(verdict(trace, '004-e'), 'confirmed');
});

test('close-unsent-data: close() sends what is still queued, then FIN (002-d contradicted, 004-f confirmed)', { skip }, async () => {
  const { trace, t } = await run(closeUnsentData);

  const written = t.result('filled').value;
  assert.equal(typeof written, 'number');
  const queued = t.sock('queued', 'c')?.sendQ ?? 0;
  assert.ok(queued > 0, `Send-Q ${queued} at close()`);
  const orphan = t.sock('orphan', 'c');
  assert.equal(orphan?.state, 'FIN_WAIT1');
  assert.equal(orphan?.owner, null);
  assert.equal(orphan?.sendQ, queued + 1, 'the queued bytes plus the FIN');

  const drained = obj(t.result('drained'));
  assert.equal(drained['bytes'], written);
  assert.equal(drained['eof'], true);

  const after = t.from('c', t.segments('closed', 'drained'));
  assert.equal(after.reduce((n, s) => n + s.length, 0), queued, 'the orphan sent exactly what was queued');
  assert.ok(!after.some((s) => s.flags.includes('RST')));
  const fin = after.find((s) => s.flags.includes('FIN'));
  assert.ok(fin && fin.seq !== null);
  assert.equal(fin.seq + fin.length, (written as number) + 1, 'the FIN follows the last byte written');

  assert.equal(verdict(trace, '002-d'), 'contradicted');
  assert.equal(verdict(trace, '004-f'), 'confirmed');
});

test('fin-on-exit-and-kill: exit and SIGKILL both send FIN', { skip }, async () => {
  const { trace, t } = await run(finOnExitAndKill);

  assert.deepEqual(sent(t, 'e', 'exited'), ['F.']);
  assert.deepEqual(sent(t, 'k', 'killed'), ['F.']);
  assert.equal(obj(t.result('killed'))['signal'], 'SIGKILL');
  for (const [mine, theirs] of [['e', 'se'], ['k', 'sk']] as const) {
    assert.equal(t.sock('settled', mine)?.state, 'FIN_WAIT2', mine);
    assert.equal(t.sock('settled', mine)?.owner, null, mine);
    assert.equal(t.sock('settled', theirs)?.state, 'CLOSE_WAIT', theirs);
  }
  assert.equal(verdict(trace, '004-b'), 'confirmed');
});

test('three-vs-four-way: 3 segments when the passive side closes at once, 4 when it waits, 5 with a reply, 3 with a reply sent with MSG_MORE', { skip }, async () => {
  const { trace, t } = await run(threeVsFourWay);
  const who = (s: CapturedSegment, client: string): string => `${s.src === t.addr(client) ? 'c' : 's'}:${flagString(s.flags)}`;

  const k = fromFirstFin(t, 'k', 'sk', 'sk armed', 'k done');
  assert.deepEqual(k.map((s) => who(s, 'k')), ['c:F.', 's:F.', 'c:.']);
  assert.equal(k[1]?.ack, (k[0]?.seq ?? 0) + 1, "the server's FIN acknowledges the client's");

  const a = fromFirstFin(t, 'a', 'sa', 'a closed', 'a done');
  assert.deepEqual(a.map((s) => who(s, 'a')), ['c:F.', 's:.', 's:F.', 'c:.']);
  const ackDelay = (a[1]?.epochMs ?? 0) - (a[0]?.epochMs ?? 0);
  assert.ok(ackDelay >= 30 && ackDelay < 150, `delayed ACK after ${ackDelay} ms`);

  const l = fromFirstFin(t, 'l', 'sl', 'sl armed', 'l done');
  assert.deepEqual(l.map((s) => who(s, 'l')), ['c:F.', 's:P.', 'c:.', 's:F.', 'c:.']);
  assert.equal(l[1]?.length, 10);
  assert.equal(l[1]?.ack, (l[0]?.seq ?? 0) + 1, 'the ACK of the FIN rides on the reply');
  assert.deepEqual(obj(t.result('l read')), { bytes: 10, eof: true });

  assert.equal(verdict(trace, '004-a'), 'confirmed');
  assert.equal(verdict(trace, '004-k'), 'confirmed');
  const m = fromFirstFin(t, 'm', 'sm', 'sm armed', 'm done');
  assert.deepEqual(m.map((s) => who(s, 'm')), ['c:F.', 's:F.', 'c:.'], 'data, FIN and the ACK of the FIN in one segment');
  assert.equal(m[1]?.length, 10);
  assert.equal(m[1]?.ack, (m[0]?.seq ?? 0) + 1);
  assert.deepEqual(obj(t.result('m read')), { bytes: 10, eof: true });
  assert.equal(verdict(trace, '004-l'), 'confirmed');
});

test('blocking-write-rtt: a blocking send() returns before the ACK; a blocking recv() of queued data at once', { skip }, async () => {
  const { trace, t } = await run(blockingWriteRtt);

  const w = obj(t.result('blocking write'));
  assert.equal(w['bytes'], 1);
  assert.equal(w['unacked'], 1, 'the byte was unacknowledged when send() returned');
  assert.ok((w['elapsedMs'] as number) < 10, `send() took ${String(w['elapsedMs'])} ms`);

  const segs = t.segments('blocking write', 'acked');
  const data = t.from('c', segs).find((s) => s.length === 1);
  const ack = t.from('s', segs).find((s) => s.ack === 2);
  assert.ok(data && ack);
  assert.ok(ack.epochMs - data.epochMs >= 30, `ACK after ${ack.epochMs - data.epochMs} ms`);

  const r = obj(t.result('blocking read'));
  assert.equal(r['text'], 'x');
  assert.ok((r['elapsedMs'] as number) < 10, `recv() took ${String(r['elapsedMs'])} ms`);

  assert.equal(verdict(trace, '002-l'), 'contradicted');
});
