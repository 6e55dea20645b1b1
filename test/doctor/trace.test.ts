// The pure parts of `teardown trace` and of true ages, on hand-made events (the live side is
// test/cli/trace-cli.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ageKey, DoctorWatch, type DoctorSocket } from '../../src/doctor/index.js';
import { StateAges } from '../../src/doctor/ages.js';
import { isProcessContext, matchesFilter, traceLineText, TransitionTracker, type TraceLine } from '../../src/doctor/trace.js';
import type { TcpState } from '../../src/tcp/state.js';
import type { TcpStateChangeEvent, TcpTraceEvent } from '../../src/trace/index.js';

function move(sk: bigint, from: TcpState, to: TcpState, atMs: number, pid = 0, local = '127.0.0.1:5000', remote = '127.0.0.1:80'): TcpStateChangeEvent {
  return { kind: 'state', clockNs: BigInt(Math.round(atMs * 1e6)), epochMs: 1_700_000_000_000 + atMs, cpu: 0, pid, from, to, family: 'IPv4', local, remote, skaddr: sk };
}

describe('isProcessContext: whose pid an event carries', () => {
  const table: [TcpState, TcpState, boolean][] = [
    ['CLOSE', 'SYN_SENT', true],
    ['CLOSE', 'LISTEN', true],
    ['ESTABLISHED', 'FIN_WAIT1', true],
    ['CLOSE_WAIT', 'LAST_ACK', true],
    ['LISTEN', 'CLOSE', true],
    ['SYN_SENT', 'ESTABLISHED', false],
    ['ESTABLISHED', 'CLOSE_WAIT', false],
    ['FIN_WAIT1', 'FIN_WAIT2', false],
    ['LAST_ACK', 'CLOSE', false],
    ['ESTABLISHED', 'CLOSE', false],
  ];
  for (const [from, to, own] of table) it(`${from} → ${to}: ${own ? 'the event\'s task' : 'softirq or timer'}`, () => assert.equal(isProcessContext(from, to), own));
});

