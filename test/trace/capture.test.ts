import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test, type TestContext } from 'node:test';
import { bindPacketRaw, openPacketSocket, PACKET_TYPE, PacketReceiver, realtimeNs, sendFrameRaw } from '../../src/sys/index.js';
import { closeRaw } from '../../src/sys/socket.js';
import {
  openPacketCapture,
  PacketCaptureError,
  writePcapFile,
  type CapturedPacket,
  type PacketCapture,
  type PacketCaptureOptions,
} from '../../src/trace/index.js';
import { ethernet } from './frames.js';
import { nodeInNetns, testNetns } from './netns.js';
import { readWithPcapParser } from './pcap-reader.js';

const ROOT = process.getuid?.() === 0;
const HAVE_IP = spawnSync('sh', ['-c', 'command -v ip'], { stdio: 'ignore' }).status === 0;
const SKIP = !ROOT ? 'needs root (network namespaces, AF_PACKET sockets)' : !HAVE_IP ? 'needs ip(8) to run children in a namespace (ip netns exec)' : false;

/** Opens a capture that must be available, closed when the test ends. */
function capture(t: TestContext, opts: PacketCaptureOptions): PacketCapture {
  const c = openPacketCapture(opts);
  if (!c.available) assert.fail(`capture unavailable: ${c.reason}`);
  t.after(() => c.close());
  return c;
}

const tcpOf = (ps: CapturedPacket[], port: number): CapturedPacket[] => ps.filter((p) => p.tcp !== null && (p.tcp.srcPort === port || p.tcp.dstPort === port));
const flagsAre = (p: CapturedPacket, ...flags: string[]): boolean => p.tcp !== null && p.tcp.flags.length === flags.length && flags.every((f) => (p.tcp?.flags as string[]).includes(f));

// One IPv4 connection (write 'hello', both sides close) and one connection refused with RST.
const CONVERSATION = `
const net = require('net');
const srv = net.createServer((c) => { c.resume(); c.on('end', () => c.end()); });
srv.listen(0, process.argv[1], () => {
  const port = srv.address().port;
  const c = net.connect(port, process.argv[1]);
  let clientPort;
  c.on('connect', () => { clientPort = c.localPort; c.write('hello'); c.end(); });
  c.resume();
  c.on('close', () => {
    const probe = net.createServer();
    probe.listen(0, process.argv[1], () => {
      const closedPort = probe.address().port;
      probe.close(() => {
        const r = net.connect(closedPort, process.argv[1]);
        r.on('error', (e) => { srv.close(); console.log(JSON.stringify({ port, clientPort, closedPort, err: e.code })); });
      });
    });
  });
});`;

