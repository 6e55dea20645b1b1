// Against the running kernel: real tracefs, a real network namespace, real child processes.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test, type TestContext } from 'node:test';

import { labTraceInstancesOf } from '../lab/helpers.js';
import { nodeInNetns, testNetns } from './netns.js';
import { ensureTracefs, openTcpTracer, sweepStaleInstances, writeFilter, type TcpTracer, type TcpTraceEvent, type TcpStateChangeEvent } from '../../src/trace/index.js';

const needsRoot: string | false = process.getuid?.() !== 0 ? 'needs root (tracefs, ip netns)' : false;
const TRACE_INDEX = fileURLToPath(new URL('../../src/trace/index.js', import.meta.url));

/** A tracer that t.after closes; fails the test when tracefs is unavailable as root. */
function tracer(t: TestContext, opts: Parameters<typeof openTcpTracer>[0] = {}): TcpTracer {
  const tr = openTcpTracer(opts);
  assert.ok(tr.available, `tracer unavailable: ${tr.available ? '' : tr.message}`);
  t.after(() => tr.closeSync());
  return tr;
}

/** What the child reports: its ports, and CLOCK_MONOTONIC (hrtime) / CLOCK_REALTIME around the connection. */
interface Report {
  pid: number;
  serverPort: number;
  clientPort: number;
  otherPort: number | null;
  beforeNs: string;
  afterNs: string;
  beforeMs: number;
  afterMs: number;
  clientError: string;
}

/**
 * The child, run inside the namespace: a server that never reads (pauseOnConnect), a client that
 * writes 5 bytes, then the server end closes with them unread (→ RST TCP_ABORT_ON_CLOSE). With
 * OTHER set, a second connection to another port, closed gracefully.
 */
const CHILD = `
import net from 'node:net';
import { once } from 'node:events';
const port = Number(process.env.PORT), other = Number(process.env.OTHER || 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const server = net.createServer({ pauseOnConnect: true });
server.listen(port, '127.0.0.1');
await once(server, 'listening');
const beforeNs = process.hrtime.bigint().toString(), beforeMs = Date.now();
const accepted = once(server, 'connection');
const c = net.connect(port, '127.0.0.1');
await once(c, 'connect');
const clientPort = c.localPort;
const [s] = await accepted;
c.write('hello');
await sleep(30);
const err = new Promise((r) => c.once('error', (e) => r(e.code)));
s.destroy();
const clientError = await err;
let otherPort = null;
if (other) {
  const o = net.createServer((x) => x.end());
  o.listen(other, '127.0.0.1');
  await once(o, 'listening');
  const oc = net.connect(other, '127.0.0.1');
  await once(oc, 'connect');
  oc.end();
  await once(oc, 'close');
  o.close();
  otherPort = other;
}
const afterNs = process.hrtime.bigint().toString(), afterMs = Date.now();
server.close();
console.log(JSON.stringify({ pid: process.pid, serverPort: port, clientPort, otherPort, beforeNs, afterNs, beforeMs, afterMs, clientError }));
setInterval(() => {}, 1000); // stays until the test kills it
`;

/** Runs the child in `ns`, killed by pid in t.after; resolves with its report. */
async function runChild(t: TestContext, ns: string, port: number, other = 0): Promise<Report> {
  const kid = nodeInNetns(t, ns, ['--input-type=module', '-e', CHILD], { ...process.env, PORT: String(port), OTHER: String(other) });
  const r = JSON.parse(await kid.line()) as Report;
  assert.equal(r.pid, kid.proc.pid);
  return r;
}

const ourInstances = (): string[] => labTraceInstancesOf(process.pid);

const randomPort = (): number => 20000 + Math.floor(Math.random() * 20000);

function clientStates(events: TcpTraceEvent[], r: Report): TcpStateChangeEvent[] {
  const client = `127.0.0.1:${r.clientPort}`;
  const server = `127.0.0.1:${r.serverPort}`;
  const est = events.find((e): e is TcpStateChangeEvent => e.kind === 'state' && e.local === client && e.to === 'ESTABLISHED');
  assert.ok(est, `no ESTABLISHED transition of ${client} among ${events.length} events`);
  // One struct sock; its local port is 0 until connect() binds it, after SYN_SENT.
  return events.filter(
    (e): e is TcpStateChangeEvent => e.kind === 'state' && e.skaddr === est.skaddr && e.remote === server && (e.local === client || e.local === '127.0.0.1:0'),
  );
}

