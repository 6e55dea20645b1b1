import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ageKey, DoctorWatch, isGrowing, parseStateName, resolveStates, SS_DEFAULT_STATES, STATE_GROUPS, type DoctorSocket } from '../../src/index.js';

/** The pid of a process reference, or null for none / unreadable. */
function pidOf(p: unknown): number | null {
  return typeof p === 'object' && p !== null && 'pid' in p ? (p as { pid: number }).pid : null;
}

function cw(remotePort: number, pid: number | null, state: 'CLOSE_WAIT' | 'FIN_WAIT2' = 'CLOSE_WAIT'): DoctorSocket {
  return {
    local: '10.0.0.1:8080',
    remote: `10.0.0.2:${remotePort}`,
    state,
    recvQ: 0,
    sendQ: 0,
    owner: pid === null ? null : { pid, command: 'app', fd: 5 },
    inode: pid === null ? 0 : 100 + remotePort,
    timer: { kind: 'none', remainingMs: 0, retransmits: 0 },
  };
}

describe('DoctorWatch', () => {
  it('trends per holder: a count that only grows, one that falls, the never-accepted apart', () => {
    const w = new DoctorWatch();
    w.update({ atMs: 0, sockets: [cw(1, 10), cw(2, 20), cw(3, 20), cw(9, null)], counters: null });
    w.update({ atMs: 1000, sockets: [cw(1, 10), cw(4, 10), cw(2, 20), cw(9, null)], counters: null });
    const v = w.update({ atMs: 2000, sockets: [cw(1, 10), cw(4, 10), cw(5, 10), cw(2, 20), cw(9, null), cw(8, null)], counters: null });
    assert.deepEqual(v.closeWaitTotal, [4, 4, 6]);
    const byPid = Object.fromEntries(v.closeWait.map((t) => [pidOf(t.owner) ?? (t.ownerless ? 'none' : 'unknown'), [t.series, t.growing]]));
    assert.deepEqual(byPid, { 10: [[1, 2, 3], true], 20: [[2, 1, 1], false], none: [[1, 1, 2], true] });
    assert.equal(v.spanMs, 2000);
    assert.equal(v.intervalMs, 1000);
  });

  it('ages: how long each CLOSE_WAIT / FIN_WAIT2 has been seen; gone sockets are forgotten', () => {
    const w = new DoctorWatch();
    w.update({ atMs: 100, sockets: [cw(1, 10), cw(2, 10, 'FIN_WAIT2')], counters: null });
    const v1 = w.update({ atMs: 1600, sockets: [cw(1, 10), cw(3, 10)], counters: null });
    assert.equal(v1.ages.get(ageKey(cw(1, 10))), 1500);
    assert.equal(v1.ages.get(ageKey(cw(3, 10))), 0);
    assert.equal(v1.ages.has(ageKey(cw(2, 10, 'FIN_WAIT2'))), false);
    const v2 = w.update({ atMs: 2600, sockets: [cw(2, 10, 'FIN_WAIT2')], counters: null });
    assert.equal(v2.ages.get(ageKey(cw(2, 10, 'FIN_WAIT2'))), 0, 'reappeared: counted from now');
  });

  it('counter rates per second; a counter that went backwards (reset) has no rate', () => {
    const w = new DoctorWatch();
    const c = (v: number) => ({ TcpExt: { ListenOverflows: v } });
    assert.equal(w.update({ atMs: 0, sockets: [], counters: c(10) }).rates[0]?.perSecond, null);
    const v = w.update({ atMs: 500, sockets: [], counters: c(15) });
    assert.deepEqual(v.rates.map((r) => [r.key, r.value, r.delta, r.perSecond, r.totalDelta]), [['TcpExt.ListenOverflows', 15, 5, 10, 5]]);
    const r = w.update({ atMs: 1000, sockets: [], counters: c(2) }).rates[0];
    assert.equal(r?.delta, null);
    assert.equal(r?.totalDelta, 7, 'from the reset on, the new value counts');
  });

  it('keeps a bounded window and refuses samples out of order', () => {
    const w = new DoctorWatch({ window: 3 });
    let v;
    for (let i = 0; i < 10; i++) v = w.update({ atMs: i, sockets: Array.from({ length: i }, (_, k) => cw(k, 10)), counters: null });
    assert.deepEqual(v?.closeWaitTotal, [7, 8, 9]);
    assert.throws(() => w.update({ atMs: 3, sockets: [], counters: null }), /time order/);
    assert.throws(() => new DoctorWatch({ window: 2 }), /window must be/);
  });

  it('isGrowing: at least three samples, never falling, ending higher', () => {
    assert.equal(isGrowing([1, 2]), false);
    assert.equal(isGrowing([1, 1, 1]), false);
    assert.equal(isGrowing([1, 1, 2]), true);
    assert.equal(isGrowing([1, 3, 2, 4]), false);
  });
});

describe('ss state filter', () => {
  it('names in ss spelling, kernel spelling, and groups', () => {
    assert.deepEqual(parseStateName('close-wait'), ['CLOSE_WAIT']);
    assert.deepEqual(parseStateName('CLOSE_WAIT'), ['CLOSE_WAIT']);
    assert.deepEqual(parseStateName('fin-wait-2'), ['FIN_WAIT2']);
    assert.deepEqual(parseStateName('FIN_WAIT2'), ['FIN_WAIT2']);
    assert.deepEqual(parseStateName('listening'), ['LISTEN']);
    assert.deepEqual(parseStateName('syn-recv'), ['SYN_RECV', 'NEW_SYN_RECV']);
    assert.equal(parseStateName('bogus'), undefined);
    for (const inherited of ['constructor', '__proto__', 'toString']) assert.equal(parseStateName(inherited), undefined, inherited);
  });

  it('groups as ss(8) defines them', () => {
    assert.ok(!STATE_GROUPS.connected.includes('LISTEN' as never) && !STATE_GROUPS.connected.includes('CLOSE' as never));
    assert.ok(STATE_GROUPS.connected.includes('TIME_WAIT' as never));
    assert.ok(!STATE_GROUPS.synchronized.includes('SYN_SENT' as never) && STATE_GROUPS.synchronized.includes('SYN_RECV' as never));
    assert.deepEqual([...STATE_GROUPS.bucket].sort(), ['NEW_SYN_RECV', 'SYN_RECV', 'TIME_WAIT']);
    assert.ok(!STATE_GROUPS.big.includes('TIME_WAIT' as never) && STATE_GROUPS.big.includes('LISTEN' as never));
    assert.deepEqual([...resolveStates([])], [...SS_DEFAULT_STATES]);
    assert.deepEqual([...resolveStates(['connected'], ['time-wait', 'syn-recv'])].sort(), [...SS_DEFAULT_STATES].sort());
    assert.throws(() => resolveStates(['close_wiat']), /unknown state "close_wiat"; known: all, connected/);
  });
});