describe('openPacketCapture, live in a fresh network namespace', { skip: SKIP }, () => {
  test('one TCP conversation: handshake once each, options, pure ACK seq, payload, FIN, RST, kernel timestamps; pcap round trip', async (t) => {
    const ns = testNetns(t);
    const cap = capture(t, { netnsPath: ns.path });
    const before = realtimeNs();
    const kid = nodeInNetns(t, ns.name, ['-e', CONVERSATION, '127.0.0.1']);
    const info = JSON.parse(await kid.line()) as { port: number; clientPort: number; closedPort: number; err: string };
    await kid.exited;
    const after = realtimeNs();
    const all = await cap.flush(2000);
    assert.equal(info.err, 'ECONNREFUSED');

    const conn = tcpOf(all, info.port);
    const client = `127.0.0.1:${info.clientPort}`;
    const server = `127.0.0.1:${info.port}`;
    const syn = conn.filter((p) => flagsAre(p, 'SYN'));
    const synAck = conn.filter((p) => flagsAre(p, 'SYN', 'ACK'));
    assert.equal(syn.length, 1, 'one SYN (no loopback duplicate)');
    assert.equal(synAck.length, 1, 'one SYN-ACK');
    const isnC = syn[0]?.tcp?.seq as number;
    const isnS = synAck[0]?.tcp?.seq as number;
    assert.equal(synAck[0]?.tcp?.ack, (isnC + 1) >>> 0);
    const handshakeAck = conn.filter((p) => p.tcp?.src === client && flagsAre(p, 'ACK') && p.tcp.payloadLength === 0 && p.tcp.seq === ((isnC + 1) >>> 0) && p.tcp.ack === ((isnS + 1) >>> 0));
    assert.equal(handshakeAck.length, 1, 'one handshake ACK');

    // No frame twice: a loopback duplicate would be byte-identical.
    const hex = all.map((p) => p.frame.toString('hex'));
    assert.equal(new Set(hex).size, hex.length, 'no frame captured twice');

    const o = syn[0]?.tcp?.options;
    assert.ok(o && o.mss !== null && o.mss > 0, 'MSS on the SYN');
    assert.ok(o && o.windowScale !== null, 'window scale on the SYN');
    assert.equal(o?.sackPermitted, true, 'SACK-permitted on the SYN');
    assert.ok(o?.timestamps && o.timestamps.tsval > 0 && o.timestamps.tsecr === 0, 'timestamps on the SYN');
    assert.ok(synAck[0]?.tcp?.options.timestamps?.tsecr === o?.timestamps?.tsval, 'the SYN-ACK echoes the SYN TSval');

    const data = conn.filter((p) => p.tcp?.src === client && (p.tcp?.payloadLength ?? 0) > 0);
    assert.equal(data.length, 1);
    const d = data[0] as CapturedPacket;
    assert.equal(d.tcp?.payloadLength, 5);
    assert.equal(d.frame.subarray(d.tcp?.payloadOffset).toString(), 'hello');
    assert.equal(d.tcp?.seq, (isnC + 1) >>> 0);
    // The server's pure ACK of those 5 bytes carries its sequence number (isnS + 1), which tcpdump never printed.
    const pureAck = conn.find((p) => p.tcp?.src === server && flagsAre(p, 'ACK') && p.tcp.payloadLength === 0 && p.tcp.ack === ((isnC + 6) >>> 0));
    assert.equal(pureAck?.tcp?.seq, (isnS + 1) >>> 0);

    assert.ok(conn.some((p) => p.tcp?.src === client && p.tcp.flags.includes('FIN')), 'client FIN');
    assert.ok(conn.some((p) => p.tcp?.src === server && p.tcp.flags.includes('FIN')), 'server FIN');
    const refused = tcpOf(all, info.closedPort);
    assert.ok(refused.some((p) => p.tcp?.src === `127.0.0.1:${info.closedPort}` && p.tcp.flags.includes('RST')), 'RST from the closed port');

    for (const [i, p] of all.entries()) {
      assert.ok(p.epochNs >= before && p.epochNs <= after, `packet ${i} stamped ${p.epochNs}, outside [${before}, ${after}]`);
      if (i > 0) assert.ok(p.epochNs >= (all[i - 1] as CapturedPacket).epochNs, 'timestamps never go back');
      assert.equal(p.epochMs, Number(p.epochNs / 1000n) / 1000);
      assert.equal(p.origLen, p.frame.length);
    }
    assert.deepEqual(cap.stats().drops, 0);

    const dir = mkdtempSync(join(tmpdir(), 'tt-capture-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writePcapFile(join(dir, 'live.pcap'), all);
    const back = (await readWithPcapParser(join(dir, 'live.pcap'))).packets;
    assert.deepEqual(back.map((b) => b.data.toString('hex')), hex);
    assert.deepEqual(
      back.map((b) => BigInt(b.header.timestampSeconds) * 1_000_000n + BigInt(b.header.timestampMicroseconds)),
      all.map((p) => p.epochNs / 1000n),
    );
  });

  test('IPv6: [::1] addresses, family 6, the handshake once each', async (t) => {
    const ns = testNetns(t);
    const cap = capture(t, { netnsPath: ns.path });
    const kid = nodeInNetns(t, ns.name, ['-e', CONVERSATION, '::1']);
    const info = JSON.parse(await kid.line()) as { port: number; clientPort: number };
    await kid.exited;
    const conn = tcpOf(await cap.flush(2000), info.port);
    assert.equal(conn.filter((p) => flagsAre(p, 'SYN')).length, 1);
    assert.equal(conn.filter((p) => flagsAre(p, 'SYN', 'ACK')).length, 1);
    const syn = conn.find((p) => flagsAre(p, 'SYN'));
    assert.equal(syn?.tcp?.family, 6);
    assert.equal(syn?.tcp?.src, `[::1]:${info.clientPort}`);
    assert.equal(syn?.tcp?.dst, `[::1]:${info.port}`);
    assert.equal(conn.find((p) => (p.tcp?.payloadLength ?? 0) > 0)?.tcp?.payloadLength, 5);
  });

  test('flush() is a barrier: N request/response segments sent before it are all in its result, in order', async (t) => {
    const N = 50;
    const ns = testNetns(t);
    const cap = capture(t, { netnsPath: ns.path });
    // Ping-pong: each 4-byte message waits for its echo, so every message is its own segment.
    const script = `
const net = require('net'); const N = Number(process.argv[1]);
const srv = net.createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); });
srv.listen(0, '127.0.0.1', () => {
  const port = srv.address().port; const c = net.connect(port, '127.0.0.1'); c.setNoDelay(true);
  let i = 0; let buf = '';
  const send = () => c.write('m' + String(i).padStart(3, '0'));
  c.on('connect', send);
  c.on('data', (d) => { buf += d; while (buf.length >= 4) { buf = buf.slice(4); i++; if (i < N) send(); else console.log(JSON.stringify({ port })); } });
});
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
    const kid = nodeInNetns(t, ns.name, ['-e', script, String(N)]);
    const { port } = JSON.parse(await kid.line()) as { port: number };
    const got = tcpOf(await cap.flush(2000), port);
    kid.proc.stdin?.end();
    const fromClient = got.filter((p) => p.tcp?.dstPort === port && p.tcp.payloadLength > 0);
    const fromServer = got.filter((p) => p.tcp?.srcPort === port && p.tcp.payloadLength > 0);
    const want = Array.from({ length: N }, (_, i) => `m${String(i).padStart(3, '0')}`);
    assert.deepEqual(fromClient.map((p) => p.frame.subarray(p.tcp?.payloadOffset).toString()), want);
    assert.deepEqual(fromServer.map((p) => p.frame.subarray(p.tcp?.payloadOffset).toString()), want);
    const s = cap.stats();
    assert.ok(s.packets >= 2 * N + 1, `kernel counted ${s.packets} frames, at least ${2 * N} segments and the marker`);
    assert.equal(s.drops, 0);
    assert.deepEqual(cap.drain().filter((p) => p.tcp?.payloadLength), [], 'nothing with data left behind');
  });

  test("traffic in this process's own namespace is not seen by a capture in another", async (t) => {
    const ns = testNetns(t);
    const cap = capture(t, { netnsPath: ns.path });
    const srv = createServer((c) => c.end('bye'));
    t.after(() => srv.close());
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const hostPort = (srv.address() as AddressInfo).port;
    const hostClientPort = await new Promise<number>((resolve, reject) => {
      const c = connect(hostPort, '127.0.0.1');
      let local = 0;
      c.on('connect', () => (local = c.localPort ?? 0));
      c.on('error', reject);
      c.resume();
      c.on('close', () => resolve(local));
    });
    // A control inside the namespace, so the capture is shown to see what it should.
    const kid = nodeInNetns(t, ns.name, ['-e', CONVERSATION, '127.0.0.1']);
    const info = JSON.parse(await kid.line()) as { port: number };
    await kid.exited;
    const all = await cap.flush(2000);
    assert.ok(tcpOf(all, info.port).length >= 8, 'the namespace conversation is captured');
    const hostTuple = (p: CapturedPacket): boolean =>
      (p.tcp?.srcPort === hostPort && p.tcp.dstPort === hostClientPort) || (p.tcp?.srcPort === hostClientPort && p.tcp.dstPort === hostPort);
    assert.ok(hostClientPort > 0);
    assert.deepEqual(all.filter(hostTuple), [], 'no segment of the host connection');
  });

  test('the port filter keeps the listed ports and drops a connection on another', async (t) => {
    const ns = testNetns(t);
    const cap = capture(t, { netnsPath: ns.path, ports: [[5001, 5001], [6000, 6010]] });
    const script = `
const net = require('net'); let open = 2;
for (const port of [5001, 5002]) {
  const srv = net.createServer((c) => { c.resume(); c.on('end', () => { c.end(); srv.close(); }); });
  srv.listen(port, '127.0.0.1', () => { const c = net.connect(port, '127.0.0.1', () => c.end('x')); c.resume(); c.on('close', () => { if (--open === 0) console.log('done'); }); });
}`;
    const kid = nodeInNetns(t, ns.name, ['-e', script]);
    assert.equal(await kid.line(), 'done');
    await kid.exited;
    const all = await cap.flush(2000);
    assert.ok(all.length >= 8, `the 5001 conversation is captured (${all.length} frames)`);
    for (const p of all) assert.ok(p.tcp?.srcPort === 5001 || p.tcp?.dstPort === 5001, `unexpected frame ${p.tcp?.src} > ${p.tcp?.dst}`);
    assert.equal(all.filter((p) => flagsAre(p, 'SYN')).length, 1);
  });

  test('the marker: its sender sees it once, as incoming (skb_loop_sk); another tap sees it twice on lo', async (t) => {
    const ns = testNetns(t);
    const open = (): { fd: number; ifindex: number; rx: PacketReceiver } => {
      const s = openPacketSocket(ns.path, 'lo');
      t.after(() => closeRaw(s.fd));
      const rx = new PacketReceiver(s.fd, 2048);
      const b = bindPacketRaw(s.fd, s.ifindex, 0x0003);
      assert.ok(b.ok);
      return { ...s, rx };
    };
    const sender = open();
    const observer = open();
    const token = `probe-${process.pid}-${Date.now()}`;
    const sent = sendFrameRaw(sender.fd, sender.ifindex, 0x88b5, ethernet(0x88b5, Buffer.from(token)));
    assert.deepEqual(sent, { ok: true, value: 14 + token.length });
    await new Promise((r) => setTimeout(r, 20));
    const readAll = (rx: PacketReceiver): number[] => {
      const types: number[] = [];
      for (;;) {
        const r = rx.recv();
        assert.ok(r.ok);
        if (r.value === null) return types;
        if (r.value.frame.subarray(14).toString() === token) types.push(r.value.pktType);
      }
    };
    assert.deepEqual(readAll(sender.rx), [PACKET_TYPE.HOST]);
    assert.deepEqual(readAll(observer.rx).sort(), [PACKET_TYPE.HOST, PACKET_TYPE.OUTGOING]);
  });

  test('lifecycle: close is idempotent; drain and flush after close fail with CAPTURE_CLOSED; bad timeouts are RangeErrors', async (t) => {
    const ns = testNetns(t);
    const cap = capture(t, { netnsPath: ns.path });
    assert.deepEqual(await cap.flush(500), []);
    await assert.rejects(cap.flush(0), RangeError);
    await assert.rejects(cap.flush(2 ** 31), RangeError);
    assert.equal(cap.state, 'open');
    cap.close();
    cap.close();
    assert.equal(cap.state, 'closed');
    assert.throws(() => cap.drain(), (e: unknown) => e instanceof PacketCaptureError && e.code === 'CAPTURE_CLOSED');
    await assert.rejects(cap.flush(100), (e: unknown) => e instanceof PacketCaptureError && e.code === 'CAPTURE_CLOSED');
    assert.equal(cap.stats().drops, 0);
  });

  test('a loopback that is down: unavailable, with the reason', (t) => {
    const ns = testNetns(t);
    execFileSync('ip', ['-n', ns.name, 'link', 'set', 'lo', 'down']);
    const c = openPacketCapture({ netnsPath: ns.path });
    assert.match(c.available ? (c.close(), 'available') : c.reason, /^interface lo in .* is down/);
  });

  test('unavailable, with a reason, for a missing namespace or interface', (t) => {
    const missing = openPacketCapture({ netnsPath: `/run/netns/tt-test-${process.pid}-does-not-exist` });
    assert.equal(missing.available, false);
    assert.match(missing.available ? '' : missing.reason, /^no network namespace .*ENOENT/);
    const ns = testNetns(t);
    const noIface = openPacketCapture({ netnsPath: ns.path, iface: 'nosuch0' });
    assert.match(noIface.available ? '' : noIface.reason, /^no interface nosuch0 in .*ENODEV/);
    assert.throws(() => openPacketCapture({ ports: [[2, 1]] }), RangeError);
    assert.throws(() => openPacketCapture({ bufferBytes: 10 }), RangeError);
  });

  test('as an unprivileged user: an unavailable reason, not an exception', (t) => {
    if (spawnSync('sh', ['-c', 'command -v setpriv'], { stdio: 'ignore' }).status !== 0) {
      t.skip('setpriv(1) not installed');
      return;
    }
    const ns = testNetns(t);
    const index = fileURLToPath(new URL('../../src/trace/index.js', import.meta.url));
    for (const [opts, want] of [
      [{}, /^not permitted: an AF_PACKET socket needs CAP_NET_RAW/],
      [{ netnsPath: ns.path }, /^not permitted: /],
    ] as const) {
      const script = `import(${JSON.stringify(index)}).then((m) => console.log(JSON.stringify(m.openPacketCapture(${JSON.stringify(opts)}))))`;
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8', cwd: '/' });
      assert.equal(r.status, 0, r.stderr);
      const answer = JSON.parse(r.stdout) as { available: boolean; reason: string };
      assert.equal(answer.available, false);
      assert.match(answer.reason, want);
    }
  });
});
