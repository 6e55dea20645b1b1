// The findings are pure functions of a snapshot, counters and sysctls: here on hand-made
// observations (each the shape /proc/net/tcp gives) and on the captured /proc fixture.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  DEFAULT_THRESHOLDS,
  diagnose,
  DoctorWatch,
  exitCodeFor,
  readKernelState,
  takeSnapshot,
  type DiagnoseInput,
  type DoctorSysctls,
  type Finding,
  type ProcCounters,
  type DoctorSocket,
  type TcpState,
  UNREADABLE,
} from '../../src/index.js';
import { SocketsByState } from '../../src/doctor/rules/context.js';
import { FIXTURES } from '../proc/fixtures.js';

/** The pid of a process reference, or null for none / unreadable. */
function pidOf(p: unknown): number | null {
  return typeof p === 'object' && p !== null && 'pid' in p ? (p as { pid: number }).pid : null;
}

const SYSCTLS: DoctorSysctls = {
  ipLocalPortRange: [32768, 60999],
  tcpMaxOrphans: 131072,
  tcpFinTimeoutS: 60,
  somaxconn: 4096,
  tcpMaxSynBacklog: 2048,
  tcpSyncookies: 1,
  tcpTwReuse: 2,
  tcpOrphanRetries: 0,
};

let nextInode = 1000;
function sock(state: TcpState, local: string, remote: string, o: { recvQ?: number; sendQ?: number; pid?: number; command?: string; inode?: number; retransmits?: number } = {}): DoctorSocket {
  const inode = o.inode ?? (o.pid === undefined ? 0 : nextInode++);
  return {
    local,
    remote,
    state,
    recvQ: o.recvQ ?? 0,
    sendQ: o.sendQ ?? 0,
    owner: o.pid === undefined ? null : { pid: o.pid, command: o.command ?? 'app', fd: 3 },
    inode,
    timer: { kind: state === 'TIME_WAIT' ? 'time_wait' : 'none', remainingMs: state === 'TIME_WAIT' ? 59_000 : 0, retransmits: o.retransmits ?? 0 },
  };
}

function input(sockets: DoctorSocket[], more: Partial<DiagnoseInput> = {}): DiagnoseInput {
  return { sockets, ownersScanned: true, unreadablePids: 0, counters: null, sockstat: null, sysctls: SYSCTLS, ...more };
}

function only<I extends Finding['id']>(findings: Finding[], id: I): Extract<Finding, { id: I }>[] {
  return findings.filter((f): f is Extract<Finding, { id: I }> => f.id === id);
}

