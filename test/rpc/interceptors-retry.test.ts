/**
 * The retry interceptor (seed 003-k): attempts, exponential backoff with jitter and its bounds,
 * the retry budget (token bucket), retryOn, and the hard rules retryOn cannot lift.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, retry, RetryBudget, defaultRetryOn, RpcError, type Interceptor, type Call } from '../../src/rpc/index.js';
import { rejection, b, RawServer, freePort } from './client-raw-server.js';

/** An interceptor placed after retry: records when each attempt reaches the pool. */
function recorder(times: number[]): Interceptor {
  return (call, next) => {
    times.push(performance.now());
    return next(call);
  };
}

test('retries a failure the server never saw (processed no) up to maxAttempts', async () => {
  const port = await freePort();
  const client = createClient({ port, interceptors: [retry({ maxAttempts: 4, initialBackoffMs: 1, maxBackoffMs: 2, budget: null })] });
  try {
    const e = await rejection(client.call('echo', b('x')));
    assert.equal(e.code, 'CONNECT_FAILED');
    assert.equal(e.processed, 'no');
    assert.equal(e.attempts, 4);
    const s = client.stats();
    assert.equal(s.retries, 3);
    assert.equal(s.calls, 1);
    assert.equal(s.failed, 1);
  } finally {
    await client.close();
  }
});

test('backoff grows by the multiplier and stops at maxBackoffMs (jitter 0: exact ceilings)', async () => {
  const port = await freePort();
  const times: number[] = [];
  const client = createClient({
    port,
    interceptors: [retry({ maxAttempts: 5, initialBackoffMs: 20, multiplier: 2, maxBackoffMs: 50, jitter: 0, budget: null }), recorder(times)],
  });
  try {
    await rejection(client.call('echo', b('x')));
    assert.equal(times.length, 5);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    const want = [20, 40, 50, 50];
    gaps.forEach((g, i) => {
      assert.ok(g >= (want[i] as number) - 2, `gap ${i + 1}: ${g.toFixed(1)} ms >= ${want[i]}`);
      assert.ok(g < (want[i] as number) + 60, `gap ${i + 1}: ${g.toFixed(1)} ms bounded`);
    });
  } finally {
    await client.close();
  }
});

test('full jitter keeps every delay within (0, ceiling]', async () => {
  const port = await freePort();
  const times: number[] = [];
  const client = createClient({
    port,
    interceptors: [retry({ maxAttempts: 6, initialBackoffMs: 30, multiplier: 1, maxBackoffMs: 30, jitter: 1, budget: null }), recorder(times)],
  });
  try {
    await rejection(client.call('echo', b('x')));
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    for (const g of gaps) assert.ok(g < 30 + 40, `gap ${g.toFixed(1)} ms bounded by the ceiling`);
  } finally {
    await client.close();
  }
  // The delays are drawn, not the ceiling itself (which the bound above would also accept). With
  // no sockets in the way, ten full-jitter delays all within 10 ms of a 30 ms ceiling happen once
  // in 3^10 runs.
  const direct: number[] = [];
  const failing = (): Promise<Buffer> => {
    direct.push(performance.now());
    return Promise.reject(new RpcError('CONNECT_FAILED', 'x', { processed: 'no' }));
  };
  const call: Call = { method: 'm', body: b(''), idempotent: false, deadline: null, signal: null, attempt: 1 };
  await assert.rejects(retry({ maxAttempts: 11, initialBackoffMs: 30, multiplier: 1, maxBackoffMs: 30, jitter: 1, budget: null })(call, failing));
  const directGaps = direct.slice(1).map((t, i) => t - (direct[i] as number));
  assert.ok(directGaps.some((g) => g < 20), `gaps ${directGaps.map((g) => g.toFixed(1)).join(', ')} ms: none below 20 ms of a 30 ms ceiling`);
});

