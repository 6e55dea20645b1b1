/**
 * The fleet's pure parts as tables, without sockets: the pick policies (src/rpc/pick.ts), the
 * endpoint lifecycle's legal and illegal moves (src/rpc/endpoint.ts), and the validation of
 * endpoints, resolver answers and createClient's target options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ENDPOINT_TRANSITIONS,
  RpcError,
  createClient,
  dnsResolver,
  pickEndpoint,
  type ClientOptions,
  type EndpointState,
  type PickPolicy,
  type Resolver,
} from '../../src/rpc/index.js';
import { checkEndpoints } from '../../src/rpc/endpoint.js';
import { resolveOnce } from '../../src/rpc/resolver.js';
import { StateMachine } from '../../src/rpc/state.js';

/** A draw() that returns `values` in order and fails the test if asked for more. */
function draws(values: number[]): () => number {
  const queue = [...values];
  return () => {
    const v = queue.shift();
    if (v === undefined) assert.fail('pickEndpoint drew more random numbers than the row gave');
    return v;
  };
}

interface PickRow {
  name: string;
  policy: PickPolicy;
  loads: number[];
  cursor?: number;
  draws?: number[];
  want: { index: number; cursor: number } | null;
}

const pickRows: PickRow[] = [
  { name: 'p2c: no candidate', policy: 'p2c', loads: [], want: null },
  { name: 'p2c: one candidate, no draw needed', policy: 'p2c', loads: [7], cursor: 3, draws: [], want: { index: 0, cursor: 3 } },
  { name: 'p2c: draws 0 and 2 of 3, the second is less loaded', policy: 'p2c', loads: [5, 9, 1], draws: [0.0, 0.99], want: { index: 2, cursor: 0 } },
  { name: 'p2c: draws 2 and 0, the first (2) is less loaded', policy: 'p2c', loads: [5, 9, 1], draws: [0.99, 0.0], want: { index: 2, cursor: 0 } },
  { name: 'p2c: the least loaded of all (index 2) is not drawn: the better of 0 and 1 wins', policy: 'p2c', loads: [5, 9, 1], draws: [0.5, 0.0], want: { index: 0, cursor: 0 } },
  { name: 'p2c: second draw equal to the first is shifted past it (two distinct choices)', policy: 'p2c', loads: [3, 2], draws: [0.0, 0.0], want: { index: 1, cursor: 0 } },
  { name: 'p2c: a tie goes to the first draw', policy: 'p2c', loads: [4, 4, 4], draws: [0.7, 0.1], want: { index: 2, cursor: 0 } },
  { name: 'p2c: a draw of 0.999… stays in range', policy: 'p2c', loads: [1, 0], draws: [0.9999999999, 0.9999999999], want: { index: 1, cursor: 0 } },
  { name: 'round-robin: no candidate', policy: 'round-robin', loads: [], want: null },
  { name: 'round-robin: cursor 0 → first, next cursor 1', policy: 'round-robin', loads: [0, 0, 0], cursor: 0, draws: [], want: { index: 0, cursor: 1 } },
  { name: 'round-robin: ignores load', policy: 'round-robin', loads: [100, 0, 0], cursor: 3, draws: [], want: { index: 0, cursor: 1 } },
  { name: 'round-robin: a cursor past a shrunken list wraps', policy: 'round-robin', loads: [0, 0], cursor: 5, draws: [], want: { index: 1, cursor: 2 } },
];

test('pick policy: every row of the table', () => {
  for (const r of pickRows) {
    assert.deepEqual(pickEndpoint(r.policy, r.loads, r.cursor ?? 0, draws(r.draws ?? [0.5, 0.5])), r.want, r.name);
  }
});

test('pick policy: p2c over many draws prefers the less loaded, round-robin visits each in turn', () => {
  // Not a timing claim: with loads [0, 10, 10] p2c takes index 0 whenever it is drawn at all
  // (2 of the 3 pairs), round-robin exactly a third of the time.
  let seed = 1;
  const rand = (): number => ((seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff);
  const counts: { p2c: number[]; rr: number[] } = { p2c: [0, 0, 0], rr: [0, 0, 0] };
  const bump = (a: number[], i: number): void => {
    a[i] = (a[i] ?? 0) + 1;
  };
  let cursor = 0;
  for (let i = 0; i < 3000; i++) {
    bump(counts.p2c, (pickEndpoint('p2c', [0, 10, 10], 0, rand) as { index: number }).index);
    const r = pickEndpoint('round-robin', [0, 10, 10], cursor, rand) as { index: number; cursor: number };
    cursor = r.cursor;
    bump(counts.rr, r.index);
  }
  assert.deepEqual(counts.rr, [1000, 1000, 1000]);
  assert.ok((counts.p2c[0] as number) > 1800 && (counts.p2c[0] as number) < 2200, `p2c chose the idle endpoint ${counts.p2c[0]} of 3000 times; 2/3 expected`);
});

test('endpoint lifecycle: exactly these moves are legal; every other is refused, counted, and leaves the state', () => {
  const legal = new Set([
    'active→ejected',
    'active→draining',
    'ejected→probing',
    'ejected→draining',
    'probing→active',
    'probing→ejected',
    'probing→draining',
    'draining→probing',
    'draining→ejected',
    'draining→removed',
  ]);
  const states = Object.keys(ENDPOINT_TRANSITIONS) as EndpointState[];
  assert.deepEqual(states.sort(), ['active', 'draining', 'ejected', 'probing', 'removed']);
  for (const from of states) {
    for (const to of states) {
      const m = new StateMachine<EndpointState>(from, ENDPOINT_TRANSITIONS);
      const ok = m.to(to, 'table');
      const move = `${from}→${to}`;
      assert.equal(ok, legal.has(move), move);
      assert.equal(m.state, ok ? to : from, move);
      assert.equal(m.illegalCount, ok ? 0 : 1, move);
    }
  }
});

test('endpoints: validation names the bad entry; duplicates dropped', () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /must be an array/],
    [[], /at least one endpoint/],
    [[null], /\[0\] must be \{ host, port \}/],
    [[{ host: '', port: 1 }], /\[0\]\.host/],
    [[{ host: 'a', port: 1 }, { host: 'b', port: 0 }], /\[1\]\.port must be an integer in 1\.\.65535, got 0/],
    [[{ host: 'a', port: 70000 }], /\[0\]\.port/],
    [[{ host: 'a', port: 1.5 }], /\[0\]\.port/],
    [[{ host: 'x'.repeat(254), port: 1 }], /\[0\]\.host/],
    [Array.from({ length: 1025 }, (_, i) => ({ host: 'a', port: i + 1 })), /lists 1025 endpoints; at most 1024/],
  ];
  for (const [v, re] of bad) assert.throws(() => checkEndpoints('endpoints', v), re, JSON.stringify(v));
  assert.deepEqual(checkEndpoints('e', [{ host: '::1', port: 1 }, { host: '127.0.0.1', port: 2 }, { host: '::1', port: 1 }]), [
    { host: '::1', port: 1 },
    { host: '127.0.0.1', port: 2 },
  ]);
});

