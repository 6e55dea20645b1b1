// Issue 13: what an SRE found wrong with ss / doctor / exporter, each checked with real processes
// and sockets. Every child is killed by pid in finally/after; every namespace deleted.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createExporter, runDoctor, takeSnapshot, UNREADABLE, type DoctorReport, type DoctorSocket } from '../../src/index.js';
import {
  clientSideLeak,
  closingClient,
  forkSharingServer,
  kill,
  killAll,
  leakyServer,
  stalledServer,
  startNode,
  startNodeIn,
  stuckSender,
  until,
} from '../doctor/children.js';
import { parsePromText } from '../doctor/prom-text.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ENV = { ...process.env, NO_COLOR: '1' };
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: ENV });
const NO_STACK = /at .*\.js:\d+|EPIPE/;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const asNobody = (...args: string[]) => spawnSync(SETPRIV as string, [...NOBODY, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: ENV });
const notRootSkip = process.getuid?.() !== 0 ? 'needs root to drop to another user with setpriv' : SETPRIV === undefined ? 'setpriv (util-linux) is not installed' : false;

after(killAll);

/** Opens `n` loopback connections inside this process (both ends held here). */
async function loopbackPairs(n: number): Promise<{ port: number; close: () => Promise<void> }> {
  const held: net.Socket[] = [];
  const srv = net.createServer((s) => held.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  for (let i = 0; i < n; i++) held.push(await new Promise<net.Socket>((r) => { const c = net.connect(port, '127.0.0.1', () => r(c)); }));
  return {
    port,
    close: async () => {
      for (const s of held) s.resetAndDestroy();
      await new Promise((r) => srv.close(r));
    },
  };
}

describe('1. not root: an owner that cannot be read is "unreadable", never "no owner"', () => {
  it('accept-queue and never-accepted of a root listener; --json says "unreadable", not null', { skip: notRootSkip }, async () => {
    const server = await stalledServer(8);
    try {
      const port = server.ready.port as number;
      await closingClient(port, 2);
      await until([port], (s) => s.sockets.filter((x) => x.state === 'CLOSE_WAIT').length === 2);
      const j = asNobody('doctor', '--json', '--port', String(port));
      const report = JSON.parse(j.stdout) as DoctorReport;
      const q = report.findings.find((f) => f.id === 'accept-queue');
      assert.ok(q && q.id === 'accept-queue', report.findings.map((f) => f.id).join(', '));
      assert.equal(q.evidence.listenerOwner, UNREADABLE);
      assert.match(q.title, new RegExp(`listener 127\\.0\\.0\\.1:${port} \\(owner unreadable\\)`));
      const na = report.findings.find((f) => f.id === 'never-accepted');
      assert.ok(na && na.id === 'never-accepted');
      assert.equal(na.evidence.listenerOwner, UNREADABLE);
      for (const f of [q, na]) assert.doesNotMatch(`${f.title} ${f.advice}`, /\bno owner\)|\(no owner|The listening process is/, f.id);
      const listenerRow = na.sockets.find((s) => s.state === 'LISTEN');
      assert.equal(listenerRow?.owner, UNREADABLE, 'the row says unreadable too');
      // The queued CLOSE_WAITs are truly unowned (inode 0): null, not "unreadable".
      assert.ok(na.sockets.filter((s) => s.state === 'CLOSE_WAIT').every((s) => s.owner === null));

      const ss = asNobody('ss', '-l', '-p', '--json', '--port', String(port));
      const rows = (JSON.parse(ss.stdout) as { sockets: DoctorSocket[] }).sockets;
      assert.equal(rows[0]?.owner, UNREADABLE);
    } finally {
      await kill(server);
    }
  });

  it('fin-wait2-held whose CLOSE_WAIT peer is held by a root process: "owner is unreadable", not "no owner (never accepted)"', { skip: notRootSkip }, async () => {
    const server = await leakyServer('read-eof');
    const port = server.ready.port as number;
    const client = await startNode(
      `import net from 'node:net';
       const s = net.connect({ port: Number(process.env.PORT), host: '127.0.0.1', allowHalfOpen: true }, () => s.end('ping', () => console.log('{}')));
       process.on('SIGTERM', () => { s.resetAndDestroy(); setTimeout(() => process.exit(0), 20); });
       s.on('data', () => {});
       setInterval(() => {}, 1 << 30);`,
      { PORT: String(port) },
      [SETPRIV ?? 'setpriv', ...NOBODY],
    );
    try {
      await until([port], (s) => s.sockets.some((x) => x.state === 'FIN_WAIT2') && s.sockets.some((x) => x.state === 'CLOSE_WAIT'));
      const report = JSON.parse(asNobody('doctor', '--json', '--port', String(port)).stdout) as DoctorReport;
      const held = report.findings.find((f) => f.id === 'fin-wait2-held');
      assert.ok(held && held.id === 'fin-wait2-held', report.findings.map((f) => f.id).join(', '));
      assert.equal((held.evidence.process as { pid: number }).pid, client.pid);
      assert.equal(held.evidence.peersUnreadable, 1);
      assert.equal(held.evidence.peersWithoutOwner, 0);
      assert.doesNotMatch(held.title, /no owner/);
      assert.match(held.title, /held by a process whose owner is unreadable/);
    } finally {
      await kill(client);
      await kill(server);
    }
  });
});

describe('2. a reader that goes away ends the command quietly (exit 0, no EPIPE stack)', () => {
  /** Runs the CLI, closes its stdout after the first chunk, and returns how it ended. */
  async function closedEarly(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout.once('data', () => p.stdout.destroy());
    return new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  }

  it('ss -a --json | head, ss -a | head, doctor --watch | head', async () => {
    // Enough rows (3 000 sockets) that the output is much larger than a pipe's buffer, so a write
    // meets the closed end (with 300 the old code happened to finish writing first).
    const pairs = await loopbackPairs(1500);
    try {
      for (const args of [['ss', '-a', '--json'], ['ss', '-a', '-p'], ['doctor', '--watch', '0.2', '--count', '4', '--port', String(pairs.port)]]) {
        const r = await closedEarly(args);
        // ss exits 0; doctor --watch keeps its findings' exit code (0 or 1): a crash was 1 with a stack.
        if (args[0] === 'ss') assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code} ${r.signal}; stderr: ${r.stderr}`);
        else assert.ok(r.code === 0 || r.code === 1, `${args.join(' ')}: exit ${r.code} ${r.signal}`);
        assert.doesNotMatch(r.stderr, NO_STACK, args.join(' '));
      }
    } finally {
      await pairs.close();
    }
  });
});

describe('3, 4. input checked like iproute2 does: exit 2 and a reason', () => {
  const cases: [string[], RegExp][] = [
    [['ss', '--address', 'garbage'], /not an IP address or ip:port endpoint: "garbage"/],
    [['ss', '--address', '999.1.1.1'], /not an IP address or ip:port endpoint: "999\.1\.1\.1"/],
    [['ss', '--address', '127.0.0.1:99999'], /port out of range 0\.\.65535/],
    [['ss', '--address', ''], /empty address/],
    [['ss', '--address', '::1:18004'], /an IPv6 endpoint needs brackets: \[::1\]:80/],
    [['ss', '--port', '0'], /port 0 is not a port a connection uses/],
    [['doctor', '--port', '0'], /port 0 is not a port a connection uses/],
    [['doctor', '--root', '/nonexistent'], /--root "\/nonexistent": no \/nonexistent\/net\/tcp there/],
    [['exporter', '--host', ''], /empty host: it would bind every interface/],
    [['exporter', '--host', 'not an ip'], /not an IP address to bind/],
    [['trace', '--state', 'bogus'], /unknown state "bogus"/],
    [['trace', '--pid', '0'], /not a pid/],
  ];
  for (const [args, message] of cases) {
    it(args.map((a) => JSON.stringify(a)).join(' '), () => {
      const r = run(...args);
      assert.equal(r.status, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, NO_STACK);
    });
  }
  it('a valid bracketed endpoint and an IPv4-mapped address still match', async () => {
    const pairs = await loopbackPairs(1);
    try {
      const a = run('ss', '--json', '--address', `127.0.0.1:${pairs.port}`);
      const b = run('ss', '--json', '--address', `[::ffff:127.0.0.1]:${pairs.port}`);
      assert.equal(a.status, 0, a.stderr);
      assert.equal((JSON.parse(a.stdout) as { count: number }).count, 2);
      assert.equal((JSON.parse(b.stdout) as { count: number }).count, 2);
    } finally {
      await pairs.close();
    }
  });
});

describe('5. client-side CLOSE_WAIT: named by the service it points at, bounded metric labels', () => {
  it('one finding "connections it opened to 127.0.0.1:P"; the exporter labels remote, not the ephemeral port', async () => {
    const { server, client, port } = await clientSideLeak(4);
    try {
      const snap = await until([port], (s) => s.sockets.filter((x) => x.state === 'CLOSE_WAIT').length === 4);
      const ephemeral = snap.sockets.filter((x) => x.state === 'CLOSE_WAIT').map((x) => x.local.split(':')[1] as string);
      const report = JSON.parse(run('doctor', '--json', '--port', String(port)).stdout) as DoctorReport;
      const leaks = report.findings.filter((f) => f.id === 'close-wait-leak');
      assert.equal(leaks.length, 1);
      const [leak] = leaks;
      assert.ok(leak && leak.id === 'close-wait-leak');
      assert.equal(leak.evidence.process.pid, client.pid);
      assert.equal(leak.evidence.side, 'client');
      assert.deepEqual(leak.evidence.remotes, [`127.0.0.1:${port}`]);
      assert.deepEqual(leak.evidence.localPorts, []);
      assert.match(leak.title, new RegExp(`connections it opened to 127\\.0\\.0\\.1:${port}`));
      for (const p of ephemeral) assert.doesNotMatch(leak.title, new RegExp(`\\b${p}\\b`));

      const { registry } = createExporter({ topN: 10_000 });
      const fams = parsePromText(await registry.metrics());
      const ours = (fams.get('tcp_teardown_close_wait_sockets')?.samples ?? []).filter((s) => s.labels.remote === `127.0.0.1:${port}`);
      assert.deepEqual(ours.map((s) => [s.labels.command, s.labels.local_port, s.value]), [['node', '', 4]], 'one series for the four, no ephemeral port label');
    } finally {
      await kill(client);
      await kill(server);
    }
  });
});

describe('6. a socket shared by two processes (inherited descriptor)', () => {
  it('names both holders in the finding and its rows; the advice does not say the parent "sees EOF"', async () => {
    const server = await forkSharingServer();
    const port = server.ready.port as number;
    try {
      await closingClient(port);
      const snap = await until([port], (s) => s.sockets.some((x) => x.state === 'CLOSE_WAIT' && x.recvQ === 0 && (x.holders?.length ?? 0) === 2));
      const cw = snap.sockets.find((x) => x.state === 'CLOSE_WAIT');
      assert.equal(cw?.holders?.length, 2, JSON.stringify(cw));
      const childPid = cw?.holders?.map((h) => h.pid).find((p) => p !== server.pid) as number;
      const r = run('doctor', '--json', '--port', String(port));
      const leak = (JSON.parse(r.stdout) as DoctorReport).findings.find((f) => f.id === 'close-wait-leak');
      assert.ok(leak && leak.id === 'close-wait-leak');
      assert.equal(leak.evidence.shared, 1);
      assert.deepEqual(leak.evidence.alsoHeldBy.map((p) => p.pid), [childPid]);
      assert.doesNotMatch(leak.advice, /sees EOF/);
      assert.match(leak.advice, /every holder has closed its descriptor/);
      assert.match(leak.title, new RegExp(`node\\(${server.pid}\\) and node\\(${childPid}\\) hold 1 CLOSE_WAIT socket`));
      assert.deepEqual(leak.sockets[0]?.holders?.map((h) => h.pid), [server.pid, childPid].sort((a, b) => a - b));
      const text = run('doctor', '--port', String(port)).stdout;
      assert.match(text, new RegExp(`CLOSE-WAIT .*node,pid=${Math.min(server.pid, childPid)},fd=\\d+ node,pid=${Math.max(server.pid, childPid)},fd=3`), 'the finding\'s row shows every holder');
    } finally {
      await kill(server);
    }
  });
});

/** A loopback server that closes its end when the client does. */
async function closingServer(): Promise<{ srv: net.Server; port: number }> {
  const srv = net.createServer((s) => {
    s.on('data', () => {});
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, port: (srv.address() as net.AddressInfo).port };
}

/** One connection the client closes first, so its end (an ephemeral port) goes to TIME_WAIT. */
function clientClosesFirst(port: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.end());
    c.on('data', () => {});
    c.on('close', () => resolve());
  });
}

describe('7. TIME_WAIT advice reads net.ipv4.tcp_tw_reuse', () => {
  it('toward loopback: says reuse already applies when the kernel has 1 or 2, asks for 1 otherwise', async () => {
    const { srv, port } = await closingServer();
    try {
      // The client closes first, so its ends (ephemeral ports) go to TIME_WAIT.
      for (let i = 0; i < 20; i++) await clientClosesFirst(port);
      const report = await runDoctor({ ports: [port], owners: false, thresholds: { timeWaitInfo: 1e-6 } });
      const tw = report.findings.find((f) => f.id === 'time-wait-ports');
      assert.ok(tw && tw.id === 'time-wait-ports', report.findings.map((f) => f.id).join(', '));
      const reuse = Number(readFileSync('/proc/sys/net/ipv4/tcp_tw_reuse', 'utf8'));
      assert.equal(tw.evidence.tcpTwReuse, reuse);
      assert.equal(tw.evidence.reuseApplies, reuse === 1 || reuse === 2);
      if (reuse === 0) assert.match(tw.advice, /set net\.ipv4\.tcp_tw_reuse=1 \(it is 0\)/);
      else assert.match(tw.advice, new RegExp(`tcp_tw_reuse=${reuse} already lets connect\\(\\) reuse these ports`));
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});

describe('8. "exclude" alone starts from every state, as ss does', () => {
  it('ss exclude established keeps LISTEN, TIME_WAIT and the rest', async () => {
    const { srv, port } = await closingServer();
    const pairs: net.Socket[] = [];
    try {
      await clientClosesFirst(port);
      pairs.push(await new Promise<net.Socket>((r) => { const c = net.connect(port, '127.0.0.1', () => r(c)); }));
      const ours = JSON.parse(run('ss', 'exclude', 'established', '--json', '--port', String(port)).stdout) as { sockets: DoctorSocket[] };
      assert.deepEqual([...new Set(ours.sockets.map((s) => s.state))].sort(), ['LISTEN', 'TIME_WAIT']);
      const ssBin = ['/usr/bin/ss', '/bin/ss', '/usr/sbin/ss', '/sbin/ss'].find((p) => existsSync(p));
      if (ssBin !== undefined) {
        const theirs = execFileSync(ssBin, ['-tanH', 'exclude', 'established', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
        assert.equal(ours.sockets.length, theirs.length, `ss says:\n${theirs.join('\n')}`);
      }
    } finally {
      for (const s of pairs) s.resetAndDestroy();
      await new Promise((r) => srv.close(r));
    }
  });
});

describe('9. blind spots', () => {
  it('orphaned FIN_WAIT1 holding megabytes toward a peer that never reads: fin-wait1-send-q', async () => {
    const { receiver, port } = await stuckSender();
    try {
      const snap = await until([port], (s) => s.sockets.some((x) => x.state === 'FIN_WAIT1' && x.sendQ > 0));
      const fw1 = snap.sockets.find((x) => x.state === 'FIN_WAIT1');
      assert.ok(fw1 !== undefined && fw1.owner === null && fw1.inode === 0, `an orphan: ${JSON.stringify(fw1)}`);
      const report = await runDoctor({ ports: [port] });
      const f = report.findings.find((x) => x.id === 'fin-wait1-send-q');
      assert.ok(f && f.id === 'fin-wait1-send-q', report.findings.map((x) => x.id).join(', '));
      assert.equal(f.evidence.orphaned, 1);
      assert.equal(f.evidence.sendQBytes, fw1.sendQ);
      assert.equal(f.severity, fw1.sendQ >= 1 << 20 ? 'warning' : 'info');
      assert.match(f.title, new RegExp(`toward 127\\.0\\.0\\.1:${port}`));
    } finally {
      await kill(receiver);
    }
  });

  const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p));
  const nsSkip = process.getuid?.() !== 0 ? 'needs root to create a network namespace' : IP === undefined ? 'ip (iproute2) is not installed to create a namespace' : false;
  it('--all-namespaces: a leak inside another network namespace is found and named', { skip: nsSkip }, async () => {
    const ns = `tt13-${process.pid}`;
    execFileSync(IP as string, ['netns', 'add', ns]);
    try {
      execFileSync(IP as string, ['-n', ns, 'link', 'set', 'lo', 'up']);
      const server = await startNodeIn(
        ns,
        `import net from 'node:net';
         const held = [];
         const srv = net.createServer({ allowHalfOpen: true }, (s) => { held.push(s); s.on('data', () => {}); s.on('end', () => {}); });
         srv.listen(0, '127.0.0.1', () => {
           const c = net.connect(srv.address().port, '127.0.0.1', () => c.end('x', () => { c.destroy(); setTimeout(() => console.log(JSON.stringify({ port: srv.address().port })), 200); }));
         });
         process.on('SIGTERM', () => { for (const s of held) s.resetAndDestroy(); setTimeout(() => process.exit(0), 20); });`,
      );
      try {
        const port = server.ready.port as number;
        const here = (await takeSnapshot({ ports: [port], states: ['CLOSE_WAIT'] })).sockets.filter((s) => s.owner !== null && s.owner !== UNREADABLE && s.owner.pid === server.pid);
        assert.deepEqual(here, [], 'invisible from this namespace alone');
        const r = run('doctor', '--all-namespaces', '--json', '--port', String(port));
        const report = JSON.parse(r.stdout) as DoctorReport;
        const leak = report.findings.find((f) => f.id === 'close-wait-leak' && f.evidence.process.pid === server.pid);
        assert.ok(leak, `${report.findings.map((f) => `${f.id} ${f.netns}`).join('; ')}; ${r.stderr}`);
        assert.equal(leak.netns, ns);
        assert.match(leak.title, new RegExp(`^\\[${ns}\\] `));
        assert.equal(leak.sockets[0]?.netns, ns);
        assert.ok(report.namespaces?.some((n) => n.label === ns));
        const ss = JSON.parse(run('ss', '--all-namespaces', '-p', '--json', 'state', 'close-wait', '--port', String(port)).stdout) as { sockets: DoctorSocket[] };
        assert.ok(ss.sockets.some((s) => s.netns === ns && s.owner !== null && s.owner !== UNREADABLE && s.owner.pid === server.pid));
        const text = run('ss', '--all-namespaces', 'state', 'close-wait', '--port', String(port)).stdout;
        assert.match(text.split('\n')[0] ?? '', /^Netns\s+State/);
        assert.match(text, new RegExp(`^${ns}\\s+CLOSE-WAIT`, 'm'));
      } finally {
        await kill(server);
      }
    } finally {
      execFileSync(IP as string, ['netns', 'del', ns]);
    }
  });

  const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
  it('--watch on a terminal redraws in place (under a pseudo-terminal: script -qc)', { skip: SCRIPT === undefined ? 'script (util-linux) is not installed for a pseudo-terminal' : false }, async () => {
    const server = await leakyServer('read-eof');
    const port = server.ready.port as number;
    try {
      await closingClient(port, 3);
      const cmd = `stty rows 20 cols 100; ${process.execPath} ${CLI} doctor --watch 0.2 --count 3 --no-trace --port ${port}`;
      const r = spawnSync(SCRIPT as string, ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env: { ...ENV, TERM: 'xterm' } });
      const out = r.stdout;
      assert.ok(out.includes('\x1b[?1049h'), `enters the alternate screen: ${JSON.stringify(out.slice(0, 200))}`);
      const frames = out.split('\x1b[H').slice(1);
      assert.equal(frames.length, 3, 'one cursor-home per scan: each scan is drawn over the previous one');
      for (const f of frames.slice(0, 2)) {
        const lines = f.split('\x1b[?1049l')[0]?.split('\n') ?? [];
        assert.ok(lines.length <= 20, `a frame fits the 20-row terminal: ${lines.length} lines`);
        for (const l of lines) assert.ok(l.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r$/, '').length <= 100, `a line fits 100 columns: ${JSON.stringify(l)}`);
      }
      assert.ok(out.includes('\x1b[?1049l'), 'leaves the alternate screen');
      assert.match(out.split('\x1b[?1049l').at(-1) ?? '', /close-wait-leak/, 'and prints the last report where the command was typed');
    } finally {
      await kill(server);
    }
  });
});
