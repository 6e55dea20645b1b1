import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

test('an unknown scenario id exits 2 and lists the ids', () => {
  const r = run('lab', 'no-such-scenario');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown scenario "no-such-scenario"/);
  assert.match(r.stderr, /accept-never-called/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('a bad flag exits 2 with a message, not a stack', () => {
  const r = run('lab', '--bogus');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option '--bogus'/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});

test('--list names every scenario with its claims', () => {
  const r = run('lab', '--list');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /accept-never-called\s+001/);
  assert.match(r.stdout, /001-c/);
});

test('--json prints one JSON object with traces and verdicts', { skip: process.getuid?.() !== 0 ? 'needs root for network namespaces' : false }, () => {
  const r = run('lab', 'accept-emfile', '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { outcomes: { status: string; trace: { steps: unknown[] } }[]; verdicts: { claim: string; verdict: string }[] };
  assert.equal(report.outcomes[0]?.status, 'ran');
  assert.ok((report.outcomes[0]?.trace.steps.length ?? 0) > 5);
  assert.deepEqual(report.verdicts.map((v) => v.claim), ['001-f']);
});
