/**
 * `teardown lab --backend model`: no root, the same report, --json, --record as the kernel path;
 * what-if options validated (exit 2 with a message, never a stack).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

test('--backend model --sysctl net.ipv4.tcp_fin_timeout=60 --json: 004-j confirmed with the 60 s, one JSON object', () => {
  const r = run('lab', 'fin-wait2-forever-vs-timeout', '--backend', 'model', '--sysctl', 'net.ipv4.tcp_fin_timeout=60', '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    backend: string;
    model: { sysctls: Record<string, number> };
    claims: { claim: string; verdict: string; observed: string }[];
    outcomes: { status: string; trace: { env: { backend: string; sysctls: Record<string, number> } } }[];
  };
  assert.equal(report.backend, 'model');
  assert.deepEqual(report.model.sysctls, { 'net.ipv4.tcp_fin_timeout': 60 });
  assert.equal(report.outcomes[0]?.trace.env.backend, 'model');
  assert.equal(report.outcomes[0]?.trace.env.sysctls['net.ipv4.tcp_fin_timeout'], 60);
  const j = report.claims.find((c) => c.claim === '004-j');
  assert.equal(j?.verdict, 'confirmed');
  assert.match(j?.observed ?? '', /gone 60\.\d+ s after close\(\)/);
});

test('--backend model, the whole catalogue: every modelled scenario runs, the rest are skipped with a reason, exit 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-model-'));
  try {
    const r = run('lab', '--backend', 'model', '--record', dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /every scenario ran on the model/);
    assert.match(r.stdout, /skipped node-server-eof: runs a node:net server/);
    assert.match(r.stdout, /not covered by the model 001-f: skipped: accept-emfile/);
    assert.match(r.stdout, /23 scenarios ran, 6 skipped, 0 failed/);
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 23);
    const trace = JSON.parse(readFileSync(join(dir, 'self-connect.json'), 'utf8')) as { env: { backend: string } };
    assert.equal(trace.env.backend, 'model');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what-if options that do not apply, or out of range, exit 2 with the reason', () => {
  const cases: [string[], RegExp][] = [
    [['--sysctl', 'net.core.somaxconn=5', '--backend', 'model'], /the model knows only net\.ipv4\.tcp_fin_timeout/],
    [['--sysctl', 'net.ipv4.tcp_fin_timeout=9999999', '--backend', 'model'], /0\.\.2147483/],
    [['--sysctl', 'tcp_fin_timeout', '--backend', 'model'], /NAME=INTEGER/],
    [['--rtt-ms', '200'], /--rtt-ms needs --backend model/],
    [['--backend', 'model', '--rtt-ms', '2147483648'], /expected an integer in 0\.\.2147483647/],
    [['--backend', 'model', '--pcap', tmpdir()], /--pcap needs --backend kernel/],
    [['--backend', 'bogus'], /Allowed choices are kernel, model/],
  ];
  for (const [args, msg] of cases) {
    const r = run('lab', 'self-connect', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
});
