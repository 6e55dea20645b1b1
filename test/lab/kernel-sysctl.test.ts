/**
 * `--sysctl` on the kernel backend: the value is set in the scenario's own namespace, and a watch
 * sized by it (004-j's) stretches with it. Root only (a network namespace per scenario).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { findScenario } from '../../src/lab/catalogue.js';
import { runOnKernel } from '../../src/lab/kernel/run.js';
import { needsRoot } from './helpers.js';

test('004-j on the kernel with tcp_fin_timeout = 3 instead of the scenario\'s 2: the closed end goes after ~3 s', { skip: needsRoot }, async () => {
  const sc = findScenario('fin-wait2-forever-vs-timeout');
  assert.ok(sc);
  const t = await runOnKernel(sc, { sysctls: { 'net.ipv4.tcp_fin_timeout': 3 } });
  assert.equal(t.env.sysctls['net.ipv4.tcp_fin_timeout'], 3);
  const watch = t.steps.find((s) => s.label === 'watch');
  const closed = t.steps.find((s) => s.label === 'b closed');
  assert.ok(watch && closed);
  assert.equal(watch.step.op === 'watch' ? watch.step.ms : 0, 4200);
  const gone = watch.watched?.find((p) => !p.sockets.some((s) => s.label === 'b'));
  assert.ok(gone, 'b disappears during the watch');
  const life = gone.atMs - closed.startMs;
  assert.ok(life > 2800 && life < 3600, `b lived ${life} ms`);
  assert.equal(t.verdicts.find((v) => v.claim === '004-j')?.verdict, 'confirmed');
});
