import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  connectionEnds,
  connectionKey,
  defaultEnds,
  groupByConnection,
  renderMermaid,
  renderSequenceDiagram,
  segmentLabel,
  type DiagramEnds,
} from '../../src/lab/report/diagram.js';
import type { CapturedSegment, Segment, TcpFlag } from '../../src/tcp/segment.js';
import { recorded } from './helpers.js';

/** The segments of a scenario recorded on Linux 6.18 (test/fixtures/traces). */
function captured(id: string): CapturedSegment[] {
  const segs = recorded(id).segments;
  assert.ok(segs, `${id} was recorded with packets`);
  return segs;
}

const C = '127.0.0.1:40312';
const S = '127.0.0.1:5000';

function seg(timeMs: number, src: string, dst: string, flags: TcpFlag[], seq: number | null, ack: number | null, length = 0, window = 64): Segment {
  return { timeMs, src, dst, flags, seq, ack, length, window };
}

const handshake: Segment[] = [
  seg(10, C, S, ['SYN'], 0, null, 0, 65495),
  seg(10.1, S, C, ['SYN', 'ACK'], 0, 1, 0, 65483),
  seg(10.1, C, S, ['ACK'], null, 1),
  seg(12.3, C, S, ['PSH', 'ACK'], 1, 1, 4),
];
const ends: DiagramEnds = { left: { label: 'client', address: C }, right: { label: 'server', address: S } };

describe('segmentLabel', () => {
  test('flags, relative numbers, payload', () => {
    assert.equal(segmentLabel(handshake[0] as Segment), 'S seq 0');
    assert.equal(segmentLabel(handshake[1] as Segment), 'S. seq 0 ack 1');
    assert.equal(segmentLabel(handshake[2] as Segment), '. ack 1');
    assert.equal(segmentLabel({ ...(handshake[2] as Segment), seq: 1 }), '. ack 1', 'a pure ACK shows no seq, as tcpdump prints it');
    assert.equal(segmentLabel(seg(0, S, C, ['RST', 'ACK'], 1, 6, 0, 0)), 'R. seq 1 ack 6');
    assert.equal(segmentLabel({ ...seg(0, S, C, ['RST', 'ACK'], 1, 6, 0, 0), rstReason: 'TCP_ABORT_ON_CLOSE' }), 'R. seq 1 ack 6 [TCP_ABORT_ON_CLOSE]');
    assert.equal(segmentLabel(handshake[3] as Segment), 'P. seq 1:5 ack 1 (4 B)');
    assert.equal(segmentLabel(handshake[0] as Segment, { flagWidth: 2 }), 'S  seq 0');
  });

  test('unknown ISN shows ?, pure ACK shows no seq', () => {
    assert.equal(segmentLabel(seg(0, S, C, ['RST', 'ACK'], null, 1, 0, 0)), 'R. seq ? ack 1');
    assert.equal(segmentLabel(seg(0, S, C, ['FIN', 'ACK'], null, null)), 'F. seq ? ack ?');
    assert.equal(segmentLabel(seg(0, S, C, ['ACK'], null, null)), '. ack ?');
  });

  test('window: zero window always (not on RST), others on request', () => {
    assert.equal(segmentLabel(seg(0, S, C, ['ACK'], null, 5, 0, 0)), '. ack 5 win 0');
    assert.equal(segmentLabel(seg(0, S, C, ['RST'], 5, null, 0, 0)), 'R seq 5');
    assert.equal(segmentLabel(seg(0, S, C, ['ACK'], null, 5, 0, 512), { showWindow: true }), '. ack 5 win 512');
  });

  test('a data range wraps at 2^32', () => {
    assert.equal(segmentLabel(seg(0, C, S, ['ACK'], 4294967294, 1, 4)), '. seq 4294967294:2 ack 1 (4 B)');
  });
});

