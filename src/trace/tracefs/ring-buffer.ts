/**
 * Pure decoder of one ring-buffer page as `per_cpu/cpuN/trace_pipe_raw` hands it out
 * (kernel/trace/ring_buffer.c, include/linux/ring_buffer.h; Documentation/trace/ring-buffer-design.rst).
 *
 * A page is `struct buffer_data_page { u64 time_stamp; local_t commit; data[] }` (offsets from
 * `events/header_page`). `commit` is the number of data bytes; its bit 31 (`RB_MISSED_EVENTS`)
 * says events were lost before this page, bit 30 (`RB_MISSED_STORED`) that the count of lost
 * events is stored as an `unsigned long` right after the data (`ring_buffer_read_page()`).
 *
 * The data is a run of `struct ring_buffer_event { u32 type_len:5, time_delta:27; u32 array[]; }`
 * (little-endian bitfields: type_len is the low 5 bits):
 * - type_len 1..28: a record of type_len × 4 data bytes starting at array[0];
 * - type_len 0: a record whose length + 4 is in array[0], data from array[1] (long records);
 * - 29 padding: time_delta 0 → the rest of the page is empty; otherwise a discarded record
 *   (a filtered-out event, `rb_event_discard()`) of array[0] + 4 bytes whose delta still counts;
 * - 30 time extend: adds (array[0] << 27) + time_delta to the clock, 8 bytes;
 * - 31 absolute time stamp: sets the clock to (array[0] << 27) | time_delta, whose 5 top bits
 *   come from the page's time stamp (`rb_fix_abs_ts()`), 8 bytes.
 * Every record's time is the page time stamp plus the deltas before it and its own delta, as
 * `dump_buffer_page()` in ring_buffer.c adds them.
 */
import type { EventHeaderFormat, PageHeaderFormat } from './format.js';

/** A page the decoder cannot walk (a length past the commit, a commit past the page). */
export class RingBufferError extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(`ring-buffer page, byte ${offset}: ${reason}`);
    this.name = 'RingBufferError';
  }
}

/** What the decoder needs to know of the kernel's page and event header encoding. */
export interface PageLayout {
  timestampOffset: number;
  commitOffset: number;
  commitSize: 4 | 8;
  dataOffset: number;
  paddingType: number;
  timeExtendType: number;
  timeStampType: number;
  dataMaxTypeLen: number;
}

/**
 * The layout from the parsed header files.
 * @throws RingBufferError when the event header is not the 5 + 27 bit encoding this decoder reads.
 */
export function pageLayout(page: PageHeaderFormat, event: EventHeaderFormat): PageLayout {
  if (event.typeLenBits !== 5 || event.timeDeltaBits !== 27) {
    throw new RingBufferError(0, `event header of type_len:${event.typeLenBits} time_delta:${event.timeDeltaBits} bits (5 and 27 expected)`);
  }
  return {
    timestampOffset: page.timestampOffset,
    commitOffset: page.commitOffset,
    commitSize: page.commitSize === 4 ? 4 : 8,
    dataOffset: page.dataOffset,
    paddingType: event.padding,
    timeExtendType: event.timeExtend,
    timeStampType: event.timeStamp,
    dataMaxTypeLen: event.dataMaxTypeLen,
  };
}

/** The layout of x86_64 and aarch64 kernels (what the header files of Linux 6.18 say there). */
export const LAYOUT_64: PageLayout = {
  timestampOffset: 0,
  commitOffset: 8,
  commitSize: 8,
  dataOffset: 16,
  paddingType: 29,
  timeExtendType: 30,
  timeStampType: 31,
  dataMaxTypeLen: 28,
};

/** The page's own header. */
export interface PageInfo {
  /** Page time stamp, trace-clock nanoseconds. */
  timestampNs: bigint;
  /** Data bytes in the page. */
  commit: number;
  /** Events were lost (overwritten or dropped) before this page. */
  missedEvents: boolean;
  /** How many, when the kernel had room to store the count. */
  missedCount: number | null;
}

const RB_MISSED_EVENTS = 1 << 31;
const RB_MISSED_STORED = 1 << 30;
const COMMIT_MASK = RB_MISSED_STORED - 1;
const TS_SHIFT = 27n;
const TS_MSB = 0xf8n << 56n;

