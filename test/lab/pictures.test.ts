/**
 * The lab's pictures from the traces recorded on Linux 6.18 (test/fixtures/traces, whatever is
 * there): every scenario's ladder SVG rasterised by resvg (non-empty, not blank), no two labels
 * overlapping by the SVG's own geometry, every segment, traced state and call drawn; the HTML page
 * self-contained and within 2 MB; mermaid text per scenario; `teardown report` and its bad paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { renderHtmlReport } from '../../src/lab/report/html.js';
import { BREAK_MS, ladderModel, renderLadderMermaid, renderLadderSvg } from '../../src/lab/report/ladder.js';
import { judgeRecorded, readRecordedTraces } from '../../src/lab/report/recorded.js';
import { labelBoxesOf, overlaps } from '../../src/lab/report/svg.js';
import type { Trace } from '../../src/lab/trace.js';
import { recorded } from './helpers.js';

const TRACES = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ids = readdirSync(TRACES).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).sort();

/** Pairs of labels whose boxes share area, read from the SVG markup alone. */
function overlapping(svg: string): string[] {
  const labels = labelBoxesOf(svg);
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) {
      const [a, b] = [labels[i], labels[j]] as [(typeof labels)[0], (typeof labels)[0]];
      if (overlaps(a.box, b.box)) out.push(`${JSON.stringify(a.text)} / ${JSON.stringify(b.text)}`);
    }
  }
  return out;
}

test('there are recorded traces to draw', () => {
  assert.ok(ids.length >= 20, `only ${ids.length} traces in ${TRACES}`);
});

for (const id of ids) {
  test(`ladder of ${id}: rasterises to a non-blank PNG, no two labels overlap, every segment, traced state and call drawn`, () => {
    const trace = recorded(id);
    const ladder = renderLadderSvg(trace);
    const png = new Resvg(ladder.svg, { background: 'white', font: { loadSystemFonts: false } }).render();
    assert.equal(png.width, Math.ceil(ladder.width));
    assert.ok(png.height > 100, `height ${png.height}`);
    const bytes = png.asPng();
    assert.ok(bytes.length > 1000 && bytes.subarray(1, 4).toString('latin1') === 'PNG', 'a PNG file');
    let ink = 0;
    const pixels = png.pixels; // a getter that copies: read once
    for (let i = 0; i < pixels.length; i += 4) if ((pixels[i] as number) < 128) ink++;
    assert.ok(ink > 200, `only ${ink} dark pixels: the diagram is blank`);

    const labels = labelBoxesOf(ladder.svg);
    assert.equal(labels.length, ladder.labels.length, 'every label the layout placed is in the SVG, and nothing else');
    assert.deepEqual(overlapping(ladder.svg), []);

    const model = ladderModel(trace);
    const texts = new Set(labels.map((l) => l.text));
    const segments = model.events.filter((e) => e.kind === 'segment');
    assert.equal(segments.length, trace.segments?.length ?? 0, 'one arrow per captured segment');
    for (const e of segments) assert.ok(texts.has(e.label), `segment label ${e.label}`);
    const traced = model.events.filter((e) => e.kind === 'state' && e.source === 'traced');
    assert.equal(traced.length, trace.transitions?.length ?? 0, 'one state label per traced transition');
    for (const e of model.events) if (e.kind === 'call') assert.ok(texts.has(e.label), `call ${e.label}`);
    for (const l of model.lifelines) assert.ok(texts.has(l.id), `lifeline ${l.id} has its name on top`);
    // Each RST the kernel sent with a reason shows that reason on its arrow.
    for (const s of trace.segments ?? []) if (s.rstReason) assert.ok([...texts].some((t) => t.includes(`[${s.rstReason}]`)), `RST reason ${s.rstReason}`);
  });
}

