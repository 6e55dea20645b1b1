import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeFrame, decodeTcp, ipv6Text, isDsack, seqBefore, type DecodedTcp } from '../../src/trace/packet/decode.js';
import { ethernet, FLAG, opt, tcpFrame } from './frames.js';

function tcp(frame: Buffer, origLen?: number): DecodedTcp {
  const r = decodeFrame(frame, origLen);
  assert.ok(r.ok, `not decoded: ${r.ok ? '' : r.reason}`);
  return r.tcp;
}

describe('decode: frames the kernel captured on lo (hex, not built by our builder)', () => {
  // A SYN and a data segment over [::1], read from an AF_PACKET socket on a namespace's lo.
  const SYN_V6 =
    '00000000000000000000000086dd600033c2002806400000000000000000000000000000000100000000000000000000000000000001' +
    'd7441388f66c5b3400000000a002ffc4003000000204ffc40402080a7afe149a000000000103030a';
  const DATA_V6 =
    '00000000000000000000000086dd600033c2002506400000000000000000000000000000000100000000000000000000000000000001' +
    'd7441388f66c5b35aeecc37c80180040002d00000101080a7afe149d39fbb65a68656c6c6f';

  test('IPv6 SYN: ports, absolute seq, no ack, raw window, every option', () => {
    const s = tcp(Buffer.from(SYN_V6, 'hex'));
    assert.deepEqual(
      [s.family, s.src, s.dst, s.flags, s.seq, s.ack, s.window, s.headerLength, s.payloadLength],
      [6, '[::1]:55108', '[::1]:5000', ['SYN'], 4134296372, null, 65476, 40, 0],
    );
    assert.deepEqual(s.options, {
      mss: 65476,
      windowScale: 10,
      sackPermitted: true,
      sackBlocks: [],
      timestamps: { tsval: 2063471770, tsecr: 0 },
      otherKinds: [],
      malformed: false,
    });
  });

  test('IPv6 data segment: PSH+ACK, payload length from the IPv6 payload length, payload offset', () => {
    const frame = Buffer.from(DATA_V6, 'hex');
    const s = tcp(frame);
    assert.deepEqual([s.flags, s.seq, s.ack, s.window, s.payloadLength], [['PSH', 'ACK'], 4134296373, 2934752124, 64, 5]);
    assert.equal(frame.subarray(s.payloadOffset).toString(), 'hello');
    assert.deepEqual(s.options.timestamps, { tsval: 2063471773, tsecr: 972797530 });
  });

  test('payload length survives a snap length that cut the payload off', () => {
    const frame = Buffer.from(DATA_V6, 'hex');
    const cut = frame.subarray(0, frame.length - 5);
    assert.equal(tcp(cut, frame.length).payloadLength, 5);
  });
});

