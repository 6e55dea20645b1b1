// teardown ss / doctor / exporter as a user runs them: a real CLI process against real
// misbehaving processes. Every child is killed by pid in finally/after.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { DoctorReport } from '../../src/index.js';
import { closingClient, kill, killAll, leakyServer, repeatingClient, until } from '../doctor/children.js';
import { parsePromText, valueOf } from '../doctor/prom-text.js';

/** The pid of a process reference, or null for none / unreadable. */
function pidOf(p: unknown): number | null {
  return typeof p === 'object' && p !== null && 'pid' in p ? (p as { pid: number }).pid : null;
}

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
const NO_STACK = /at .*\.js:\d+/;

after(killAll);

/** A leaky server (read EOF, never close) with `n` closed connections on it. */
async function leak(n = 1) {
  const server = await leakyServer('read-eof');
  const port = server.ready.port as number;
  await closingClient(port, n);
  // Both ends settled: CLOSE_WAIT here, FIN_WAIT2 (not FIN_WAIT1, its FIN's ACK may be delayed) there.
  await until([port], (s) => s.sockets.filter((x) => x.state === 'CLOSE_WAIT' && x.owner !== null).length === n && s.sockets.filter((x) => x.state === 'FIN_WAIT2').length === n);
  return { server, port };
}

describe('usage errors exit 2 with a message, never a stack', () => {
  const cases: [string[], RegExp][] = [
    [['ss', 'state', 'bogus'], /unknown state "bogus"; known: all, connected/],
    [['ss', 'state', 'constructor'], /unknown state "constructor"; known: all, connected/],
    [['ss', 'nonsense'], /expected "state NAME" or "exclude NAME", got "nonsense"/],
    [['ss', 'state'], /without a name/],
    [['ss', '--port', '70000'], /not a port number: "70000"/],
    [['doctor', '--watch', '-1'], /--watch must be a positive number/],
    [['doctor', '--count', '2'], /--count needs --watch/],
    [['doctor', '--bogus'], /unknown option '--bogus'/],
    [['exporter', '--top', '0'], /--top must be a positive integer/],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), () => {
      const r = run(...args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, NO_STACK);
    });
  }
});

