// `teardown rpc-demo`: a real server process reaping idle connections, real clients calling
// around its timeout. The demo must report no failure and no duplicate for both client variants,
// and the GOAWAY-only variant must actually have gone through GOAWAYs (else it proves nothing).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { RpcDemoResult } from '../../src/rpc/demo.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
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