describe('decode: built frames', () => {
  test('IPv4: addresses, ports, flags in RFC 9293 names, absolute numbers, urgent pointer', () => {
    const s = tcp(
      tcpFrame({ src: '10.1.2.3', dst: '192.168.200.1', srcPort: 1234, dstPort: 443, seq: 0xfffffff0, ack: 7, flags: 0xff, window: 65535, urgent: 9, payload: Buffer.from('abc') }),
    );
    assert.deepEqual(
      [s.family, s.src, s.dst, s.srcPort, s.dstPort, s.seq, s.ack, s.window, s.urgentPointer, s.payloadLength, s.headerLength],
      [4, '10.1.2.3:1234', '192.168.200.1:443', 1234, 443, 0xfffffff0, 7, 65535, 9, 3, 20],
    );
    assert.deepEqual(s.flags, ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR']);
  });

  test('a pure ACK has its sequence number; ack is null without the ACK flag', () => {
    assert.equal(tcp(tcpFrame({ flags: FLAG.ACK, seq: 42, ack: 99 })).seq, 42);
    assert.equal(tcp(tcpFrame({ flags: FLAG.ACK, seq: 42, ack: 99 })).ack, 99);
    assert.equal(tcp(tcpFrame({ flags: FLAG.RST, seq: 42, ack: 99 })).ack, null);
  });

  test('IPv4 with IP options: TCP found after IHL × 4 bytes', () => {
    const s = tcp(tcpFrame({ ipOptions: Buffer.from([1, 1, 1, 0]), srcPort: 7, dstPort: 8, payload: Buffer.alloc(10) }));
    assert.deepEqual([s.srcPort, s.dstPort, s.payloadLength, s.payloadOffset], [7, 8, 10, 14 + 24 + 20]);
  });

  test('every option: MSS, window scale, SACK-permitted, timestamps, unknown kinds', () => {
    const options = Buffer.concat([opt.mss(1460), opt.nop(), opt.wscale(7), opt.sackOk(), opt.ts(0xdeadbeef, 1), opt.raw(30, [0, 0]), opt.raw(34, []), opt.eol()]);
    const s = tcp(tcpFrame({ flags: FLAG.SYN, options }));
    assert.deepEqual(s.options, {
      mss: 1460,
      windowScale: 7,
      sackPermitted: true,
      sackBlocks: [],
      timestamps: { tsval: 0xdeadbeef, tsecr: 1 },
      otherKinds: [30, 34],
      malformed: false,
    });
    assert.equal(s.headerLength, 20 + Math.ceil(options.length / 4) * 4);
  });

  test('SACK blocks (RFC 2018 §3) beside timestamps, as Linux sends them', () => {
    const options = Buffer.concat([opt.nop(), opt.nop(), opt.ts(5, 6), opt.nop(), opt.nop(), opt.sack([[100, 200], [0xfffffff0, 5]])]);
    const s = tcp(tcpFrame({ options }));
    assert.deepEqual(s.options.sackBlocks, [
      { left: 100, right: 200 },
      { left: 0xfffffff0, right: 5 },
    ]);
    assert.deepEqual(s.options.timestamps, { tsval: 5, tsecr: 6 });
    assert.equal(s.headerLength, 52);
  });

  test('options after EOL are ignored', () => {
    const s = tcp(tcpFrame({ options: Buffer.concat([opt.eol(), opt.mss(1000), opt.nop(), opt.nop(), opt.nop()]) }));
    assert.equal(s.options.mss, null);
    assert.equal(s.options.malformed, false);
  });

  const malformed: Array<[string, Buffer]> = [
    ['a length of 1', Buffer.from([2, 1, 0, 0])],
    ['a length past the header', Buffer.from([8, 40, 0, 0])],
    ['a kind byte with no length byte', Buffer.from([1, 1, 1, 3])],
    ['an MSS with length 3', Buffer.from([2, 3, 5, 0])],
    ['a SACK with a partial block', Buffer.from([5, 6, 0, 0, 0, 0, 0, 0])],
  ];
  for (const [name, options] of malformed) {
    test(`options with ${name} are flagged malformed, the segment still decodes`, () => {
      const s = tcp(tcpFrame({ options }));
      assert.equal(s.options.malformed, true);
    });
  }

  test('IPv6 addresses as RFC 5952 writes them', () => {
    const v6 = (a: string): string => tcp(tcpFrame({ family: 6, src: a, srcPort: 1 })).src;
    assert.equal(v6('::1'), '[::1]:1');
    assert.equal(v6('2001:db8::1'), '[2001:db8::1]:1');
    assert.equal(v6('2001:db8:0:0:1:0:0:1'), '[2001:db8::1:0:0:1]:1'); // first of two equal runs
    assert.equal(v6('2001:db8:0:1:1:1:1:1'), '[2001:db8:0:1:1:1:1:1]:1'); // a single zero group stays
    assert.equal(v6('fe80::'), '[fe80::]:1');
    assert.equal(v6('::'), '[::]:1');
    assert.equal(v6('::ffff:7f00:1'), '[::ffff:127.0.0.1]:1');
    assert.equal(ipv6Text(Buffer.from('20010db8000000000000000000000abc', 'hex'), 0), '2001:db8::abc');
  });

  test('BIG TCP: a zero IP length takes the length from the frame', () => {
    const f4 = tcpFrame({ payload: Buffer.alloc(100), ipLengthField: 0 });
    assert.equal(tcp(f4.subarray(0, 60), f4.length).payloadLength, 100);
    const f6 = tcpFrame({ family: 6, payload: Buffer.alloc(100), ipLengthField: 0 });
    assert.equal(tcp(f6, f6.length).payloadLength, 100);
  });
});

describe('decode: what is not TCP, or is broken, gets a reason', () => {
  const reasons: Array<[string, Buffer, string]> = [
    ['10 bytes', Buffer.alloc(10), 'truncated-ethernet'],
    ['ARP', ethernet(0x0806, Buffer.alloc(28)), 'not-ip'],
    ['our marker', ethernet(0x88b5, Buffer.from('x')), 'not-ip'],
    ['IPv4 cut at 10 bytes', tcpFrame().subarray(0, 24), 'truncated-ip'],
    ['IPv4 header saying version 6', (() => { const f = tcpFrame(); f[14] = 0x65; return f; })(), 'bad-ip-version'],
    ['IPv4 IHL 4', (() => { const f = tcpFrame(); f[14] = 0x44; return f; })(), 'bad-ip-header-length'],
    ['IPv4 IHL 15 in a short frame', (() => { const f = tcpFrame().subarray(0, 50); f[14] = 0x4f; return f; })(), 'truncated-ip'],
    ['UDP', tcpFrame({ protocol: 17 }), 'not-tcp'],
    ['IPv6 with an extension header', tcpFrame({ family: 6, protocol: 0 }), 'not-tcp'],
    ['a later IPv4 fragment', tcpFrame({ fragment: 100 }), 'ip-fragment'],
    ['a first IPv4 fragment (MF)', tcpFrame({ fragment: 0x2000 }), 'ip-fragment'],
    ['TCP cut inside the fixed header', tcpFrame().subarray(0, 14 + 20 + 10), 'truncated-tcp'],
    ['TCP cut inside the options', tcpFrame({ options: opt.ts(1, 2) }).subarray(0, 14 + 20 + 22), 'truncated-tcp'],
    ['data offset 4', (() => { const f = tcpFrame(); f[14 + 20 + 12] = 0x40; return f; })(), 'bad-tcp-header-length'],
    ['an IPv4 total length shorter than the headers', tcpFrame({ ipLengthField: 30 }), 'bad-ip-length'],
    ['an IPv6 payload length shorter than the TCP header', tcpFrame({ family: 6, ipLengthField: 12 }), 'bad-ip-length'],
  ];
  for (const [name, frame, reason] of reasons) {
    test(`${name} → ${reason}`, () => {
      assert.deepEqual(decodeFrame(frame), { ok: false, reason });
      assert.equal(decodeTcp(frame), null);
    });
  }

  test('random bytes never throw (20 000 frames, seeded)', () => {
    let seed = 0x2545f491;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    let decoded = 0;
    for (let i = 0; i < 20000; i++) {
      // Half the frames start from a valid header, so the fuzz reaches the TCP and option code.
      const base = i % 2 === 0 ? tcpFrame({ family: i % 4 === 0 ? 4 : 6, options: opt.ts(1, 2) }) : Buffer.alloc(Math.floor(rand() * 120));
      const cut = rand() < 0.5 ? base.length : Math.floor(rand() * (base.length + 1));
      const f = Buffer.from(base.subarray(0, cut));
      const start = i % 2 === 0 ? 14 : 0;
      for (let j = start; j < f.length; j++) if (rand() < (i % 2 === 0 ? 0.02 : 0.2)) f[j] = Math.floor(rand() * 256);
      const r = decodeFrame(f, Math.floor(rand() * 70000));
      if (r.ok) {
        decoded++;
        assert.ok(r.tcp.payloadLength >= 0 && r.tcp.headerLength >= 20 && r.tcp.headerLength <= 60);
      }
    }
    assert.ok(decoded > 1000, `the fuzz should reach decoded segments too (${decoded})`);
  });
});

describe('isDsack (RFC 2883 §4)', () => {
  const cases: Array<[string, [number, number], number, [number, number] | undefined, boolean]> = [
    ['first block below the cumulative ACK (§4.1.1)', [3000, 3500], 4000, undefined, true],
    ['first block ending exactly at the ACK', [3500, 4000], 4000, undefined, true],
    ['first block above the ACK, no second block', [5000, 5500], 4000, undefined, false],
    ['first block inside the second (§4.1.3: duplicate above the ACK)', [5000, 5500], 4000, [4500, 6000], true],
    ['first block equal to the second', [5000, 5500], 4000, [5000, 5500], true],
    ['first block not inside the second: an ordinary SACK', [6000, 6500], 4000, [5000, 5500], false],
    ['first block overlapping the second only partly', [5000, 6500], 4000, [5500, 7000], false],
    ['comparison modulo 2^32: left edge just before an ACK past the wrap', [0xfffffff0, 0xfffffffa], 10, undefined, true],
    ['comparison modulo 2^32: block past the wrap, ACK before it', [20, 30], 0xfffffff0, undefined, false],
  ];
  for (const [name, [l, r], ack, second, want] of cases) {
    test(`${name} → ${want}`, () => {
      assert.equal(isDsack({ left: l, right: r }, ack, second && { left: second[0], right: second[1] }), want);
    });
  }
  test('seqBefore wraps', () => {
    assert.equal(seqBefore(0xffffffff, 0), true);
    assert.equal(seqBefore(0, 0xffffffff), false);
    assert.equal(seqBefore(5, 5), false);
  });
});