/**
 * Calls `onRecord(timeNs, start, end)` for every data record of `page` (the record's bytes are
 * `page[start..end)`, starting with its common_type), in page order, and returns the page header.
 * Allocation-free apart from the bigint times; {@link decodePage} collects into an array.
 * @throws RingBufferError for a malformed page.
 */
export function walkPage(page: Buffer, layout: PageLayout, onRecord: (timeNs: bigint, start: number, end: number) => void): PageInfo {
  if (page.length < layout.dataOffset) throw new RingBufferError(0, `page of ${page.length} bytes is shorter than its header`);
  const rawCommit = layout.commitSize === 8 ? Number(page.readBigUInt64LE(layout.commitOffset) & 0xffffffffn) : page.readUInt32LE(layout.commitOffset);
  const commit = rawCommit & COMMIT_MASK;
  const end = layout.dataOffset + commit;
  if (end > page.length) throw new RingBufferError(layout.commitOffset, `commit ${commit} runs past the ${page.length}-byte page`);
  const pageTs = page.readBigUInt64LE(layout.timestampOffset);
  const missedEvents = (rawCommit & RB_MISSED_EVENTS) !== 0;
  let missedCount: number | null = null;
  if (missedEvents && (rawCommit & RB_MISSED_STORED) !== 0 && end + 8 <= page.length) {
    missedCount = Number(page.readBigUInt64LE(end));
  }
  let ts = pageTs;
  let at = layout.dataOffset;
  while (at + 4 <= end) {
    const word = page.readUInt32LE(at);
    const typeLen = word & 0x1f;
    const delta = word >>> 5;
    if (typeLen === layout.paddingType) {
      if (delta === 0) break; // rb_null_event(): nothing more on this page
      if (at + 8 > end) throw new RingBufferError(at, 'discarded record without its length word');
      const len = page.readUInt32LE(at + 4) + 4;
      ts += BigInt(delta);
      at += len;
      continue;
    }
    if (typeLen === layout.timeExtendType || typeLen === layout.timeStampType) {
      if (at + 8 > end) throw new RingBufferError(at, 'time record cut by the commit');
      const value = (BigInt(page.readUInt32LE(at + 4)) << TS_SHIFT) | BigInt(delta);
      if (typeLen === layout.timeExtendType) ts += value;
      else ts = fixAbsoluteTs(value, pageTs);
      at += 8;
      continue;
    }
    if (typeLen > layout.dataMaxTypeLen) throw new RingBufferError(at, `unknown record type ${typeLen}`);
    let dataStart: number;
    let dataEnd: number;
    if (typeLen === 0) {
      if (at + 8 > end) throw new RingBufferError(at, 'long record without its length word');
      const len = page.readUInt32LE(at + 4); // includes the length word itself
      if (len < 4) throw new RingBufferError(at, `long record of length ${len}`);
      dataStart = at + 8;
      dataEnd = at + 4 + len;
    } else {
      dataStart = at + 4;
      dataEnd = at + 4 + typeLen * 4;
    }
    if (dataEnd > end) throw new RingBufferError(at, `record of ${dataEnd - dataStart} bytes runs past the commit (${commit})`);
    ts += BigInt(delta);
    onRecord(ts, dataStart, dataEnd);
    at = dataEnd;
  }
  return { timestampNs: pageTs, commit, missedEvents, missedCount };
}

/** `rb_fix_abs_ts()`: an absolute stamp keeps 59 bits; the top 5 come from a full stamp. */
function fixAbsoluteTs(abs: bigint, full: bigint): bigint {
  if ((full & TS_MSB) === 0n) return abs;
  let v = abs | (full & TS_MSB);
  if (v < full) v += 1n << 59n;
  return v;
}

/** One record of a page: its trace-clock time and its bytes (a view into the page). */
export interface RawRecord {
  timeNs: bigint;
  data: Buffer;
}

/** A decoded page: header and records. */
export interface DecodedPage extends PageInfo {
  records: RawRecord[];
}

/**
 * Decodes a whole page into records (views into `page`, valid while `page` is not reused).
 * @throws RingBufferError for a malformed page.
 */
export function decodePage(page: Buffer, layout: PageLayout = LAYOUT_64): DecodedPage {
  const records: RawRecord[] = [];
  const info = walkPage(page, layout, (timeNs, start, end) => {
    records.push({ timeNs, data: page.subarray(start, end) });
  });
  return { ...info, records };
}
