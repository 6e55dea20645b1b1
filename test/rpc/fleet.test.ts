/**
 * A client across many servers, each a child process on loopback (test/rpc/fleet-child.ts, killed
 * by pid in t.after): resolution changes, ejection and probing back, draining under load, and
 * calls waiting when every endpoint is down. Every call body is a unique id and every server
 * keeps a ledger of the ids its handler ran, so "no call ran twice" is checked from outside.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcError, createClient, dnsResolver, type EndpointAddress, type EndpointStats, type RpcClient } from '../../src/rpc/index.js';
import type { FleetChildMessage } from './fleet-child.js';
import { eventually } from './server-helpers.js';
import { VirtualClock } from './virtual-clock.js';

const CHILD = fileURLToPath(new URL('./fleet-child.js', import.meta.url));

interface ServerChild {
  pid: number;
  port: number;
  address: EndpointAddress;
  /** Ids the child's handler ran, in order. */
  ledger(): Promise<string[]>;
  /** server.close() in the child: GOAWAY(SHUTDOWN), drain, close. Resolves when done. */
  close(): Promise<void>;
}

async function startServer(t: TestContext, port = 0, handlerMs = 0, ledgerFile = '', reusePort = false, slowMs = 0): Promise<ServerChild> {
  const child = fork(CHILD, [String(port)], {
    env: {
      ...process.env,
      TT_RPC_FLEET_CHILD: '1',
      TT_RPC_FLEET_HANDLER_MS: String(handlerMs),
      TT_RPC_FLEET_LEDGER: ledgerFile,
      TT_RPC_FLEET_REUSEPORT: reusePort ? '1' : '0',
      TT_RPC_FLEET_SLOW_MS: String(slowMs),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pid = child.pid as number;
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
  });
  const next = async <K extends FleetChildMessage['kind']>(kind: K): Promise<Extract<FleetChildMessage, { kind: K }>> => {
    for (;;) {
      const [m] = (await once(child, 'message')) as [FleetChildMessage];
      if (m.kind === kind) return m as Extract<FleetChildMessage, { kind: K }>;
    }
  };
  const ready = await next('ready');
  return {
    pid,
    port: ready.port,
    address: { host: '127.0.0.1', port: ready.port },
    ledger: async () => {
      const answer = next('ledger');
      child.send({ kind: 'ledger' });
      return (await answer).ran;
    },
    close: async () => {
      const done = next('closed');
      child.send({ kind: 'close' });
      await done;
    },
  };
}

/** A loopback port with nothing listening (bound, then closed: connects to it are refused). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

interface LoadResult {
  ok: number;
  failed: RpcError[];
  /** Bodies of the failed calls, index for index with `failed`. */
  failedIds: string[];
  /** Answers by the pid that gave them. */
  byPid: Map<number, number>;
}

/**
 * `calls` non-idempotent calls, `lanes` at a time, bodies `${tag}-${i}`. `during(done)` is called
 * after every answer with the count so far.
 */
async function load(client: RpcClient, tag: string, calls: number, lanes: number, during?: (done: number) => void): Promise<LoadResult> {
  const r: LoadResult = { ok: 0, failed: [], failedIds: [], byPid: new Map() };
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < calls) {
        const i = next++;
        try {
          const pid = Number((await client.call('work', Buffer.from(`${tag}-${i}`))).toString());
          r.byPid.set(pid, (r.byPid.get(pid) ?? 0) + 1);
          r.ok++;
        } catch (e) {
          r.failed.push(e as RpcError);
          r.failedIds.push(`${tag}-${i}`);
        }
        during?.(++done);
      }
    }),
  );
  return r;
}

function endpoint(client: RpcClient, port: number): EndpointStats {
  const e = client.endpoints().find((x) => x.port === port);
  assert.ok(e, `endpoint :${port} in ${JSON.stringify(client.endpoints())}`);
  return e;
}

/** Ids that appear more than once across the ledgers. */
function runTwice(ledgers: string[][]): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const id of ledgers.flat()) {
    if (seen.has(id)) twice.push(id);
    seen.add(id);
  }
  return twice;
}

