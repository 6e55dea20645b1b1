import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { captureProgram, MARKER_ETHERTYPE, MAX_PORT_RANGES, normalizePortRanges } from '../../src/trace/packet/bpf.js';
import { checkProgram, runBpf } from './bpf-interpreter.js';
import { arpFrame, ethernet, FLAG, tcpFrame, udpFrame } from './frames.js';

const HOST = 0;
const OUTGOING = 4;
const SNAP = 262144;

describe('captureProgram without ports', () => {
  const prog = captureProgram({ snaplen: SNAP, dropOutgoing: true });

  test('passes the kernel checker rules (length, jumps in range, ends in a return)', () => {
    checkProgram(prog);
  });

  const cases: Array<[string, Buffer, number, number]> = [
    ['TCP over IPv4', tcpFrame({ family: 4 }), HOST, SNAP],
    ['TCP over IPv6', tcpFrame({ family: 6 }), HOST, SNAP],
    ['TCP over IPv4 with IP options (IHL 6)', tcpFrame({ family: 4, ipOptions: Buffer.from([1, 1, 1, 0]) }), HOST, SNAP],
    ['TCP, first fragment (MF set, offset 0)', tcpFrame({ fragment: 0x2000 }), HOST, SNAP],
    ['TCP, later fragment (offset 185)', tcpFrame({ fragment: 185 }), HOST, 0],
    ['UDP over IPv4', udpFrame(4, 5000, 9), HOST, 0],
    ['UDP over IPv6', udpFrame(6, 5000, 9), HOST, 0],
    ['ARP', arpFrame(), HOST, 0],
    ['ICMP over IPv4 (protocol 1)', tcpFrame({ protocol: 1 }), HOST, 0],
    ['IPv6 with a hop-by-hop header first (next header 0)', tcpFrame({ family: 6, protocol: 0 }), HOST, 0],
    ['our marker', ethernet(MARKER_ETHERTYPE, Buffer.from('tcp-teardown flush x')), HOST, SNAP],
    ['loopback outgoing copy of TCP', tcpFrame({ family: 4 }), OUTGOING, 0],
    ['loopback outgoing copy of TCP over IPv6', tcpFrame({ family: 6 }), OUTGOING, 0],
    ['a frame shorter than an Ethernet header', Buffer.alloc(10), HOST, 0],
    ['IPv4 cut before the protocol byte', tcpFrame().subarray(0, 20), HOST, 0],
  ];
  for (const [name, frame, pktType, want] of cases) {
    test(`${name} → ${want === 0 ? 'dropped' : 'kept'}`, () => {
      assert.equal(runBpf(prog, frame, { pktType }), want);
    });
  }

  test('an outgoing frame is kept when dropOutgoing is off (any interface but lo)', () => {
    const p = captureProgram({ snaplen: SNAP, dropOutgoing: false });
    assert.equal(runBpf(p, tcpFrame(), { pktType: OUTGOING }), SNAP);
    assert.equal(runBpf(p, udpFrame(4, 1, 2), { pktType: OUTGOING }), 0);
  });

  test('the return value is the snap length', () => {
    const p = captureProgram({ snaplen: 96, dropOutgoing: true });
    assert.equal(runBpf(p, tcpFrame({ family: 6 }), { pktType: HOST }), 96);
  });
});