test('retry budget: retries stop when the bucket is empty (RETRY_BUDGET_EXHAUSTED, cause = last error)', async () => {
  const port = await freePort();
  const budget = new RetryBudget({ tokens: 2 });
  const client = createClient({ port, interceptors: [retry({ maxAttempts: 10, initialBackoffMs: 1, maxBackoffMs: 1, budget })] });
  try {
    const e1 = await rejection(client.call('echo', b('1')));
    assert.equal(e1.code, 'RETRY_BUDGET_EXHAUSTED');
    assert.equal(e1.processed, 'no');
    assert.equal(e1.attempts, 3, 'first attempt + the two tokens');
    assert.ok(e1.cause instanceof RpcError && e1.cause.code === 'CONNECT_FAILED');
    const e2 = await rejection(client.call('echo', b('2')));
    assert.equal(e2.code, 'RETRY_BUDGET_EXHAUSTED');
    assert.equal(e2.attempts, 1, 'no token left: no retry at all');
    assert.equal(client.stats().retries, 2);
  } finally {
    await client.close();
  }
});

test('retry budget refills with time and with calls (ratio mode)', async () => {
  const timed = new RetryBudget({ tokens: 1, refillPerSecond: 50 });
  assert.ok(timed.tryWithdraw());
  assert.ok(!timed.tryWithdraw());
  await new Promise((r) => setTimeout(r, 40));
  assert.ok(timed.tryWithdraw(), 'refilled after 40 ms at 50/s');

  const ratio = new RetryBudget({ tokens: 3, perCall: 0.1 });
  for (let i = 0; i < 3; i++) assert.ok(ratio.tryWithdraw());
  for (let i = 0; i < 9; i++) ratio.deposit();
  assert.ok(!ratio.tryWithdraw(), '9 calls earn 0.9 token');
  ratio.deposit();
  assert.ok(ratio.tryWithdraw(), '10 calls earn one retry');
  for (let i = 0; i < 100; i++) ratio.deposit();
  assert.ok(ratio.available <= 3, 'never above capacity');
  assert.throws(() => new RetryBudget({ tokens: -1 }), /tokens/);
});

test('the default retryOn: no → retry, maybe → idempotent only, yes → never', () => {
  const call = (idempotent: boolean): Call => ({ method: 'm', body: b(''), idempotent, deadline: null, signal: null, attempt: 1 });
  const err = (code: RpcError['code'], processed: RpcError['processed']): RpcError => new RpcError(code, 'x', { processed });
  assert.equal(defaultRetryOn(err('CONNECT_FAILED', 'no'), call(false)), true);
  assert.equal(defaultRetryOn(err('REFUSED', 'no'), call(false)), true);
  assert.equal(defaultRetryOn(err('CONNECTION_LOST', 'maybe'), call(false)), false);
  assert.equal(defaultRetryOn(err('CONNECTION_LOST', 'maybe'), call(true)), true);
  assert.equal(defaultRetryOn(err('HANDLER_FAILED', 'yes'), call(true)), false);
  assert.equal(defaultRetryOn(err('QUEUE_FULL', 'no'), call(true)), false);
  assert.equal(defaultRetryOn(err('DEADLINE_EXCEEDED', 'no'), call(true)), false);
  assert.equal(defaultRetryOn(new Error('plain'), call(true)), false);
});

test('an idempotent call lost on a broken connection is retried; the error says maybe after every attempt failed', async () => {
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      server.run(req);
      conn.close();
    },
  });
  const client = createClient({
    port: server.port,
    maxIdempotentRetries: 0,
    interceptors: [retry({ maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 2, budget: null })],
  });
  try {
    const e = await rejection(client.call('get', b('i1'), { idempotent: true }));
    assert.equal(e.code, 'CONNECTION_LOST');
    assert.equal(e.processed, 'maybe');
    assert.equal(e.attempts, 3);
    assert.equal(server.runsOf('i1'), 3);
  } finally {
    await client.close();
    await server.close();
  }
});