describe('teardown ss', () => {
  it('--owners state close-wait: ss columns, the owning pid, Recv-Q; --json keeps kernel state names', async () => {
    const { server, port } = await leak();
    try {
      const r = run('ss', '--owners', 'state', 'close-wait', '--port', String(port));
      assert.equal(r.status, 0, r.stderr);
      const [head, row, ...rest] = r.stdout.trimEnd().split('\n');
      assert.match(head ?? '', /^State\s+Recv-Q\s+Send-Q\s+Local Address:Port\s+Peer Address:Port\s+Process\s+Timer$/);
      assert.match(row ?? '', new RegExp(`^CLOSE-WAIT\\s+0\\s+0\\s+127\\.0\\.0\\.1:${port}\\s+127\\.0\\.0\\.1:\\d+\\s+node,pid=${server.pid},fd=\\d+$`));
      assert.deepEqual(rest, [], 'only the CLOSE_WAIT end: the state filter left the FIN_WAIT2 out');

      const j = run('ss', '--json', '-p', 'state', 'connected', '--port', String(port));
      const out = JSON.parse(j.stdout) as { count: number; sockets: { state: string; owner: { pid: number } | null }[]; source: string };
      assert.ok(out.source === 'netlink' || out.source === 'proc');
      assert.deepEqual(out.sockets.map((s) => s.state).sort(), ['CLOSE_WAIT', 'FIN_WAIT2']);
      assert.equal(out.sockets.find((s) => s.state === 'CLOSE_WAIT')?.owner?.pid, server.pid);
      assert.equal(out.sockets.find((s) => s.state === 'FIN_WAIT2')?.owner, null);

      const l = run('ss', '-l', '--address', '127.0.0.1', '--port', String(port));
      // Send-Q of a listener: its backlog over netlink (Node's default 511), 0 over /proc.
      assert.match(l.stdout, new RegExp(`LISTEN\\s+0\\s+(511|0)\\s+127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(l.stdout, /CLOSE-WAIT/);
      const none = run('ss', 'state', 'all', 'exclude', 'close-wait', 'exclude', 'listening', '--port', String(port));
      assert.match(none.stdout, /FIN-WAIT-2/);
      assert.doesNotMatch(none.stdout, /CLOSE-WAIT|LISTEN/);
    } finally {
      await kill(server);
    }
  });
});

describe('teardown doctor', () => {
  it('names the leak with its pid and seed claim, exits 1; --json has the same finding', async () => {
    const { server, port } = await leak(2);
    try {
      const r = run('doctor', '--port', String(port));
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stdout, /WARNING\s+close-wait-leak\s+\[seed 002-f\]/);
      assert.match(r.stdout, new RegExp(`node\\(${server.pid}\\) holds 2 CLOSE_WAIT sockets it never closed \\(port ${port}\\)`));
      assert.match(r.stdout, /do: node\(\d+\) sees EOF/);
      assert.match(r.stdout, /\(exit 1\)\n$/);
      assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colours when not a terminal');

      const j = run('doctor', '--json', '--port', String(port));
      assert.equal(j.status, 1);
      const report = JSON.parse(j.stdout) as DoctorReport;
      const leakFinding = report.findings.find((f) => f.id === 'close-wait-leak');
      assert.ok(leakFinding && leakFinding.id === 'close-wait-leak');
      assert.equal(leakFinding.evidence.process.pid, server.pid);
      assert.equal(report.exitCode, 1);
      assert.equal(report.states.CLOSE_WAIT, 2);
    } finally {
      await kill(server);
    }
  });

  it('nothing wrong on the ports asked about: exit 0', async () => {
    const quiet = net.createServer();
    await new Promise<void>((r) => quiet.listen(0, '127.0.0.1', r));
    try {
      const port = (quiet.address() as net.AddressInfo).port;
      const r = run('doctor', '--json', '--port', String(port));
      const report = JSON.parse(r.stdout) as DoctorReport;
      assert.deepEqual(report.findings.filter((f) => f.severity !== 'info'), [], JSON.stringify(report.findings));
      assert.equal(r.status, 0);
    } finally {
      await new Promise((r) => quiet.close(r));
    }
  });

  it('--watch: rescans, a CLOSE_WAIT count that only grows is reported as a leak, with ages', async () => {
    const server = await leakyServer('read-eof');
    const port = server.ready.port as number;
    const client = await repeatingClient(port, 150);
    try {
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [CLI, 'doctor', '--watch', '0.4', '--count', '4', '--json', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('exit', (status) => resolve({ status, stdout, stderr }));
      });
      assert.ok(r.stdout.trim() !== '', `no output; exit ${r.status}; stderr: ${r.stderr}`);
      const reports = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as DoctorReport);
      assert.equal(reports.length, 4, r.stderr);
      const last = reports[3] as DoctorReport;
      assert.equal(last.watch?.samples, 4);
      const series = last.watch?.closeWaitTotal ?? [];
      assert.ok(series.every((n, i) => i === 0 || n >= (series[i - 1] as number)) && (series[3] as number) > (series[0] as number), `growing: ${series.join(' ')}`);
      const growing = last.findings.find((f) => f.id === 'close-wait-growing');
      assert.ok(growing && growing.id === 'close-wait-growing', last.findings.map((f) => f.id).join(', '));
      assert.equal(pidOf(growing.evidence.owner), server.pid);
      const ages = Object.entries(last.watch?.ages ?? {}).filter(([k]) => k.startsWith('CLOSE_WAIT '));
      assert.ok(ages.some(([, ms]) => ms >= 1000), `the first CLOSE_WAITs have been seen for >= 1 s: ${JSON.stringify(ages.slice(0, 3))}`);
      const leakFinding = last.findings.find((f) => f.id === 'close-wait-leak');
      assert.ok(leakFinding && leakFinding.id === 'close-wait-leak' && (leakFinding.evidence.oldestSeenMs ?? 0) >= 1000);
      assert.equal(r.status, 1);
    } finally {
      await kill(client);
      await kill(server);
    }
  });
});

describe('teardown exporter', () => {
  it('serves parseable metrics on 127.0.0.1, then stops on SIGTERM with exit 0', async () => {
    const { server, port } = await leak();
    const exporter = spawn(process.execPath, [CLI, 'exporter', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = '';
        const timer = setTimeout(() => reject(new Error(`no URL: ${err}`)), 10_000);
        exporter.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /serving (http:\/\/\S+)/.exec(err);
          if (m) {
            clearTimeout(timer);
            resolve(m[1] as string);
          }
        });
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'binds loopback unless told otherwise');
      const fams = parsePromText(await (await fetch(url)).text());
      assert.ok((valueOf(fams, 'tcp_teardown_close_wait_sockets', { command: 'node', local_port: String(port), remote: '' }) ?? 0) >= 1 || valueOf(fams, 'tcp_teardown_close_wait_sockets', { command: 'other', local_port: 'other', remote: 'other' }) !== undefined);
      assert.equal(fams.get('tcp_teardown_listen_overflows_total')?.type, 'counter');
      const exited = new Promise<number | null>((r) => exporter.once('exit', (code) => r(code)));
      exporter.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      await kill(exporter);
      await kill(server);
    }
  });

  it('a port in use: exit 1 with the errno, no stack', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const r = run('exporter', '--port', String((busy.address() as net.AddressInfo).port));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
      assert.doesNotMatch(r.stderr, NO_STACK);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });
});

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const notRootSkip = process.getuid?.() !== 0 ? 'needs root to drop to another user with setpriv' : SETPRIV === undefined ? 'setpriv (util-linux) is not installed' : false;

describe('not root', () => {
  it('reports what it could not read and does not blame "no owner" on a socket a process holds', { skip: notRootSkip }, async () => {
    const { server, port } = await leak();
    try {
      const asNobody = (...args: string[]) =>
        spawnSync(SETPRIV as string, ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
      const j = asNobody('doctor', '--json', '--port', String(port));
      assert.equal(j.status, 1, j.stderr);
      const report = JSON.parse(j.stdout) as DoctorReport;
      assert.ok(report.uid !== 0);
      assert.ok(report.scanned.unreadablePids > 0);
      assert.ok(report.limits.some((l) => /could not read \/proc\/PID\/fd of \d+ process(es)? \(EACCES\/EPERM: not root\)/.test(l)), report.limits.join('\n'));
      assert.deepEqual(report.findings.filter((f) => f.id === 'close-wait-leak' || f.id === 'never-accepted'), []);
      const unknown = report.findings.find((f) => f.id === 'close-wait-owner-unknown');
      assert.ok(unknown && unknown.id === 'close-wait-owner-unknown');
      assert.match(unknown.title, /held by a process this user cannot read/);

      const h = asNobody('doctor', '--port', String(port));
      assert.match(h.stdout, /limit: could not read \/proc\/PID\/fd/);

      const ss = asNobody('ss', '-p', 'state', 'close-wait', '--port', String(port));
      assert.equal(ss.status, 0);
      assert.match(ss.stdout, /CLOSE-WAIT\s+0\s+0\s+\S+\s+\S+\s+\?/);
      assert.match(ss.stderr, /could not read \/proc\/PID\/fd of \d+ process/);
    } finally {
      await kill(server);
    }
  });
});