test('draining: server.close() on one of three mid-load — 0 failed, nothing ran twice, the other two took the work', async (t) => {
  const servers = await Promise.all([startServer(t, 0, 2), startServer(t, 0, 2), startServer(t, 0, 2)]);
  const client = createClient({ endpoints: servers.map((s) => s.address) });
  t.after(() => client.close({ timeoutMs: 200 }));
  const [a, b, c] = servers as [ServerChild, ServerChild, ServerChild];
  let closing: Promise<void> | null = null;
  let answeredByOthersAfterClose = 0;
  const CALLS = 3000;
  const r = await load(client, 'drain', CALLS, 48, (done) => {
    if (done === 600) closing = a.close();
    if (closing !== null) answeredByOthersAfterClose++;
  });
  await closing;
  assert.deepEqual(r.failed.map((e) => e.message), []);
  assert.equal(r.ok, CALLS);
  const ledgers = await Promise.all(servers.map((s) => s.ledger()));
  assert.deepEqual(runTwice(ledgers), [], 'no call ran twice');
  assert.equal(ledgers.flat().length, CALLS, 'every call ran exactly once somewhere');
  const [la, lb, lc] = ledgers.map((l) => l.length) as [number, number, number];
  assert.ok(la > 0 && la < lb && la < lc, `the closed server ran fewer (a=${la}, b=${lb}, c=${lc})`);
  assert.ok(answeredByOthersAfterClose > 1000, `calls answered after close() began: ${answeredByOthersAfterClose}`);
  assert.equal(r.byPid.get(a.pid) ?? 0, la, 'answers from the closed server = calls it ran');
  assert.equal((r.byPid.get(b.pid) ?? 0) + (r.byPid.get(c.pid) ?? 0), lb + lc);
  const ea = endpoint(client, a.port);
  assert.equal(ea.drains, 1);
  assert.ok(ea.goawaysReceived >= 1);
  // Still listed, nothing listens: drained, then ejected and probed.
  assert.ok(ea.state === 'ejected' || ea.state === 'probing', ea.state);
  for (const s of [b, c]) assert.equal(endpoint(client, s.port).state, 'active');
  const stats = client.stats();
  t.diagnostic(`ran a/b/c ${la}/${lb}/${lc}; transparent re-sends ${stats.transparentRetries}; endpoint a: ${ea.state}, goaways ${ea.goawaysReceived}, probes ${ea.probes}`);
  assert.equal(stats.failed, 0);
  assert.equal(stats.illegalTransitions, 0);
  assert.ok(stats.endpoints.every((e) => e.illegalTransitions === 0));
  // Attempts per endpoint outlive its drained pool: each call a server ran was an attempt there,
  // and every attempt is a first try or a re-send.
  const attempts = servers.map((s) => endpoint(client, s.port).attempts);
  attempts.forEach((n, i) => assert.ok(n >= (ledgers[i] as string[]).length, `endpoint ${i}: ${n} attempts, ran ${(ledgers[i] as string[]).length}`));
  const sum = attempts.reduce((x, y) => x + y, 0);
  assert.ok(sum <= CALLS + stats.transparentRetries + stats.idempotentRetries, `${sum} attempts for ${CALLS} calls`);
});

