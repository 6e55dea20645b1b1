/**
 * model: the pure TCP model (src/model) running in-process the equivalent of five catalogue
 * scenarios — close-unread-data, three-vs-four-way, self-connect, fin-wait2-forever-vs-timeout,
 * full-backlog — each to the end of its timers (TIME_WAIT's 60 s, tcp_fin_timeout, SYN
 * retransmissions: virtual time, so they cost nothing). Goals (issue 11): the set in < 100 ms,
 * >= 1e5 segments simulated per second.
 *
 * Rows: the set with segments recorded (as a trace would keep them); a bulk run (500 connections
 * × 10 request/response exchanges, then close) for segments per second; and, as the anchor,
 * JSON.parse of the five recorded kernel traces of the same scenarios (what merely reading the
 * recording costs). Environment: MODEL_BENCH_REPS (default 30).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { World, type Process } from '../src/model/index.js';
import { envInt, measureInterleaved, ratiosAgainstAnchors, type BenchOptions, type BenchResult } from './lib.js';

const FIXTURES = ['close-unread-data', 'three-vs-four-way', 'self-connect', 'fin-wait2-forever-vs-timeout', 'full-backlog'];

function ok<T>(r: { ok: true; value?: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`model call failed: ${r.errno}`);
  return r.value as T;
}

function listen(p: Process, backlog = 128): { fd: number; addr: string } {
  const fd = ok(p.socket());
  ok(p.listen(fd, backlog));
  return { fd, addr: p.endpoint(fd)!.local };
}

function connect(w: World, p: Process, addr: string): number {
  const fd = ok(p.socket());
  p.connect(fd, addr);
  w.clock.advance(1);
  return fd;
}

/** Three connections: data read then close (FIN), unread data then close (RST), SO_LINGER 0 (RST). */
function closeUnreadData(w: World): void {
  const srv = w.host.spawn('server');
  const cli = w.host.spawn('client');
  const { fd: L, addr } = listen(srv);
  const pairs = [0, 1, 2].map(() => {
    const c = connect(w, cli, addr);
    return { c, s: ok(srv.accept(L)) };
  });
  const [a, b, d] = pairs as [{ c: number; s: number }, { c: number; s: number }, { c: number; s: number }];
  cli.write(a.c, 'request');
  w.clock.advance(20);
  srv.read(a.s);
  srv.close(a.s);
  cli.write(b.c, 'request');
  w.clock.advance(60);
  srv.close(b.s);
  cli.read(b.c);
  srv.setLinger(d.s, true, 0);
  srv.close(d.s);
  w.clock.advance(30);
  cli.read(d.c);
  w.clock.runUntilIdle();
}

/** Active close answered at once (three-way), late (four-way), and with a reply before the FIN. */
function threeVsFourWay(w: World): void {
  const srv = w.host.spawn('server');
  const cli = w.host.spawn('client');
  const { fd: L, addr } = listen(srv);
  for (const mode of ['three', 'four', 'reply'] as const) {
    const c = connect(w, cli, addr);
    const s = ok(srv.accept(L));
    cli.write(c, 'request');
    w.clock.advance(20);
    srv.read(s);
    if (mode === 'reply') cli.shutdown(c, 'SHUT_WR');
    else cli.close(c);
    w.clock.advance(mode === 'four' ? 200 : 0.5);
    srv.read(s);
    if (mode === 'reply') srv.write(s, 'late reply');
    srv.close(s);
    w.clock.advance(80);
    if (mode === 'reply') cli.read(c);
  }
  w.clock.runUntilIdle();
}

function selfConnect(w: World): void {
  const p = w.host.spawn('nc');
  const fd = ok(p.socket());
  const port = ok(p.bind(fd, 0));
  p.connect(fd, `${w.host.ip}:${port}`);
  w.clock.advance(50);
  p.close(fd);
  w.clock.runUntilIdle();
}

function finWait2(w: World): void {
  const srv = w.host.spawn('passive');
  const cli = w.host.spawn('active');
  const { fd: L, addr } = listen(srv);
  const a = connect(w, cli, addr);
  ok(srv.accept(L));
  const b = connect(w, cli, addr);
  ok(srv.accept(L));
  cli.shutdown(a, 'SHUT_WR');
  cli.close(b);
  w.clock.advance(3200);
  w.clock.runUntilIdle();
}

