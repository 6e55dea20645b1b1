// teardown trace against live connections, and true ages for doctor --watch and the exporter:
// real sockets, a real tracefs instance; every child killed by pid and every instance checked gone.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { release } from 'node:os';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import type { DoctorReport } from '../../src/doctor/index.js';
import type { TraceLine, TraceReset, TraceTransition } from '../../src/doctor/trace.js';
import { ensureTracefs, openTcpTracer } from '../../src/trace/index.js';
import { closingClient, kill, killAll, leakyServer } from '../doctor/children.js';
import { parsePromText, valueOf } from '../doctor/prom-text.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ENV = { ...process.env, NO_COLOR: '1' };
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** Why these tests cannot run here, or false. */
function traceSkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root for tracefs';
  const t = openTcpTracer({ events: ['inet_sock_set_state'] });
  if (!t.available) return `tracefs not available: ${t.message}`;
  t.closeSync();
  return false;
}
const skip = traceSkip();

const started = new Set<ChildProcess>();
after(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await killAll();
});

/** Our tracefs instances of process `pid` still present. */
function instancesOf(pid: number): string[] {
  const root = ensureTracefs();
  if (!root.available) return [];
  return readdirSync(`${root.path}/instances`).filter((n) => n.startsWith(`tcp-teardown-${pid}-`));
}

/**
 * Starts the CLI and resolves once `ready` holds: a pattern on stderr (tracing…, serving…), or a
 * predicate over stdout and stderr.
 */
async function startCli(
  args: string[],
  ready: RegExp | ((out: string, err: string) => boolean),
): Promise<{ proc: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
  started.add(proc);
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const isReady = (): boolean => (ready instanceof RegExp ? ready.test(err) : ready(out, err));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready after 10 s: ${err}`)), 10_000);
    const check = (): void => {
      if (!isReady()) return;
      clearTimeout(timer);
      resolve();
    };
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      check();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      check();
    });
    void exited.then(() => reject(new Error(`exited before ready: ${err}`)));
  });
  return { proc, out: () => out, err: () => err, exited };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** packetdrill's tolerance: max(4 ms, 12.5 %). */
function near(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null, `${what}: no duration`);
  const tol = Math.max(4, expected * 0.125);
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual.toFixed(2)} ms, expected ${expected.toFixed(2)} ± ${tol.toFixed(2)}`);
}

