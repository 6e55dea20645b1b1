/**
 * The scenarios written for findings beyond the articles, on the real kernel: what the kernel did
 * (errnos, segments, the namespace's port range, a process killed by a signal), not just that a
 * finding came out. Needs root (a network namespace); skips otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { runOnKernel } from '../../src/lab/kernel/run.js';
import { NetNamespace, isRoot } from '../../src/lab/kernel/netns.js';
import { resultField, TraceView } from '../../src/lab/trace.js';
import resetArrivals from '../../src/lab/scenarios/reset-arrivals.js';
import delayedAckRule from '../../src/lab/scenarios/delayed-ack-rule.js';
import selfConnectPorts from '../../src/lab/scenarios/self-connect-ports.js';
import { inNetns } from '../../src/sys/index.js';

const skip = isRoot() ? false : 'needs root for a network namespace';

test('reset-arrivals: data then RST reads the data, then ECONNRESET; closing the listener resets the queued connection', { skip }, async () => {
  const t = new TraceView(await runOnKernel(resetArrivals));
  assert.equal(resultField(t.result('d read 1'), 'text'), 'reply');
  assert.equal(t.result('d read 2').errno, 'ECONNRESET');
  assert.equal(t.result('q read').errno, 'ECONNRESET');
  assert.ok(t.rstsSent('~q', 'L closed')?.some((r) => r.startsWith('RST')), 'the queued connection was reset');
  assert.deepEqual(t.trace.findings.map((f) => f.id).sort(), ['listener-close-resets-queue', 'rst-keeps-received-data']);
});

test('delayed-ack-rule: the FIN after data waits tens of ms for its ACK, the FIN with no data far less', { skip }, async () => {
  const trace = await runOnKernel(delayedAckRule);
  const f = trace.findings.find((x) => x.id === 'fin-ack-delay');
  assert.ok(f, 'finding reported');
  const [afterData, noData] = [...f.evidence.matchAll(/([\d.]+) ms later/g)].map((m) => Number(m[1]));
  assert.ok(afterData !== undefined && noData !== undefined, f.evidence);
  assert.ok(afterData >= 30, `after data: ${afterData} ms`);
  assert.ok(noData < afterData / 2, `no data: ${noData} ms vs ${afterData} ms`);
});

test('self-connect-ports: the namespace gets a 2-port sub-range of its slot; the even port self-connects, the odd never', { skip }, async () => {
  const t = new TraceView(await runOnKernel(selfConnectPorts));
  const [low] = t.trace.env.ports ?? [0];
  const even = t.result('even port');
  const odd = t.result('odd port');
  assert.equal(resultField(even, 'port'), low);
  assert.equal(resultField(even, 'selfConnects'), 2);
  assert.equal(resultField(odd, 'selfConnects'), 0);
  assert.equal(resultField(odd, 'refused'), 2);
});

test('NetNamespace.create(localPorts) sets ip_local_port_range to the first ports of its slot', { skip }, () => {
  const ns = NetNamespace.create({}, 4);
  try {
    const range = inNetns(ns.path, () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1')).trim().split(/\s+/).map(Number);
    assert.deepEqual(range, [ns.ports[0], ns.ports[0] + 3]);
  } finally {
    ns.dispose();
  }
  assert.throws(() => NetNamespace.create({}, 1), /localPorts 1/);
});