test('resolver answers: anything but a non-empty list of { host, port } is RESOLVE_FAILED, processed no', async () => {
  const answers: [string, Resolver][] = [
    ['null', async () => null as unknown as []],
    ['empty list', async () => []],
    ['a string', async () => 'a:1' as unknown as []],
    ['a bad port', async () => [{ host: 'a', port: 0 }]],
    ['a rejection', async () => Promise.reject(new Error('boom'))],
    ['a synchronous throw', () => {
      throw new Error('sync boom');
    }],
  ];
  for (const [name, r] of answers) {
    await assert.rejects(resolveOnce(r), (e: unknown) => e instanceof RpcError && e.code === 'RESOLVE_FAILED' && e.processed === 'no', name);
  }
  assert.deepEqual(await resolveOnce(() => [{ host: 'h', port: 9 }]), [{ host: 'h', port: 9 }]);
});

test('dnsResolver: validated arguments; answers every address at the port; a failed lookup is RESOLVE_FAILED with its errno', async () => {
  assert.throws(() => dnsResolver('', 1), /dnsResolver: name/);
  assert.throws(() => dnsResolver('a', 0), /dnsResolver: port/);
  assert.throws(() => dnsResolver('a', 1, { intervalMs: 0 }), /dnsResolver: intervalMs/);
  assert.throws(() => dnsResolver('a', 1, { intervalMs: 2 ** 31 }), /dnsResolver: intervalMs/);
  assert.throws(() => dnsResolver('a', 1, { family: 5 as 4 }), /dnsResolver: family/);
  const asked: { name: string; family: number }[] = [];
  const table = dnsResolver('svc.test', 7000, {
    intervalMs: 250,
    family: 4,
    lookup: async (name, o) => {
      asked.push({ name, family: o.family });
      return [{ address: '10.0.0.1', family: 4 }, { address: '10.0.0.2', family: 4 }];
    },
  });
  assert.equal(table.intervalMs, 250);
  assert.deepEqual(await resolveOnce(table), [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }]);
  assert.deepEqual(asked, [{ name: 'svc.test', family: 4 }]);
  const missing = dnsResolver('nowhere.test', 1, {
    lookup: async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' });
    },
  });
  await assert.rejects(resolveOnce(missing), (e: unknown) => e instanceof RpcError && e.code === 'RESOLVE_FAILED' && e.errno === 'ENOTFOUND');
  // localhost through getaddrinfo (/etc/hosts): no network needed.
  const local = await resolveOnce(dnsResolver('localhost', 7000));
  assert.ok(local.length >= 1 && local.every((e) => (e.host === '127.0.0.1' || e.host === '::1') && e.port === 7000), JSON.stringify(local));
});

test('createClient: exactly one target; fleet options validated, naming the option', () => {
  const ep = [{ host: '127.0.0.1', port: 1 }];
  const bad: [unknown, RegExp][] = [
    [{}, /exactly one of port \(with host\), endpoints, resolver; got none/],
    [{ port: 1, endpoints: ep }, /got port and endpoints/],
    [{ endpoints: ep, resolver: async () => ep }, /got endpoints and resolver/],
    [{ endpoints: ep, host: 'x' }, /host goes with port/],
    [{ endpoints: [] }, /createClient: endpoints must list at least one/],
    [{ endpoints: [{ host: 'a', port: -1 }] }, /createClient: endpoints\[0\]\.port/],
    [{ resolver: 5 }, /resolver must be a function/],
    [{ resolver: Object.assign(async () => ep, { intervalMs: -1 }) }, /resolver\.intervalMs/],
    [{ endpoints: ep, pick: 'random' }, /pick must be one of p2c, round-robin, got random/],
    [{ endpoints: ep, waitForEndpointMs: 2 ** 31 }, /waitForEndpointMs/],
    [{ endpoints: ep, ejection: { initialMs: 0 } }, /ejection\.initialMs/],
    [{ endpoints: ep, ejection: { initialMs: 100, maxMs: 50 } }, /ejection\.maxMs/],
    [{ endpoints: ep, ejection: null }, /ejection must be/],
  ];
  for (const [o, re] of bad) assert.throws(() => createClient(o as ClientOptions), re, JSON.stringify(o));
});
