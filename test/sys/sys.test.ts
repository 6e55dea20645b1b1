import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  LINUX,
  SysError,
  acceptRaw,
  bindRaw,
  closeRaw,
  connectRaw,
  fdOf,
  getUserTimeout,
  listenRaw,
  recvRaw,
  sendRaw,
  setKeepalive,
  setLinger,
  setUserTimeout,
  shutdownFd,
  socketRaw,
  socknameRaw,
  takeSigpipe,
  tcpInfo,
  watchSigpipe,
} from '../../src/sys/index.js';

const open: number[] = [];
after(() => {
  for (const fd of open) closeRaw(fd);
});

/** A connected raw pair on loopback: [client fd, accepted fd]. */
async function rawPair(): Promise<[number, number]> {
  const l = socketRaw(4, true);
  assert.ok(l.ok);
  open.push(l.value);
  assert.ok(bindRaw(l.value, { address: '127.0.0.1', port: 0 }).ok);
  assert.ok(listenRaw(l.value, 4).ok);
  const addr = socknameRaw(l.value);
  assert.ok(addr.ok);
  const c = socketRaw(4, true);
  assert.ok(c.ok);
  open.push(c.value);
  const r = connectRaw(c.value, addr.value);
  assert.ok(r.ok || r.errno === 'EINPROGRESS');
  await sleep(10);
  const s = acceptRaw(l.value);
  assert.ok(s.ok, `accept: ${s.ok ? '' : s.errno}`);
  open.push(s.value.fd);
  return [c.value, s.value.fd];
}

test('TCP_INFO reports the state, also of a socket that left the table', async () => {
  const [c, s] = await rawPair();
  assert.equal(tcpInfo(c).state, 'ESTABLISHED');
  setLinger(s, { onoff: true, seconds: 0 });
  closeRaw(s);
  open.splice(open.indexOf(s), 1);
  await sleep(10);
  // SO_LINGER 0 made close() send RST: the client's socket is CLOSE with ECONNRESET pending.
  assert.equal(tcpInfo(c).state, 'CLOSE');
  const r = recvRaw(c, 16, LINUX.MSG_DONTWAIT);
  assert.deepEqual(r, { ok: false, errno: 'ECONNRESET' });
});

test('SIGPIPE from a write to a reset socket is observed, not fatal', async () => {
  watchSigpipe();
  const [c, s] = await rawPair();
  closeRaw(s);
  open.splice(open.indexOf(s), 1);
  await sleep(10);
  assert.deepEqual(sendRaw(c, Buffer.from('a'), LINUX.MSG_DONTWAIT), { ok: true, value: 1 });
  assert.equal(takeSigpipe(), false, 'the first write after the FIN raises nothing');
  await sleep(10); // the RST comes back
  assert.deepEqual(sendRaw(c, Buffer.from('b'), LINUX.MSG_DONTWAIT), { ok: false, errno: 'EPIPE' });
  assert.equal(takeSigpipe(), true);
  assert.equal(takeSigpipe(), false, 'taking it consumes it');
});

test('shutdown(SHUT_RD) on a node:net socket sends nothing to the peer', async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const client = net.connect(port, '127.0.0.1');
  const [peer] = (await once(server, 'connection')) as [net.Socket];
  try {
    let ended = false;
    peer.on('end', () => (ended = true));
    // Paused: a reading node:net socket would see read() return 0 after SHUT_RD, take it for the
    // peer's EOF and (allowHalfOpen false) answer with its own FIN.
    client.pause();
    shutdownFd(fdOf(client), 'SHUT_RD');
    await sleep(30);
    assert.equal(ended, false, 'SHUT_RD sends no FIN');
    assert.equal(tcpInfo(fdOf(peer)).state, 'ESTABLISHED');
    shutdownFd(fdOf(client), 'SHUT_WR');
    await once(peer, 'end');
  } finally {
    client.destroy();
    peer.destroy();
    server.close();
  }
});

test('keepalive and TCP_USER_TIMEOUT are set on the socket', async () => {
  const [c] = await rawPair();
  setKeepalive(c, { idleMs: 1500, intervalMs: 1000, count: 3 });
  setUserTimeout(c, 2500);
  assert.equal(getUserTimeout(c), 2500);
});

test('errors are typed with the errno and a hint', () => {
  assert.throws(
    () => shutdownFd(987654, 'SHUT_WR'),
    (e: unknown) => e instanceof SysError && e.code === 'EBADF' && /do not use a socket after close/.test(e.message),
  );
});

test('fdOf refuses a destroyed socket', () => {
  const s = new net.Socket();
  assert.throws(() => fdOf(s), TypeError);
});
