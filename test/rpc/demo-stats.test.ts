// The rpc demo adds up its callers' client counters (sumClientCounters, src/rpc/demo.ts): every
// number summed, connectionsClosedBy reason by reason, and the per-endpoint list left out (it is
// not a count; copying the first client's list into a total was a bug).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sumClientCounters } from '../../src/rpc/demo.js';
import { createClient, createServer } from '../../src/rpc/index.js';

test('sumClientCounters: sums each counter of real clients, per close reason too, and carries no endpoints list', async (t) => {
  const server = createServer(() => Buffer.from('ok'));
  const { port } = await server.listen(0, '127.0.0.1');
  t.after(() => server.close({ deadlineMs: 500 }));
  const single = createClient({ host: '127.0.0.1', port });
  const fleet = createClient({ endpoints: [{ host: '127.0.0.1', port }] });
  t.after(() => Promise.all([single.close({ timeoutMs: 200 }), fleet.close({ timeoutMs: 200 })]));
  for (let i = 0; i < 3; i++) await single.call('x', Buffer.from('a'));
  for (let i = 0; i < 5; i++) await fleet.call('x', Buffer.from('b'));
  await single.close({ timeoutMs: 500 });
  await fleet.close({ timeoutMs: 500 });
  const a = single.stats();
  const b = fleet.stats();

  const total = sumClientCounters([a, b]);
  assert.equal('endpoints' in total, false, 'no per-endpoint list in a total');
  assert.equal(total.calls, 8);
  assert.equal(total.succeeded, 8);
  for (const key of Object.keys(total) as (keyof typeof total)[]) {
    const v = total[key];
    if (typeof v === 'number') assert.equal(v, (a[key] as number) + (b[key] as number), key);
  }
  for (const reason of Object.keys(total.connectionsClosedBy) as (keyof typeof total.connectionsClosedBy)[]) {
    assert.equal(total.connectionsClosedBy[reason], a.connectionsClosedBy[reason] + b.connectionsClosedBy[reason], reason);
  }
  assert.ok(total.connectionsClosedBy['client-closed'] >= 2, JSON.stringify(total.connectionsClosedBy));
  // The inputs are untouched (the total is a new object, not the first client's stats).
  assert.equal(a.calls, 3);
  assert.equal(a.connectionsClosedBy['client-closed'] + b.connectionsClosedBy['client-closed'], total.connectionsClosedBy['client-closed']);
  // The sum of no clients is zero everywhere (a shared or pre-filled start object would show here).
  const none = sumClientCounters([]);
  for (const [key, v] of Object.entries(none)) if (typeof v === 'number') assert.equal(v, 0, key);
  assert.ok(Object.values(none.connectionsClosedBy).every((n) => n === 0), JSON.stringify(none.connectionsClosedBy));
  assert.equal(none.calls, 0);
});