test("a listener's children are lifelines of their own; RST reasons, failed calls and passing states are on the diagram", () => {
  const trace = recorded('close-unread-data');
  const model = ladderModel(trace);
  const names = model.lifelines.map((l) => l.id);
  for (const n of ['L', 'c0', 's0', 'c1', 's1']) assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
  assert.ok(!names.some((n) => n.startsWith('~')), 'every accepted far end is drawn as its accepted socket');
  // Each child stands beside its client: the arrows between them are short.
  assert.equal(Math.abs(names.indexOf('c1') - names.indexOf('s1')), 1);
  const texts = labelBoxesOf(renderLadderSvg(trace).svg).map((l) => l.text);
  assert.ok(texts.some((t) => t.startsWith('R') && t.includes('[TCP_ABORT_ON_CLOSE]')), 'the RST of close() with unread data, with its reason');
  assert.ok(texts.includes('read() → ECONNRESET'));
  const sigpipe = labelBoxesOf(renderLadderSvg(recorded('idle-close-then-write')).svg).map((l) => l.text);
  assert.ok(sigpipe.includes('write(5 B) → EPIPE + SIGPIPE'), sigpipe.filter((t) => t.startsWith('write')).join(', '));
  // FIN_WAIT1 lasts microseconds: no snapshot sees it, the traced transition does.
  assert.ok(model.events.some((e) => e.kind === 'state' && e.state === 'FIN_WAIT1'));
});

