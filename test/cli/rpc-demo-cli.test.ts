// `teardown rpc-demo`: a real server process reaping idle connections, real clients calling
// around its timeout. The demo must report no failure and no duplicate for both client variants,
// and the GOAWAY-only variant must actually have gone through GOAWAYs (else it proves nothing).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { RpcDemoResult } from '../../src/rpc/demo.js';
import type { FleetDemoResult } from '../../src/rpc/fleet-demo.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const FLEET_SERVER = fileURLToPath(new URL('../../src/rpc/fleet-server.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

test('rpc-demo --json: no call fails or runs twice, and the GOAWAY path was exercised', () => {
  const r = run('rpc-demo', '--idle-ms', '200', '--calls', '60', '--lanes', '12', '--json');
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const result = JSON.parse(r.stdout) as RpcDemoResult;
  assert.deepEqual(result.variants.map((v) => v.variant), ['default', 'goaway-only']);
  for (const v of result.variants) {
    assert.equal(v.calls, 60);
    assert.equal(v.failed, 0, `${v.variant}: ${JSON.stringify(v.errors)}`);
    assert.equal(v.ranTwice, 0);
    assert.equal(v.unaccounted, 0);
  }
  const goawayOnly = result.variants[1]!;
  assert.ok(goawayOnly.client.goawaysReceived > 0, 'the server reaped no connection with GOAWAY');
  assert.equal(result.closeWaitLingering, 0);
  // The demo's clients have no retry interceptor, and what the pool re-sends on its own was never
  // run (or is counted in ranTwice): each of the 2 × 60 calls ran exactly once.
  assert.equal(result.server.calls, 120);
});

test('rpc-demo with a bad number exits 2 with the reason, no stack', () => {
  const r = run('rpc-demo', '--calls', 'many');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /expected an integer in 1\.\.100000, got "many"/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});

test('rpc-demo --fleet --json: three servers replaced under load, 0 failed, 0 ran twice, every old process exited 0', () => {
  const r = run('rpc-demo', '--fleet', '--seconds', '3', '--lanes', '8', '--json');
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const result = JSON.parse(r.stdout) as FleetDemoResult;
  assert.equal(result.restarts.length, 3);
  for (const x of result.restarts) {
    assert.equal(x.exitCode, 0);
    assert.notEqual(x.newPid, x.oldPid);
  }
  assert.ok(result.calls > 100, `only ${result.calls} calls`);
  assert.equal(result.failed, 0, JSON.stringify(result.errors));
  assert.equal(result.ranTwice, 0);
  assert.equal(result.unaccounted, 0);
  // The progress lines went to stderr, the restarts among them.
  assert.match(r.stderr, /server 3: pid \d+ drained and exited \(code 0\)/);
});

/** Pids of processes whose command line names `file` (read from /proc). */
function processesRunning(file: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(file)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('rpc-demo --fleet with its reader gone early (| head -2) stops, exits 0 quietly and leaves no server process', async (t) => {
  const child = spawn(process.execPath, [CLI, 'rpc-demo', '--fleet', '--seconds', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let seen = '';
  await new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      seen += s;
      if (seen.split('\n').length > 2) {
        child.stdout.destroy();
        resolve();
      }
    });
  });
  const started = Date.now();
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  assert.ok(Date.now() - started < 15_000, 'it ran on after its reader left');
  assert.doesNotMatch(stderr, /at .*\.js:\d+/);
  assert.deepEqual(processesRunning(FLEET_SERVER), [], 'a server process outlived the demo');
});
