/**
 * The lab's side of packet capture: frames decoded by src/trace/packet become segments with
 * numbers relative to each direction's ISN (pure; hand-built frames). LabCapture on a live
 * scenario is exercised through the CLI (test/cli/lab-kernel-cli.test.ts, root).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeTcp } from '../../src/trace/index.js';
import { Relativizer, segmentsOf } from '../../src/lab/kernel/capture.js';
import { flagString } from '../../src/tcp/segment.js';
import { FLAG, opt, tcpFrame, type TcpSpec } from '../trace/frames.js';

const C = { src: '10.0.0.1', srcPort: 1000, dst: '10.0.0.2', dstPort: 80 };
const S = { src: '10.0.0.2', srcPort: 80, dst: '10.0.0.1', dstPort: 1000 };

function decoded(spec: TcpSpec) {
  const d = decodeTcp(tcpFrame(spec));
  assert.ok(d, 'frame decodes');
  return d;
}

describe('Relativizer', () => {
  test('numbers relative to each direction’s ISN, pure ACKs included; absolute numbers kept; times from the origin', () => {
    const r = new Relativizer(1000);
    const syn = r.push(1000.5, decoded({ ...C, seq: 5000, flags: FLAG.SYN, options: Buffer.concat([opt.mss(65495), opt.sackOk(), opt.ts(7, 0), opt.nop(), opt.wscale(7)]) }));
    const synAck = r.push(1000.6, decoded({ ...S, seq: 9000, ack: 5001, flags: FLAG.SYN | FLAG.ACK }));
    const ack = r.push(1000.7, decoded({ ...C, seq: 5001, ack: 9001, flags: FLAG.ACK }));
    const data = r.push(1001, decoded({ ...C, seq: 5001, ack: 9001, flags: FLAG.PSH | FLAG.ACK, payload: Buffer.from('ping') }));
    assert.deepEqual([syn.seq, syn.ack, syn.timeMs, syn.epochMs], [0, null, 0.5, 1000.5]);
    assert.deepEqual(syn.options, { mss: 65495, sackOk: true, ts: { val: 7, ecr: 0 }, wscale: 7 });
    assert.deepEqual([synAck.seq, synAck.ack], [0, 1]);
    assert.deepEqual([ack.seq, ack.ack, ack.seqAbs, ack.ackAbs], [1, 1, 5001, 9001], 'a pure ACK has its sequence number');
    assert.deepEqual([flagString(data.flags), data.seq, data.length], ['P.', 1, 4]);
  });

  test('a direction whose SYN was not seen keeps seq null but its absolute number', () => {
    const r = new Relativizer(0);
    const mid = r.push(1, decoded({ ...C, seq: 123, ack: 456, flags: FLAG.ACK }));
    assert.deepEqual([mid.seq, mid.ack, mid.seqAbs, mid.ackAbs], [null, null, 123, 456]);
  });

  test('sequence space wraps at 2^32', () => {
    const r = new Relativizer(0);
    r.push(0, decoded({ ...C, seq: 4294967290, flags: FLAG.SYN }));
    r.push(0, decoded({ ...S, seq: 7, ack: 4294967291, flags: FLAG.SYN | FLAG.ACK }));
    const data = r.push(1, decoded({ ...C, seq: 4294967291, ack: 8, flags: FLAG.PSH | FLAG.ACK, payload: Buffer.alloc(8) }));
    assert.deepEqual([data.seq, data.ack, data.length], [1, 1, 8]);
  });

  test('SACK blocks are relative to the data sender’s ISN', () => {
    const r = new Relativizer(0);
    r.push(0, decoded({ ...C, seq: 100, flags: FLAG.SYN }));
    r.push(0, decoded({ ...S, seq: 500, ack: 101, flags: FLAG.SYN | FLAG.ACK }));
    const sack = r.push(1, decoded({ ...S, seq: 501, ack: 101, flags: FLAG.ACK, options: Buffer.concat([opt.nop(), opt.nop(), opt.sack([[201, 301]])]) }));
    assert.deepEqual(sack.options?.sack, [[101, 201]], 'relative like seq: ISN + 1 is 1');
  });

  test('a reused 4-tuple: the new SYN forgets the old peer ISN, a retransmitted SYN does not', () => {
    const r = new Relativizer(0);
    r.push(0, decoded({ ...C, seq: 100, flags: FLAG.SYN }));
    r.push(0, decoded({ ...S, seq: 500, ack: 101, flags: FLAG.SYN | FLAG.ACK }));
    assert.equal(r.push(0, decoded({ ...C, seq: 100, flags: FLAG.SYN })).seq, 0, 'retransmission');
    assert.equal(r.push(0, decoded({ ...S, seq: 501, ack: 101, flags: FLAG.FIN | FLAG.ACK })).seq, 1);
    assert.equal(r.push(0, decoded({ ...C, seq: 9000, flags: FLAG.SYN })).seq, 0, 'new incarnation');
    assert.equal(r.push(0, decoded({ ...S, seq: 502, flags: FLAG.RST })).seq, null, 'the old peer ISN no longer applies');
    const synAck = r.push(0, decoded({ ...S, seq: 7000, ack: 9001, flags: FLAG.SYN | FLAG.ACK }));
    assert.deepEqual([synAck.seq, synAck.ack], [0, 1]);
  });

  test('segmentsOf skips frames that are not TCP', () => {
    const frame = tcpFrame({ ...C, seq: 1, flags: FLAG.SYN });
    const segs = segmentsOf(
      [
        { epochNs: 1_000_000n, epochMs: 1, frame, origLen: frame.length, tcp: decodeTcp(frame) },
        { epochNs: 2_000_000n, epochMs: 2, frame: Buffer.alloc(14), origLen: 14, tcp: null },
      ],
      0,
    );
    assert.equal(segs.length, 1);
  });
});
