/**
 * tracefs: how fast the tracefs reader turns ring-buffer pages into TCP events, and how long a
 * private session takes to open and close.
 *
 * Decoding (pure, runs anywhere): a corpus of full pages built from the captured Linux 6.18 page
 * (test/fixtures/tracefs: 11 TCP events and a marker, time extend included), each page holding
 * that page's records several times over. Rows: the page walk alone; walk + decode into
 * TcpTraceEvent objects (what `read()` does per page); anchors measured in the same run: parsing
 * the kernel's own text rendering of the same events with a regex per line (what a reader of
 * `trace_pipe` would do), and JSON.parse of the same events serialized.
 *
 * Session (root only, else skipped with a note): openTcpTracer() + closeSync(), against the
 * anchor mkdir + rmdir of a bare instance (the kernel's own cost of allocating and freeing the
 * per-CPU buffers).
 *
 * Environment knobs: TRACEFS_PAGES (default 400), TRACEFS_REPS (default 30), TRACEFS_SESSION_REPS (default 15).
 */
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  ALL_TCP_TRACEPOINTS,
  createTcpDecoder,
  ensureTracefs,
  openTcpTracer,
  pageLayout,
  parseEventFormat,
  parseEventHeader,
  parsePageHeader,
  walkPage,
  type TcpTraceEvent,
  type TcpTracepoint,
  type EventFormat,
} from '../src/trace/index.js';
import { envInt, measureInterleaved, median, ratiosAgainstAnchors, type BenchOptions, type BenchResult, type BenchRow } from './lib.js';