test('retryOn may retry an answer (HANDLER_FAILED) but can never lift the rule for a non-idempotent maybe', async () => {
  let failures = 1;
  const server = await RawServer.start({
    onRequest: (conn, req) => {
      const body = req.body.toString();
      if (body === 'flaky' && failures-- > 0) {
        server.run(req);
        return conn.error(req.id, 'HANDLER_FAILED', 'try again');
      }
      if (body === 'lost') {
        server.run(req);
        return conn.close();
      }
      conn.answer(req);
    },
  });
  const client = createClient({
    port: server.port,
    interceptors: [retry({ maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 2, budget: null, retryOn: () => true })],
  });
  try {
    assert.equal((await client.call('do', b('flaky'))).toString(), 'flaky');
    assert.equal(server.runsOf('flaky'), 2);
    const e = await rejection(client.call('do', b('lost')));
    assert.equal(e.code, 'CONNECTION_LOST');
    assert.equal(e.processed, 'maybe');
    assert.equal(server.runsOf('lost'), 1, 'retryOn () => true did not re-send it');
  } finally {
    await client.close();
    await server.close();
  }
});

test('retry never sleeps past the deadline', async () => {
  const port = await freePort();
  const client = createClient({ port, interceptors: [retry({ maxAttempts: 10, initialBackoffMs: 100, maxBackoffMs: 100, jitter: 0, budget: null })] });
  try {
    const t0 = performance.now();
    const e = await rejection(client.call('echo', b('x'), { timeoutMs: 150 }));
    const took = performance.now() - t0;
    assert.equal(e.code, 'CONNECT_FAILED', 'the last real error, not a made-up one');
    assert.ok(e.attempts <= 2, `attempts ${e.attempts}`);
    assert.ok(took < 150, `gave up at once instead of sleeping past the deadline (${took.toFixed(0)} ms)`);
  } finally {
    await client.close();
  }
});

test('aborting during a backoff ends the call with CANCELLED', async () => {
  const port = await freePort();
  const client = createClient({ port, interceptors: [retry({ maxAttempts: 5, initialBackoffMs: 500, maxBackoffMs: 500, jitter: 0, budget: null })] });
  try {
    const ac = new AbortController();
    const p = client.call('echo', b('x'), { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const t0 = performance.now();
    const e = await rejection(p);
    assert.equal(e.code, 'CANCELLED');
    assert.ok(performance.now() - t0 < 400);
  } finally {
    await client.close();
  }
});

test('retry options are validated, naming the option', () => {
  assert.throws(() => retry({ maxAttempts: 0 }), /maxAttempts/);
  assert.throws(() => retry({ jitter: 2 }), /jitter/);
  assert.throws(() => retry({ multiplier: 0.5 }), /multiplier/);
  assert.throws(() => retry({ initialBackoffMs: 100, maxBackoffMs: 10 }), /maxBackoffMs/);
  assert.throws(() => retry({ budget: { tokens: 1, refillPerSecond: -1 } }), /refillPerSecond/);
});

test('on a virtual clock the retry waits exactly the backoff drawn (shared formula: ceiling × (1 − jitter × draw))', async () => {
  const { VirtualClock } = await import('./virtual-clock.js');
  const clock = new VirtualClock();
  clock.draws.push(0, 0.5, 0.25);
  const at: number[] = [];
  const failing = (): Promise<Buffer> => {
    at.push(clock.now());
    return Promise.reject(new RpcError('CONNECT_FAILED', 'x', { processed: 'no' }));
  };
  const call: Call = { method: 'm', body: b(''), idempotent: false, deadline: null, signal: null, attempt: 1, clock };
  const p = retry({ maxAttempts: 4, initialBackoffMs: 20, multiplier: 2, maxBackoffMs: 50, jitter: 1, budget: null })(call, failing);
  p.catch(() => undefined);
  await clock.advance(1000);
  await assert.rejects(p);
  // ceilings 20, 40, 50; draws 0, 0.5, 0.25 → waits 20, 20, 37.5
  assert.deepEqual(at, [0, 20, 40, 77.5]);
});
