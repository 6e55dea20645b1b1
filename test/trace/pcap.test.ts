import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { encodePcap, PCAP_MAGIC_NS, writePcapFile, type PcapPacket } from '../../src/trace/packet/pcap.js';
import { FLAG, opt, tcpFrame } from './frames.js';
import { readWithPcapParser } from './pcap-reader.js';

/** A fresh directory that t.after removes, even when the test fails. */
function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-pcap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function samplePackets(): PcapPacket[] {
  const syn = tcpFrame({ flags: FLAG.SYN, srcPort: 40000, dstPort: 80, options: Buffer.concat([opt.mss(65495), opt.sackOk(), opt.ts(1, 0), opt.nop(), opt.wscale(7)]) });
  const data = tcpFrame({ family: 6, flags: FLAG.PSH | FLAG.ACK, payload: Buffer.from('hello pcap') });
  const cut = tcpFrame({ payload: Buffer.alloc(3000, 7) });
  return [
    { epochNs: 1_796_050_424_977_792_123n, frame: syn, origLen: syn.length },
    { epochNs: 1_796_050_424_978_000_999n, frame: data, origLen: data.length },
    // A frame the capture cut at its snap length: 100 bytes kept of 3074.
    { epochNs: 1_796_050_425_000_000_000n, frame: cut.subarray(0, 100), origLen: cut.length },
  ];
}

describe('pcap writer', () => {
  test('pcap-parser reads back the same frames, lengths and microsecond timestamps', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'a.pcap');
    const packets = samplePackets();
    writePcapFile(path, packets, { snaplen: 65535 });
    const back = await readWithPcapParser(path);
    assert.deepEqual(
      [back.header.majorVersion, back.header.minorVersion, back.header.snapshotLength, back.header.linkLayerType, back.header.gmtOffset],
      [2, 4, 65535, 1, 0],
    );
    assert.equal(back.packets.length, packets.length);
    back.packets.forEach((b, i) => {
      const p = packets[i] as PcapPacket;
      assert.deepEqual(b.data, Buffer.from(p.frame), `frame ${i}`);
      assert.equal(b.header.capturedLength, p.frame.length);
      assert.equal(b.header.originalLength, p.origLen);
      const us = BigInt(b.header.timestampSeconds) * 1_000_000n + BigInt(b.header.timestampMicroseconds);
      assert.equal(us, p.epochNs / 1000n, `timestamp ${i}`);
    });
  });

  test('frames longer than the header snap length are cut to it, origLen kept', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'b.pcap');
    const packets = samplePackets();
    writePcapFile(path, packets, { snaplen: 64 });
    const back = await readWithPcapParser(path);
    assert.deepEqual(back.packets.map((p) => p.header.capturedLength), [64, 64, 64]);
    assert.deepEqual(back.packets.map((p) => p.header.originalLength), packets.map((p) => p.origLen));
    assert.deepEqual(back.packets[0]?.data, Buffer.from(packets[0]?.frame.subarray(0, 64) ?? []));
  });

  test('nanosecond files: magic 0xa1b23c4d and the nanosecond fraction (checked field by field)', () => {
    const packets = samplePackets();
    const b = encodePcap(packets, { resolution: 'ns' });
    assert.equal(b.readUInt32LE(0), PCAP_MAGIC_NS);
    let at = 24;
    for (const p of packets) {
      assert.equal(BigInt(b.readUInt32LE(at)) * 1_000_000_000n + BigInt(b.readUInt32LE(at + 4)), p.epochNs);
      assert.equal(b.readUInt32LE(at + 8), p.frame.length);
      assert.equal(b.readUInt32LE(at + 12), p.origLen);
      at += 16 + p.frame.length;
    }
    assert.equal(at, b.length);
  });

  test('an empty capture is a valid file of 24 bytes', async (t) => {
    const dir = tempDir(t);
    writePcapFile(join(dir, 'e.pcap'), []);
    const back = await readWithPcapParser(join(dir, 'e.pcap'));
    assert.equal(back.packets.length, 0);
    assert.equal(back.header.snapshotLength, 262144);
  });

  test('rejects what a pcap record cannot hold', () => {
    const f = tcpFrame();
    assert.throws(() => encodePcap([{ epochNs: -1n, frame: f, origLen: f.length }]), RangeError);
    assert.throws(() => encodePcap([{ epochNs: 2n ** 32n * 1_000_000_000n, frame: f, origLen: f.length }]), RangeError);
    assert.throws(() => encodePcap([{ epochNs: 1n, frame: f, origLen: f.length - 1 }]), RangeError);
    assert.throws(() => encodePcap([], { snaplen: 0 }), /snaplen/);
  });

  test('tcpdump -r reads the file (when tcpdump is installed)', (t) => {
    const which = spawnSync('sh', ['-c', 'command -v tcpdump'], { encoding: 'utf8' });
    if (which.status !== 0) {
      t.skip('tcpdump not installed (not needed: pcap-parser already read the file)');
      return;
    }
    const dir = tempDir(t);
    const path = join(dir, 'c.pcap');
    for (const resolution of ['us', 'ns'] as const) {
      writePcapFile(path, samplePackets(), { resolution });
      // -Z root: as root, Debian's tcpdump otherwise switches to a 'tcpdump' user that may not exist.
      const asRoot = process.getuid?.() === 0 ? ['-Z', 'root'] : [];
      const r = spawnSync(which.stdout.trim(), [...asRoot, '-r', path, '-nn', '--nano', '-tt'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 3);
      assert.match(lines[0] ?? '', resolution === 'ns' ? /^1796050424\.977792123 IP 127\.0\.0\.1\.40000 > 127\.0\.0\.1\.80: Flags \[S\]/ : /^1796050424\.977792000 IP /);
    }
  });
});
