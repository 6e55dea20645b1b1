import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runOnKernel } from '../../src/lab/kernel/run.js';
import { TraceView } from '../../src/lab/trace.js';
import acceptNeverCalled from '../../src/lab/scenarios/accept-never-called.js';
import acceptEmfile from '../../src/lab/scenarios/accept-emfile.js';
import nodeAcceptEmfile from '../../src/lab/scenarios/node-accept-emfile.js';
import fullBacklog from '../../src/lab/scenarios/full-backlog.js';
import { needsRoot } from './helpers.js';

const verdict = (t: TraceView, claim: string): string | undefined => t.trace.verdicts.find((v) => v.claim === claim)?.verdict;

test('accept-never-called: the kernel completes, queues, ACKs and keeps the connection with no owner', { skip: needsRoot }, async () => {
  const t = new TraceView(await runOnKernel(acceptNeverCalled));
  assert.equal(t.sock('connected', 'c')?.state, 'ESTABLISHED');
  assert.equal(t.sock('connected', '~c')?.state, 'ESTABLISHED');
  assert.equal(t.sock('connected', '~c')?.owner, null);
  assert.equal(t.sock('connected', 'L')?.recvQ, 1, 'accept-queue length');
  assert.equal(t.result('written').value, 4);
  assert.equal(t.sock('client closed', 'c')?.state, 'FIN_WAIT2');
  assert.equal(t.sock('client closed', '~c')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('client closed', '~c')?.recvQ, 5, '4 bytes + the FIN');
  assert.equal(t.sock('client exited', 'c')?.state, 'FIN_WAIT2', 'the orphan outlives its process');
  assert.equal(t.sock('server exited', '~c'), undefined);
  const flags = (t.trace.segments ?? []).map((s) => s.flags.join('+'));
  assert.deepEqual(flags.slice(0, 3), ['SYN', 'SYN+ACK', 'ACK']);
  assert.ok(flags.includes('FIN+ACK'));
  assert.equal(flags.at(-1), 'RST+ACK', 'the unaccepted connection is reset when its listener goes');
  assert.deepEqual(
    ['001-a', '001-b', '001-c', '001-d', '001-e', '001-g'].map((c) => verdict(t, c)),
    ['confirmed', 'confirmed', 'confirmed', 'confirmed', 'confirmed', 'contradicted'],
  );
});

test('accept-emfile: EMFILE leaves the connection queued; accept succeeds once descriptors are free', { skip: needsRoot }, async () => {
  const t = new TraceView(await runOnKernel(acceptEmfile));
  assert.equal(t.result('accept fails').errno, 'EMFILE');
  assert.equal(t.result('accept still fails').errno, 'EMFILE');
  assert.equal(t.sock('waiting in queue', '~c')?.state, 'CLOSE_WAIT');
  assert.equal(t.sock('waiting in queue', '~c')?.owner, null);
  assert.equal(t.result('accepted').ok, true);
  assert.deepEqual(t.result('read').value, { bytes: 4, eof: true });
  assert.equal(t.sock('released', 's'), undefined);
  assert.equal(t.sock('released', 'c')?.state, 'TIME_WAIT');
  assert.equal(verdict(t, '001-f'), 'confirmed');
});

test('node-accept-emfile: libuv accepts and closes at once instead of leaving the connection queued', { skip: needsRoot }, async () => {
  const t = new TraceView(await runOnKernel(nodeAcceptEmfile));
  assert.equal(t.sock('after accept attempt', '~c'), undefined, 'not waiting in the accept queue');
  const fromServer = t.from('~c', t.segments('connected', 'client read')).map((s) => s.flags.join('+'));
  assert.ok(fromServer.includes('FIN+ACK'), `server end sent ${fromServer.join(', ')}`);
  assert.ok(fromServer.includes('RST'), 'the client\'s data is answered with RST');
  assert.ok((t.result('server events after').value as string[]).some((e) => e.startsWith('connection:')), 'recovers');
  assert.deepEqual(t.trace.verdicts, [], 'another runtime than the article\'s: no verdict on 001-f …');
  assert.match(t.trace.notes.find((n) => n.claim === '001-f')?.note ?? '', /node:net server \(libuv\), out of descriptors: the connection did not wait/, '… a note beside it');
});

test('full-backlog: backlog + 1 handshakes complete without accept(), the next SYN is dropped', { skip: needsRoot }, async () => {
  const t = new TraceView(await runOnKernel(fullBacklog));
  assert.equal(t.sock('third', 'a')?.state, 'ESTABLISHED');
  assert.equal(t.sock('third', 'b')?.state, 'ESTABLISHED');
  assert.equal(t.sock('third', 'c')?.state, 'SYN_SENT');
  assert.equal(t.result('third').errno, 'EINPROGRESS');
  assert.equal(t.sock('third', 'L')?.recvQ, 2);
  assert.equal(t.sock('after SYN retransmit', 'c')?.state, 'ESTABLISHED');
  const syns = t.from('c', t.segments('third', 'after SYN retransmit')).filter((s) => s.flags.join('+') === 'SYN');
  assert.equal(syns.length, 2, 'the first SYN was dropped and retransmitted');
});