test('rolling restart on the same ports: each of three servers closed in turn and a new process started on its port — 0 failed, none ran twice, every endpoint probed back to active', async (t) => {
  const first = await Promise.all([startServer(t, 0, 1), startServer(t, 0, 1), startServer(t, 0, 1)]);
  const client = createClient({ endpoints: first.map((s) => s.address), ejection: { initialMs: 20, maxMs: 200 } });
  t.after(() => client.close({ timeoutMs: 200 }));
  const ledgers: string[][] = [];
  const second: ServerChild[] = [];
  let stop = false;
  const running = (async () => {
    const results: LoadResult[] = [];
    for (let round = 0; !stop; round++) results.push(await load(client, `roll${round}`, 200, 32));
    return results;
  })();
  // Restart only once each has served: a server closed before the client ever connected is an
  // ejection (connection refused), not a drain.
  await eventually('every endpoint serving', () => (client.endpoints().every((e) => e.ready > 0) ? true : undefined));
  for (const old of first) {
    await old.close();
    ledgers.push(await old.ledger());
    second.push(await startServer(t, old.port, 1));
    await eventually(`:${old.port} back in rotation`, () => (endpoint(client, old.port).state === 'active' ? true : undefined), 5000);
  }
  stop = true;
  const results = await running;
  ledgers.push(...(await Promise.all(second.map((s) => s.ledger()))));
  const failed = results.flatMap((r) => r.failed.map((e) => e.message));
  const ok = results.reduce((n, r) => n + r.ok, 0);
  t.diagnostic(`${ok} calls answered across 3 restarts, ${failed.length} failed; transparent re-sends ${client.stats().transparentRetries}`);
  assert.deepEqual(failed, []);
  assert.deepEqual(runTwice(ledgers), []);
  assert.equal(ledgers.flat().length, ok);
  for (const s of second) {
    const e = endpoint(client, s.port);
    assert.equal(e.state, 'active');
    assert.equal(e.drains, 1, JSON.stringify(client.endpoints()));
  }
  assert.equal(client.stats().illegalTransitions, 0);
});

test('one endpoint, a new process on its port (SO_REUSEPORT) while the old one drains a 1 s call: calls go on to the new process at once, not after the old connections close', async (t) => {
  const SLOW_MS = 1000;
  const old = await startServer(t, 0, 1, '', true, SLOW_MS);
  const client = createClient({ endpoints: [old.address] });
  t.after(() => client.close({ timeoutMs: 200 }));
  interface Answer { id: string; pid: number; startedAt: number; endedAt: number }
  const answers: Answer[] = [];
  const failed: string[] = [];
  const timed = async (id: string): Promise<void> => {
    const startedAt = performance.now();
    try {
      const pid = Number((await client.call('work', Buffer.from(id))).toString());
      answers.push({ id, pid, startedAt, endedAt: performance.now() });
    } catch (e) {
      failed.push(`${id}: ${(e as Error).message}`);
    }
  };
  let running = true;
  let next = 0;
  const callers = Array.from({ length: 8 }, async () => {
    while (running) await timed(`fast-${next++}`);
  });
  await eventually('calls answered by the old process', () => (answers.length > 50 ? true : undefined));
  const slow = timed('slow-0');
  await eventually('the slow call running in the old process', async () => ((await old.ledger()).includes('slow-0') ? true : undefined));
  const fresh = await startServer(t, old.port, 1, '', true);
  const handoverAt = performance.now();
  const closed = old.close(); // GOAWAY(SHUTDOWN) now; done once the slow call is answered and the clients closed
  await slow;
  await closed;
  await eventually('the new process answering', () => (answers.some((a) => a.pid === fresh.pid) ? true : undefined), 5000);
  running = false;
  await Promise.all(callers);

  assert.deepEqual(failed, []);
  const slowAnswer = answers.find((a) => a.id === 'slow-0');
  assert.ok(slowAnswer !== undefined && slowAnswer.pid === old.pid, 'the slow call was answered by the old process');
  const byNew = answers.filter((a) => a.pid === fresh.pid);
  const beforeSlowEnded = byNew.filter((a) => a.endedAt < slowAnswer.endedAt).length;
  const fast = answers.filter((a) => a.id !== 'slow-0' && a.endedAt >= handoverAt);
  const gapMs = Math.max(...fast.map((a) => a.endedAt - a.startedAt));
  t.diagnostic(`across the handover: max fast-call latency ${gapMs.toFixed(1)} ms (slow call ${(slowAnswer.endedAt - slowAnswer.startedAt).toFixed(0)} ms); the new process answered ${beforeSlowEnded} calls while the old one still ran the slow call`);
  // Without a fresh connection while the old drains, no call could reach the new process before
  // the old pool emptied, which needs the slow call answered.
  assert.ok(beforeSlowEnded > 0, `the new process answered ${byNew.length} calls, none before the old one's slow call ended`);
  const ledgers = await Promise.all([old.ledger(), fresh.ledger()]);
  assert.deepEqual(runTwice(ledgers), [], 'no call ran twice');
  const e = endpoint(client, old.port);
  assert.equal(e.state, 'active');
  assert.equal(e.drains, 1);
  assert.equal(client.stats().illegalTransitions, 0);
});