describe('CLOSE_WAIT', () => {
  it('held by a process, Recv-Q >= 1: the process never read the EOF (002-f)', () => {
    const f = diagnose(input([sock('LISTEN', '0.0.0.0:8080', '0.0.0.0:0', { pid: 10 }), sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:50000', { recvQ: 5, pid: 10, command: 'api' })]));
    const [leak] = only(f, 'close-wait-leak');
    assert.ok(leak);
    assert.equal(leak.claim, '002-f');
    assert.equal(leak.severity, 'warning');
    assert.deepEqual(leak.evidence, {
      process: { pid: 10, command: 'api' },
      side: 'server',
      count: 1,
      eofUnread: 1,
      eofReadNotClosed: 0,
      localPorts: [8080],
      remotes: [],
      recvQBytes: 5,
      peers: [],
      shared: 0,
      alsoHeldBy: [],
      oldestSeenMs: null,
    });
    assert.match(leak.title, /^api\(10\) holds 1 CLOSE_WAIT socket it never closed \(port 8080\): .*the EOF was never read/);
    assert.match(leak.advice, /stopped reading/);
    assert.equal(only(f, 'never-accepted').length, 0);
  });

  it('held by a process, Recv-Q 0: it read the EOF and never closed', () => {
    const f = diagnose(input([sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:50000', { pid: 10 }), sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:50001', { pid: 10, recvQ: 1 })]));
    const [leak] = only(f, 'close-wait-leak');
    assert.equal(leak?.evidence.eofReadNotClosed, 1);
    assert.equal(leak?.evidence.eofUnread, 1);
    assert.match(leak?.title ?? '', /1 with Recv-Q >= 1 .* 1 with Recv-Q 0/);
  });

  it('a socket shared after fork(): every holder is named, each must close it (003-f)', () => {
    // The worker read the EOF (Recv-Q 0) and closed its copy; the parent never read: the advice
    // must not say the parent "sees EOF", and must name both.
    const s = { ...sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:50000', { pid: 10, inode: 777 }), holders: [{ pid: 10, command: 'app', fd: 3 }, { pid: 11, command: 'worker', fd: 7 }] };
    const alone = sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:50001', { pid: 10, inode: 778 });
    const f = diagnose(input([s, alone]));
    const leaks = only(f, 'close-wait-leak');
    assert.equal(leaks.length, 2, 'the shared socket is its own group, apart from the one app holds alone');
    const shared = leaks.find((l) => l.evidence.shared > 0);
    assert.deepEqual(shared?.evidence.alsoHeldBy, [{ pid: 11, command: 'worker' }]);
    assert.match(shared?.title ?? '', /^app\(10\) and worker\(11\) hold 1 CLOSE_WAIT socket they never closed .*shared by 2 processes: every holder must close it \(003-f\)/);
    assert.doesNotMatch(shared?.advice ?? '', /sees EOF/);
    assert.match(shared?.advice ?? '', /app\(10\), worker\(11\) all hold these sockets .* every holder has closed/);
    assert.deepEqual(shared?.sockets[0]?.holders?.map((h) => h.pid), [10, 11], 'the rows keep every holder');
  });

  it('one finding per process', () => {
    const f = diagnose(input([sock('CLOSE_WAIT', '10.0.0.1:1', '10.0.0.9:2', { pid: 10 }), sock('CLOSE_WAIT', '10.0.0.1:3', '10.0.0.9:4', { pid: 11 }), sock('CLOSE_WAIT', '10.0.0.1:5', '10.0.0.9:6', { pid: 10 })]));
    assert.deepEqual(only(f, 'close-wait-leak').map((x) => [x.evidence.process.pid, x.evidence.count]), [[10, 2], [11, 1]]);
  });

  it('no file holds it (inode 0) on a listening port: never accepted, the listener owner named (001-c)', () => {
    const f = diagnose(
      input([
        sock('LISTEN', '127.0.0.1:3000', '0.0.0.0:0', { recvQ: 2, pid: 42, command: 'server' }),
        sock('CLOSE_WAIT', '127.0.0.1:3000', '127.0.0.1:40000', { recvQ: 5 }),
        sock('ESTABLISHED', '127.0.0.1:3000', '127.0.0.1:40002'),
        sock('FIN_WAIT2', '127.0.0.1:40000', '127.0.0.1:3000'),
      ]),
    );
    assert.equal(only(f, 'close-wait-leak').length, 0);
    const [na] = only(f, 'never-accepted');
    assert.ok(na);
    assert.equal(na.claim, '001-c');
    assert.equal(na.evidence.listener, '127.0.0.1:3000');
    assert.deepEqual(na.evidence.listenerOwner, { pid: 42, command: 'server' });
    assert.equal(na.evidence.acceptQueue, 2);
    assert.equal(na.evidence.waitingEstablished, 1);
    assert.equal(na.evidence.backlog, null, '/proc/net/tcp does not show a backlog');
    assert.deepEqual(na.evidence.recvQ, [5]);
    assert.match(na.title, /listener 127\.0\.0\.1:3000 \(server\(42\)\) never accepted 1 connection .*no owner, Recv-Q 5; accept queue 2 \(backlog unknown/);
    // The pair: FIN_WAIT2 orphan on the client side, CLOSE_WAIT nobody's.
    const [pair] = only(f, 'teardown-pair');
    assert.equal(pair?.evidence.finWait2, null);
    assert.equal(pair?.evidence.closeWait, null);
    assert.match(pair?.title ?? '', /CLOSE_WAIT end held by nobody \(never accepted\)/);
  });

  it('matches a dual-stack listener to an IPv4-mapped connection, and a wildcard listener', () => {
    const f = diagnose(
      input([
        sock('LISTEN', '[::]:4001', '[::]:0', { pid: 7 }),
        sock('LISTEN', '0.0.0.0:4002', '0.0.0.0:0', { pid: 8 }),
        sock('CLOSE_WAIT', '[::ffff:127.0.0.1]:4001', '[::ffff:127.0.0.1]:50000', { recvQ: 1 }),
        sock('CLOSE_WAIT', '192.168.1.5:4002', '192.168.1.9:50000', { recvQ: 1 }),
      ]),
    );
    assert.deepEqual(only(f, 'never-accepted').map((x) => [x.evidence.listener, pidOf(x.evidence.listenerOwner)]), [['[::]:4001', 7], ['0.0.0.0:4002', 8]]);
  });

  it('a file holds it but no process could be read: owner unknown, says why', () => {
    const f = diagnose(input([sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:50000', { inode: 555, recvQ: 1 })], { unreadablePids: 3 }));
    const [u] = only(f, 'close-wait-owner-unknown');
    assert.ok(u);
    assert.equal(u.evidence.unreadablePids, 3);
    assert.match(u.title, /cannot read \(3 processes unreadable\)/);
    assert.match(u.advice, /root/);
    assert.equal(only(f, 'never-accepted').length, 0, 'inode != 0: it was accepted');
  });

  it('with a watch: the age of the oldest CLOSE_WAIT, and a count that only grows is a leak', () => {
    const w = new DoctorWatch();
    const a = sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:1', { pid: 10 });
    const b = sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:2', { pid: 10 });
    const c = sock('CLOSE_WAIT', '10.0.0.1:8080', '10.0.0.9:3', { pid: 10 });
    w.update({ atMs: 0, sockets: [a], counters: null });
    w.update({ atMs: 2000, sockets: [a, b], counters: null });
    const view = w.update({ atMs: 4000, sockets: [a, b, c], counters: null });
    const f = diagnose(input([a, b, c], { watch: view }));
    assert.equal(only(f, 'close-wait-leak')[0]?.evidence.oldestSeenMs, 4000);
    const [g] = only(f, 'close-wait-growing');
    assert.ok(g);
    assert.deepEqual(g.evidence.series, [1, 2, 3]);
    assert.deepEqual(g.evidence.owner, { pid: 10, command: 'app' });
    assert.match(g.title, /1 → 2 → 3 over 4\.0 s: a leak/);
  });
});

describe('FIN_WAIT2', () => {
  it('held by a process and paired with the CLOSE_WAIT of another process on this machine (004-j, 004-d)', () => {
    const f = diagnose(input([sock('FIN_WAIT2', '127.0.0.1:50000', '127.0.0.1:6379', { pid: 300, command: 'client' }), sock('CLOSE_WAIT', '127.0.0.1:6379', '127.0.0.1:50000', { pid: 400, command: 'server' })]));
    const [held] = only(f, 'fin-wait2-held');
    assert.deepEqual(held?.evidence.process, { pid: 300, command: 'client' });
    assert.deepEqual(held?.evidence.peers, [{ pid: 400, command: 'server' }]);
    assert.equal(held?.claim, '004-j');
    assert.deepEqual(only(f, 'close-wait-leak')[0]?.evidence.peers, [{ pid: 300, command: 'client' }]);
    const [pair] = only(f, 'teardown-pair');
    assert.deepEqual(pair?.evidence, {
      finWait2: { pid: 300, command: 'client' },
      closeWait: { pid: 400, command: 'server' },
      count: 1,
      connections: [{ finWait2: '127.0.0.1:50000', closeWait: '127.0.0.1:6379' }],
    });
    assert.equal(pair?.sockets.length, 2);
  });

  it('orphans (inode 0) are info, bounded by tcp_fin_timeout', () => {
    const o = { ...sock('FIN_WAIT2', '10.0.0.1:50000', '10.0.0.2:80'), timer: { kind: 'time_wait' as const, remainingMs: 41_000, retransmits: 0 } };
    const f = diagnose(input([o]));
    const [orph] = only(f, 'fin-wait2-orphans');
    assert.equal(orph?.severity, 'info');
    assert.deepEqual(orph?.evidence, { count: 1, finTimeoutS: 60, longestRemainingMs: 41_000, topRemotes: [{ remote: '10.0.0.2:80', count: 1 }] });
    assert.equal(only(f, 'fin-wait2-held').length, 0);
    assert.equal(exitCodeFor(f), 0);
  });
});

describe('TIME_WAIT against the ephemeral port range', () => {
  const range: DoctorSysctls = { ...SYSCTLS, ipLocalPortRange: [1000, 1099] };
  const tw = (n: number, remote = '10.0.0.5:5432', from = 1000) => Array.from({ length: n }, (_, i) => sock('TIME_WAIT', `10.0.0.1:${from + i}`, remote));

  it('per remote endpoint: info, warning and critical by the share of the range', () => {
    const cases: [number, string | undefined][] = [[5, undefined], [10, 'info'], [60, 'warning'], [95, 'critical']];
    for (const [n, severity] of cases) {
      const [f] = only(diagnose(input(tw(n), { sysctls: range })), 'time-wait-ports');
      assert.equal(f?.severity, severity, `${n} TIME_WAIT of 100 ports`);
    }
    const [f] = only(diagnose(input(tw(60), { sysctls: range })), 'time-wait-ports');
    assert.deepEqual({ ...f?.evidence }, { localAddress: '10.0.0.1', remote: '10.0.0.5:5432', count: 60, portRange: [1000, 1099], ephemeralPorts: 100, ratio: 0.6, tcpTwReuse: 2, reuseApplies: false });
    assert.match(f?.advice ?? '', /tcp_tw_reuse=1/);
    assert.equal(f?.sockets.length, DEFAULT_THRESHOLDS.maxSocketsPerFinding);
  });

  it('the advice reads tcp_tw_reuse: 2 already reuses toward loopback, 1 toward anyone, 0 never', () => {
    const twTo = (remote: string): DoctorSocket[] => Array.from({ length: 60 }, (_, i) => sock('TIME_WAIT', `127.0.0.1:${1000 + i}`, remote));
    const table: [remote: string, reuse: number, applies: boolean, advice: RegExp][] = [
      ['127.0.0.1:16379', 2, true, /tcp_tw_reuse=2 already lets connect\(\) reuse these ports \(loopback\)/],
      ['[::1]:16379', 2, true, /already lets connect\(\) reuse/],
      ['10.0.0.5:5432', 2, false, /set net\.ipv4\.tcp_tw_reuse=1 \(it is 2: reuse toward loopback only/],
      ['10.0.0.5:5432', 1, true, /tcp_tw_reuse=1 already lets connect\(\) reuse these ports once/],
      ['127.0.0.1:16379', 0, false, /set net\.ipv4\.tcp_tw_reuse=1 \(it is 0\)/],
    ];
    for (const [remote, reuse, applies, advice] of table) {
      const [f] = only(diagnose(input(twTo(remote), { sysctls: { ...SYSCTLS, ipLocalPortRange: [1000, 1099], tcpTwReuse: reuse } })), 'time-wait-ports');
      assert.equal(f?.evidence.reuseApplies, applies, `${remote} reuse ${reuse}`);
      assert.match(f?.advice ?? '', advice, `${remote} reuse ${reuse}`);
      if (applies) assert.doesNotMatch(f?.advice ?? '', /set net\.ipv4\.tcp_tw_reuse/);
    }
  });

  it('counts only ports of the range (our connect()s), and each remote endpoint apart', () => {
    const server = Array.from({ length: 80 }, (_, i) => sock('TIME_WAIT', '10.0.0.1:80', `10.0.0.7:${2000 + i}`));
    const f = only(diagnose(input([...server, ...tw(30, '10.0.0.5:5432'), ...tw(30, '10.0.0.6:5432', 1030)], { sysctls: range })), 'time-wait-ports');
    assert.deepEqual(f.map((x) => [x.evidence.remote, x.evidence.count]), [['10.0.0.5:5432', 30], ['10.0.0.6:5432', 30]]);
  });

  it('no range readable: no judgement', () => {
    assert.equal(only(diagnose(input(tw(100), { sysctls: { ...SYSCTLS, ipLocalPortRange: null } })), 'time-wait-ports').length, 0);
  });
});

describe('SYN_RECV, orphans, counters', () => {
  it('SYN_RECV on one listener: warning from the threshold, critical at tcp_max_syn_backlog', () => {
    const syn = (n: number) => Array.from({ length: n }, (_, i) => sock('SYN_RECV', '10.0.0.1:443', `198.51.100.${i % 3}:${3000 + i}`, { retransmits: i % 2 }));
    assert.equal(only(diagnose(input(syn(127))), 'syn-recv-flood').length, 0);
    const [w] = only(diagnose(input(syn(130))), 'syn-recv-flood');
    assert.equal(w?.severity, 'warning');
    assert.equal(w?.evidence.retransmitted, 65);
    assert.deepEqual(w?.evidence.topRemotes[0], { address: '198.51.100.0', count: 44 });
    const [c] = only(diagnose(input(syn(130), { sysctls: { ...SYSCTLS, tcpMaxSynBacklog: 128 } })), 'syn-recv-flood');
    assert.equal(c?.severity, 'critical');
  });

  it('orphans against tcp_max_orphans', () => {
    const sockstat: ProcCounters = { TCP: { inuse: 10, orphan: 60, tw: 0, alloc: 10, mem: 1 } };
    const f = diagnose(input([sock('FIN_WAIT1', '10.0.0.1:5000', '10.0.0.2:80'), sock('LAST_ACK', '10.0.0.1:80', '10.0.0.3:5000')], { sockstat, sysctls: { ...SYSCTLS, tcpMaxOrphans: 100 } }));
    const [o] = only(f, 'orphans');
    assert.equal(o?.severity, 'warning');
    assert.deepEqual(o?.evidence, { orphans: 60, tcpMaxOrphans: 100, ratio: 0.6, byState: { FIN_WAIT1: 1, LAST_ACK: 1 } });
    assert.equal(only(diagnose(input([], { sockstat, sysctls: { ...SYSCTLS, tcpMaxOrphans: 1000 } })), 'orphans').length, 0);
  });

  it('kernel counters: info since boot, warning when a bad one rises during a watch', () => {
    const c = (overflows: number, rsts: number): ProcCounters => ({ TcpExt: { ListenOverflows: overflows, ListenDrops: overflows, TCPAbortOnData: 0 }, Tcp: { OutRsts: rsts } });
    const once = diagnose(input([], { counters: c(7, 3) }));
    assert.deepEqual(once.map((f) => [f.id, f.severity]), [['listen-overflows', 'info'], ['resets-and-aborts', 'info']]);
    assert.equal(exitCodeFor(once), 0);
    const [lo] = only(once, 'listen-overflows');
    assert.deepEqual(lo?.evidence.sinceBoot, { 'TcpExt.ListenOverflows': 7, 'TcpExt.ListenDrops': 7 });

    const w = new DoctorWatch();
    w.update({ atMs: 0, sockets: [], counters: c(7, 3) });
    const view = w.update({ atMs: 2000, sockets: [], counters: c(11, 9) });
    const watched = diagnose(input([], { counters: c(11, 9), watch: view }));
    const [lo2] = only(watched, 'listen-overflows');
    assert.equal(lo2?.severity, 'warning');
    assert.deepEqual(lo2?.evidence.perSecond, { 'TcpExt.ListenOverflows': 2, 'TcpExt.ListenDrops': 2 });
    assert.deepEqual(lo2?.evidence.duringWatch, { 'TcpExt.ListenOverflows': 4, 'TcpExt.ListenDrops': 4 });
    assert.match(lo2?.title ?? '', /rising now: ListenOverflows \+4, ListenDrops \+4 in 2\.0 s/);
    const [rst] = only(watched, 'resets-and-aborts');
    assert.equal(rst?.severity, 'info', 'OutRsts rising is traffic, not a fault by itself');
    assert.equal(exitCodeFor(watched), 1);
  });

  it('worst first, and exit 1 only for warning or worse', () => {
    const f = diagnose(
      input(
        [sock('FIN_WAIT2', '10.0.0.1:50000', '10.0.0.2:80'), ...Array.from({ length: 130 }, (_, i) => sock('SYN_RECV', '10.0.0.1:443', `198.51.100.1:${3000 + i}`)), sock('CLOSE_WAIT', '10.0.0.1:1', '10.0.0.2:2', { pid: 5 })],
        { sysctls: { ...SYSCTLS, tcpMaxSynBacklog: 100 } },
      ),
    );
    assert.deepEqual(f.map((x) => x.severity), ['critical', 'warning', 'info']);
    assert.equal(exitCodeFor(f), 1);
    assert.equal(exitCodeFor([]), 0);
  });

  it('a healthy table has no findings', () => {
    const f = diagnose(input([sock('LISTEN', '0.0.0.0:80', '0.0.0.0:0', { pid: 1 }), sock('ESTABLISHED', '10.0.0.1:80', '10.0.0.2:5000', { pid: 1 }), sock('TIME_WAIT', '10.0.0.1:40000', '10.0.0.3:443')]));
    assert.deepEqual(f, []);
  });
});

describe('the captured /proc fixture (test/fixtures/proc/basic)', () => {
  it('reads it through the snapshot adapter and finds the pair, the orphans and the accept queue', async () => {
    const root = `${FIXTURES}basic`;
    const snap = await takeSnapshot({ root, owners: false });
    const kernel = await readKernelState({ root });
    // The fixture has net/ but no sys/: every sysctl is reported unreadable, nothing throws.
    assert.ok(kernel.counters !== null && kernel.sockstat !== null);
    assert.equal(kernel.sysctls.ipLocalPortRange, null);
    assert.ok(kernel.unreadable.some((u) => u.path.endsWith('ip_local_port_range') && u.code === 'ENOENT'));
    const f = diagnose({ sockets: snap.sockets, ownersScanned: false, unreadablePids: 0, ...kernel });
    const ids = new Set(f.map((x) => x.id));
    for (const id of ['teardown-pair', 'fin-wait2-held', 'fin-wait2-orphans', 'close-wait-owner-unknown', 'accept-queue'] as const) assert.ok(ids.has(id), `${id} in ${[...ids].join(', ')}`);
    // ss-tan.txt: FIN-WAIT-2 127.0.0.1:41082 → 3002 held; CLOSE-WAIT 127.0.0.1:3002 its peer.
    const pairs = only(f, 'teardown-pair').flatMap((p) => p.evidence.connections);
    assert.ok(pairs.some((p) => p.finWait2 === '127.0.0.1:41082' && p.closeWait === '127.0.0.1:3002'));
    const [queue] = only(f, 'accept-queue');
    assert.equal(queue?.evidence.listener, '127.0.0.1:3001');
    assert.equal(queue?.evidence.acceptQueue, 3);
    const [unknown] = only(f, 'close-wait-owner-unknown');
    assert.match(unknown?.title ?? '', /owners were not scanned/);
  });

  it('keeps only the sockets with a wanted address or endpoint at either end (IPv4-mapped as IPv4)', async () => {
    const root = `${FIXTURES}basic`;
    const at = async (...addresses: string[]): Promise<string[]> =>
      (await takeSnapshot({ root, owners: false, addresses })).sockets.map((s) => `${s.local} ${s.remote}`).sort();
    const tenConn = ['10.1.2.3:3000 10.1.2.3:36556', '10.1.2.3:36556 10.1.2.3:3000'];
    assert.deepEqual(await at('10.1.2.3'), ['10.1.2.3:3000 0.0.0.0:0', ...tenConn]);
    assert.deepEqual(await at('10.1.2.3:36556'), tenConn);
    assert.deepEqual(await at('[::1]:4002', '[::FFFF:10.1.2.3]:3000'), ['10.1.2.3:3000 0.0.0.0:0', ...tenConn, '[::1]:4002 [::1]:50198', '[::1]:4002 [::]:0', '[::1]:50198 [::1]:4002']);
    // The fixture's IPv4-mapped row ([::ffff:127.0.0.1]:4001) answers to the IPv4 spelling, and
    // a mapped spelling matches the plain IPv4 rows.
    assert.deepEqual(await at('127.0.0.1:50110'), ['127.0.0.1:50110 127.0.0.1:4001', '[::ffff:127.0.0.1]:4001 [::ffff:127.0.0.1]:50110']);
    assert.deepEqual(await at('::ffff:127.0.0.1'), await at('127.0.0.1'));
    assert.deepEqual(await at('[::1]'), await at('::1'));
    assert.deepEqual(await at('192.0.2.1'), []);
    for (const [bad, why] of [['10.1.2.3:99999', /port out of range/], ['nonsense', /not an IP address/], ['999.1.1.1', /not an IP address/], ['', /empty address/], ['::1:18004', /needs brackets/]] as const) {
      await assert.rejects(at(bad), (e: Error) => e instanceof RangeError && why.test(e.message), bad);
    }
  });
});

describe('owner unreadable is its own value, never "no owner" (issue 13, item 1)', () => {
  const unreadable = (s: DoctorSocket): DoctorSocket => ({ ...s, owner: UNREADABLE });
  it('a listener whose owner is unreadable: accept-queue and never-accepted say so', () => {
    const l = { ...unreadable(sock('LISTEN', '127.0.0.1:18005', '0.0.0.0:0', { pid: 1 })), recvQ: 2 };
    const f = diagnose(input([l, sock('CLOSE_WAIT', '127.0.0.1:18005', '127.0.0.1:50000', { recvQ: 1 })], { unreadablePids: 1 }));
    const [q] = only(f, 'accept-queue');
    assert.match(q?.title ?? '', /listener 127\.0\.0\.1:18005 \(owner unreadable\)/);
    assert.doesNotMatch(`${q?.title} ${q?.advice}`, /no owner/);
    assert.equal(q?.evidence.listenerOwner, UNREADABLE);
    const [n] = only(f, 'never-accepted');
    assert.equal(n?.evidence.listenerOwner, UNREADABLE);
    assert.match(n?.advice ?? '', /owner unreadable/);
  });
  it('a FIN_WAIT2 whose CLOSE_WAIT peer is held by an unreadable process: not "no owner (never accepted)"', () => {
    const f = diagnose(
      input([sock('FIN_WAIT2', '127.0.0.1:50000', '127.0.0.1:6379', { pid: 300, command: 'client' }), unreadable(sock('CLOSE_WAIT', '127.0.0.1:6379', '127.0.0.1:50000', { pid: 400 }))], {
        unreadablePids: 1,
      }),
    );
    const [held] = only(f, 'fin-wait2-held');
    assert.equal(held?.evidence.peersUnreadable, 1);
    assert.equal(held?.evidence.peersWithoutOwner, 0);
    assert.doesNotMatch(held?.title ?? '', /no owner/);
    assert.match(held?.title ?? '', /owner is unreadable/);
    assert.equal(only(f, 'teardown-pair')[0]?.evidence.closeWait, UNREADABLE);
    assert.equal(only(f, 'close-wait-owner-unknown')[0]?.evidence.count, 1);
  });
});

describe('client-side CLOSE_WAIT is grouped by the service it points at (item 5)', () => {
  it('ephemeral local ports, no listener: one finding naming 127.0.0.1:16379, no port list', () => {
    const socks = [50001, 50002, 50003].map((p) => sock('CLOSE_WAIT', `127.0.0.1:${p}`, '127.0.0.1:16379', { pid: 70, command: 'worker' }));
    const f = diagnose(input([...socks, sock('CLOSE_WAIT', '127.0.0.1:50004', '10.0.0.8:5432', { pid: 70, command: 'worker' })]));
    const [leak, ...more] = only(f, 'close-wait-leak');
    assert.equal(more.length, 0);
    assert.equal(leak?.evidence.side, 'client');
    assert.deepEqual(leak?.evidence.localPorts, []);
    assert.deepEqual(leak?.evidence.remotes, ['127.0.0.1:16379', '10.0.0.8:5432']);
    assert.match(leak?.title ?? '', /connections it opened to 127\.0\.0\.1:16379, 10\.0\.0\.8:5432/);
    assert.doesNotMatch(leak?.title ?? '', /5000\d/);
  });
  it('a port with a listener here is the server side even inside the ephemeral range', () => {
    const f = diagnose(input([sock('LISTEN', '0.0.0.0:40000', '0.0.0.0:0', { pid: 9 }), sock('CLOSE_WAIT', '127.0.0.1:40000', '127.0.0.1:50000', { pid: 9 })]));
    assert.equal(only(f, 'close-wait-leak')[0]?.evidence.side, 'server');
  });
});

describe('FIN_WAIT1 holding Send-Q toward a peer that does not read (item 9)', () => {
  const fw1 = (sendQ: number, o: { pid?: number; probe?: boolean } = {}): DoctorSocket => ({
    ...sock('FIN_WAIT1', `127.0.0.1:${40000 + sendQ % 1000}`, '127.0.0.1:18009', o.pid === undefined ? {} : { pid: o.pid }),
    sendQ,
    timer: o.probe === true ? { kind: 'zero_window_probe', remainingMs: 3000, retransmits: 2 } : { kind: 'none', remainingMs: 0, retransmits: 0 },
  });
  const table: [name: string, socks: DoctorSocket[], severity: string | null][] = [
    ['3 orphans × 3.9 MB, probing', [fw1(4_089_000, { probe: true }), fw1(4_089_001, { probe: true }), fw1(4_089_002, { probe: true })], 'warning'],
    ['one small, probing a zero window', [fw1(1200, { probe: true })], 'info'],
    ['a little Send-Q, no probe: a normal close in flight', [fw1(1200)], null],
    ['no Send-Q', [fw1(0)], null],
  ];
  for (const [name, socks, severity] of table) {
    it(name, () => {
      const [f] = only(diagnose(input(socks)), 'fin-wait1-send-q');
      assert.equal(f?.severity ?? null, severity);
      if (f === undefined) return;
      assert.equal(f.evidence.count, socks.length);
      assert.equal(f.evidence.orphaned, socks.length);
      assert.equal(f.evidence.sendQBytes, socks.reduce((a, s) => a + s.sendQ, 0));
      assert.match(f.title, /toward 127\.0\.0\.1:18009/);
    });
  }
});

describe('sockets by state: what each rule reads instead of filtering every socket', () => {
  const list = [
    sock('ESTABLISHED', '127.0.0.1:1', '127.0.0.1:2'),
    sock('FIN_WAIT2', '127.0.0.1:3', '127.0.0.1:4'),
    sock('LAST_ACK', '127.0.0.1:5', '127.0.0.1:6'),
    sock('FIN_WAIT2', '127.0.0.1:7', '127.0.0.1:8'),
    sock('FIN_WAIT1', '127.0.0.1:9', '127.0.0.1:10'),
  ];
  const byState = new SocketsByState(list);
  const cases: { states: TcpState[]; want: number[] }[] = [
    { states: ['FIN_WAIT2'], want: [1, 3] },
    { states: ['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'LAST_ACK'], want: [1, 2, 3, 4] },
    { states: ['LAST_ACK', 'ESTABLISHED'], want: [0, 2] },
    { states: ['LISTEN'], want: [] },
    { states: [], want: [] },
  ];
  for (const c of cases) {
    it(`${c.states.join(', ') || 'no state'}: input order`, () => {
      assert.deepEqual(byState.get(c.states), c.want.map((i) => list[i]));
      assert.deepEqual(byState.get(c.states), list.filter((s) => c.states.includes(s.state)));
    });
  }
  it('answers a fresh array each time (a rule may sort or filter it)', () => {
    const a = byState.get(['FIN_WAIT2']);
    a.pop();
    assert.equal(byState.get(['FIN_WAIT2']).length, 2);
  });
});
