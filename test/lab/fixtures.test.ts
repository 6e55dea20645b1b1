/**
 * Every claim check on the kernel traces recorded on Linux 6.18 (test/fixtures/traces, made with
 * `teardown lab --record test/fixtures/traces`): runs without root and without the kernel, so a
 * machine that cannot run the lab still exercises every check's logic. Re-judging a recorded trace
 * must give the verdicts and the evidence recorded with it; a trace altered in one fact must move
 * the verdict or the evidence with that fact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOGUE, findScenario } from '../../src/lab/catalogue.js';
import { judgeTrace, notesAndFindings } from '../../src/lab/judge/index.js';
import { renderTrace } from '../../src/lab/report/text.js';
import { socketLabel, type Trace } from '../../src/lab/trace.js';
import { recorded } from './helpers.js';


function verdictOf(trace: Trace, claim: string): { verdict: string; observed: string } {
  const sc = findScenario(trace.scenario);
  assert.ok(sc, trace.scenario);
  const v = judgeTrace(sc, trace).find((x) => x.claim === claim);
  assert.ok(v, `${trace.scenario} has no check for ${claim}`);
  return v;
}

for (const sc of CATALOGUE) {
  test(`recorded ${sc.id}: every check re-judges to the recorded verdict and evidence`, () => {
    const trace = recorded(sc.id);
    assert.equal(trace.scenario, sc.id);
    assert.ok(trace.segments !== null, `${sc.id} was recorded without packets: ${trace.env.captureNote}`);
    assert.ok(trace.transitions !== null, `${sc.id} was recorded without transitions: ${trace.env.traceNote}`);
    assert.deepEqual(
      judgeTrace(sc, trace).map((v) => [v.claim, v.verdict, v.observed]),
      trace.verdicts.map((v) => [v.claim, v.verdict, v.observed]),
    );
    assert.deepEqual(Object.keys(sc.checks).sort(), trace.verdicts.map((v) => v.claim).sort(), 'every check of the scenario has a recorded verdict');
    // The report renders from the trace alone.
    assert.match(renderTrace(trace), new RegExp(`━━ ${sc.id}`));
  });
}

test('every RST the kernel sent in the recorded catalogue has its reason on the segment and in resets', () => {
  let rsts = 0;
  for (const sc of CATALOGUE) {
    const trace = recorded(sc.id);
    for (const seg of trace.segments ?? []) {
      if (!seg.flags.includes('RST')) continue;
      rsts++;
      assert.ok(seg.rstReason, `${sc.id}: RST ${seg.src} > ${seg.dst} at ${seg.timeMs} ms has no reason`);
    }
    for (const r of trace.resets ?? []) if (r.direction === 'sent') assert.ok(r.reason !== null, `${sc.id}: a sent RST without reason`);
  }
  assert.ok(rsts > 10, `the catalogue sends RSTs (${rsts} seen)`);
});

// Altered traces: the verdict and the evidence follow the trace, never a fixed string.

test('001-c follows the far end’s state: a recorded CLOSE_WAIT changed to ESTABLISHED is contradicted, and the evidence says ESTABLISHED', () => {
  const trace = recorded('accept-never-called');
  assert.equal(verdictOf(trace, '001-c').verdict, 'confirmed');
  const far = trace.steps.find((s) => s.label === 'client closed')?.after.sockets.find((s) => s.label === '~c');
  assert.ok(far);
  far.state = 'ESTABLISHED';
  const v = verdictOf(trace, '001-c');
  assert.equal(v.verdict, 'contradicted');
  assert.match(v.observed, /~c ESTABLISHED/);
});

test('004-e follows the packets and the kernel’s reason: another reason shows in the evidence; a FIN instead of the RST contradicts', () => {
  const trace = recorded('close-unread-data');
  const before = verdictOf(trace, '004-e');
  assert.equal(before.verdict, 'confirmed');
  assert.match(before.observed, /RST\+ACK \(TCP_ABORT_ON_CLOSE\)/);
  const rst = (trace.segments ?? []).find((s) => s.flags.includes('RST') && s.rstReason === 'TCP_ABORT_ON_CLOSE');
  assert.ok(rst);
  rst.rstReason = 'TCP_ABORT_ON_MEMORY';
  assert.match(verdictOf(trace, '004-e').observed, /RST\+ACK \(TCP_ABORT_ON_MEMORY\)/);
  rst.flags = ['FIN', 'ACK'];
  delete rst.rstReason;
  assert.equal(verdictOf(trace, '004-e').verdict, 'contradicted');
});

test('004-n reads the traced transitions: without FIN_WAIT1 → CLOSING it is contradicted; untraced, it falls back to the packets and says so', () => {
  const trace = recorded('self-connect');
  const traced = verdictOf(trace, '004-n');
  assert.equal(traced.verdict, 'confirmed');
  assert.match(traced.observed, /SYN_SENT → SYN_RECV, SYN_RECV → ESTABLISHED, .*FIN_WAIT1 → CLOSING, CLOSING → CLOSE/);
  assert.match(traced.observed, /packets S S\. \. then F\. \./);
  const altered = structuredClone(trace);
  altered.transitions = (altered.transitions ?? []).filter((x) => !(x.from === 'FIN_WAIT1' && x.to === 'CLOSING'));
  assert.equal(verdictOf(altered, '004-n').verdict, 'contradicted');
  const untraced = structuredClone(trace);
  untraced.transitions = null;
  untraced.env.traceNote = 'transitions not traced: not root';
  const v = verdictOf(untraced, '004-n');
  assert.equal(v.verdict, 'confirmed');
  assert.match(v.observed, /transitions not traced: not root: the passing states are inferred from the packets/);
});

test('the report of every recorded scenario fits 120 columns; --wide lets lines run', () => {
  for (const sc of CATALOGUE) {
    const text = renderTrace(recorded(sc.id)).replace(/\x1b\[[0-9;]*m/g, '');
    for (const line of text.split('\n')) assert.ok([...line].length <= 120, `${sc.id}: ${[...line].length} columns: ${line}`);
  }
  const wide = renderTrace(recorded('pool-low-rate'), { width: 400 }).split('\n');
  assert.ok(wide.some((l) => [...l].length > 120), 'a wide report has lines over 120 columns');
});

test('the timeline lists a socket only when it changed, and names a RST’s reason among what the tracepoints saw', () => {
  const text = renderTrace(recorded('close-unread-data')).replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(text, /s1 sent RST \(TCP_ABORT_ON_CLOSE\)/);
  // L is LISTEN from step 0 and its row returns only when its accept queue changes.
  const rowsOfL = text.split('\n').filter((l) => / L {6}LISTEN /.test(l)).length;
  const steps = recorded('close-unread-data').steps.length;
  assert.ok(rowsOfL > 0 && rowsOfL < steps, `L listed ${rowsOfL} times over ${steps} steps`);
});

/** Every RST the evidence names, unless it says there was none, carries the kernel's reason (or says why it has none). */
const RST_WITHOUT_REASON = /(?<!no |without )\bRST(?:\+ACK)?(?!s|\+| \()/;

test('no recorded evidence names a RST without the kernel’s reason', () => {
  for (const sc of CATALOGUE) {
    for (const v of judgeTrace(sc, recorded(sc.id))) {
      assert.doesNotMatch(v.observed, RST_WITHOUT_REASON, `${sc.id} ${v.claim}: ${v.observed}`);
    }
  }
});

test('a RST’s reason in the evidence is the recorded segment’s: another reason on the segment moves 003-c and 003-d', () => {
  const trace = recorded('idle-close-then-write');
  assert.match(verdictOf(trace, '003-c').observed, /answered RST \(TCP_TIMEWAIT_SOCKET\)/);
  assert.match(verdictOf(trace, '003-d').observed, /^after the RST \(TCP_TIMEWAIT_SOCKET\)/);
  for (const seg of trace.segments ?? []) if (seg.flags.includes('RST')) seg.rstReason = 'NOT_SPECIFIED';
  assert.match(verdictOf(trace, '003-c').observed, /answered RST \(NOT_SPECIFIED\)/);
  assert.match(verdictOf(trace, '003-d').observed, /^after the RST \(NOT_SPECIFIED\)/);
  // RST with ACK reads RST+ACK.
  const rst = (trace.segments ?? []).find((s) => s.flags.includes('RST') && s.src === trace.addresses.s);
  assert.ok(rst);
  rst.flags = ['RST', 'ACK'];
  assert.match(verdictOf(trace, '003-c').observed, /answered RST\+ACK \(NOT_SPECIFIED\)/);
});

test('RSTs not traced: the evidence says "(reason not traced)" and invents none', () => {
  const trace = recorded('close-vs-shutdown');
  trace.resets = null;
  trace.transitions = null;
  trace.errors = null;
  trace.env.traceNote = 'transitions not traced: not root';
  for (const seg of trace.segments ?? []) if (seg.flags.includes('RST')) seg.rstReason = null;
  const v = verdictOf(trace, '004-c');
  assert.equal(v.verdict, 'confirmed');
  assert.match(v.observed, /answered later data with RST \(reason not traced\) \/ RST \(reason not traced\)/);
  assert.match(v.observed, /transitions not traced: not root/);
  assert.doesNotMatch(v.observed, /TCP_/);
  assert.match(verdictOf(trace, '002-a').observed, /answered with RST \(reason not traced\)$/);
});

test('packets not captured but RSTs traced: the reason comes from the traced reset and the segment is said unseen', () => {
  const trace = recorded('accept-never-called');
  assert.match(verdictOf(trace, '001-d').observed, /the server end sent RST\+ACK \(TCP_STATE\)$/);
  trace.segments = null;
  trace.env.captureNote = 'packets not captured: no AF_PACKET';
  assert.match(verdictOf(trace, '001-d').observed, /the server end sent RST \(TCP_STATE; segment not captured\)$/);
  const untraced = recorded('accept-never-called');
  untraced.segments = null;
  untraced.resets = null;
  assert.match(verdictOf(untraced, '001-d').observed, /RST unseen \(packets not captured, RSTs not traced\)$/);
});

test('segments: null — 004-m is not confirmed on segment counts it never saw, and node’s 001-f does not say "sent no FIN"', () => {
  const trace = recorded('self-connect');
  assert.match(verdictOf(trace, '004-m').observed, /handshake 3 segments \(S S\. \.\), teardown 2 \(F\. \.\)/);
  trace.segments = null;
  trace.env.captureNote = 'packets not captured: no AF_PACKET';
  const m = verdictOf(trace, '004-m');
  assert.equal(m.verdict, 'unverified');
  assert.match(m.observed, /the self-connection holds\); the handshake's and the teardown's segments were not seen.*\(packets not captured: no AF_PACKET\)$/);
  assert.doesNotMatch(m.observed, /handshake \d/);

  const node = recorded('node-accept-emfile');
  const noteOn001f = (t: Trace): string => {
    const sc = findScenario(t.scenario);
    assert.ok(sc);
    const n = notesAndFindings(sc, t).notes.find((x) => x.claim === '001-f');
    assert.ok(n, 'node-accept-emfile notes 001-f');
    return n.note;
  };
  assert.match(noteOn001f(node), /the server end sent FIN, then RST \(TCP_TIMEWAIT_SOCKET\)/);
  node.segments = null;
  node.env.captureNote = 'packets not captured: no AF_PACKET';
  const f = noteOn001f(node);
  assert.doesNotMatch(f, /FIN/);
  assert.match(f, /\(packets not captured: no AF_PACKET\) the server end sent RST \(TCP_TIMEWAIT_SOCKET; segment not captured\)/);
});