test('SIGKILL of one of three mid-load: every failure says processed maybe and none ran twice (checked against a ledger written before each handler runs); the others take the rest', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tt-fleet-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = [0, 1, 2].map((i) => path.join(dir, `ledger-${i}`));
  const servers = await Promise.all(files.map((f) => startServer(t, 0, 3, f)));
  const client = createClient({ endpoints: servers.map((s) => s.address), ejection: { initialMs: 20, maxMs: 200 } });
  t.after(() => client.close({ timeoutMs: 200 }));
  const [a] = servers as [ServerChild];
  const CALLS = 2000;
  const r = await load(client, 'kill', CALLS, 48, (done) => {
    if (done === 500) process.kill(a.pid, 'SIGKILL');
  });
  const ran = new Map<string, number>();
  for (const f of files) {
    for (const id of readFileSync(f, 'utf8').split('\n')) if (id !== '') ran.set(id, (ran.get(id) ?? 0) + 1);
  }
  assert.ok(r.failed.length > 0, 'calls in flight on the killed server failed (none idempotent)');
  for (const [i, e] of r.failed.entries()) {
    const id = r.failedIds[i] as string;
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.code, 'CONNECTION_LOST', e.message);
    // 'maybe' is the truth whichever way it went: the ledger shows it ran 0 or 1 times.
    assert.equal(e.processed, 'maybe', e.message);
    assert.ok((ran.get(id) ?? 0) <= 1, `${id} ran ${ran.get(id)} times`);
  }
  assert.equal(r.ok + r.failed.length, CALLS);
  assert.deepEqual([...ran].filter(([, n]) => n > 1), [], 'nothing ran twice');
  const maybeRan = r.failedIds.filter((id) => ran.has(id)).length;
  t.diagnostic(`failed ${r.failed.length} (all CONNECTION_LOST, maybe; ${maybeRan} of them had run), ok ${r.ok}; endpoint a: ${endpoint(client, a.port).state}, ejections ${endpoint(client, a.port).ejections}`);
  assert.ok(r.failed.length < 100, `failures bounded by the calls in flight on a when it died: ${r.failed.length}`);
  const ea = endpoint(client, a.port);
  assert.ok(ea.state === 'ejected' || ea.state === 'probing', ea.state);
  assert.equal(ea.ejections, 1);
});

test('resolution changes: a user resolver that changes its answer moves the calls; the dropped endpoint drains and is removed; a bad answer keeps the list', async (t) => {
  const [a, b] = (await Promise.all([startServer(t, 0, 1), startServer(t, 0, 1)])) as [ServerChild, ServerChild];
  let answer: unknown = [a.address];
  const resolver = Object.assign(async () => answer as EndpointAddress[], { intervalMs: 30 });
  const client = createClient({ resolver });
  t.after(() => client.close({ timeoutMs: 200 }));

  const before = await load(client, 'before', 200, 8);
  assert.deepEqual(before.failed, []);
  assert.deepEqual([...before.byPid.keys()], [a.pid], 'only a is resolved');

  // The answer changes while calls run: a drains (its calls in flight finish), b takes over.
  let switched = false;
  const during = await load(client, 'during', 1500, 16, (done) => {
    if (done === 300) {
      answer = [b.address];
      switched = true;
    }
  });
  assert.ok(switched);
  assert.deepEqual(during.failed.map((e) => e.message), []);
  await eventually('a removed', () => (endpoint(client, a.port).state === 'removed' ? true : undefined));
  assert.equal(endpoint(client, b.port).state, 'active');
  assert.ok((during.byPid.get(b.pid) ?? 0) > 0, 'b answered after the change');

  const after = await load(client, 'after', 200, 8);
  assert.deepEqual([...after.byPid.keys()], [b.pid], 'only b after the change');

  // A bad answer is a failed resolution: counted, the list in use stays.
  const errorsBefore = client.stats().resolveErrors;
  answer = [{ host: '127.0.0.1', port: 0 }];
  await eventually('a failed resolution', () => (client.stats().resolveErrors > errorsBefore ? true : undefined));
  const still = await load(client, 'bad-answer', 100, 4);
  assert.deepEqual(still.failed, []);
  assert.deepEqual([...still.byPid.keys()], [b.pid]);

  const ledgers = await Promise.all([a.ledger(), b.ledger()]);
  assert.deepEqual(runTwice(ledgers), []);
  const stats = client.stats();
  assert.ok(stats.resolutions >= 2, `resolutions ${stats.resolutions}`);
  assert.equal(endpoint(client, a.port).drains, 1);
  assert.equal(stats.illegalTransitions, 0);
  await client.close();
  assert.deepEqual(client.endpoints().map((e) => e.state), ['removed', 'removed']);
  assert.equal(client.pool().open, 0);
});

