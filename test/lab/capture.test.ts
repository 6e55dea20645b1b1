import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, connect, type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  PacketCapture,
  Relativizer,
  captureFilter,
  parseTcpdumpLine,
  relativize,
  startCapture,
  type CaptureUnavailable,
  type CapturedSegment,
  type TcpLine,
} from '../../src/lab/kernel/capture.js';
import { flagString } from '../../src/tcp/segment.js';

const run = promisify(execFile);
const FIXTURES = new URL('../../../test/fixtures/capture/', import.meta.url);

function fixtureLines(name: string): string[] {
  return readFileSync(new URL(name, FIXTURES), 'utf8').split('\n').filter((l) => l.length > 0);
}

function tcp(line: string): TcpLine {
  const p = parseTcpdumpLine(line);
  assert.ok(p && p.kind === 'tcp', `not a TCP line: ${line}`);
  return p;
}

/** `C>S S seq 0` style summaries: direction, flags, relative numbers, length. */
function summary(segs: CapturedSegment[], client: string): string[] {
  return segs.map((s) => `${s.src === client ? 'C>S' : 'S>C'} ${flagString(s.flags)} seq=${s.seq} ack=${s.ack} len=${s.length}`);
}

describe('parseTcpdumpLine', () => {
  test('IPv4 SYN: every field, absolute numbers, exact microseconds', () => {
    const [syn] = fixtureLines('ipv4-fin.txt');
    assert.deepEqual(tcp(syn as string), {
      kind: 'tcp',
      epochUs: 1795248771348877,
      family: 4,
      src: '127.0.0.1:44942',
      dst: '127.0.0.1:41977',
      flags: ['SYN'],
      seq: 590940799,
      seqEnd: null,
      ack: null,
      window: 65495,
      length: 0,
      raw: syn,
    });
  });

  test('SYN-ACK, pure ACK (no seq printed), data range, FIN', () => {
    const lines = fixtureLines('ipv4-fin.txt').map(tcp);
    assert.deepEqual([lines[1]?.flags, lines[1]?.seq, lines[1]?.ack], [['SYN', 'ACK'], 568837801, 590940800]);
    assert.deepEqual([lines[2]?.flags, lines[2]?.seq, lines[2]?.ack, lines[2]?.window], [['ACK'], null, 568837802, 64]);
    assert.deepEqual([lines[3]?.flags, lines[3]?.seq, lines[3]?.seqEnd, lines[3]?.length], [['PSH', 'ACK'], 590940800, 590940804, 4]);
    assert.deepEqual([lines[7]?.flags, lines[7]?.seq, lines[7]?.seqEnd], [['FIN', 'ACK'], 590940804, null]);
  });

  test('IPv6 addresses become [addr]:port', () => {
    const p = tcp(fixtureLines('ipv6.txt')[0] as string);
    assert.equal(p.family, 6);
    assert.equal(p.src, '[::1]:59526');
    assert.equal(p.dst, '[::1]:40241');
    assert.equal(tcp('1.000001 IP6 ::ffff:127.0.0.1.80 > fe80::1.5: Flags [R], seq 7, win 0, length 0').src, '[::ffff:127.0.0.1]:80');
  });

  test('RST+ACK from a closed port', () => {
    const p = tcp(fixtureLines('rst.txt')[7] as string);
    assert.deepEqual([p.src, p.flags, p.seq, p.ack, p.window], ['127.0.0.1:1', ['RST', 'ACK'], 0, 3555740931, 0]);
  });

  test('the UDP flush marker', () => {
    const p = parseTcpdumpLine(fixtureLines('keepalive-marker.txt')[8] as string);
    assert.deepEqual(p && { ...p, raw: undefined }, { kind: 'udp', epochUs: 1795248779708984, family: 4, src: '127.0.0.1:41730', dst: '127.0.0.1:9', length: 6, raw: undefined });
  });

  test('flag letters, none, unknown letters, nanosecond timestamps, decoder text after length', () => {
    assert.deepEqual(tcp('1.5 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [SEW], seq 1, win 5, length 0').flags, ['SYN', 'ECE', 'CWR']);
    assert.deepEqual(tcp('1.5 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [none], seq 1, win 5, length 0').flags, []);
    assert.deepEqual(tcp('1.5 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [U.e], seq 1, ack 2, win 5, urg 1, length 0').flags, ['URG', 'ACK']);
    assert.equal(tcp('1.5 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 2, win 5, length 0').epochUs, 1_500_000);
    assert.equal(tcp('1795248771.348877123 IP 1.2.3.4.1 > 5.6.7.8.2: Flags [.], ack 2, win 5, length 0').epochUs, 1795248771348877);
    const http = tcp('1.0 IP 1.2.3.4.1 > 5.6.7.8.80: Flags [P.], seq 1:19, ack 1, win 5, length 18: HTTP: GET /, seq 99, win 7 HTTP/1.1');
    assert.deepEqual([http.seq, http.seqEnd, http.window, http.length], [1, 19, 5, 18]);
  });

  test('anything else is null, never a throw', () => {
    for (const line of [
      '',
      'tcpdump: verbose output suppressed, use -v[v]... for full protocol decode',
      'listening on lo, link-type EN10MB (Ethernet), snapshot length 128 bytes',
      '1795248771.348877 IP 127.0.0.1.44942 > 127.0.0.1.41977: Flags [S], seq 590940799, win 65495, options [mss 65495,[|tcp]',
      '1795248771.348877 IP 127.0.0.1 > 127.0.0.1: ICMP 127.0.0.1 udp port 9 unreachable, length 64',
      '1795248771.348877 ARP, Request who-has 10.0.0.1 tell 10.0.0.2, length 28',
      '\t0x0000:  4500 003c',
      'garbage',
    ]) {
      assert.equal(parseTcpdumpLine(line), null, line);
    }
  });
});