describe('TransitionTracker', () => {
  it('time in the previous state, the process carried from the socket, forgotten at CLOSE', () => {
    const t = new TransitionTracker({ commandOf: (pid) => (pid === 42 ? 'client' : null) });
    const lines = [
      move(1n, 'CLOSE', 'SYN_SENT', 0, 42),
      move(1n, 'SYN_SENT', 'ESTABLISHED', 0.5, 0),
      move(1n, 'ESTABLISHED', 'FIN_WAIT1', 150.5, 42),
      move(1n, 'FIN_WAIT1', 'FIN_WAIT2', 151, 7),
      move(1n, 'FIN_WAIT2', 'CLOSE', 251, 0),
    ].map((e) => t.add(e));
    assert.deepEqual(lines.map((l) => (l?.kind === 'state' ? l.inPreviousMs : 'x')), [null, 0.5, 150, 0.5, 100]);
    assert.deepEqual(lines.map((l) => (l?.kind === 'state' ? `${l.process?.pid}/${l.process?.from}` : 'x')), ['42/event', '42/socket', '42/event', '42/socket', '42/socket']);
    assert.equal(lines[0]?.process?.command, 'client');
    assert.equal(t.size, 0, 'CLOSE forgets the socket');
  });

  it('a socket first seen mid-life has no previous duration; memory is bounded', () => {
    const t = new TransitionTracker({ maxSockets: 2 });
    const first = t.add(move(9n, 'ESTABLISHED', 'CLOSE_WAIT', 10));
    assert.equal(first?.kind === 'state' ? first.inPreviousMs : 'x', null);
    t.add(move(10n, 'CLOSE', 'SYN_SENT', 11, 1));
    t.add(move(11n, 'CLOSE', 'SYN_SENT', 12, 1));
    assert.equal(t.size, 2);
    const late = t.add(move(9n, 'CLOSE_WAIT', 'LAST_ACK', 20, 5));
    assert.equal(late?.kind === 'state' ? late.inPreviousMs : 'x', null, 'the oldest was evicted');
  });

  it('RSTs: an active reset takes the event pid, the reason and its meaning', () => {
    const t = new TransitionTracker();
    const e: TcpTraceEvent = { kind: 'reset-sent', clockNs: 5n, epochMs: 1, cpu: 0, pid: 77, family: 'IPv4', local: '127.0.0.1:80', remote: '127.0.0.1:5000', state: 'CLOSE', reason: 'TCP_ABORT_ON_CLOSE', skaddr: 3n, skbaddr: 0n };
    const l = t.add(e);
    assert.equal(l?.kind, 'rst-sent');
    assert.equal(l?.process?.pid, 77);
    assert.match(l?.kind === 'rst-sent' ? (l.meaning ?? '') : '', /unread data/);
    const answered = t.add({ ...e, pid: 5, skbaddr: 99n, skaddr: 0n, reason: 'NO_SOCKET' });
    assert.equal(answered?.process, null, 'a reset answering a segment runs in softirq: the pid means nothing');
    assert.match(traceLineText(l as TraceLine), /rst-sent .* TCP_ABORT_ON_CLOSE \(close\(\) with unread data/);
  });
});

describe('matchesFilter', () => {
  const l = new TransitionTracker().add(move(1n, 'ESTABLISHED', 'FIN_WAIT1', 0, 42)) as TraceLine;
  const table: [string, Parameters<typeof matchesFilter>[1], boolean][] = [
    ['no filter', {}, true],
    ['local port', { ports: [5000] }, true],
    ['remote port', { ports: [80] }, true],
    ['other port', { ports: [81] }, false],
    ['to state', { states: ['FIN_WAIT1'] }, true],
    ['from state', { states: ['ESTABLISHED'] }, true],
    ['other state', { states: ['CLOSE_WAIT'] }, false],
    ['pid', { pids: [42] }, true],
    ['other pid', { pids: [43] }, false],
    ['all must match', { ports: [80], pids: [43] }, false],
  ];
  for (const [name, f, ok] of table) it(name, () => assert.equal(matchesFilter(l, f), ok));
});

describe('StateAges feeding the watch', () => {
  const sock = (state: TcpState, local: string, remote: string): DoctorSocket => ({ local, remote, state, recvQ: 0, sendQ: 0, owner: null, inode: 1, timer: { kind: 'none', remainingMs: 0, retransmits: 0 } });
  it('an entry from the transition is exact; a socket the tracer never saw enter is ≥ the tracer\'s age', () => {
    const ages = new StateAges({ sinceMs: 1000, toWatchMs: (ns) => Number(ns) / 1e6 });
    ages.add([move(1n, 'ESTABLISHED', 'CLOSE_WAIT', 1500, 0, '127.0.0.1:80', '127.0.0.1:5000')]);
    const w = new DoctorWatch();
    const young = sock('CLOSE_WAIT', '127.0.0.1:80', '127.0.0.1:5000');
    const old = sock('CLOSE_WAIT', '127.0.0.1:80', '127.0.0.1:5001');
    const v = w.update({ atMs: 4000, sockets: [young, old], counters: null, entries: ages });
    assert.equal(v.agesFrom, 'trace');
    assert.equal(v.ages.get(ageKey(young)), 2500);
    assert.equal(v.ages.get(ageKey(old)), 3000);
    assert.deepEqual([...v.agesAtLeast], [ageKey(old)]);
  });
  it('a later transition replaces the entry (CLOSE_WAIT → LAST_ACK forgets it)', () => {
    const ages = new StateAges({ sinceMs: 0, toWatchMs: (ns) => Number(ns) / 1e6 });
    ages.add([move(1n, 'ESTABLISHED', 'FIN_WAIT1', 10), move(1n, 'FIN_WAIT1', 'FIN_WAIT2', 20)]);
    assert.equal(ages.enteredAt('FIN_WAIT1 127.0.0.1:5000>127.0.0.1:80'), undefined);
    assert.equal(ages.enteredAt('FIN_WAIT2 127.0.0.1:5000>127.0.0.1:80'), 20);
    assert.equal(ages.enteredAt('FIN_WAIT2 127.0.0.1:5000>127.0.0.1:80 some-netns'), 20, 'the namespace suffix is ignored');
    ages.add([move(1n, 'FIN_WAIT2', 'CLOSE', 30)]);
    assert.equal(ages.size, 0);
  });
});