test('ejection and probing back: a port with nothing listening is ejected, calls go to the live one; once a server listens there it is probed back into rotation', async (t) => {
  const live = await startServer(t);
  const port = await deadPort();
  const client = createClient({ endpoints: [live.address, { host: '127.0.0.1', port }], ejection: { initialMs: 20, maxMs: 80 } });
  t.after(() => client.close({ timeoutMs: 200 }));

  const first = await load(client, 'eject', 300, 8);
  assert.deepEqual(first.failed.map((e) => e.message), [], 'calls that met the dead port moved to the live one');
  assert.deepEqual([...first.byPid.keys()], [live.pid]);
  const dead = endpoint(client, port);
  assert.ok(dead.state === 'ejected' || dead.state === 'probing', dead.state);
  assert.equal(dead.ejections, 1, 'ejected once; later failures are failed probes');
  assert.ok(dead.connectFailures >= 1);
  await eventually('a failed probe', () => (endpoint(client, port).probesFailed >= 1 ? true : undefined));

  const late = await startServer(t, port);
  await eventually('the new server probed back in', () => (endpoint(client, port).state === 'active' ? true : undefined), 5000);
  const back = await load(client, 'back', 400, 16);
  assert.deepEqual(back.failed, []);
  assert.ok((back.byPid.get(late.pid) ?? 0) > 0, `the probed-back server got calls: ${JSON.stringify([...back.byPid])}`);
  const e = endpoint(client, port);
  assert.ok(e.probes >= 2 && e.probes === e.probesFailed + 1, `probes ${e.probes}, failed ${e.probesFailed}`);
  assert.equal(client.stats().illegalTransitions, 0);
});

test('every endpoint down: calls wait for one up to their deadline, waitForEndpointMs or maxQueue, then fail processed no; a server appearing serves the one still waiting', async (t) => {
  const port = await deadPort();
  const client = createClient({ endpoints: [{ host: '127.0.0.1', port }], waitForEndpointMs: 300, maxQueue: 2, ejection: { initialMs: 20, maxMs: 40 } });
  t.after(() => client.close({ timeoutMs: 200 }));

  await assert.rejects(client.call('x', Buffer.from('1')), (e: unknown) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, 'NO_ENDPOINT');
    assert.equal(e.processed, 'no');
    assert.equal(e.errno, 'ECONNREFUSED');
    return true;
  });
  await assert.rejects(client.call('x', Buffer.from('2'), { timeoutMs: 100 }), (e: unknown) => e instanceof RpcError && e.code === 'DEADLINE_EXCEEDED' && e.processed === 'no');
  assert.equal(client.stats().failed, 2);

  // A client that waits longer: two calls wait (maxQueue 2); a third is turned away at once; a
  // server appearing on the port is probed in and serves the two.
  const patient = createClient({ endpoints: [{ host: '127.0.0.1', port }], waitForEndpointMs: 20_000, maxQueue: 2, ejection: { initialMs: 20, maxMs: 40 } });
  t.after(() => patient.close({ timeoutMs: 200 }));
  const waiting = [patient.call('x', Buffer.from('3'), { timeoutMs: 20_000 }), patient.call('x', Buffer.from('4'))];
  for (const w of waiting) w.catch(() => undefined);
  await eventually('two calls waiting', () => (patient.pool().queued === 2 ? true : undefined));
  await assert.rejects(patient.call('x', Buffer.from('5')), (e: unknown) => e instanceof RpcError && e.code === 'QUEUE_FULL' && e.processed === 'no');
  const server = await startServer(t, port);
  const answers = await Promise.all(waiting);
  assert.deepEqual(answers.map((b) => Number(b.toString())), [server.pid, server.pid]);
  assert.deepEqual((await server.ledger()).sort(), ['3', '4']);
  const stats = patient.stats();
  assert.equal(stats.failed, 1);
  assert.equal(stats.succeeded, 2);
});