describe('a live session', { skip: needsRoot }, () => {
  test('close() with unread data: transitions in order and in time, RST sent with its reason and received, ECONNRESET reported', async (t) => {
    const ns = testNetns(t).name;
    const port = randomPort();
    // Other work on this machine makes TCP events too (tens of thousands a second while
    // benchmarks run): the port filter keeps the buffer for ours, as the lab does.
    const tr = tracer(t, { ports: [[port, port]] });
    assert.equal(tr.clock, 'mono');
    assert.deepEqual(tr.missingEvents, []);
    const r = await runChild(t, ns, port);
    // No flush: a plain read() already returns the few events of a partly filled page.
    const events = tr.read();
    const server = `127.0.0.1:${r.serverPort}`;
    const client = `127.0.0.1:${r.clientPort}`;

    const mine = clientStates(events, r);
    assert.deepEqual(mine.map((e) => `${e.from}→${e.to}`), ['CLOSE→SYN_SENT', 'SYN_SENT→ESTABLISHED', 'ESTABLISHED→CLOSE']);
    const before = BigInt(r.beforeNs);
    const after = BigInt(r.afterNs);
    let last = before;
    for (const e of mine) {
      assert.ok(e.clockNs > last && e.clockNs < after, `${e.from}→${e.to} at ${e.clockNs} not within (${last}, ${after})`);
      last = e.clockNs;
      // epochMs is the same instant on the wall clock (Date.now() has ms resolution)
      assert.ok(e.epochMs >= r.beforeMs - 1 && e.epochMs <= r.afterMs + 1, `epochMs ${e.epochMs} not within [${r.beforeMs}, ${r.afterMs}]`);
    }
    // connect() runs in the child's own context: common_pid is the child
    assert.equal(mine[0]?.pid, r.pid);

    const sent = events.filter((e) => e.kind === 'reset-sent' && e.local === server && e.remote === client);
    assert.equal(sent.length, 1, 'one RST sent by the server end');
    assert.ok(sent[0]?.kind === 'reset-sent');
    assert.equal(sent[0].reason, 'TCP_ABORT_ON_CLOSE');
    const received = events.filter((e) => e.kind === 'reset-received' && e.local === client && e.remote === server);
    assert.equal(received.length, 1, 'one RST received by the client end');
    const reports = events.filter((e) => e.kind === 'error-report' && e.local === client);
    assert.equal(reports.length, 1);
    assert.ok(reports[0]?.kind === 'error-report');
    assert.equal(reports[0].errno, 'ECONNRESET');
    assert.equal(reports[0].errno, r.clientError);
    // On loopback the RST is delivered inside tcp_send_active_reset(): the peer's events come
    // before the sender's tcp_send_reset record.
    assert.ok(received[0] && received[0].clockNs <= sent[0].clockNs);
    const s = tr.stats;
    assert.ok(s.pages >= 1, `pages ${s.pages}`);
    assert.equal(s.events, events.length);
    assert.equal(s.lost, 0);
  });

  test('flush() is a barrier: the events are there without a prior read', async (t) => {
    const ns = testNetns(t).name;
    const port = randomPort();
    const tr = tracer(t, { events: ['inet_sock_set_state'], ports: [[port, port]] });
    const r = await runChild(t, ns, port);
    const events = await tr.flush();
    assert.deepEqual(clientStates(events, r).map((e) => e.to), ['SYN_SENT', 'ESTABLISHED', 'CLOSE']);
    assert.ok(events.every((e) => e.kind === 'state'));
    assert.deepEqual(tr.read(), []);
  });

  test('two sessions at once: each sees the events, each removes only its own instance', async (t) => {
    const ns = testNetns(t).name;
    const port = randomPort();
    const a = tracer(t, { ports: [[port, port]] });
    const b = tracer(t, { ports: [[port, port]] });
    assert.notEqual(a.instance, b.instance);
    const r = await runChild(t, ns, port);
    const ea = await a.flush();
    assert.equal(clientStates(ea, r).length, 3);
    a.closeSync();
    assert.equal(a.state, 'closed');
    assert.deepEqual(a.read(), []);
    assert.equal(existsSync(a.path), false);
    assert.equal(existsSync(b.path), true);
    const eb = await b.flush();
    assert.equal(clientStates(eb, r).length, 3, 'b still has its own copy of the events');
    await b.close();
    await b.close(); // idempotent
    b.closeSync();
    assert.deepEqual(ourInstances(), []);
  });

  test('a port filter excludes a connection on other ports (in the kernel where it can)', async (t) => {
    const ns = testNetns(t).name;
    const port = randomPort();
    const other = port + 1;
    const withResets = tracer(t, { ports: [[port, port]] });
    assert.equal(withResets.kernelFilter.inet_sock_set_state, true);
    assert.equal(withResets.kernelFilter.tcp_send_reset, false); // no port fields: userspace
    withResets.closeSync();
    // State changes only: tcp_send_reset, filtered in userspace, would count any other program's
    // RSTs on this machine in filteredOut.
    const tr = tracer(t, { events: ['inet_sock_set_state'], ports: [[port, port]] });
    const r = await runChild(t, ns, port, other);
    assert.equal(r.otherPort, other);
    const events = await tr.flush();
    assert.equal(clientStates(events, r).length, 3);
    const onOther = events.filter((e) => e.local?.endsWith(`:${other}`) || e.remote?.endsWith(`:${other}`));
    assert.deepEqual(onOther, []);
    // The kernel dropped the other connection's state changes: userspace saw none of them.
    assert.equal(tr.stats.filteredOut, 0);

    // With both ports in the range the same child's other connection is seen: the filter, not
    // the child, excluded it above.
    const ns2 = testNetns(t).name;
    const all = tracer(t, { ports: [[port, other]] });
    const r2 = await runChild(t, ns2, port, other);
    const ev2 = await all.flush();
    assert.ok(ev2.some((e) => e.kind === 'state' && e.local.endsWith(`:${r2.otherPort}`)));
  });

  test('a filter the kernel rejects reports false (the session then filters in userspace only)', (t) => {
    const tr = tracer(t, { events: ['tcp_send_reset'] });
    const file = `${tr.path}/events/tcp/tcp_send_reset/filter`;
    assert.equal(writeFilter(file, 'sport == 80'), false); // tcp_send_reset has no sport field
    assert.equal(writeFilter(file, 'state == 7'), true);
    assert.equal(writeFilter(file, '0'), true); // clears it
  });

  test('after close() no instance of this process remains; stale ones of dead pids are swept', async (t) => {
    const tr = tracer(t);
    const root = ensureTracefs();
    assert.ok(root.available);
    assert.ok(ourInstances().includes(tr.path));
    // A crashed run: a child opens a session and is SIGKILLed, leaving its instance behind.
    const code = `import('${TRACE_INDEX}').then((m) => { const t = m.openTcpTracer(); console.log(t.instance); setInterval(() => {}, 1000); });`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    });
    const [out] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    const stale = out.toString().trim();
    assert.match(stale, new RegExp(`^tcp-teardown-${child.pid}-1$`));
    process.kill(child.pid as number, 'SIGKILL');
    await once(child, 'exit');
    assert.ok(existsSync(`${root.path}/instances/${stale}`), 'SIGKILL left the instance');
    const swept = sweepStaleInstances();
    assert.ok(swept.includes(stale));
    assert.ok(!swept.includes(tr.instance), 'a live process keeps its instance');
    assert.equal(existsSync(`${root.path}/instances/${stale}`), false);
    tr.closeSync();
    assert.deepEqual(ourInstances(), []);
  });

  test('a process that exits without close() removes its instance (exit hook)', async () => {
    const code = `import('${TRACE_INDEX}').then((m) => { const t = m.openTcpTracer(); console.log(t.path); });`;
    const out = execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }).trim();
    assert.match(out, /\/instances\/tcp-teardown-\d+-1$/);
    assert.equal(existsSync(out), false);
  });

  test('bad options are a RangeError, not an environment answer', () => {
    assert.throws(() => openTcpTracer({ ports: [[10, 5]] }), RangeError);
    assert.throws(() => openTcpTracer({ ports: [[1, 70000]] }), RangeError);
    assert.throws(() => openTcpTracer({ bufferKb: 0 }), RangeError);
    assert.throws(() => openTcpTracer({ events: ['tcp_probe' as never] }), RangeError);
    assert.throws(() => openTcpTracer({ clock: 'local' as never }), RangeError);
  });
});

