import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { decodePage, LAYOUT_64, RingBufferError, walkPage, type PageLayout } from '../../src/trace/index.js';
import { capturedDecoder, capturedLayout, capturedPages, fixtureText } from './fixtures.js';

/**
 * Builds a ring-buffer page the way kernel/trace/ring_buffer.c writes one (rb_update_event(),
 * rb_add_time_stamp(), rb_event_discard(), ring_buffer_read_page()), independently of the decoder.
 */
class PageBuilder {
  private readonly parts: Buffer[] = [];
  constructor(private readonly pageTs: bigint) {}

  private header(typeLen: number, delta: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(((delta << 5) | typeLen) >>> 0);
    return b;
  }

  /** A record; payload lengths > 112 bytes take the long form (type_len 0) as the kernel does. */
  record(delta: number, payload: Buffer): this {
    const padded = Buffer.concat([payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
    if (padded.length <= 112 && padded.length > 0) {
      this.parts.push(this.header(padded.length / 4, delta), padded);
    } else {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(padded.length + 4);
      this.parts.push(this.header(0, delta), len, padded);
    }
    return this;
  }

  extend(delta: bigint): this {
    const a = Buffer.alloc(4);
    a.writeUInt32LE(Number(delta >> 27n));
    this.parts.push(this.header(30, Number(delta & ((1n << 27n) - 1n))), a);
    return this;
  }

  absolute(ts: bigint): this {
    const low = ts & ((1n << 59n) - 1n);
    const a = Buffer.alloc(4);
    a.writeUInt32LE(Number(low >> 27n));
    this.parts.push(this.header(31, Number(low & ((1n << 27n) - 1n))), a);
    return this;
  }

  /** A discarded (filtered-out) record of `len` data bytes: padding with a non-zero delta. */
  discard(delta: number, len: number): this {
    const a = Buffer.alloc(4);
    a.writeUInt32LE(len);
    this.parts.push(this.header(29, delta), a, Buffer.alloc(len - 4));
    return this;
  }

  /** End-of-page padding (time_delta 0). */
  tailPadding(): this {
    this.parts.push(this.header(29, 0), Buffer.alloc(12));
    return this;
  }

  build(opts: { size?: number; missedCount?: number; missedNoCount?: boolean; commitExtra?: number } = {}): Buffer {
    const data = Buffer.concat(this.parts);
    const page = Buffer.alloc(opts.size ?? 4096);
    page.writeBigUInt64LE(this.pageTs, 0);
    let commit = data.length + (opts.commitExtra ?? 0);
    data.copy(page, 16);
    if (opts.missedCount !== undefined) {
      page.writeBigUInt64LE(BigInt(opts.missedCount), 16 + data.length);
      commit = (commit | (1 << 30) | (1 << 31)) >>> 0;
    } else if (opts.missedNoCount) commit = (commit | (1 << 31)) >>> 0;
    page.writeBigUInt64LE(BigInt(commit), 8);
    return page;
  }
}

const bytes = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

describe('decodePage on hand-built pages', () => {
  test('short records: time is the page stamp plus each delta; data of type_len × 4 bytes', () => {
    const page = new PageBuilder(1_000_000n).record(5, bytes(8, 1)).record(7, bytes(12, 2)).record(0, bytes(112, 3)).build();
    const d = decodePage(page);
    assert.equal(d.timestampNs, 1_000_000n);
    assert.equal(d.commit, 4 + 8 + 4 + 12 + 4 + 112);
    assert.deepEqual(
      d.records.map((r) => [r.timeNs, r.data.length, r.data[0]]),
      [
        [1_000_005n, 8, 1],
        [1_000_012n, 12, 2],
        [1_000_012n, 112, 3],
      ],
    );
    assert.equal(d.missedEvents, false);
    assert.equal(d.missedCount, null);
  });

  test('a long record (type_len 0) carries its length + 4 in array[0]', () => {
    const d = decodePage(new PageBuilder(0n).record(3, bytes(200, 9)).record(1, bytes(4, 8)).build());
    assert.deepEqual(d.records.map((r) => [r.timeNs, r.data.length, r.data[199] ?? r.data[0]]), [
      [3n, 200, 9],
      [4n, 4, 8],
    ]);
  });

  test('a time extend adds (array[0] << 27) + time_delta', () => {
    const big = 5_000_000_123n; // > 2^27 ns: needs an extend
    const d = decodePage(new PageBuilder(10n).record(1, bytes(4, 1)).extend(big).record(2, bytes(4, 2)).build());
    assert.deepEqual(d.records.map((r) => r.timeNs), [11n, 11n + big + 2n]);
  });

  test('an absolute time stamp replaces the clock; its 5 top bits come from the page stamp', () => {
    const plain = decodePage(new PageBuilder(100n).absolute(7_777_777_777n).record(3, bytes(4, 1)).build());
    assert.deepEqual(plain.records.map((r) => r.timeNs), [7_777_777_780n]);
    // A clock with the top bits set (rb_fix_abs_ts()): the page stamp lends them.
    const top = 0xf8n << 56n;
    const pageTs = top | 1000n;
    const d = decodePage(new PageBuilder(pageTs).absolute(top | 5000n).record(0, bytes(4, 1)).build());
    assert.equal(d.records[0]?.timeNs, top | 5000n);
    // ... and a stamp that wrapped its 59 bits since the page stamp gets 2^59 added.
    const wrapped = decodePage(new PageBuilder(top | ((1n << 59n) - 10n)).absolute(top | 5n).record(0, bytes(4, 1)).build());
    assert.equal(wrapped.records[0]?.timeNs, (top | 5n) + (1n << 59n));
  });

  test('a discarded record (padding with a delta) is skipped but its delta counts', () => {
    const d = decodePage(new PageBuilder(0n).record(1, bytes(8, 1)).discard(50, 12).record(2, bytes(8, 2)).build());
    assert.deepEqual(d.records.map((r) => [r.timeNs, r.data[0]]), [
      [1n, 1],
      [53n, 2],
    ]);
  });

  test('end-of-page padding (delta 0) ends the walk', () => {
    const d = decodePage(new PageBuilder(0n).record(1, bytes(4, 1)).tailPadding().record(1, bytes(4, 2)).build());
    assert.equal(d.records.length, 1);
  });

  test('lost events: the flag, and the count stored after the data', () => {
    const withCount = decodePage(new PageBuilder(0n).record(1, bytes(4, 1)).build({ missedCount: 42 }));
    assert.equal(withCount.missedEvents, true);
    assert.equal(withCount.missedCount, 42);
    assert.equal(withCount.commit, 8);
    assert.equal(withCount.records.length, 1);
    const noCount = decodePage(new PageBuilder(0n).record(1, bytes(4, 1)).build({ missedNoCount: true }));
    assert.equal(noCount.missedEvents, true);
    assert.equal(noCount.missedCount, null);
  });

  test('an empty page, and a partly filled one (read() copies the committed part)', () => {
    assert.equal(decodePage(new PageBuilder(0n).build()).records.length, 0);
    assert.equal(decodePage(new PageBuilder(0n).record(1, bytes(4, 1)).build({ size: 16 + 8 })).records.length, 1);
  });

  test('malformed pages are a RingBufferError, never an endless or out-of-bounds walk', () => {
    assert.throws(() => decodePage(Buffer.alloc(8)), RingBufferError);
    assert.throws(() => decodePage(new PageBuilder(0n).record(1, bytes(4, 1)).build({ size: 64, commitExtra: 4000 })), /runs past the 64-byte page/);
    // a record that claims more bytes than the commit holds
    const p = new PageBuilder(0n).record(1, bytes(16, 1)).build();
    p.writeBigUInt64LE(8n, 8); // commit covers only half of it
    assert.throws(() => decodePage(p), /runs past the commit/);
    // a long record whose length word is below 4
    const q = new PageBuilder(0n).record(1, bytes(200, 1)).build();
    q.writeUInt32LE(2, 20);
    assert.throws(() => decodePage(q), /long record of length 2/);
  });

  test('a 32-bit layout (4-byte commit, data at 12)', () => {
    const l32: PageLayout = { ...LAYOUT_64, commitSize: 4, dataOffset: 12 };
    const page64 = new PageBuilder(5n).record(1, bytes(4, 7)).build();
    const page = Buffer.concat([page64.subarray(0, 8), Buffer.from([8, 0, 0, 0]), page64.subarray(16)]);
    const d = decodePage(page, l32);
    assert.deepEqual(d.records.map((r) => [r.timeNs, r.data[0]]), [[6n, 7]]);
  });

  test('walkPage hands out offsets into the page', () => {
    const page = new PageBuilder(0n).record(1, bytes(4, 1)).record(1, bytes(8, 2)).build();
    const seen: [number, number][] = [];
    walkPage(page, LAYOUT_64, (_t, s, e) => seen.push([s, e]));
    assert.deepEqual(seen, [
      [20, 24],
      [28, 36],
    ]);
  });
});

/** The kernel's own text rendering of the captured buffer: `<comm>-<pid> [cpu] flags secs.usecs: event: …`. */
function kernelLines(): { cpu: number; pid: number; usecs: bigint; event: string; text: string }[] {
  const out: { cpu: number; pid: number; usecs: bigint; event: string; text: string }[] = [];
  for (const line of fixtureText('trace.txt').split('\n')) {
    const m = /^\s*.+-(\d+)\s+\[(\d+)\]\s+\S+\s+(\d+)\.(\d{6}):\s+(\w+):\s?(.*)$/.exec(line);
    if (!m) continue;
    out.push({ pid: Number(m[1]), cpu: Number(m[2]), usecs: BigInt(m[3] as string) * 1_000_000n + BigInt(m[4] as string), event: m[5] as string, text: m[6] as string });
  }
  return out;
}

describe('decodePage on pages captured live (Linux 6.18, trace_clock mono)', () => {
  test('same records, same times (µs) and same CPUs as the kernel\'s own text rendering', () => {
    const layout = capturedLayout();
    const decoder = capturedDecoder();
    const ours: { cpu: number; usecs: bigint; id: number; pid: number }[] = [];
    for (const { cpu, page } of capturedPages()) {
      // ns2usecs() in kernel/trace/trace.c rounds to the nearest µs.
      for (const r of decodePage(page, layout).records) ours.push({ cpu, usecs: (r.timeNs + 500n) / 1000n, id: r.data.readUInt16LE(0), pid: r.data.readInt32LE(4) });
    }
    ours.sort((a, b) => (a.usecs < b.usecs ? -1 : a.usecs > b.usecs ? 1 : 0));
    const theirs = kernelLines();
    assert.ok(theirs.length >= 10, `trace.txt has ${theirs.length} lines`);
    assert.equal(ours.length, theirs.length);
    const names = new Map([...decoder.ids].map(([id, n]) => [id, n as string]));
    for (let i = 0; i < ours.length; i++) {
      const o = ours[i];
      const t = theirs[i];
      assert.ok(o && t);
      assert.equal(o.usecs, t.usecs, `record ${i} time`);
      assert.equal(o.cpu, t.cpu, `record ${i} cpu`);
      assert.equal(o.pid, t.pid, `record ${i} pid`);
      assert.equal(names.get(o.id) ?? 'tracing_mark_write', t.event, `record ${i} event`);
    }
  });

  test('the captured page holds a time extend (the 300 ms wait) and it is decoded', () => {
    const [first] = capturedPages();
    assert.ok(first);
    const types: number[] = [];
    const commit = Number(first.page.readBigUInt64LE(8) & 0x3fffffffn);
    // Walk the type_len values independently: records are those the decoder returned.
    const starts = new Set<number>();
    walkPage(first.page, capturedLayout(), (_t, s) => starts.add(s));
    for (let at = 16; at < 16 + commit; ) {
      const w = first.page.readUInt32LE(at);
      const tl = w & 31;
      types.push(tl);
      if (tl === 30 || tl === 31) at += 8;
      else if (tl === 0) at += 4 + first.page.readUInt32LE(at + 4);
      else if (tl === 29) at += 4 + first.page.readUInt32LE(at + 4);
      else at += 4 + tl * 4;
    }
    assert.ok(types.includes(30), `type_len values on the page: ${types.join(',')}`);
  });
});