test("dnsResolver('localhost'): getaddrinfo's addresses become endpoints (an address nothing listens on is ejected), calls are answered", async (t) => {
  const server = await startServer(t);
  const client = createClient({ resolver: dnsResolver('localhost', server.port, { intervalMs: 1000 }) });
  t.after(() => client.close({ timeoutMs: 200 }));
  const r = await load(client, 'dns', 50, 4);
  assert.deepEqual(r.failed, []);
  assert.deepEqual([...r.byPid.keys()], [server.pid]);
  const eps = client.endpoints();
  t.diagnostic(eps.map((e) => `${e.host}:${e.port} ${e.state} ejections=${e.ejections}`).join('; '));
  assert.ok(eps.some((e) => e.host === '127.0.0.1' && e.state === 'active'), JSON.stringify(eps));
  // ::1, when /etc/hosts lists it, has nothing listening (the child binds 127.0.0.1 only).
  for (const e of eps) if (e.host === '::1') assert.notEqual(e.state, 'active');
  assert.equal(client.stats().resolutions, 1);
});

test('a resolver that fails before answering once: calls fail RESOLVE_FAILED, processed no, with its errno', async (t) => {
  const client = createClient({
    resolver: dnsResolver('nowhere.invalid', 1, {
      lookup: async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' });
      },
    }),
  });
  t.after(() => client.close({ timeoutMs: 100 }));
  await assert.rejects(client.call('x', Buffer.from('1')), (e: unknown) => e instanceof RpcError && e.code === 'RESOLVE_FAILED' && e.processed === 'no' && e.errno === 'ENOTFOUND');
  assert.equal(client.stats().resolveErrors, 1);
});

test('ejection backoff on the injected clock: probes wait backoffMs(ejection, n) exactly — 20 ms, then 40 ms — and the probe that finds a server lets the waiting call through', async (t) => {
  const port = await deadPort();
  const clock = new VirtualClock();
  // Draws in order: the pool's own connect backoff, then the fleet's ejection backoff (0: the
  // full ceiling), for the first failure and again for the failed probe.
  clock.draws.push(0.5, 0, 0.5, 0);
  const client = createClient({ endpoints: [{ host: '127.0.0.1', port }], clock, ejection: { initialMs: 20, maxMs: 80 } });
  t.after(() => client.close({ timeoutMs: 0 }));
  const call = client.call('x', Buffer.from('late'));
  call.catch(() => undefined);
  await eventually('ejected', () => (endpoint(client, port).state === 'ejected' ? true : undefined));
  // Timers under 1 s: the probe waits (connect timeouts and the call's wait are 10 s).
  const short = (): number[] => clock.requested.filter((ms) => ms < 1000);
  assert.deepEqual(short(), [20], `timers asked: ${clock.requested.join(', ')}`);
  await clock.advance(19);
  assert.equal(endpoint(client, port).probes, 0, 'no probe before the backoff is over');
  await clock.advance(1);
  await eventually('the first probe failed', () => (endpoint(client, port).probesFailed === 1 && endpoint(client, port).state === 'ejected' ? true : undefined));
  assert.deepEqual(short(), [20, 40], `timers asked: ${clock.requested.join(', ')}`);
  const server = await startServer(t, port);
  await clock.advance(40);
  assert.equal(Number((await call).toString()), server.pid);
  const e = endpoint(client, port);
  assert.deepEqual([e.state, e.ejections, e.probes, e.probesFailed], ['active', 1, 2, 1]);
});

