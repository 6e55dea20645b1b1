// The pure decisions of the session: state transitions, clock offset, mount table, reasons, timeline.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  StateTimeline,
  lockdownConfidential,
  measureEpochOffset,
  tracefsMountPoints,
  transitionTracer,
  unavailableFromErrno,
  type TcpStateChangeEvent,
  type TracerState,
} from '../../src/trace/index.js';
import type { ClockName } from '../../src/sys/index.js';
import type { TcpState } from '../../src/tcp/index.js';

describe('transitionTracer', () => {
  const cases: [TracerState, TracerState, TracerState | 'throws'][] = [
    ['open', 'closed', 'closed'],
    ['open', 'open', 'throws'],
    ['closed', 'open', 'throws'],
    ['closed', 'closed', 'throws'],
  ];
  for (const [from, to, want] of cases) {
    test(`${from} → ${to}: ${want}`, () => {
      if (want === 'throws') assert.throws(() => transitionTracer(from, to), /illegal transition/);
      else assert.equal(transitionTracer(from, to), want);
    });
  }
});

describe('measureEpochOffset', () => {
  test('takes realtime against the midpoint of the narrowest of three samples', () => {
    // Injected clocks: monotonic readings around each realtime reading, widths 40, 10, 30 ns.
    const readings: Record<ClockName, bigint[]> = {
      monotonic: [1000n, 1040n, 2000n, 2010n, 3000n, 3030n],
      realtime: [9_000_001_020n, 9_000_002_000n, 9_000_003_015n],
      monotonic_raw: [],
      boottime: [],
      tai: [],
    };
    const read = (c: ClockName): bigint => {
      const v = readings[c].shift();
      assert.ok(v !== undefined, `unexpected read of ${c}`);
      return v;
    };
    // Sample 2: midpoint 2005, realtime 9_000_002_000 → offset 8_999_999_995.
    assert.equal(measureEpochOffset('monotonic', read), 8_999_999_995n);
  });
});

describe('tracefs in /proc/mounts', () => {
  const mounts = [
    'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
    'tracefs /sys/kernel/debug/tracing tracefs rw,relatime 0 0',
    'nodev /sys/kernel/tracing tracefs rw,relatime 0 0',
    'nodev /mnt/my\\040trace tracefs rw 0 0',
    'debugfs /sys/kernel/debug debugfs rw 0 0',
  ].join('\n');
  test('every tracefs mount, the conventional place first, octal escapes decoded', () => {
    assert.deepEqual(tracefsMountPoints(mounts), ['/sys/kernel/tracing', '/sys/kernel/debug/tracing', '/mnt/my trace']);
    assert.deepEqual(tracefsMountPoints('sysfs /sys sysfs rw 0 0\n'), []);
  });
  test('lockdown: only confidentiality forbids reading trace buffers', () => {
    assert.equal(lockdownConfidential('none integrity [confidentiality]\n'), true);
    assert.equal(lockdownConfidential('none [integrity] confidentiality\n'), false);
    assert.equal(lockdownConfidential(''), false);
  });
  test('errno → reason', () => {
    assert.equal(unavailableFromErrno('ENODEV', 'mount').reason, 'no-tracefs');
    assert.equal(unavailableFromErrno('EBUSY', 'mount').reason, 'mount-failed');
    const denied = unavailableFromErrno('EACCES', 'reading x');
    // not-root, or lockdown on a machine in confidentiality mode: both say why
    assert.ok(denied.reason === 'not-root' || denied.reason === 'lockdown');
    assert.match(denied.message, /^reading x: EACCES; /);
    assert.equal(denied.errno, 'EACCES');
  });
});

describe('StateTimeline (time in the previous state, as tcpstates shows it)', () => {
  const ev = (skaddr: bigint, from: TcpState, to: TcpState, ms: number): TcpStateChangeEvent => ({
    kind: 'state', clockNs: BigInt(ms * 1e6), epochMs: 0, cpu: 0, pid: 0, from, to, family: 'IPv4', local: '127.0.0.1:1', remote: '127.0.0.1:2', skaddr,
  });
  test('per socket, null when first seen, forgotten at CLOSE', () => {
    const tl = new StateTimeline();
    const got = [
      ev(1n, 'CLOSE', 'SYN_SENT', 10),
      ev(2n, 'LISTEN', 'SYN_RECV', 11),
      ev(1n, 'SYN_SENT', 'ESTABLISHED', 10.5),
      ev(1n, 'ESTABLISHED', 'FIN_WAIT1', 1010.5),
      ev(2n, 'SYN_RECV', 'ESTABLISHED', 12),
      ev(1n, 'FIN_WAIT1', 'CLOSE', 1011),
      ev(1n, 'CLOSE', 'SYN_SENT', 2000), // the struct sock reused by a new socket
    ].map((e) => tl.track(e).msInPrevious);
    assert.deepEqual(got, [null, null, 0.5, 1000, 1, 0.5, null]);
    assert.equal(tl.size, 2);
  });
  test('bounded: past maxSockets the oldest socket is forgotten', () => {
    const tl = new StateTimeline(2);
    tl.track(ev(1n, 'CLOSE', 'SYN_SENT', 1));
    tl.track(ev(2n, 'CLOSE', 'SYN_SENT', 2));
    tl.track(ev(3n, 'CLOSE', 'SYN_SENT', 3));
    assert.equal(tl.size, 2);
    assert.equal(tl.track(ev(1n, 'SYN_SENT', 'ESTABLISHED', 4)).msInPrevious, null);
    assert.equal(tl.track(ev(3n, 'SYN_SENT', 'ESTABLISHED', 5)).msInPrevious, 2);
    assert.throws(() => new StateTimeline(0), RangeError);
  });
});
