/**
 * model: the pure TCP model (src/model) in-process. Goals (issue 11): the whole catalogue on the
 * model backend < 100 ms, >= 1e5 segments simulated per second.
 *
 * Rows:
 * - the whole catalogue through the lab's model backend (src/lab/model/run.ts: every scenario
 *   the model runs, with observations, trace, verdicts; skipped ones cost their skip check) —
 *   the "whole catalogue's wall time";
 * - five scenarios hand-driven on the bare model to idle (TIME_WAIT's 60 s, tcp_fin_timeout, SYN
 *   retransmissions: virtual time, so they cost nothing);
 * - a bulk run (500 connections × 10 request/response exchanges, then close) for segments per
 *   second with nothing recorded;
 * - anchors: JSON.parse of the five recorded kernel traces, and JSON.parse + re-judging of the
 *   recorded kernel traces of every scenario the model runs (what merely reading and judging
 *   the recording costs, against simulating it).
 * Environment: MODEL_BENCH_REPS (default 30).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

import { CATALOGUE } from '../src/lab/catalogue.js';
import { judgeTrace } from '../src/lab/judge/index.js';
import { modelSkipReason } from '../src/lab/model/coverage.js';
import { runOnModel } from '../src/lab/model/run.js';
import type { Trace } from '../src/lab/trace.js';
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

/** The whole catalogue through the lab's model backend; returns the segments simulated. */
function wholeCatalogue(): number {
  let segments = 0;
  for (const sc of CATALOGUE) {
    if (modelSkipReason(sc) !== null) continue;
    segments += runOnModel(sc).segments?.length ?? 0;
  }
  return segments;
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const reps = envInt('MODEL_BENCH_REPS', 30);
  const dir = fileURLToPath(new URL('../../test/fixtures/traces/', import.meta.url));
  const texts = FIXTURES.map((f) => readFileSync(`${dir}${f}.json`, 'utf8'));
  const modelled = CATALOGUE.filter((sc) => modelSkipReason(sc) === null);
  const recorded = modelled.map((sc) => ({ sc, text: readFileSync(`${dir}${sc.id}.json`, 'utf8') }));
  opts.progress(`${reps} repetitions of each row, interleaved`);
  const labels = {
    parse: 'parse 5 kernel traces',
    judge: `parse+judge ${recorded.length} kernel traces`,
    catalogue: `model backend: catalogue (${modelled.length} run)`,
    set: 'bare model: 5 scenarios to idle',
    bulk: 'bare model: 500 conns × 10 rq/rsp',
  };
  const rows = await measureInterleaved(
    [
      { label: labels.parse, anchor: true, fn: () => texts.reduce((n, t) => n + ((JSON.parse(t) as { segments: unknown[] }).segments.length), 0) },
      {
        label: labels.judge,
        anchor: true,
        fn: () => recorded.reduce((n, { sc, text }) => {
          const t = JSON.parse(text) as Trace;
          judgeTrace(sc, t);
          return n + (t.segments?.length ?? 0);
        }, 0),
      },
      { label: labels.catalogue, fn: wholeCatalogue },
      { label: labels.set, fn: catalogueSet },
      { label: labels.bulk, fn: bulk },
    ],
    { reps, warmup: 3, progress: opts.progress },
  );
  const row = (label: string) => rows.find((x) => x.label === label)!;
  const rate = (label: string): number => Math.round(((row(label).rowsPerRun ?? 0) / row(label).stats.medianMs) * 1000);
  const cat = row(labels.catalogue);
  const catRate = rate(labels.catalogue);
  const bulkRate = rate(labels.bulk);
  return {
    bench: 'model',
    title: 'the TCP model in-process: the catalogue on the model backend, and segments simulated per second',
    params: { reps, modelled: modelled.length, skipped: CATALOGUE.length - modelled.length, node: process.version },
    rows,
    ratios: ratiosAgainstAnchors(rows, [labels.catalogue, labels.set]),
    notes: [
      'rows/run = segments simulated (the anchors: segments in the recorded traces)',
      `goal: the whole catalogue on the model backend < 100 ms (median ${cat.stats.medianMs.toFixed(2)} ms: ${cat.stats.medianMs < 100 ? 'met' : 'NOT met'})`,
      `goal: >= 1e5 segments/s (bulk ${bulkRate}/s: ${bulkRate >= 1e5 ? 'met' : 'NOT met'}; the catalogue, observations and judging included, ${catRate}/s)`,
      `${availableParallelism()} cores, load average ${loadavg()[0]?.toFixed(1)} at the end of the run`,
    ],
    tables: [
      {
        title: 'segments simulated per second (median run)',
        head: ['run', 'segments', 'segments/s'],
        rows: [labels.catalogue, labels.set, labels.bulk].map((l) => [l, row(l).rowsPerRun ?? 0, rate(l)]),
      },
    ],
  };
}