test('a resolver that never answers is given connectTimeoutMs: the call fails RESOLVE_FAILED (ETIMEDOUT), processed no, and the next call asks again', async (t) => {
  let asked = 0;
  const client = createClient({
    resolver: () => {
      asked++;
      return new Promise<EndpointAddress[]>(() => undefined);
    },
    connectTimeoutMs: 100,
  });
  t.after(() => client.close({ timeoutMs: 100 }));
  await assert.rejects(client.call('x', Buffer.from('1')), (e: unknown) => e instanceof RpcError && e.code === 'RESOLVE_FAILED' && e.processed === 'no' && e.errno === 'ETIMEDOUT');
  assert.equal(asked, 1);
  await eventually('a second resolution', async () => {
    await client.call('x', Buffer.from('2')).catch(() => undefined);
    return asked >= 2 ? true : undefined;
  });
});

test('re-resolution after connect failures: the resolver (interval 60 s) is asked again about a second after its only endpoint refused, and its new answer serves the waiting call', async (t) => {
  const server = await startServer(t);
  const dead = await deadPort();
  const asked: number[] = [];
  const started = performance.now();
  const resolver = Object.assign(
    async () => {
      asked.push(Math.round(performance.now() - started));
      return asked.length === 1 ? [{ host: '127.0.0.1', port: dead }] : [server.address];
    },
    { intervalMs: 60_000 },
  );
  const client = createClient({ resolver, waitForEndpointMs: 10_000 });
  t.after(() => client.close({ timeoutMs: 200 }));
  const answer = await client.call('x', Buffer.from('moved'));
  assert.equal(Number(answer.toString()), server.pid);
  t.diagnostic(`resolver asked at ${asked.join(', ')} ms`);
  assert.equal(asked.length, 2, 'asked at the first call, then once after the refusal (not on the 60 s interval)');
  assert.ok((asked[1] as number) < 5000, `the second ask came after ${asked[1]} ms`);
  await eventually('the dead endpoint removed', () => (endpoint(client, dead).state === 'removed' ? true : undefined));
  assert.deepEqual(await server.ledger(), ['moved']);
});

test('a resolver whose addresses churn: the stats keep the current endpoints and the 64 most recently removed, not every one ever seen', async (t) => {
  let n = 0;
  const resolver = Object.assign(async () => [{ host: '127.0.0.1', port: 20_000 + (n++ % 20_000) }], { intervalMs: 1 });
  const client = createClient({ resolver, waitForEndpointMs: 50 });
  t.after(() => client.close({ timeoutMs: 100 }));
  await client.call('x', Buffer.from('start'), { timeoutMs: 20 }).catch(() => undefined);
  await eventually('100 resolutions', () => (client.stats().resolutions >= 100 ? true : undefined), 10_000);
  const eps = client.endpoints();
  assert.ok(eps.length <= 65, `${eps.length} endpoints listed`);
  assert.equal(eps.filter((e) => e.state === 'removed').length, 64);
  assert.ok(eps.filter((e) => e.state !== 'removed').length <= 2);
});

test('a server that accepts but never sends SETTINGS: the connect times out (connectTimeoutMs), the endpoint is ejected, calls go to the live one', async (t) => {
  const live = await startServer(t);
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const silentPort = (silent.address() as net.AddressInfo).port;
  const client = createClient({ endpoints: [{ host: '127.0.0.1', port: silentPort }, live.address], connectTimeoutMs: 200, ejection: { initialMs: 5000, maxMs: 5000 } });
  t.after(() => client.close({ timeoutMs: 100 }));
  const r = await load(client, 'silent', 100, 8);
  assert.deepEqual(r.failed.map((e) => e.message), []);
  assert.deepEqual([...r.byPid.keys()], [live.pid]);
  const e = endpoint(client, silentPort);
  assert.deepEqual([e.state, e.ejections], ['ejected', 1]);
  assert.ok(sockets.size >= 1, 'the silent server did accept the connection');
});