describe('captureProgram with port ranges', () => {
  const ranges: Array<[number, number]> = [
    [5000, 5009],
    [80, 80],
  ];
  const prog = captureProgram({ snaplen: SNAP, dropOutgoing: true, ports: ranges });

  test('passes the kernel checker rules', () => checkProgram(prog));

  for (const family of [4, 6] as const) {
    const cases: Array<[number, number, boolean]> = [
      [80, 40000, true], // src in [80,80]
      [40000, 80, true], // dst in [80,80]
      [79, 81, false],
      [4999, 40000, false],
      [5000, 40000, true],
      [40000, 5009, true],
      [5010, 40000, false],
      [40000, 5010, false],
      [1, 65535, false],
    ];
    for (const [srcPort, dstPort, kept] of cases) {
      test(`IPv${family} ${srcPort} > ${dstPort} → ${kept ? 'kept' : 'dropped'}`, () => {
        const f = tcpFrame({ family, srcPort, dstPort, flags: FLAG.SYN });
        assert.equal(runBpf(prog, f, { pktType: HOST }), kept ? SNAP : 0);
      });
    }
  }

  test('ports are read after IPv4 options (IHL > 5)', () => {
    const f = tcpFrame({ srcPort: 40000, dstPort: 80, ipOptions: Buffer.from([1, 1, 1, 1, 1, 1, 1, 0]) });
    assert.equal(runBpf(prog, f, { pktType: HOST }), SNAP);
    // The same ports at the fixed-header offset would read the options, not the ports.
    const g = tcpFrame({ srcPort: 40000, dstPort: 81, ipOptions: Buffer.from([0, 80, 0, 80, 0, 80, 0, 80]) });
    assert.equal(runBpf(prog, g, { pktType: HOST }), 0);
  });

  test('markers pass whatever the ports; UDP on a listed port does not', () => {
    assert.equal(runBpf(prog, ethernet(MARKER_ETHERTYPE, Buffer.alloc(20)), { pktType: HOST }), SNAP);
    assert.equal(runBpf(prog, udpFrame(4, 80, 80), { pktType: HOST }), 0);
  });

  test('outgoing copies are dropped even on a listed port', () => {
    assert.equal(runBpf(prog, tcpFrame({ srcPort: 80 }), { pktType: OUTGOING }), 0);
  });

  test('a frame cut inside the TCP ports is dropped (the kernel fails the load)', () => {
    const f = tcpFrame({ srcPort: 80 }).subarray(0, 14 + 20 + 1);
    assert.equal(runBpf(prog, f, { pktType: HOST }), 0);
  });

  test(`${MAX_PORT_RANGES} separate ranges still assemble into a valid program`, () => {
    const many: Array<[number, number]> = Array.from({ length: MAX_PORT_RANGES }, (_, i) => [i * 3, i * 3]);
    const p = captureProgram({ snaplen: SNAP, dropOutgoing: true, ports: many });
    checkProgram(p);
    assert.equal(runBpf(p, tcpFrame({ srcPort: 40000, dstPort: (MAX_PORT_RANGES - 1) * 3 }), { pktType: HOST }), SNAP);
    assert.equal(runBpf(p, tcpFrame({ srcPort: 40000, dstPort: 4 }), { pktType: HOST }), 0);
  });
});

describe('normalizePortRanges', () => {
  test('sorts and merges overlapping and adjacent ranges', () => {
    assert.deepEqual(normalizePortRanges([[10, 20], [1, 5], [6, 8], [15, 30], [40, 40]]), [[1, 8], [10, 30], [40, 40]]);
  });
  const bad: Array<[string, Array<[number, number]>]> = [
    ['a port above 65535', [[1, 65536]]],
    ['a negative port', [[-1, 5]]],
    ['a fraction', [[1.5, 5]]],
    ['first > last', [[9, 8]]],
  ];
  for (const [name, r] of bad) {
    test(`rejects ${name} with a RangeError naming the option`, () => {
      assert.throws(() => normalizePortRanges(r), (e: unknown) => e instanceof RangeError && /^ports: /.test(e.message));
    });
  }
  test('rejects more ranges than the program may hold', () => {
    const many: Array<[number, number]> = Array.from({ length: MAX_PORT_RANGES + 1 }, (_, i) => [i * 2, i * 2]);
    assert.throws(() => normalizePortRanges(many), RangeError);
  });
  test('captureProgram rejects a snap length outside 1…262144', () => {
    for (const snaplen of [0, 262145, 1.5]) assert.throws(() => captureProgram({ snaplen, dropOutgoing: true }), /snaplen/);
  });
});
