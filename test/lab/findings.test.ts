/**
 * The findings beyond the articles, on the recorded kernel traces (test/fixtures/traces): each one
 * re-judges to its recorded evidence, and an altered trace moves the evidence with it (or makes the
 * finding disappear when the fact is gone). No root, no kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOGUE, findScenario } from '../../src/lab/catalogue.js';
import { CLAIMS } from '../../src/lab/claims.js';
import { judgeTrace, notesAndFindings } from '../../src/lab/judge/index.js';
import type { Trace } from '../../src/lab/trace.js';
import { recorded } from './helpers.js';

function finding(trace: Trace, id: string): string | null {
  const sc = findScenario(trace.scenario);
  assert.ok(sc, trace.scenario);
  assert.ok(sc.findings?.some((f) => f.id === id), `${trace.scenario} has no finding ${id}`);
  return notesAndFindings(sc, trace).findings.find((f) => f.id === id)?.evidence ?? null;
}

function verdictOf(trace: Trace, claim: string): { verdict: string; observed: string } {
  const sc = findScenario(trace.scenario);
  assert.ok(sc);
  const v = judgeTrace(sc, trace).find((x) => x.claim === claim);
  assert.ok(v, `${trace.scenario} has no check for ${claim}`);
  return v;
}

function step(trace: Trace, label: string): Trace['steps'][number] {
  const s = trace.steps.find((x) => x.label === label);
  assert.ok(s, label);
  return s;
}

test('every recorded finding re-judges to its recorded evidence; ids are unique; claims are seed claims', () => {
  const ids = new Set<string>();
  const known = new Set(CLAIMS.keys());
  for (const sc of CATALOGUE) {
    for (const f of sc.findings ?? []) {
      assert.ok(!ids.has(f.id), `finding id ${f.id} is used twice`);
      ids.add(f.id);
      for (const c of f.claims ?? []) assert.ok(known.has(c), `${f.id} bears on unknown claim ${c}`);
    }
    const trace = recorded(sc.id);
    assert.deepEqual(
      notesAndFindings(sc, trace).findings.map((f) => [f.id, f.evidence]),
      trace.findings.map((f) => [f.id, f.evidence]),
      sc.id,
    );
  }
  assert.ok(ids.size >= 12, `${ids.size} findings`);
});

test('rst-reasons lists each RST with the traced reason, step, state and R vs R.', () => {
  const trace = recorded('close-unread-data');
  const id = 'rst-reasons:close-unread-data';
  assert.equal(finding(trace, id), 'TCP_ABORT_ON_CLOSE from s1 in CLOSE at "s1 closed" as R.; TCP_STATE from s2 in CLOSE at "s2 closed" as R.');
  const r = (trace.resets ?? []).find((x) => x.direction === 'sent' && x.socket === 's1');
  assert.ok(r);
  r.reason = 'TCP_ABORT_ON_MEMORY';
  const seg = (trace.segments ?? []).find((s) => s.flags.includes('RST') && s.src === trace.addresses['s1']);
  assert.ok(seg);
  seg.rstReason = 'TCP_ABORT_ON_MEMORY';
  seg.flags = ['RST'];
  assert.match(finding(trace, id) ?? '', /^TCP_ABORT_ON_MEMORY from s1 in CLOSE at "s1 closed" as R;/);
  trace.resets = (trace.resets ?? []).filter((x) => x.direction !== 'sent');
  assert.equal(finding(trace, id), null, 'no RST sent, no finding');
  // A bare R where the kernel answered data with a timewait socket.
  assert.match(finding(recorded('write-after-close-vs-shutdown'), 'rst-reasons:write-after-close-vs-shutdown') ?? '', /TCP_TIMEWAIT_SOCKET from a in TIME_WAIT at "pa write 1" as R;/);
});

test('rst-keeps-received-data: the data read before ECONNRESET comes from the recorded read', () => {
  const trace = recorded('reset-arrivals');
  assert.equal(finding(trace, 'rst-keeps-received-data'), 'after sd\'s RST+ACK (TCP_STATE), d\'s read() returned 5 B "reply", then ECONNRESET');
  const r1 = step(trace, 'd read 1').result;
  r1.value = { bytes: 2, eof: false, text: 're' };
  assert.match(finding(trace, 'rst-keeps-received-data') ?? '', /returned 2 B "re", then ECONNRESET/);
  r1.value = { bytes: 0, eof: true, text: '' };
  assert.equal(finding(trace, 'rst-keeps-received-data'), null, 'the data was lost: no finding');
});

test('listener-close-resets-queue follows the RST and the read', () => {
  const trace = recorded('reset-arrivals');
  assert.match(finding(trace, 'listener-close-resets-queue') ?? '', /close\(L\) sent RST\+ACK \(TCP_STATE\); q's read\(\) failed ECONNRESET$/);
  const seg = (trace.segments ?? []).find((s) => s.flags.includes('RST') && s.dst === trace.addresses['q']);
  assert.ok(seg);
  seg.rstReason = 'NOT_SPECIFIED';
  assert.match(finding(trace, 'listener-close-resets-queue') ?? '', /sent RST\+ACK \(NOT_SPECIFIED\)/);
  step(trace, 'q read').result = { ok: false, errno: 'EAGAIN' };
  assert.equal(finding(trace, 'listener-close-resets-queue'), null);
});

test('fin-ack-delay measures both gaps from the segments', () => {
  const trace = recorded('delayed-ack-rule');
  const before = finding(trace, 'fin-ack-delay');
  assert.match(before ?? '', /^FIN after 7 B of data: ACKed [\d.]+ ms later; FIN on a connection with no data: [\d.]+ ms later$/);
  const finN = (trace.segments ?? []).find((s) => s.src === trace.addresses['n'] && s.flags.includes('FIN'));
  assert.ok(finN && finN.seq !== null);
  const ackN = (trace.segments ?? []).find((s) => s.src === trace.remotes['n'] && s.ack === (finN.seq ?? 0) + finN.length + 1);
  assert.ok(ackN);
  ackN.epochMs = finN.epochMs + 42;
  assert.match(finding(trace, 'fin-ack-delay') ?? '', /no data: 42\.0 ms later$/);
  trace.segments = null;
  assert.equal(finding(trace, 'fin-ack-delay'), null, 'not captured: nothing measured');
});

test('self-connect-parity reports the counts of the recorded scans', () => {
  const trace = recorded('self-connect-ports');
  assert.equal(finding(trace, 'self-connect-parity'), 'to offset 0: 2/2 self-connects, source offsets 0; to offset 1: 0/2 self-connects, source offsets 0');
  const odd = step(trace, 'odd port').result.value as Record<string, unknown>;
  odd['selfConnects'] = 1;
  odd['sourcePorts'] = [(trace.env.ports?.[0] ?? 0) + 1, trace.env.ports?.[0] ?? 0];
  assert.match(finding(trace, 'self-connect-parity') ?? '', /to offset 1: 1\/2 self-connects, source offsets 0,1 \(1 odd\)$/);
});

test('so-error-close-wait reads SO_ERROR and the traced error', () => {
  const trace = recorded('write-after-close-vs-shutdown');
  assert.equal(finding(trace, 'so-error-close-wait'), 'pa CLOSE_WAIT got RST (TCP_TIMEWAIT_SOCKET): SO_ERROR → EPIPE, traced error EPIPE');
  step(trace, 'pa SO_ERROR').result = { ok: true, value: 'ECONNRESET' };
  for (const e of trace.errors ?? []) if (e.socket === 'pa') e.errno = 'ECONNRESET';
  assert.match(finding(trace, 'so-error-close-wait') ?? '', /SO_ERROR → ECONNRESET, traced error ECONNRESET$/);
  step(trace, 'pa SO_ERROR').result = { ok: true, value: 0 };
  assert.equal(finding(trace, 'so-error-close-wait'), null);
});

test('timewait-sockets takes inode and timer from the rows, the end from the transitions', () => {
  const trace = recorded('close-vs-shutdown');
  assert.match(finding(trace, 'timewait-sockets') ?? '', /^wr FIN_WAIT2 inode [1-9]\d* timer none; cl FIN_WAIT2 inode 0 timer time_wait \(traced FIN_WAIT2 → CLOSE\); wr TIME_WAIT inode 0 timer time_wait$/);
  for (const st of trace.steps) {
    for (const snap of [...(st.watched ?? []), st.after]) {
      for (const s of snap.sockets) if (s.inode === 0) Object.assign(s, { inode: 777, timer: { kind: 'keepalive', remainingMs: 1, retransmits: 0 } });
    }
  }
  assert.equal(finding(trace, 'timewait-sockets'), null, 'no timewait row, no finding');
});

test('emfile-busy-loop counts the recorded wake-ups; an accept that succeeds removes it', () => {
  const trace = recorded('accept-emfile');
  assert.match(finding(trace, 'emfile-busy-loop') ?? '', /^in 20 ms: L readable (\d+) times, accept\(\) \1 × EMFILE, 0 accepted, L Recv-Q 1$/);
  const r = step(trace, 'busy loop').result;
  r.value = { wakeups: 7, accepted: 0, errors: { EMFILE: 7 } };
  assert.equal(finding(trace, 'emfile-busy-loop'), 'in 20 ms: L readable 7 times, accept() 7 × EMFILE, 0 accepted, L Recv-Q 1');
  r.value = { wakeups: 1, accepted: 1, errors: {} };
  assert.equal(finding(trace, 'emfile-busy-loop'), null);
});

test('syn-retries-etimedout counts the SYNs and reads the counters; half-open-on-overflow needs the SYN_RECV row', () => {
  const trace = recorded('full-backlog');
  const before = finding(trace, 'syn-retries-etimedout') ?? '';
  assert.match(before, /^d's SYNs at 0\.0 s, 1\.0 s, 2\.\d s, 0 answered \(tcp_syn_retries 1\); ETIMEDOUT set at 3\.\d s, SO_ERROR → ETIMEDOUT; ListenOverflows \d+, ListenDrops \d+$/);
  const syns = (trace.segments ?? []).filter((s) => s.src === trace.addresses['d'] && s.flags.includes('SYN'));
  const last = syns.at(-1);
  assert.ok(last);
  last.flags = ['ACK'];
  step(trace, 'counters').result = { ok: true, value: { ListenOverflows: 99, ListenDrops: 98 } };
  assert.match(finding(trace, 'syn-retries-etimedout') ?? '', /^d's SYNs at 0\.0 s, 1\.0 s, 0 answered .*ListenOverflows 99, ListenDrops 98$/);
  step(trace, 'd error').result = { ok: true, value: 0 };
  assert.equal(finding(trace, 'syn-retries-etimedout'), null);

  assert.match(finding(trace, 'half-open-on-overflow') ?? '', /^f ESTABLISHED, ~f SYN_RECV \(timer retransmit, \d+ SYN-ACKs\); e ESTABLISHED, ~e ESTABLISHED$/);
  const far = step(trace, 'd gave up').after.sockets.find((s) => s.label === '~f');
  assert.ok(far);
  far.state = 'ESTABLISHED';
  assert.equal(finding(trace, 'half-open-on-overflow'), null);
});

test('004-l is confirmed only by the MSG_MORE segment that carries data, FIN and the ACK; without it, unverified, never contradicted', () => {
  const trace = recorded('three-vs-four-way');
  assert.equal(verdictOf(trace, '004-l').verdict, 'confirmed');
  assert.equal(finding(trace, 'reply-then-close-segments'), 'plain: 5 segments, data and FIN apart (P. 10 B, F.); with MSG_MORE: 3 segments, data and FIN in one (F. 10 B)');
  const merged = (trace.segments ?? []).find((s) => s.src === trace.remotes['m'] && s.length > 0 && s.flags.includes('FIN'));
  assert.ok(merged);
  // The data left apart: the FIN segment carries none.
  merged.length = 0;
  const v = verdictOf(trace, '004-l');
  assert.equal(v.verdict, 'unverified');
  assert.match(v.observed, /^could not build it: /);
  assert.match(finding(trace, 'reply-then-close-segments') ?? '', /with MSG_MORE: 3 segments, data and FIN apart \(F\.\)$/);
});

test('004-h is judged by parts: partly from the recorded runs; the read part from close-unread-data; no kill, no SIGPIPE part', () => {
  const trace = recorded('write-after-close-vs-shutdown');
  const v = verdictOf(trace, '004-h');
  assert.equal(v.verdict, 'partly');
  assert.match(v.observed, /^the read part does not hold here; the SIGPIPE part holds: a process with SIGPIPE's default disposition writing to pa was killed by SIGPIPE;/);
  step(trace, 'pa write by C').result = { ok: false, errno: 'EPIPE', value: { code: 1, signal: null } };
  const w = verdictOf(trace, '004-h');
  assert.equal(w.verdict, 'contradicted');
  assert.match(w.observed, /was not killed \(EPIPE/);

  const cud = recorded('close-unread-data');
  assert.equal(verdictOf(cud, '004-h').verdict, 'confirmed');
  assert.match(verdictOf(cud, '004-h').observed, /c1 was ESTABLISHED when RST\+ACK \(TCP_ABORT_ON_CLOSE\) came, and its read\(\) failed ECONNRESET$/);
  step(cud, 'c1 read').result = { ok: true, value: { bytes: 0, eof: true, text: '' } };
  assert.equal(verdictOf(cud, '004-h').verdict, 'contradicted');
});