const FIX = fileURLToPath(new URL('../../test/fixtures/tracefs/', import.meta.url));
const OURS = 'walk + decode to events';
const SESSION = 'openTcpTracer() + closeSync()';
const BARE = 'mkdir + rmdir of a bare instance';

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const pagesWanted = envInt('TRACEFS_PAGES', 400);
  const reps = envInt('TRACEFS_REPS', 30);
  const sessionReps = envInt('TRACEFS_SESSION_REPS', 15);
  const notes: string[] = [];

  const text = (p: string): string => readFileSync(`${FIX}${p}`, 'utf8');
  const layout = pageLayout(parsePageHeader(text('header_page')), parseEventHeader(text('header_event')));
  const formats: Partial<Record<TcpTracepoint, EventFormat>> = {};
  for (const n of ALL_TCP_TRACEPOINTS) formats[n] = parseEventFormat(text(`formats/${n}.format`));
  const meta = JSON.parse(text('meta.json')) as { pages: string[] };
  const source = readFileSync(`${FIX}${meta.pages[0] as string}`);
  const commit = Number(source.readBigUInt64LE(8) & 0x3fffffffn);
  const data = source.subarray(16, 16 + commit);
  const copies = Math.floor(4080 / data.length);
  const page = Buffer.alloc(4096);
  source.copy(page, 0, 0, 8);
  page.writeBigUInt64LE(BigInt(copies * data.length), 8);
  for (let i = 0; i < copies; i++) data.copy(page, 16 + i * data.length);
  const pages = Array.from({ length: pagesWanted }, () => Buffer.from(page));

  const decoder = createTcpDecoder(formats);
  const decodeAll = (): number => {
    let n = 0;
    for (const p of pages) {
      walkPage(p, layout, (clockNs, s, e) => {
        if (decoder.decode(p.subarray(s, e), { clockNs, cpu: 0, epochOffsetNs: 0n }) !== null) n++;
      });
    }
    return n;
  };
  const walkAll = (): number => {
    let n = 0;
    for (const p of pages) walkPage(p, layout, () => void n++);
    return n;
  };
  const events = decodeAll();

  // The kernel's text of the same events, as many lines as decoded events.
  const kernelLines = text('trace.txt')
    .split('\n')
    .filter((l) => /:\s(inet_sock_set_state|tcp_send_reset|tcp_receive_reset|inet_sk_error_report):/.test(l));
  const textCorpus: string = Array.from({ length: Math.ceil(events / kernelLines.length) }, () => kernelLines.join('\n'))
    .join('\n')
    .split('\n')
    .slice(0, events)
    .join('\n');
  const lineRe = /^\s*(.+)-(\d+)\s+\[(\d+)\]\s+\S+\s+(\d+)\.(\d+):\s+(\w+):\s(.*)$/;
  const kvRe = /(\w+)=(\S+)/g;
  const parseText = (): number => {
    let n = 0;
    for (const line of textCorpus.split('\n')) {
      const m = lineRe.exec(line);
      if (!m) continue;
      const fields: Record<string, string> = {};
      for (const kv of (m[7] as string).matchAll(kvRe)) fields[kv[1] as string] = kv[2] as string;
      n++;
    }
    return n;
  };
  const sample: TcpTraceEvent[] = [];
  for (const p of pages) {
    walkPage(p, layout, (clockNs, s, e) => {
      const ev = decoder.decode(p.subarray(s, e), { clockNs, cpu: 0, epochOffsetNs: 0n });
      if (ev) sample.push(ev);
    });
  }
  const json = JSON.stringify(sample, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  const parseJson = (): number => (JSON.parse(json) as unknown[]).length;

  opts.progress(`decoding: ${pagesWanted} pages, ${events} events, ${reps} repetitions each, interleaved`);
  const rows: BenchRow[] = await measureInterleaved(
    [
      { label: 'walkPage only (records, no decode)', fn: walkAll },
      { label: OURS, fn: decodeAll },
      { label: 'kernel text + regex per line', anchor: true, fn: parseText },
      { label: 'JSON.parse of the same events', anchor: true, fn: parseJson },
    ],
    { reps, warmup: 3, progress: opts.progress },
  );
  const perSecond = (label: string): number => {
    const r = rows.find((x) => x.label === label);
    return r && r.rowsPerRun ? Math.round(r.rowsPerRun / (r.stats.medianMs / 1000)) : 0;
  };
  const tables: NonNullable<BenchResult['tables']> = [
    {
      title: 'throughput (median run)',
      head: ['measured', 'records or events per second'],
      rows: rows.map((r) => [r.label, perSecond(r.label)]),
    },
  ];

  // --- Session open/close (root) ------------------------------------------------------------
  const root = ensureTracefs();
  if (!root.available) {
    notes.push(`session rows skipped: ${root.message}`);
  } else {
    let k = 0;
    const sessionRows = await measureInterleaved(
      [
        {
          label: SESSION,
          fn: () => {
            const t = openTcpTracer();
            if (!t.available) throw new Error(t.message);
            t.closeSync();
          },
        },
        {
          label: 'openTcpTracer({ports}) + closeSync()',
          fn: () => {
            const t = openTcpTracer({ ports: [[40000, 40010]] });
            if (!t.available) throw new Error(t.message);
            t.closeSync();
          },
        },
        {
          label: BARE,
          anchor: true,
          fn: () => {
            const p = `${root.path}/instances/tcp-teardown-bench-${process.pid}-${++k}`;
            mkdirSync(p);
            rmdirSync(p);
          },
        },
      ],
      { reps: sessionReps, warmup: 1, progress: opts.progress },
    );
    // Split open from close once, for the table.
    const split: number[][] = [];
    for (let i = 0; i < sessionReps; i++) {
      const t0 = process.hrtime.bigint();
      const t = openTcpTracer();
      const t1 = process.hrtime.bigint();
      if (t.available) t.closeSync();
      const t2 = process.hrtime.bigint();
      split.push([Number(t1 - t0) / 1e6, Number(t2 - t1) / 1e6]);
    }
    tables.push({
      title: 'session, median ms (512 KiB per CPU)',
      head: ['open', 'close'],
      rows: [[median(split.map((s) => s[0] as number)).toFixed(1), median(split.map((s) => s[1] as number)).toFixed(1)]],
    });
    rows.push(...sessionRows);
    notes.push('close is mostly rmdir of the instance: the kernel frees the per-CPU buffers and waits for an RCU grace period');
  }
  notes.push('the table\'s ratio columns divide every row by every anchor; the ratios below pair decoding with the decoding anchors and the session with the bare instance');
  notes.push('2-core machine shared with other agents: figures are noisy; compare ratios within one run');

  return {
    bench: 'tracefs',
    title: `tracefs TCP tracepoints: decode ${events} events from ${pagesWanted} pages; open/close a private session`,
    params: { pages: pagesWanted, events, recordsPerPage: events / pagesWanted, reps, sessionReps, node: process.version },
    rows,
    // Decoding against the decoding anchors, the session against the bare instance.
    ratios: [
      ...ratiosAgainstAnchors(rows, [OURS]).filter((r) => r.to !== BARE),
      ...ratiosAgainstAnchors(rows, [SESSION]).filter((r) => r.to === BARE),
    ],
    notes,
    tables,
  };
}
