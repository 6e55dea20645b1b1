import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { runOnKernel } from '../../src/lab/kernel/run.js';
import { ScenarioFailed, ScenarioSkipped } from '../../src/lab/errors.js';
import { resources } from '../../src/lab/kernel/cleanup.js';
import { actor, judge, scenario, wait } from '../../src/lab/scenario.js';
import acceptNeverCalled from '../../src/lab/scenarios/accept-never-called.js';
import { labNamespacesOf, labProcessesOf, needsRoot } from './helpers.js';


after(() => resources.releaseAll());

const a = actor('a');
const broken = scenario({
  id: 'broken',
  article: '000',
  title: 'a scenario that throws half-way',
  summary: 'writes on a socket it never made',
  actors: ['a', 'b'],
  steps: [a.listen('L'), a.write('nope', 'x').as('bad')],
  checks: { 'x-1': (t) => judge(t.result('bad').ok, 'n/a') },
});

test('a scenario that throws fails with the steps so far and leaves no process or namespace', { skip: needsRoot }, async () => {
  await assert.rejects(runOnKernel(broken), (e: unknown) => {
    assert.ok(e instanceof ScenarioFailed);
    assert.equal(e.steps.length, 1, 'the listen step completed before the failure');
    assert.match(e.reason, /no raw socket named nope/);
    return true;
  });
  assert.deepEqual(labProcessesOf(process.pid), []);
  assert.deepEqual(labNamespacesOf(process.pid), []);
});

test('a scenario that needs a sysctl is skipped, with the reason, outside a namespace', async () => {
  const sc = scenario({ ...broken, id: 'needs-sysctl', sysctls: { 'net.ipv4.tcp_fin_timeout': 2 }, steps: [wait(1)], checks: {} });
  await assert.rejects(runOnKernel(sc, { netns: false }), (e: unknown) => e instanceof ScenarioSkipped && /tcp_fin_timeout=2/.test(e.reason));
});

test('in the host namespace a scenario still runs, filtered to its own ports, without packets', async () => {
  const trace = await runOnKernel(acceptNeverCalled, { netns: false });
  assert.equal(trace.env.netns, null);
  assert.equal(trace.segments, null);
  assert.match(trace.env.captureNote ?? '', /packets not captured/);
  const closed = trace.steps.find((s) => s.label === 'client closed');
  assert.deepEqual(closed?.after.sockets.map((s) => `${s.label} ${s.state}`), ['L LISTEN', 'c FIN_WAIT2', '~c CLOSE_WAIT']);
});