describe('teardown trace', { skip }, () => {
  it('shows each transition in order with the time spent in the previous state, and the closing process', async () => {
    const port = await freePort();
    const t = await startCli(['trace', '--json', '--port', String(port)], /tracing \(tracefs instance/);
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', () => {});
      s.on('end', () => setTimeout(() => s.end(), 100)); // the server answers the FIN 100 ms later
    });
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    let establishedAt = 0;
    let endAt = 0;
    let localPort = 0;
    await new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        establishedAt = performance.now();
        localPort = c.localPort as number;
        setTimeout(() => {
          endAt = performance.now();
          c.end(); // FIN after 150 ms in ESTABLISHED
        }, 150);
      });
      c.on('data', () => {});
      c.on('close', () => resolve());
    });
    await new Promise((r) => srv.close(r));
    await sleep(300);
    t.proc.kill('SIGINT');
    assert.equal(await t.exited, 0, t.err());
    assert.deepEqual(instancesOf(t.proc.pid as number), [], 'the tracefs instance is removed on Ctrl+C');

    const lines = t.out().trim().split('\n').map((l) => JSON.parse(l) as TraceLine);
    const states = lines.filter((l): l is TraceTransition => l.kind === 'state');
    const client = states.filter((l) => l.local === `127.0.0.1:${localPort}` || (l.from === 'CLOSE' && l.to === 'SYN_SENT'));
    assert.deepEqual(
      client.map((l) => `${l.from}>${l.to}`),
      ['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>FIN_WAIT2', 'FIN_WAIT2>CLOSE'],
      JSON.stringify(states),
    );
    const byMove = (from: string, to: string, local: string): TraceTransition | undefined => states.find((l) => l.from === from && l.to === to && l.local === local);
    const fin = byMove('ESTABLISHED', 'FIN_WAIT1', `127.0.0.1:${localPort}`);
    near(fin?.inPreviousMs ?? null, endAt - establishedAt, 'client ESTABLISHED before end()');
    assert.equal(fin?.process?.pid, process.pid);
    assert.equal(fin?.process?.from, 'event', 'close()/shutdown() runs in the process: its pid is the event\'s');
    const fw2 = byMove('FIN_WAIT2', 'CLOSE', `127.0.0.1:${localPort}`);
    near(fw2?.inPreviousMs ?? null, 100, 'client FIN_WAIT2 until the server\'s FIN');
    const server = states.filter((l) => l.local === `127.0.0.1:${port}` && l.remote === `127.0.0.1:${localPort}`);
    assert.deepEqual(server.map((l) => `${l.from}>${l.to}`), ['LISTEN>SYN_RECV', 'SYN_RECV>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSE']);
    near(server.find((l) => l.from === 'CLOSE_WAIT')?.inPreviousMs ?? null, 100, 'server CLOSE_WAIT until its end()');
    for (let i = 1; i < lines.length; i++) assert.ok((lines[i] as TraceLine).epochMs >= (lines[i - 1] as TraceLine).epochMs - 0.1, 'in time order');
  });

  it('a close() with unread data: the RST with the kernel reason TCP_ABORT_ON_CLOSE, and the peer receiving it', async () => {
    const port = await freePort();
    const t = await startCli(['trace', '--json', '--port', String(port)], /tracing \(tracefs instance/);
    const srv = net.createServer({ pauseOnConnect: true }, (s) => setTimeout(() => s.destroy(), 100)); // never reads
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    let localPort = 0;
    await new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        localPort = c.localPort as number;
        c.write('unread');
      });
      c.on('error', () => resolve());
      c.on('close', () => resolve());
    });
    await new Promise((r) => srv.close(r));
    await sleep(300);
    t.proc.kill('SIGTERM');
    assert.equal(await t.exited, 0, t.err());
    const lines = t.out().trim().split('\n').map((l) => JSON.parse(l) as TraceLine);
    const sent = lines.find((l): l is TraceReset => l.kind === 'rst-sent' && l.local === `127.0.0.1:${port}`);
    assert.ok(sent, JSON.stringify(lines));
    const [major = 0, minor = 0] = release().split('.').map(Number);
    if (major > 6 || (major === 6 && minor >= 10)) {
      assert.equal(sent.reason, 'TCP_ABORT_ON_CLOSE');
      assert.match(sent.meaning ?? '', /unread data/);
    }
    assert.equal(sent.remote, `127.0.0.1:${localPort}`);
    assert.equal(sent.process?.pid, process.pid);
    const received = lines.find((l) => l.kind === 'rst-received' && l.local === `127.0.0.1:${localPort}`);
    assert.ok(received, 'the client received it');
    const dropped = lines.find((l) => l.kind === 'state' && l.local === `127.0.0.1:${localPort}` && l.to === 'CLOSE');
    assert.equal((dropped as TraceTransition | undefined)?.from, 'ESTABLISHED', 'the client went from ESTABLISHED straight to CLOSE');

    const text = spawnSync(process.execPath, [CLI, 'trace', '--duration', '0.3', '--port', String(port), '--state', 'close-wait'], { encoding: 'utf8', env: ENV });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^TIME\s+EVENT\s+LOCAL\s+REMOTE\s+OLDSTATE\s+-> NEWSTATE\s+MS\s+PROCESS\n/);
  });

  it('--state and --pid filter; a closed pipe ends it and removes the instance', async () => {
    const port = await freePort();
    const t = await startCli(['trace', '--json', '--port', String(port), '--state', 'fin-wait-1', '--pid', String(process.pid)], /tracing/);
    const srv = net.createServer((s) => {
      s.on('data', () => {});
      s.on('end', () => s.end());
    });
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    await new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end());
      c.on('data', () => {});
      c.on('close', () => resolve());
    });
    await new Promise((r) => srv.close(r));
    await sleep(300);
    t.proc.kill('SIGINT');
    await t.exited;
    const lines = t.out().trim().split('\n').map((l) => JSON.parse(l) as TraceTransition);
    assert.ok(lines.length >= 2, JSON.stringify(lines));
    for (const l of lines) {
      assert.ok(l.from === 'FIN_WAIT1' || l.to === 'FIN_WAIT1', JSON.stringify(l));
      assert.equal(l.process?.pid, process.pid);
    }

    const piped = spawn(process.execPath, [CLI, 'trace'], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    started.add(piped);
    let err = '';
    piped.stderr.on('data', (d: Buffer) => (err += d.toString()));
    piped.stdout.once('data', () => piped.stdout.destroy()); // the header comes first: close after it
    const pinger = setInterval(() => net.connect(port, '127.0.0.1').on('error', () => {}), 20); // events to write
    const code = await new Promise<number | null>((resolve) => piped.on('exit', resolve));
    clearInterval(pinger);
    assert.equal(code, 0, err);
    assert.doesNotMatch(err, /EPIPE|at .*\.js/);
    assert.deepEqual(instancesOf(piped.pid as number), []);
  });

  it('not root: a clear message and exit 1', { skip: SETPRIV === undefined ? 'setpriv (util-linux) is not installed' : false }, () => {
    const r = spawnSync(SETPRIV as string, ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'trace'], { encoding: 'utf8', env: ENV, timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^teardown trace: cannot trace TCP \(not-root\): /);
    assert.doesNotMatch(r.stderr, /at .*\.js/);
  });
});