test('full-backlog counts the completed handshakes from the recorded accept queue, not a fixed "backlog + 1"', () => {
  const trace = recorded('full-backlog');
  assert.match(verdictOf(trace, '001-a').observed, /accept queue Recv-Q 2\/1: 2 handshake\(s\) completed without accept\(\) \(backlog \+ 1\)/);
  const L = trace.steps.find((s) => s.label === 'third')?.after.sockets.find((s) => s.label === 'L');
  assert.ok(L);
  L.recvQ = 1;
  assert.match(verdictOf(trace, '001-a').observed, /accept queue Recv-Q 1\/1: 1 handshake\(s\) completed without accept\(\) \(backlog\)/);
  L.sendQ = 4;
  assert.match(verdictOf(trace, '001-a').observed, /Recv-Q 1\/4: 1 handshake\(s\) completed without accept\(\) \(backlog − 3\)/);
});

test('004-g says what the snapshots and the transitions show, in order; no fixed "no socket any more"', () => {
  const trace = recorded('write-after-close-vs-shutdown');
  const v = verdictOf(trace, '004-g');
  assert.equal(v.verdict, 'confirmed');
  assert.doesNotMatch(v.observed, /no socket any more/);
  assert.match(v.observed, /^after close\(\): a FIN_WAIT2 .*; traced from close\(\) on: a ESTABLISHED → FIN_WAIT1 [\d.]+ ms → FIN_WAIT2 [\d.]+ ms → CLOSE; the passive side's 3 B reached it and it answered RST \(TCP_TIMEWAIT_SOCKET\).*; then a is gone from the table$/);
  const untraced = structuredClone(trace);
  untraced.transitions = null;
  untraced.env.traceNote = 'transitions not traced: not root';
  assert.match(verdictOf(untraced, '004-g').observed, /no owner \(timer time_wait [\d.]+ s\) \(transitions not traced: not root\); the passive side's/);
});

test('003-j and 003-k end with what was seen, not a fixed conclusion', () => {
  const mux = verdictOf(recorded('multiplexed-eof'), '003-j').observed;
  assert.doesNotMatch(mux, /must mark the connection dead/);
  assert.match(mux, /the 2 calls made after that: later1 answered, later2 answered \(written on a fresh connection R#2\)\. After R#1's FIN the client sent it FIN\+ACK, no data; R#1 sent no RST\./);
  assert.match(mux, /Naive raw socket: .*send\(\) returned 4 \(the kernel put it on the wire\) and the server end answered RST\+?A?C?K? ?\(TCP_[A-Z_]+\)/);
  const retry = verdictOf(recorded('retry-on-fresh-connection'), '003-k').observed;
  assert.doesNotMatch(retry, /idempotent/);
  assert.match(retry, /close\(\)d \d+ ms before the call was sent, answered RST \(TCP_TIMEWAIT_SOCKET\)/);
});

test('003-j is judged by the rpc client (the remedy): a later call written into the dead connection, or data on it after its FIN, contradicts it', () => {
  const trace = recorded('multiplexed-eof');
  assert.equal(verdictOf(trace, '003-j').verdict, 'confirmed');
  // A later call that failed 'maybe': it was written into a connection that then broke.
  const written = structuredClone(trace);
  const step = written.steps.find((s) => s.label === 'rpc: calls after EOF');
  const value = step?.result.value;
  assert.ok(step && typeof value === 'object' && value !== null && !Array.isArray(value) && Array.isArray(value['calls']));
  value['calls'][0] = { method: 'later1', ok: false, code: 'CONNECTION_LOST', processed: 'maybe', errno: 'ECONNRESET' };
  const w = verdictOf(written, '003-j');
  assert.equal(w.verdict, 'contradicted');
  assert.match(w.observed, /later1 failed CONNECTION_LOST \(processed 'maybe', ECONNRESET\)/);
  // The client's segment after R#1's FIN carrying data: a send into the dead connection.
  const onWire = structuredClone(trace);
  const clientEnd = onWire.remotes['R#1'];
  const serverEnd = onWire.addresses['R#1'];
  const segs = onWire.segments ?? [];
  const fin = segs.findIndex((s) => s.src === serverEnd && s.dst === clientEnd && s.flags.includes('FIN'));
  const late = segs.findIndex((s, i) => i > fin && s.src === clientEnd && s.dst === serverEnd);
  assert.ok(fin >= 0 && late > fin, 'the recorded trace has R#1\'s FIN and a segment from the client after it');
  (segs[late] as { length: number }).length = 4;
  const d = verdictOf(onWire, '003-j');
  assert.equal(d.verdict, 'contradicted');
  assert.match(d.observed, /After R#1's FIN the client sent it [^;]*\(1 with data\)/);
  // Without packets the results alone cannot show that nothing reached R#1: unverified, not confirmed.
  const blind = structuredClone(trace);
  blind.segments = null;
  blind.env.captureNote = 'packets not captured: not root';
  const b = verdictOf(blind, '003-j');
  assert.equal(b.verdict, 'unverified');
  assert.match(b.observed, /What R#1 carried after its FIN is unknown \(packets not captured: not root\)/);
});

test('three-vs-four-way reads the passing states from the transitions: LAST_ACK on the passive side, how long the active side sat in FIN_WAIT1', () => {
  const trace = recorded('three-vs-four-way');
  const a = verdictOf(trace, '004-a').observed;
  assert.match(a, /traced: client ESTABLISHED → FIN_WAIT1 [\d.]+ ms → FIN_WAIT2 [\d.]+ ms → CLOSE; server ESTABLISHED → CLOSE_WAIT [\d.]+ ms → LAST_ACK [\d.]+ ms → CLOSE; then the client end is TIME_WAIT in the table$/);
  const altered = structuredClone(trace);
  // The passive side straight from CLOSE_WAIT to CLOSE: the evidence must lose LAST_ACK with it.
  altered.transitions = (altered.transitions ?? []).filter((x) => !(x.socket === 'sa' && x.from === 'LAST_ACK'));
  const lastAck = altered.transitions.find((x) => x.socket === 'sa' && x.to === 'LAST_ACK');
  assert.ok(lastAck);
  lastAck.to = 'CLOSE';
  assert.match(verdictOf(altered, '004-a').observed, /server ESTABLISHED → CLOSE_WAIT [\d.]+ ms → CLOSE;/);
  const untraced = structuredClone(trace);
  untraced.transitions = null;
  untraced.env.traceNote = 'transitions not traced: not root';
  assert.match(verdictOf(untraced, '004-k').observed, /\(transitions not traced: not root: passing states unseen\); then the client end is TIME_WAIT/);
});

test('004-o takes CLOSING from the traced transitions: moved to the other end, the evidence follows; untraced, from the snapshots with a note', () => {
  const trace = recorded('simultaneous-close');
  assert.match(verdictOf(trace, '004-o').observed, /c ESTABLISHED → FIN_WAIT1 [\d.]+ ms → CLOSING [\d.]+ ms → CLOSE; .*CLOSING on c/);
  const swapped = structuredClone(trace);
  for (const x of swapped.transitions ?? []) if (x.socket === 'c' || x.socket === 's') x.socket = x.socket === 'c' ? 's' : 'c';
  const v = verdictOf(swapped, '004-o');
  assert.equal(v.verdict, 'confirmed');
  assert.match(v.observed, /CLOSING on s/);
  const none = structuredClone(trace);
  none.transitions = (none.transitions ?? []).filter((x) => x.to !== 'CLOSING' && x.from !== 'CLOSING');
  assert.equal(verdictOf(none, '004-o').verdict, 'contradicted');
  const untraced = structuredClone(trace);
  untraced.transitions = null;
  untraced.env.traceNote = 'transitions not traced: not root';
  assert.match(verdictOf(untraced, '004-o').observed, /seen in snapshots \(transitions not traced: not root\): c ESTABLISHED → FIN_WAIT1 → CLOSING → TIME_WAIT/);
});

test('full-backlog on 001-a: the backlog is a limit stated in the evidence, not a contradiction; no handshake completed would be one', () => {
  const trace = recorded('full-backlog');
  const v = verdictOf(trace, '001-a');
  assert.equal(v.verdict, 'confirmed');
  assert.match(v.observed, /c SYN_SENT/);
  for (const name of ['a', 'b']) {
    const s = trace.steps.find((x) => x.label === 'third')?.after.sockets.find((x) => x.label === name);
    assert.ok(s);
    s.state = 'SYN_SENT';
  }
  assert.equal(verdictOf(trace, '001-a').verdict, 'contradicted');
});

test('socketLabel: own tuple, far end, listener by its address, a socket seen only in SYN_SENT by its local address', () => {
  const addresses = { L: '127.0.0.1:80', c: '127.0.0.1:5000', d: '127.0.0.1:5001' };
  const remotes = { c: '127.0.0.1:80' };
  assert.equal(socketLabel('127.0.0.1:5000', '127.0.0.1:80', addresses, remotes), 'c');
  assert.equal(socketLabel('127.0.0.1:80', '127.0.0.1:5000', addresses, remotes), '~c');
  assert.equal(socketLabel('127.0.0.1:80', '0.0.0.0:0', addresses, remotes), 'L');
  assert.equal(socketLabel('127.0.0.1:5001', '127.0.0.1:80', addresses, remotes), 'd');
  assert.equal(socketLabel('127.0.0.1:80', '127.0.0.1:5001', addresses, remotes), null, "a listener's unnamed child is not the listener");
});