test('time: a long wait becomes a break with its length, not a tall gap; a reply tens of µs later gets its own row', () => {
  const trace = recorded('idle-close-then-write');
  const base = renderLadderSvg(trace);
  // Move everything from step 9 on by 2 s later: one more gap, 2 s long.
  const shifted = structuredClone(trace) as Trace;
  const from = (shifted.steps[9] as Trace['steps'][0]).startEpochMs;
  const later = (ms: number): number => (ms >= from ? ms + 2000 : ms);
  for (const s of shifted.steps) if (s.index >= 9) {
    s.startEpochMs += 2000;
    s.startMs += 2000;
    s.after.atMs += 2000;
  }
  for (const s of shifted.segments ?? []) s.epochMs = later(s.epochMs);
  for (const x of shifted.transitions ?? []) x.epochMs = later(x.epochMs);
  const long = renderLadderSvg(shifted);
  assert.ok(labelBoxesOf(long.svg).some((l) => /^\+2\.\d\d s$/.test(l.text)), 'the 2 s gap is written in the time column');
  assert.ok(long.height - base.height < 2000 * 4 / 20, `a 2 s wait adds ${long.height - base.height} px`);
  assert.ok(BREAK_MS < 2000);
  // The SYN, SYN-ACK and ACK of a loopback handshake come tens of µs apart: each on its own row.
  const ys = [...long.svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" font-size="11" text-anchor="middle" class="t-syn">S/g)].map((m) => Number(m[1]));
  assert.ok(ys.length >= 2 && new Set(ys).size === ys.length, `handshake rows ${ys.join(', ')}`);
});

test('the page of the whole catalogue: self-contained, within 2 MB, one diagram per scenario, every claim a row linking to its scenarios', () => {
  const traces = readRecordedTraces(TRACES);
  const judged = judgeRecorded(traces);
  const html = renderHtmlReport({ ...judged, source: 'test' });
  assert.ok(Buffer.byteLength(html) <= 2 * 1024 * 1024, `${Buffer.byteLength(html)} bytes`);
  assert.equal((html.match(/<svg class="ladder"/g) ?? []).length, traces.length);
  assert.doesNotMatch(html, /<(link|img|iframe)\b|<script [^>]*src=|url\(|@import/i, 'nothing fetched');
  assert.deepEqual([...new Set(html.match(/https?:\/\/[^"' )]+/g) ?? [])], ['http://www.w3.org/2000/svg'], 'no address but the SVG namespace');
  const rows = [...html.matchAll(/<tr class="claim" id="claim-([^"]+)" data-article="(\d+)" data-verdict="(\w+)">/g)];
  assert.equal(rows.length, judged.claims.length);
  for (const c of judged.claims) {
    const scenarios = [...new Set(c.findings.map((f) => f.scenario))];
    for (const s of scenarios) assert.ok(html.includes(`id="sc-${s}"`) && html.includes(`href="#sc-${s}"`), `${c.claim} links to ${s}`);
  }
});

test('judging recorded traces combines each claim across the scenarios that judged it', () => {
  const traces = readRecordedTraces(TRACES);
  const judged = judgeRecorded(traces);
  for (const c of judged.claims) {
    const recordedVerdicts = traces.flatMap((t) => t.verdicts.filter((v) => v.claim === c.claim).map((v) => [t.scenario, v.verdict]));
    assert.deepEqual(c.findings.map((f) => [f.scenario, f.verdict]), recordedVerdicts, c.claim);
    const kinds = new Set(c.findings.map((f) => f.verdict).filter((v) => v !== 'unverified'));
    if (kinds.size > 1) assert.equal(c.verdict, 'partly', `${c.claim}: scenarios disagree`);
  }
  // Altering one recorded verdict moves the claim's.
  const altered = traces.map((t) => structuredClone(t));
  const t0 = altered.find((t) => t.verdicts.length > 0) as Trace;
  const v0 = t0.verdicts[0] as Trace['verdicts'][0];
  const only = judged.claims.find((c) => c.claim === v0.claim);
  v0.verdict = v0.verdict === 'contradicted' ? 'confirmed' : 'contradicted';
  const again = judgeRecorded(altered).claims.find((c) => c.claim === v0.claim);
  assert.notEqual(again?.verdict, undefined);
  assert.ok(again?.verdict !== only?.verdict || (only?.findings.length ?? 0) > 1);
});

test('mermaid: one participant per lifeline, one message per segment, states and calls as notes', () => {
  for (const id of ids) {
    const trace = recorded(id);
    const model = ladderModel(trace);
    const text = renderLadderMermaid(trace, model);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], 'sequenceDiagram');
    assert.equal(lines.filter((l) => /^ {4}participant P\d+ as /.test(l)).length, model.lifelines.length, id);
    assert.equal(lines.filter((l) => /^ {4}P\d+->>P\d+: /.test(l)).length, trace.segments?.length ?? 0, id);
    assert.equal(lines.filter((l) => l.startsWith('    Note right of')).length, model.events.filter((e) => e.kind === 'state').length, id);
    assert.ok(lines.every((l) => !l.replace(/#\d+;/g, '').includes(';')), `${id}: no statement separator inside a line (entity codes only)`);
  }
});

test('teardown report --from DIR writes the page, one SVG and one mermaid file per trace; bad paths exit 2 with one line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'report', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  const ok = run('--from', TRACES, '--html', join(dir, 'lab.html'), '--svg', join(dir, 'svg'), '--mermaid', join(dir, 'mmd'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(readFileSync(join(dir, 'lab.html'), 'utf8').startsWith('<!doctype html>'));
  assert.deepEqual(readdirSync(join(dir, 'svg')).sort(), ids.map((i) => `${i}.svg`).sort());
  assert.deepEqual(readdirSync(join(dir, 'mmd')).sort(), ids.map((i) => `${i}.mmd`).sort());
  mkdirSync(join(dir, 'bad'));
  writeFileSync(join(dir, 'bad', 'x.json'), '{"not":"a trace"}');
  const cases: [string[], RegExp][] = [
    [['--from', join(dir, 'nowhere'), '--html', join(dir, 'a.html')], /--from .*nowhere.*ENOENT/],
    [['--from', join(dir, 'svg'), '--html', join(dir, 'a.html')], /no recorded trace/],
    [['--from', join(dir, 'bad'), '--html', join(dir, 'a.html')], /x\.json: not a trace/],
    [['--from', TRACES, '--html', join(dir, 'no', 'such', 'a.html')], /--html .*ENOENT/],
    [['--from', TRACES, '--html', dir], /is a directory/],
    [['--from', TRACES], /nothing to write/],
    [['--from', TRACES, '--svg', join(dir, 'lab.html')], /--svg .*not a directory/],
    [['--from', TRACES, '--mermaid', '/proc/no-such-dir/mmd'], /--mermaid .*ENOENT/],
  ];
  // `teardown lab` checks its picture paths before it runs anything (no root needed to see it).
  const lab = spawnSync(process.execPath, [CLI, 'lab', 'self-connect', '--html', join(dir, 'no', 'such', 'a.html')], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(lab.status, 2, lab.stderr);
  assert.match(lab.stderr, /^teardown lab: --html .*ENOENT/);
  assert.equal(lab.stderr.trim().split('\n').length, 1, lab.stderr);
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  }
});