describe('relativize', () => {
  test('IPv4 exchange: numbers relative to each direction’s ISN, times from the first segment', () => {
    const segs = relativize(fixtureLines('ipv4-fin.txt').map(parseTcpdumpLine));
    assert.deepEqual(summary(segs, '127.0.0.1:44942'), [
      'C>S S seq=0 ack=null len=0',
      'S>C S. seq=0 ack=1 len=0',
      'C>S . seq=null ack=1 len=0',
      'C>S P. seq=1 ack=1 len=4',
      'S>C . seq=null ack=5 len=0',
      'S>C P. seq=1 ack=5 len=4',
      'C>S . seq=null ack=5 len=0',
      'C>S F. seq=5 ack=5 len=0',
      'S>C F. seq=5 ack=6 len=0',
      'C>S . seq=null ack=6 len=0',
    ]);
    assert.equal(segs[0]?.timeMs, 0);
    assert.equal(segs[1]?.timeMs, 0.013);
    assert.equal(segs[9]?.timeMs, 2.973);
    assert.equal(segs[0]?.epochMs, 1795248771348.877);
    assert.equal(segs[0]?.window, 65495);
  });

  test('an explicit origin', () => {
    const segs = relativize(fixtureLines('ipv4-fin.txt').map(parseTcpdumpLine), 1795248771348);
    assert.equal(segs[0]?.timeMs, 0.877);
  });

  test('IPv6 exchange', () => {
    const segs = relativize(fixtureLines('ipv6.txt').map(parseTcpdumpLine));
    assert.deepEqual(summary(segs, '[::1]:59526').slice(0, 4), ['C>S S seq=0 ack=null len=0', 'S>C S. seq=0 ack=1 len=0', 'C>S . seq=null ack=1 len=0', 'C>S P. seq=1 ack=1 len=4']);
  });

  test('RSTs: abortive close with numbers; a closed port’s RST has no known ISN', () => {
    const segs = relativize(fixtureLines('rst.txt').map(parseTcpdumpLine));
    assert.equal(summary(segs, '127.0.0.1:42682')[5], 'C>S R. seq=5 ack=1 len=0');
    assert.equal(summary(segs, '127.0.0.1:46246')[7], 'S>C R. seq=null ack=1 len=0');
  });

  test('self-connect (simultaneous open with itself)', () => {
    const segs = relativize(fixtureLines('self-connect.txt').map(parseTcpdumpLine));
    assert.deepEqual(
      segs.map((s) => `${flagString(s.flags)} ${s.seq} ${s.ack} ${s.length}`),
      ['S 0 null 0', 'S. 0 1 0', '. null 1 0', 'P. 1 1 2', '. null 3 0', 'F. 3 3 0', '. null 4 0'],
    );
  });

  test('keepalive probe: tcpdump prints no seq, so none is invented; the marker is not a segment', () => {
    const segs = relativize(fixtureLines('keepalive-marker.txt').map(parseTcpdumpLine));
    assert.equal(segs.length, 8);
    assert.deepEqual([segs[3]?.flags, segs[3]?.seq, segs[3]?.ack], [['ACK'], null, 1]);
    assert.ok((segs[3]?.timeMs ?? 0) > 1000);
  });

  test('sequence space wraps at 2^32', () => {
    const r = new Relativizer(0);
    r.push(tcp('1.0 IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [S], seq 4294967290, win 5, length 0'));
    r.push(tcp('1.0 IP 10.0.0.2.80 > 10.0.0.1.1000: Flags [S.], seq 7, ack 4294967291, win 5, length 0'));
    const data = r.push(tcp('1.1 IP 10.0.0.1.1000 > 10.0.0.2.80: Flags [P.], seq 4294967291:3, ack 8, win 5, length 8'));
    assert.deepEqual([data.seq, data.ack, data.length, data.timeMs], [1, 1, 8, 1100]);
  });

  test('a reused 4-tuple: the new SYN forgets the old peer ISN, a retransmitted SYN does not', () => {
    const r = new Relativizer();
    const L = (t: string) => tcp(`1.0 IP 10.0.0.1.1000 > 10.0.0.2.80: ${t}`);
    const R = (t: string) => tcp(`1.0 IP 10.0.0.2.80 > 10.0.0.1.1000: ${t}`);
    r.push(L('Flags [S], seq 100, win 5, length 0'));
    r.push(R('Flags [S.], seq 500, ack 101, win 5, length 0'));
    assert.equal(r.push(L('Flags [S], seq 100, win 5, length 0')).seq, 0); // retransmission
    assert.equal(r.push(R('Flags [F.], seq 501, ack 101, win 5, length 0')).seq, 1);
    // new incarnation
    assert.equal(r.push(L('Flags [S], seq 9000, win 5, length 0')).seq, 0);
    const stale = r.push(R('Flags [R], seq 502, win 0, length 0'));
    assert.equal(stale.seq, null);
    const synAck = r.push(R('Flags [S.], seq 7000, ack 9001, win 5, length 0'));
    assert.deepEqual([synAck.seq, synAck.ack], [0, 1]);
  });
});