describe('true ages from traced transitions', { skip }, () => {
  it('doctor --watch: a leak born while tracing has its exact age; one older than the tracer is "≥"', async () => {
    const old = await leakyServer('read-eof');
    const young = await leakyServer('read-eof');
    const oldPort = old.ready.port as number;
    const youngPort = young.ready.port as number;
    try {
      await closingClient(oldPort);
      // Ready at the first scan's line: the tracer is running by then; then the young leak is made.
      const w = await startCli(['doctor', '--watch', '0.5', '--count', '5', '--json', '--port', String(oldPort), '--port', String(youngPort)], (out) => out.includes('\n'));
      const bornAt = Date.now();
      await closingClient(youngPort);
      assert.equal(await w.exited, 1, w.err());
      const closedAfter = Date.now() - bornAt;
      const last = JSON.parse(w.out().trim().split('\n').at(-1) as string) as DoctorReport;
      assert.equal(last.watch?.agesFrom, 'trace', w.err());
      const ages = last.watch?.ages ?? {};
      const key = (port: number): string => Object.keys(ages).find((k) => k.startsWith(`CLOSE_WAIT 127.0.0.1:${port}>`)) as string;
      assert.ok(key(oldPort) && key(youngPort), JSON.stringify(ages));
      assert.ok(last.watch?.agesAtLeast.includes(key(oldPort)), 'older than the tracer: a lower bound');
      assert.ok(!last.watch?.agesAtLeast.includes(key(youngPort)), 'born while tracing: exact');
      const youngAge = ages[key(youngPort)] as number;
      assert.ok(youngAge > 0 && youngAge <= closedAfter + 50, `young leak ${youngAge} ms, at most ${closedAfter} ms old`);
      const leak = last.findings.find((f) => f.id === 'close-wait-leak' && f.evidence.process.pid === old.pid);
      assert.match(leak?.title ?? '', /the oldest in CLOSE_WAIT for ≥ \d/);
    } finally {
      await kill(old);
      await kill(young);
    }
  });

  it('exporter: close_wait_oldest_seconds counts from the transition, not from the first scrape', async () => {
    const e = await startCli(['exporter', '--port', '0'], /serving http/);
    const url = /serving (http:\/\/\S+)/.exec(e.err())?.[1] as string;
    const server = await leakyServer('read-eof');
    try {
      await closingClient(server.ready.port as number);
      await sleep(1500);
      const fams = parsePromText(await (await fetch(url)).text()); // the first scrape
      assert.equal(valueOf(fams, 'tcp_teardown_ages_from_trace'), 1, e.err());
      const oldest = valueOf(fams, 'tcp_teardown_close_wait_oldest_seconds') ?? 0;
      assert.ok(oldest >= 1.3, `the first scrape already knows the leak is ${oldest} s old (>= 1.3)`);
    } finally {
      await kill(server);
      e.proc.kill('SIGTERM');
      assert.equal(await e.exited, 0);
      assert.deepEqual(instancesOf(e.proc.pid as number), [], 'the exporter removed its tracefs instance');
    }
  });
});