describe('without root or without a mount', { skip: needsRoot }, () => {
  test('an unprivileged process gets "unavailable: not-root", not a throw', () => {
    const code = `import('${TRACE_INDEX}').then((m) => { const t = m.openTcpTracer(); console.log(JSON.stringify({ available: t.available, reason: t.reason, message: t.message })); });`;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', code], { encoding: 'utf8' });
    const r = JSON.parse(out) as { available: boolean; reason: string; message: string };
    assert.equal(r.available, false);
    assert.equal(r.reason, 'not-root');
    assert.match(r.message, /EACCES|EPERM/);
  });

  test('tracefs unmounted (in a private mount namespace): the session mounts it itself', () => {
    const code = `import('${TRACE_INDEX}').then((m) => { const r = m.ensureTracefs(); const t = m.openTcpTracer(); console.log(JSON.stringify({ r, available: t.available })); t.closeSync(); });`;
    const script = `grep -q ' tracefs ' /proc/mounts && for m in $(awk '$3=="tracefs"{print $2}' /proc/mounts); do umount "$m"; done; grep -c ' tracefs ' /proc/mounts; exec "$0" -e "$1"`;
    const out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, code], { encoding: 'utf8' });
    const [count, json] = out.trim().split('\n');
    assert.equal(count, '0', 'no tracefs mount left in the namespace before the child ran');
    const got = JSON.parse(json as string) as { r: { available: boolean; mounted?: boolean; path?: string }; available: boolean };
    assert.deepEqual(got.r, { available: true, path: '/sys/kernel/tracing', mounted: true });
    assert.equal(got.available, true);
    // The host's mount was never touched.
    assert.ok(ensureTracefs().available);
  });
});