function fullBacklog(w: World): void {
  const srv = w.host.spawn('server');
  const cli = w.host.spawn('client');
  const { fd: L, addr } = listen(srv, 1);
  connect(w, cli, addr);
  connect(w, cli, addr);
  connect(w, cli, addr);
  w.clock.advance(200);
  srv.accept(L);
  w.clock.advance(1100);
  srv.exit();
  cli.exit();
  w.clock.runUntilIdle();
}

const SCENARIOS: [string, (w: World) => void][] = [
  ['close-unread-data', closeUnreadData],
  ['three-vs-four-way', threeVsFourWay],
  ['self-connect', selfConnect],
  ['fin-wait2-forever-vs-timeout', finWait2],
  ['full-backlog', fullBacklog],
];

/** Runs the set; returns the segments simulated. */
function catalogueSet(): number {
  let segments = 0;
  for (const [, fn] of SCENARIOS) {
    const w = new World({ seed: 1, host: { sysctls: { tcp_fin_timeout: fn === finWait2 ? 2 : 60 } } });
    fn(w);
    segments += w.network.sent;
  }
  return segments;
}

/** 500 connections × 10 request/response exchanges, then close; segments not recorded. */
function bulk(): number {
  const w = new World({ seed: 2 });
  w.network.record = false;
  const srv = w.host.spawn('server');
  const cli = w.host.spawn('client');
  const { fd: L, addr } = listen(srv, 4096);
  const pairs: { c: number; s: number }[] = [];
  for (let i = 0; i < 500; i++) {
    const c = ok(cli.socket());
    cli.connect(c, addr);
    w.clock.advance(0.05);
    pairs.push({ c, s: ok(srv.accept(L)) });
  }
  for (let round = 0; round < 10; round++) {
    for (const { c } of pairs) cli.write(c, 'request');
    w.clock.advance(1);
    for (const { s } of pairs) {
      srv.read(s);
      srv.write(s, 'response');
    }
    w.clock.advance(1);
    for (const { c } of pairs) cli.read(c);
  }
  for (const { c, s } of pairs) {
    cli.close(c);
    srv.close(s);
  }
  w.clock.runUntilIdle();
  return w.network.sent;
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const reps = envInt('MODEL_BENCH_REPS', 30);
  const dir = fileURLToPath(new URL('../../test/fixtures/traces/', import.meta.url));
  const texts = FIXTURES.map((f) => readFileSync(`${dir}${f}.json`, 'utf8'));
  opts.progress(`${reps} repetitions of each row, interleaved`);
  const rows = await measureInterleaved(
    [
      { label: 'JSON.parse of the 5 recorded traces', anchor: true, fn: () => texts.reduce((n, t) => n + ((JSON.parse(t) as { segments: unknown[] }).segments.length), 0) },
      { label: 'model: 5 catalogue scenarios to idle', fn: catalogueSet },
      { label: 'model: 500 conns × 10 req/rsp + close', fn: bulk },
    ],
    { reps, warmup: 3, progress: opts.progress },
  );
  const rate = (label: string): number => {
    const r = rows.find((x) => x.label === label)!;
    return Math.round(((r.rowsPerRun ?? 0) / r.stats.medianMs) * 1000);
  };
  const setRow = rows[1]!;
  const setRate = rate(setRow.label);
  const bulkRate = rate(rows[2]!.label);
  return {
    bench: 'model',
    title: 'the TCP model in-process: catalogue scenarios and segments simulated per second',
    params: { reps, scenarios: SCENARIOS.map(([n]) => n).join(','), node: process.version },
    rows,
    ratios: ratiosAgainstAnchors(rows, [setRow.label]),
    notes: [
      'rows/run = segments simulated (the anchor: segments in the recorded traces)',
      `goal: the set < 100 ms (median ${setRow.stats.medianMs.toFixed(2)} ms: ${setRow.stats.medianMs < 100 ? 'met' : 'NOT met'}); >= 1e5 segments/s (bulk ${bulkRate}/s: ${bulkRate >= 1e5 ? 'met' : 'NOT met'})`,
    ],
    tables: [
      {
        title: 'segments simulated per second (median run)',
        head: ['run', 'segments', 'segments/s'],
        rows: [
          [setRow.label, setRow.rowsPerRun ?? 0, setRate],
          [rows[2]!.label, rows[2]!.rowsPerRun ?? 0, bulkRate],
        ],
      },
    ],
  };
}