describe('PacketCapture options and unavailability', () => {
  test('the filter', () => {
    assert.equal(captureFilter(), '(tcp) or (udp and dst host 127.0.0.1 and dst port 9)');
    assert.equal(captureFilter([5000, 5001]), '(tcp and (port 5000 or port 5001)) or (udp and dst host 127.0.0.1 and dst port 9)');
  });

  test('invalid options throw RangeError naming the option', async () => {
    await assert.rejects(PacketCapture.start({ ports: [70000] }), { name: 'RangeError', message: /ports/ });
    await assert.rejects(PacketCapture.start({ netns: 'a b' }), { name: 'RangeError', message: /netns/ });
  });

  test('no tcpdump: unavailable, not thrown', async () => {
    const c = await startCapture({ tcpdumpPath: '/nonexistent/tcpdump' });
    assert.equal(c.available, false);
    assert.match((c as CaptureUnavailable).reason, /^tcpdump not installed/);
  });
});

describe('PacketCapture plumbing with a fake tcpdump (no root needed)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-fake-tcpdump-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('an old tcpdump without --immediate-mode is retried without it; lines parsed; stop() terminates', async () => {
    const fake = join(dir, 'tcpdump');
    const fixture = fileURLToPath(new URL('ipv4-fin.txt', FIXTURES));
    writeFileSync(
      fake,
      [
        '#!/bin/sh',
        'for a in "$@"; do [ "$a" = "--immediate-mode" ] && { echo "tcpdump: unrecognized option \'--immediate-mode\'" >&2; exit 1; }; done',
        `trap 'echo "10 packets captured" >&2; echo "20 packets received by filter" >&2; echo "0 packets dropped by kernel" >&2; exit 0' TERM`,
        'echo "listening on lo, link-type EN10MB (Ethernet), snapshot length 128 bytes" >&2',
        `cat '${fixture}'`,
        'echo "some line tcpdump may print that is no packet"',
        'while :; do sleep 0.05; done',
      ].join('\n') + '\n',
      { mode: 0o755 },
    );
    const cap = await PacketCapture.start({ tcpdumpPath: fake, flushTimeoutMs: 300 });
    assert.ok(cap.available, (cap as CaptureUnavailable).reason);
    const segs = await cap.stop();
    assert.equal(segs.length, 10);
    assert.deepEqual(segs.map((s) => flagString(s.flags)), ['S', 'S.', '.', 'P.', '.', 'P.', '.', 'F.', 'F.', '.']);
    assert.deepEqual(cap.rawLines, ['some line tcpdump may print that is no packet']);
    // The fake cannot see the marker: the result says so instead of pretending.
    assert.equal(cap.flushConfirmed, false);
    assert.match(cap.flushProblem ?? '', /not seen within 300 ms/);
    assert.deepEqual(cap.stats, { captured: 10, receivedByFilter: 20, droppedByKernel: 0 });
    assert.equal(cap.running, false);
  });

  test('a tcpdump that exits before listening: its complaint becomes the reason', async () => {
    const fake = join(dir, 'tcpdump-eperm');
    writeFileSync(fake, '#!/bin/sh\necho "tcpdump: lo: You don\'t have permission to capture on that device" >&2\necho "(socket: Operation not permitted)" >&2\nexit 1\n', { mode: 0o755 });
    const c = await PacketCapture.start({ tcpdumpPath: fake });
    assert.equal(c.available, false);
    assert.match((c as CaptureUnavailable).reason, /^not permitted: needs root or CAP_NET_RAW \(tcpdump: lo: You don't have permission/);
  });

  test('a tcpdump that never says listening: unavailable after the timeout, and killed', async () => {
    const fake = join(dir, 'tcpdump-mute');
    const pidFile = join(dir, 'mute.pid');
    writeFileSync(fake, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 30\n`, { mode: 0o755 });
    const c = await PacketCapture.start({ tcpdumpPath: fake, listenTimeoutMs: 300 });
    assert.equal(c.available, false);
    assert.match((c as CaptureUnavailable).reason, /did not start listening within 300 ms/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });
});

// ------------------------------------------------------------------------------------------
// Live: a real tcpdump in a fresh network namespace.

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasTool = (name: string) => spawnSync('sh', ['-c', `command -v ${name} || test -x /usr/sbin/${name}`], { stdio: 'ignore' }).status === 0;
const liveSkip: string | false = process.platform !== 'linux' ? 'needs Linux' : !isRoot ? 'needs root (ip netns, tcpdump)' : !hasTool('tcpdump') ? 'tcpdump not installed' : !hasTool('ip') ? 'ip(8) not installed' : false;

describe('PacketCapture live', { skip: liveSkip, timeout: 30_000 }, () => {
  const ns = `tt-cap-${process.pid}`;
  const captures: PacketCapture[] = [];
  let nsCreated = false;

  after(() => {
    for (const c of captures) c.kill();
    if (nsCreated) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });

  async function freshNamespace(): Promise<void> {
    if (nsCreated) return;
    await run('ip', ['netns', 'add', ns]);
    nsCreated = true;
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  async function started(opts: Parameters<typeof PacketCapture.start>[0]): Promise<PacketCapture> {
    const c = await PacketCapture.start(opts);
    assert.ok(c.available, `capture unavailable: ${(c as CaptureUnavailable).reason}`);
    captures.push(c);
    return c;
  }

  function gone(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }

  test('handshake, 4 bytes, FINs in a fresh namespace; nothing lost at stop()', async () => {
    await freshNamespace();
    const cap = await started({ netns: ns });
    const t0 = Date.now();
    // Inside the namespace: a server, a client that writes 4 bytes and closes, the server closes
    // back; print both addresses, exit when both sides are closed.
    const script = `
      const net = require('node:net');
      const srv = net.createServer((s) => { s.on('data', () => {}); s.on('end', () => s.end()); s.on('close', () => srv.close()); });
      srv.listen(0, '127.0.0.1', () => {
        const c = net.connect(srv.address().port, '127.0.0.1', () => {
          console.log(JSON.stringify({ client: c.localAddress + ':' + c.localPort, server: '127.0.0.1:' + srv.address().port }));
          c.write('ping', () => c.end());
        });
        c.on('data', () => {});
        c.on('close', () => {});
      });`;
    const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeout: 10_000 });
    const { client, server } = JSON.parse(stdout) as { client: string; server: string };
    const soFar = cap.segmentsSoFar();
    // Stop at once: the flush marker must bring in every segment, down to the last ACK.
    const segs = await cap.stop();

    assert.equal(cap.flushConfirmed, true, cap.flushProblem ?? '');
    assert.deepEqual(cap.rawLines, []);
    assert.equal(cap.stats?.droppedByKernel, 0);
    assert.equal(cap.stats?.captured, segs.length + 1, 'tcpdump counted every segment we parsed, plus the marker');
    assert.ok(gone(cap.pid), 'tcpdump exited');
    assert.deepEqual(segs.slice(0, soFar.length), soFar, 'segmentsSoFar() is a prefix of the result');
    assert.deepEqual(await cap.stop(), segs, 'stop() is idempotent');

    const lines = summary(segs, client);
    assert.ok(segs.every((s) => (s.src === client && s.dst === server) || (s.src === server && s.dst === client)), lines.join('\n'));
    assert.deepEqual(lines.slice(0, 3), ['C>S S seq=0 ack=null len=0', 'S>C S. seq=0 ack=1 len=0', 'C>S . seq=null ack=1 len=0'], lines.join('\n'));
    const data = segs.filter((s) => s.length > 0);
    assert.equal(data.length, 1, lines.join('\n'));
    assert.deepEqual([data[0]?.src, data[0]?.seq, (data[0]?.seq ?? 0) + (data[0]?.length ?? 0), data[0]?.length], [client, 1, 5, 4]);
    const fins = segs.filter((s) => s.flags.includes('FIN'));
    assert.deepEqual(fins.map((s) => `${s.src === client ? 'C>S' : 'S>C'} seq=${s.seq}`), ['C>S seq=5', 'S>C seq=1'], lines.join('\n'));
    const last = segs[segs.length - 1];
    assert.deepEqual([last?.src, flagString(last?.flags ?? []), last?.ack], [client, '.', 2], `the final ACK of the server's FIN is there:\n${lines.join('\n')}`);

    // Times: relative to start(), kernel timestamps comparable with Date.now().
    for (const s of segs) {
      assert.ok(s.timeMs >= 0 && Math.abs(s.epochMs - (cap.startedAtEpochMs + s.timeMs)) < 1e-6);
      assert.ok(s.epochMs >= t0 - 5 && s.epochMs <= Date.now() + 5, `epochMs ${s.epochMs} within the test's window`);
    }
  });

  test('host namespace with a port filter: marker sent in-process', async () => {
    const srv = createServer((s) => {
      s.resume(); // 'end' only comes once the data is read
      s.on('end', () => s.end());
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const cap = await started({ ports: [port] });
      const c = connect(port, '127.0.0.1');
      await new Promise<void>((r) => c.on('connect', r));
      c.end('abc');
      await new Promise<void>((r) => c.on('close', () => r()));
      const segs = await cap.stop();
      assert.equal(cap.flushConfirmed, true, cap.flushProblem ?? '');
      assert.ok(segs.length >= 7, summary(segs, `127.0.0.1:${c.localPort}`).join('\n'));
      assert.ok(segs.every((s) => s.src.endsWith(`:${port}`) || s.dst.endsWith(`:${port}`)));
      assert.deepEqual(segs.filter((s) => s.length > 0).map((s) => [s.seq, s.length]), [[1, 3]]);
      assert.ok(gone(cap.pid));
    } finally {
      srv.close();
    }
  });

  test('a namespace that does not exist, an interface that does not exist, too short a wait', async () => {
    const noNs = await PacketCapture.start({ netns: `tt-cap-missing-${process.pid}` });
    assert.equal(noNs.available, false);
    assert.match((noNs as CaptureUnavailable).reason, /no network namespace/);

    await freshNamespace();
    const noIf = await PacketCapture.start({ netns: ns, iface: 'nosuch0' });
    assert.equal(noIf.available, false);
    assert.match((noIf as CaptureUnavailable).reason, /nosuch0/);

    const slow = await PacketCapture.start({ netns: ns, listenTimeoutMs: 1 });
    assert.equal(slow.available, false);
    assert.match((slow as CaptureUnavailable).reason, /did not start listening within 1 ms/);
  });

  test('kill() is synchronous and final', async () => {
    await freshNamespace();
    const cap = await started({ netns: ns });
    cap.kill();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(gone(cap.pid));
    assert.equal(cap.running, false);
    const segs = await cap.stop();
    assert.deepEqual(segs, []);
    assert.equal(cap.flushConfirmed, false);
  });
});
