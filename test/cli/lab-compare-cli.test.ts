/**
 * `teardown lab --compare`: the model against recorded kernel traces (no root), the human report
 * and --json, a trace altered in one fact listed as a mismatch with its step and reason; bad
 * usage exits 2 with a message; as root, the kernel run now against the model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Trace } from '../../src/lab/trace.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TRACES = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });

interface JsonComparison {
  source: string;
  agreement: number;
  compared: number;
  agreed: number;
  kinds: Record<string, { compared: number; agreed: number }>;
  scenarios: { scenario: string; compared: number; agreed: number; mismatches: { kind: string; step: number; socket: string; kernel: string; model: string; reason: { gap: string } }[] }[];
  skipped: { scenario: string; reason: string }[];
}

test('--compare --recorded DIR ids --json: one JSON object, those scenarios, every kind compared', () => {
  const r = run('lab', '--compare', '--recorded', TRACES, 'close-unread-data', 'full-backlog', 'accept-emfile', '--json');
  assert.equal(r.status, 0, r.stderr);
  const c = JSON.parse(r.stdout) as JsonComparison;
  assert.deepEqual(c.scenarios.map((s) => s.scenario), ['full-backlog', 'close-unread-data']);
  assert.deepEqual(c.skipped.map((s) => s.scenario), ['accept-emfile']);
  assert.match(c.skipped[0]!.reason, /descriptor table/);
  for (const k of ['state', 'recvQ', 'sendQ', 'result', 'transition', 'segment', 'segmentTime']) assert.ok(c.kinds[k]!.compared > 0, k);
  assert.equal(c.agreement, c.agreed / c.compared);
  assert.ok(c.agreement >= 0.95);
});

test('a recorded trace altered in one call result: the human report lists it with step, socket, both values and why; exit 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-compare-'));
  try {
    const t = JSON.parse(readFileSync(join(TRACES, 'close-unread-data.json'), 'utf8')) as Trace;
    const step = t.steps.find((s) => s.text === 'client: read c1 (non-blocking)')!;
    step.result = { ok: false, errno: 'EAGAIN' };
    writeFileSync(join(dir, 'close-unread-data.json'), JSON.stringify(t));
    copyFileSync(join(TRACES, 'shut-rd.json'), join(dir, 'shut-rd.json'));
    const r = run('lab', '--compare', '--recorded', dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 scenarios compared, 0 skipped: \d+ of \d+ facts agree/);
    assert.match(r.stdout, new RegExp(`step ${step.index} result c1: kernel EAGAIN · model ECONNRESET`));
    assert.match(r.stdout, /why unexplained: no known gap of the model covers it/);
    assert.match(r.stdout, /1 mismatch, 0 put down to a known gap/);
    for (const line of r.stdout.split('\n')) assert.ok([...line].length <= 120, `longer than 120 columns: ${line}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--compare --html FILE: one page, the kernel and model ladders side by side for each compared scenario', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-compare-'));
  try {
    const page = join(dir, 'compare.html');
    const r = run('lab', '--compare', '--recorded', TRACES, 'three-vs-four-way', 'shut-rd', 'idle-reaper', '--html', page);
    assert.equal(r.status, 0, r.stderr);
    const html = readFileSync(page, 'utf8');
    assert.match(html, /<h1>The model against the kernel<\/h1>/);
    for (const id of ['three-vs-four-way', 'shut-rd']) {
      const section = html.slice(html.indexOf(`id="sc-${id}"`), html.indexOf('</section>', html.indexOf(`id="sc-${id}"`)));
      assert.equal(section.match(/<svg /g)?.length, 2, `${id}: two ladders`);
      assert.match(section, /<b>kernel<\/b>.*<b>model<\/b>/s);
    }
    assert.match(html, /<td>segment<\/td><td class="mono">l&gt;sl<\/td>/);
    assert.match(html, /idle-reaper: not run on the model/);
    const bad = run('lab', '--compare', '--recorded', TRACES, '--html', join(dir, 'no', 'such', 'dir', 'x.html'));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--html/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad usage exits 2 with a message, no stack', () => {
  const cases: [string[], RegExp][] = [
    [['lab', '--compare', 'no-such-scenario', '--recorded', TRACES], /unknown scenario "no-such-scenario"/],
    [['lab', '--compare', '--recorded', '/nonexistent/dir'], /--recorded "\/nonexistent\/dir": ENOENT/],
    [['lab', '--recorded', TRACES], /--recorded DIR goes with --compare/],
    [['lab', '--compare', '--backend', 'model'], /--backend does not apply/],
    [['lab', '--compare', '--recorded', TRACES, '--sysctl', 'net.ipv4.tcp_fin_timeout=3'], /--sysctl does not apply/],
  ];
  const check = ([args, message]: [string[], RegExp]): void => {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
  };
  for (const c of cases) check(c);
  const empty = mkdtempSync(join(tmpdir(), 'tt-compare-'));
  try {
    check([['lab', '--compare', '--recorded', empty], /no recorded trace/]);
    copyFileSync(join(TRACES, 'shut-rd.json'), join(empty, 'shut-rd.json'));
    check([['lab', '--compare', '--recorded', empty, 'self-connect'], /no recorded trace in .* for self-connect/]);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('--compare not root, no DIR: the committed traces, said on stderr', (t) => {
  // As root, the command is run as nobody (setpriv from util-linux); not root, as is.
  const root = process.getuid?.() === 0;
  if (root && !existsSync('/usr/bin/setpriv')) {
    t.skip('root, and no /usr/bin/setpriv to run the command as nobody');
    return;
  }
  const argv = [CLI, 'lab', '--compare', 'shut-rd'];
  const r = root
    ? spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...argv], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } })
    : spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /not root: comparing the model with the kernel traces recorded in .*test\/fixtures\/traces/);
  assert.match(r.stdout, /1 scenario compared, 0 skipped: \d+ of \d+ facts agree/);
});

test('--compare as root: the kernel now against the model', { skip: process.getuid?.() !== 0 ? 'needs root for network namespaces' : false }, () => {
  const r = run('lab', '--compare', 'shut-rd', '--json');
  assert.equal(r.status, 0, r.stderr);
  const c = JSON.parse(r.stdout) as JsonComparison;
  assert.match(c.source, /^this run, on /);
  assert.deepEqual(c.scenarios.map((s) => s.scenario), ['shut-rd']);
  assert.ok(c.kinds['segment']!.compared > 0, 'packets captured and compared');
  assert.ok(c.agreement >= 0.9, `agreement ${c.agreed}/${c.compared}: ${JSON.stringify(c.scenarios[0]?.mismatches)}`);
});