describe('renderSequenceDiagram', () => {
  test('exact text for a handshake and one data segment', () => {
    const text = renderSequenceDiagram(handshake, ends, { width: 60 });
    const expected = [
      '   client 127.0.0.1:40312                        server 127.0.0.1:5000',
      '  0.000 ms    |----- S  seq 0 ---------------------------->|',
      '  0.100 ms    |<---- S. seq 0 ack 1 -----------------------|',
      '  0.100 ms    |----- .  ack 1 ---------------------------->|',
      '  2.300 ms    |----- P. seq 1:5 ack 1 (4 B) -------------->|',
      '',
    ].join('\n');
    assert.equal(text, expected);
  });

  test('decimals and origin are options', () => {
    const text = renderSequenceDiagram(handshake.slice(0, 1), ends, { decimals: 1, originMs: 0 });
    assert.match(text, /^ {2}10\.0 ms {4}\|----- S {2}seq 0 -+>\|$/m);
  });

  test('the right lifeline stays aligned, however long a label', () => {
    const long = [...handshake, seg(13, S, C, ['PSH', 'ACK', 'URG', 'ECE', 'CWR'], 4294967000, 4294967001, 65000)];
    for (const width of [20, 60, 120]) {
      const lines = renderSequenceDiagram(long, ends, { width }).trimEnd().split('\n');
      assert.equal(lines.length, 1 + long.length);
      const barLines = lines.slice(1);
      const ends0 = new Set(barLines.map((l) => l.lastIndexOf('|')));
      assert.equal(ends0.size, 1, `right bars aligned at width ${width}:\n${lines.join('\n')}`);
      const starts = new Set(barLines.map((l) => l.indexOf('|')));
      assert.equal(starts.size, 1, 'left bars aligned');
      if (width === 120) assert.equal(barLines[0]?.length, 120);
    }
  });

  test('real capture: one line per segment, arrows point the right way, a RST with its reason', () => {
    const trace = recorded('accept-never-called');
    const segs = captured('accept-never-called');
    const e = defaultEnds(segs);
    assert.deepEqual(e, { left: { label: 'client', address: trace.addresses['c'] }, right: { label: 'server', address: trace.addresses['L'] } });
    const lines = renderSequenceDiagram(segs, e).trimEnd().split('\n');
    assert.equal(lines.length, 1 + segs.length);
    assert.match(lines[0] as string, new RegExp(`client ${e.left.address} +server ${e.right.address}`));
    segs.forEach((s, i) => {
      const line = lines[1 + i] as string;
      if (s.src === e.left.address) assert.match(line, /\|----- .*->\|$/);
      else assert.match(line, /\|<---- .*-\|$/);
    });
    assert.match(lines[1 + 3] as string, /P\. seq 1:5 ack 1 \(4 B\)/);
    assert.match(lines[1 + 5] as string, /\|----- F\. seq 5 ack 1 /);
    const rst = segs.findIndex((s) => s.flags.includes('RST'));
    assert.ok(rst > 0 && segs[rst]?.rstReason, 'the recorded RST has its reason');
    assert.match(lines[1 + rst] as string, new RegExp(`R\\. seq 1 ack 6 \\[${segs[rst]?.rstReason}\\]`));
  });

  test('a self-connected socket loops back onto its single lifeline', () => {
    const segs = captured('self-connect');
    const self = recorded('self-connect').addresses['s'] as string;
    const e = defaultEnds(segs);
    assert.equal(e.left.address, self);
    assert.equal(e.right.address, self);
    const lines = renderSequenceDiagram(segs, e).trimEnd().split('\n');
    assert.ok((lines[0] as string).includes(`${self} (self-connected)`));
    assert.equal(lines.length, 1 + 2 * segs.length);
    assert.match(lines[1] as string, /0\.000 ms +\|---\. S {2}seq 0$/);
    assert.match(lines[2] as string, /^ +\|<--'$/);
    assert.match(lines[3] as string, /\|---\. S\. seq 0 ack 1$/);
  });

  test('a self segment in a two-party diagram is marked, a foreign one gets ?', () => {
    const text = renderSequenceDiagram([seg(0, C, C, ['SYN'], 0, null), seg(1, '10.0.0.1:1', '10.0.0.2:2', ['RST'], null, null)], ends);
    assert.match(text, /\|---\. S {2}seq 0 \(self\)\n +\|<--'\n/);
    assert.match(text, /\? {2}10\.0\.0\.1:1 > 10\.0\.0\.2:2 {2}R {2}seq \?/);
  });

  test('no segments', () => {
    assert.match(renderSequenceDiagram([], ends), /\(no segments\)/);
  });
});

describe('compact diagrams', () => {
  test('a plain handshake goes on the caption line; data or a FIN ACKed at once shares its line; a delayed ACK keeps its own', () => {
    const segs = captured('accept-never-called');
    const e = defaultEnds(segs);
    const full = renderSequenceDiagram(segs, e).trimEnd().split('\n');
    const compact = renderSequenceDiagram(segs, e, { compact: true }).trimEnd().split('\n');
    assert.match(compact[0] as string, /client \S+ +<== handshake 0\.000 ms ==> +server \S+/);
    assert.equal(compact.length, full.length - 3 - 1, 'three handshake lines and the data ACK folded');
    assert.match(compact[1] as string, /P\. seq 1:5 ack 1 \(4 B\), ACKed at once/);
    // The FIN's ACK came ~40 ms later (delayed ACK, 001-e): it keeps its line.
    assert.match(compact[2] as string, /\|----- F\. seq 5 ack 1 -+>\|$/);
    assert.match(compact[3] as string, /\|<---- \. {2}ack 6 -+\|$/);
  });

  test('nothing folds that is not exactly a handshake or an immediate pure ACK', () => {
    const late = [...handshake.slice(0, 2), seg(10.1, C, S, ['ACK'], 1, 2)]; // ack 2: not the plain handshake
    assert.equal(renderSequenceDiagram(late, ends, { compact: true }).trimEnd().split('\n').length, 4);
    const delayed = [seg(0, C, S, ['PSH', 'ACK'], 1, 1, 4), seg(40, S, C, ['ACK'], 1, 5)];
    assert.equal(renderSequenceDiagram(delayed, ends, { compact: true }).trimEnd().split('\n').length, 3);
    const wrongAck = [seg(0, C, S, ['PSH', 'ACK'], 1, 1, 4), seg(0.1, S, C, ['ACK'], 1, 3)];
    assert.equal(renderSequenceDiagram(wrongAck, ends, { compact: true }).trimEnd().split('\n').length, 3);
  });
});

describe('groupByConnection', () => {
  test('one group per 4-tuple, both directions together, capture order kept', () => {
    const trace = recorded('close-unread-data');
    const segs = captured('close-unread-data');
    const groups = groupByConnection(segs);
    // Three connections to one listener: c0, c1, c2, each opened by its client.
    const clients = ['c0', 'c1', 'c2'].map((n) => trace.addresses[n] as string);
    const server = trace.addresses['L'] as string;
    assert.deepEqual([...groups.keys()], clients.map((c) => connectionKey(c, server)));
    for (const [i, g] of [...groups.values()].entries()) {
      assert.deepEqual(g.map((s) => s.timeMs), [...g].map((s) => s.timeMs).sort((x, y) => x - y), 'capture order kept');
      assert.deepEqual(connectionEnds(g), { client: clients[i], server });
    }
    assert.equal([...groups.values()].reduce((n, g) => n + g.length, 0), segs.length);
  });

  test('canonical key: symmetric, ports compared as numbers, IPv6, self', () => {
    assert.equal(connectionKey(S, C), connectionKey(C, S));
    assert.equal(connectionKey('127.0.0.1:10', '127.0.0.1:9'), '127.0.0.1:9>127.0.0.1:10');
    assert.equal(connectionKey('[::1]:80', '[::1]:5'), '[::1]:5>[::1]:80');
    assert.equal(connectionKey(C, C), `${C}>${C}`);
  });

  test('ends without a handshake in view: A and B in key order', () => {
    const mid = [seg(0, S, C, ['ACK'], null, null), seg(1, C, S, ['FIN', 'ACK'], null, null)];
    assert.equal(connectionEnds(mid), null);
    assert.deepEqual(defaultEnds(mid), { left: { label: 'A', address: S }, right: { label: 'B', address: C } });
    assert.deepEqual(defaultEnds([seg(0, S, C, ['SYN', 'ACK'], 0, 1)]).left.address, C);
  });
});

describe('renderMermaid', () => {
  test('exact text', () => {
    assert.equal(
      renderMermaid(handshake.slice(0, 3), ends),
      [
        'sequenceDiagram',
        '    participant L as client 127.0.0.1:40312',
        '    participant R as server 127.0.0.1:5000',
        '    L->>R: 0.000 ms: S seq 0',
        '    R->>L: 0.100 ms: S. seq 0 ack 1',
        '    L->>R: 0.100 ms: . ack 1',
        '',
      ].join('\n'),
    );
  });

  test('IPv6, no times, escaping of ; and #, foreign segments as notes', () => {
    const A = '[::1]:59526';
    const B = '[::1]:36341';
    const segs = [seg(0, A, B, ['SYN'], 0, null), seg(0.01, B, A, ['SYN', 'ACK'], 0, 1), seg(0.02, A, B, ['ACK'], 1, 1), seg(1, A, B, ['PSH', 'ACK'], 1, 1, 4)];
    const e = defaultEnds(segs);
    e.left.label = 'client #1; v6';
    const text = renderMermaid([...segs, seg(9, '[::1]:1', '[::1]:2', ['RST'], null, null)], e, { showTimes: false });
    assert.match(text, /^ {4}participant L as client #35;1#59; v6 \[::1\]:59526$/m);
    assert.match(text, /^ {4}L->>R: P\. seq 1:5 ack 1 \(4 B\)$/m);
    assert.match(text, /^ {4}Note over L,R: \[::1\]:1 > \[::1\]:2 R seq \?$/m);
    assert.equal(text.split('\n').filter((l) => /->>/.test(l)).length, segs.length);
  });

  test('self-connected: one participant, messages to itself', () => {
    const segs = captured('self-connect');
    const text = renderMermaid(segs, defaultEnds(segs));
    assert.doesNotMatch(text, /participant R/);
    assert.match(text, /^ {4}L->>L: 0\.000 ms: S seq 0$/m);
  });
});
