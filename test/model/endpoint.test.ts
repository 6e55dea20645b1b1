/**
 * The model's endpoint rules, smoltcp-style: exact segments at exact virtual times, per state.
 * Loopback delay is 0.01 ms per hop; the delayed-ACK timer fires on the first 4 ms jiffy after
 * now + ato (CONFIG_HZ=250).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Lab, value } from './helpers.js';

test('handshake: SYN, SYN-ACK, ACK; both ends ESTABLISHED; the listener counts it in Recv-Q', () => {
  const lab = new Lab();
  const { addr } = lab.listen();
  const c = lab.connect(addr);
  lab.names.set(addr, 'L');
  lab.advance(1);
  assert.deepEqual(lab.wire(), ['0.00 c>L S 0:- len 0', '0.01 L>c S. 0:1 len 0', '0.02 c>L . 1:1 len 0']);
  assert.equal(lab.clientState(c), 'ESTABLISHED');
  const listener = lab.w.host.observe().find((o) => o.state === 'LISTEN')!;
  assert.equal(listener.recvQ, 1);
  assert.deepEqual(lab.client.connected(c), { ok: true });
});

test('quick-ack at connection start, delayed ACK of a FIN after data (40 ms + a jiffy) and within a jiffy before any data', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  const from = lab.segCount;
  value(lab.client.write(c, 'ping'));
  lab.advance(9);
  value(lab.client.close(c)); // at 10 ms: the server had data, so its ACK of the FIN waits
  lab.advance(100);
  assert.deepEqual(lab.wire(from), [
    '1.00 c>s P. 1:1 len 4',
    '1.01 s>c . 1:5 len 0', // quick-ack: tcp_in_quickack_mode() at connection start
    '10.00 c>s F. 5:1 len 0',
    '52.00 s>c . 1:6 len 0', // CLOSE_WAIT enters ping-pong; delack timer on the jiffy after 10.01 + 40
  ]);
  assert.equal(lab.serverState(s), 'CLOSE_WAIT');

  const lab2 = new Lab();
  const p2 = lab2.pair();
  const from2 = lab2.segCount;
  value(lab2.client.shutdown(p2.c, 'SHUT_WR'));
  lab2.advance(10);
  assert.deepEqual(lab2.wire(from2), ['1.00 c>s F. 1:1 len 0', '4.00 s>c . 1:2 len 0']); // ato 0: the next jiffy
});

test('request/response ends quick-ack (ping-pong): the reply carries the ACK; a lone request gets a delayed ACK', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  const from = lab.segCount;
  value(lab.client.write(c, 'req1'));
  lab.advance(0.5);
  value(lab.server.read(s));
  value(lab.server.write(s, 'rsp1')); // within ato of the data: tcp_event_data_sent() → ping-pong
  lab.advance(0.5);
  value(lab.client.write(c, 'req2'));
  lab.advance(100);
  assert.deepEqual(lab.wire(from), [
    '1.00 c>s P. 1:1 len 4',
    '1.01 s>c . 1:5 len 0',
    '1.50 s>c P. 1:5 len 4',
    '1.51 c>s . 5:5 len 0',
    '2.00 c>s P. 5:5 len 4',
    '44.00 s>c . 5:9 len 0', // in ping-pong mode: delayed, 40 ms + to the jiffy
  ]);
});

test('listen overflow: the accept queue admits backlog+1, the next SYN is dropped and retransmitted 1 s apart five times (tcp_syn_linear_timeouts 4), the RTO doubling after that', () => {
  const lab = new Lab();
  const { fd: L, addr } = lab.listen(1);
  lab.connect(addr, 'a');
  lab.advance(1);
  lab.connect(addr, 'b');
  lab.advance(1);
  const from = lab.segCount;
  const c = lab.connect(addr, 'c');
  lab.advance(5000);
  // Linux 6.5+ (tcp_retransmit_timer(): no backoff while total_rto <= tcp_syn_linear_timeouts), as the
  // kernel's full-backlog trace shows: SYNs 1.02 s apart.
  assert.deepEqual(
    lab.wire(from),
    [2, 1002, 2002, 3002, 4002, 5002].map((t) => `${t}.00 c>L S 0:- len 0`),
  );
  assert.equal(lab.w.host.observe().find((o) => o.state === 'LISTEN')!.recvQ, 2);
  assert.equal(lab.clientState(c), 'SYN_SENT');
  const timer = lab.w.host.observe().find((o) => o.state === 'SYN_SENT')!.timer;
  assert.deepEqual(timer, { kind: 'retransmit', remainingMs: 2000, retransmits: 5 }); // at 5002 ms, the RTO doubled: next SYN at 7002
  value(lab.server.accept(L)); // room again: the SYN still on the wire gets through
  lab.advance(3000);
  assert.deepEqual(lab.wire(from + 6), ['5002.01 L>c S. 0:1 len 0', '5002.02 c>L . 1:1 len 0']);
  assert.equal(lab.clientState(c), 'ESTABLISHED');
});

test('a client that never connects gives up after tcp_syn_retries: with retries 2, ETIMEDOUT at 7 s (1+2+4 s of backoff, tcp_model_timeout()), its SYNs 1 s apart', () => {
  const lab = new Lab({ host: { sysctls: { tcp_syn_retries: 2 } } });
  const fd = value(lab.client.socket());
  assert.deepEqual(lab.client.connect(fd, '10.9.9.9:80'), { ok: false, errno: 'EINPROGRESS' });
  lab.advance(6999);
  assert.deepEqual(lab.client.connected(fd), { ok: false, errno: 'EINPROGRESS' });
  lab.advance(2);
  assert.deepEqual(lab.client.connected(fd), { ok: false, errno: 'ETIMEDOUT' });
  assert.deepEqual(lab.w.network.segments.map((g) => g.timeMs), [0, 1000, 2000, 3000, 4000, 5000]);
});

test('SYN_RECV: a request whose SYN-ACK gets no answer is listed as SYN_RECV and resent at 1, 3, 7, 15, 31 s, dropped at 63 s', () => {
  const lab = new Lab();
  const { addr } = lab.listen();
  lab.w.host.receive({ src: '10.0.0.9:5555', dst: addr, seq: 100, ack: 0, flags: ['SYN'], data: '', window: 65535 });
  const req = lab.w.host.observe().find((o) => o.state === 'SYN_RECV')!;
  assert.equal(req.owner, null);
  assert.deepEqual(req.timer, { kind: 'retransmit', remainingMs: 1000, retransmits: 0 });
  lab.advance(62_000);
  assert.deepEqual(lab.w.network.segments.map((g) => `${g.timeMs} ${g.flags.join('+')}`), ['0 SYN+ACK', '1000 SYN+ACK', '3000 SYN+ACK', '7000 SYN+ACK', '15000 SYN+ACK', '31000 SYN+ACK']);
  assert.ok(lab.w.host.observe().some((o) => o.state === 'SYN_RECV'));
  lab.advance(1_001);
  assert.ok(!lab.w.host.observe().some((o) => o.state === 'SYN_RECV'));
});

test('connect to a port with no listener: RST+ACK (NO_SOCKET), ECONNREFUSED', () => {
  const lab = new Lab();
  const c = lab.connect('127.0.0.1:9', 'c');
  lab.names.set('127.0.0.1:9', 'x');
  lab.advance(1);
  assert.deepEqual(lab.wire(), ['0.00 c>x S 0:- len 0', '0.01 x>c R. -:1 len 0 NO_SOCKET']);
  assert.deepEqual(lab.client.connected(c), { ok: false, errno: 'ECONNREFUSED' });
  assert.equal(lab.clientState(c), null);
});

test('close() with unread data: RST+ACK (TCP_ABORT_ON_CLOSE) instead of FIN; the peer reads ECONNRESET, then EOF, writes EPIPE+SIGPIPE', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.client.write(c, 'request'));
  lab.advance(1);
  const from = lab.segCount;
  value(lab.server.close(s));
  lab.advance(1);
  assert.deepEqual(lab.wire(from), ['2.00 s>c R. 1:8 len 0 TCP_ABORT_ON_CLOSE']);
  assert.equal(lab.clientState(c), null);
  assert.deepEqual(lab.client.read(c), { ok: false, errno: 'ECONNRESET' });
  assert.deepEqual(lab.client.read(c), { ok: true, value: { bytes: 0, eof: true, text: '' } });
  assert.deepEqual(lab.client.write(c, 'x'), { ok: false, errno: 'EPIPE', sigpipe: true });
  const moves = lab.w.host.transitions.filter((t) => t.atMs >= 2).map((t) => `${t.from}->${t.to}`);
  assert.deepEqual(moves, ['ESTABLISHED->CLOSE', 'ESTABLISHED->CLOSE']);
});

test('close() with SO_LINGER {1, 0} and nothing unread: tcp_disconnect() RST (TCP_STATE)', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.server.setLinger(s, true, 0));
  const from = lab.segCount;
  value(lab.server.close(s));
  lab.advance(1);
  assert.deepEqual(lab.wire(from), ['1.00 s>c R. 1:1 len 0 TCP_STATE']);
  assert.deepEqual(lab.client.read(c), { ok: false, errno: 'ECONNRESET' });
});

test('FIN_WAIT1 with unsent data: the FIN rides the last data segment (tcp_send_fin())', () => {
  const lab = new Lab();
  const { fd: L, addr } = lab.listen();
  value(lab.server.setRcvbuf(L, 1000));
  const c = lab.connect(addr);
  lab.advance(1);
  const s = value(lab.server.accept(L));
  lab.names.set(addr, 's');
  const from = lab.segCount;
  value(lab.client.write(c, 2500)); // the server's window is 1000 bytes
  lab.advance(1);
  value(lab.client.close(c));
  assert.equal(lab.clientState(c), 'FIN_WAIT1');
  assert.equal(lab.w.host.observe().find((o) => o.state === 'FIN_WAIT1')!.sendQ, 1501); // 1000 B acked: 1500 B + FIN
  const got: number[] = [];
  for (let i = 0; i < 3; i++) {
    got.push(value(lab.server.read(s)).bytes);
    lab.advance(1);
  }
  assert.deepEqual(got, [1000, 1000, 500]);
  lab.advance(50);
  assert.deepEqual(lab.wire(from), [
    // tcp_bound_to_half_wnd(): skbs of half the 1000 B window; the first goes alone (tcp_push_one()),
    '1.00 c>s . 1:1 len 500',
    '1.00 c>s P. 501:1 len 500', // the second with PSH: forced_push() (more than half the window since the last mark)
    '1.01 s>c . 1:501 len 0', // quick-ack: rcv_wnd 1000 / 2·rcv_mss 536 is 0, so 2 (tcp_incr_quickack())
    '1.01 s>c . 1:1001 len 0', // the second quick-ack
    '2.00 s>c . 1:1001 len 0', // window update after the read (tcp_cleanup_rbuf())
    '2.01 c>s P. 1001:1 len 1000', // two skbs in one GSO packet (tcp_grow_skb()), PSH from the second
    '2.02 s>c . 1:2001 len 0', // 1000 B > rcv_mss unacknowledged: at once (__tcp_ack_snd_check())
    '3.00 s>c . 1:2001 len 0', // the next window update
    '3.01 c>s FP. 2001:1 len 500', // the last data carries the FIN
    '44.00 s>c . 1:2502 len 0', // FIN → CLOSE_WAIT, ping-pong: delayed ACK
  ]);
});

test('FIN_WAIT1 with unsent data behind a full send buffer: write() fills to EAGAIN, close() queues the FIN, the zero window holds both until a read', () => {
  // As the kernel's close-unsent-data trace (test/fixtures/traces): SO_SNDBUF 4096 (→ 8192), a
  // receiver with a 4096 B window that does not read.
  const lab = new Lab();
  const { fd: L, addr } = lab.listen();
  value(lab.server.setRcvbuf(L, 4096));
  const c = value(lab.client.socket());
  value(lab.client.setSndbuf(c, 4096));
  assert.equal(lab.ep(lab.client, c).sndbuf, 8192); // sk_setsockopt(): doubled
  const r = lab.client.connect(c, addr);
  assert.equal(r.ok ? 'ok' : r.errno, 'EINPROGRESS');
  lab.names.set(lab.ep(lab.client, c).local, 'c');
  lab.advance(1);
  const s = value(lab.server.accept(L));
  lab.names.set(addr, 's');
  const from = lab.segCount;
  // The lab's fill: send(MSG_DONTWAIT) of 64 KiB until EAGAIN, 0.05 ms a call.
  const calls: (number | string)[] = [];
  for (;;) {
    const w = lab.client.write(c, 65536);
    calls.push(w.ok ? (w.value as number) : w.errno);
    if (!w.ok) break;
    lab.advance(0.05);
  }
  // Four 2048 B skbs fit below 8192 B of sk_wmem_queued; the ACK of the first frees one, so one more.
  assert.deepEqual(calls, [8192, 2048, 'EAGAIN']);
  const sendQ = (): number | undefined => lab.w.host.observe().find((o) => o.local === lab.ep(lab.client, c).local)?.sendQ;
  assert.equal(sendQ(), 8192); // the kernel's Send-Q after its fill, too
  lab.advance(100);
  assert.equal(sendQ(), 6144); // the delayed ACK of the second skb (window 0)
  value(lab.client.close(c));
  assert.equal(lab.clientState(c), 'FIN_WAIT1');
  assert.equal(sendQ(), 6145); // 6144 B + the FIN, all unsent
  const beforeRead = lab.segCount;
  lab.advance(100);
  assert.equal(lab.segCount, beforeRead, 'nothing leaves against a zero window (no persist probes modelled)');
  let got = 0;
  for (let i = 0; i < 3; i++) {
    const rd = lab.server.read(s);
    if (rd.ok) got += rd.value!.bytes;
    lab.advance(1);
  }
  assert.equal(got, 10240);
  assert.equal(lab.clientState(c), 'FIN_WAIT2');
  assert.equal(lab.serverState(s), 'CLOSE_WAIT');
  assert.deepEqual(lab.wire(from), [
    '1.00 c>s . 1:1 len 2048', // half the 4096 B window per skb, the first alone (tcp_push_one())
    '1.00 c>s P. 2049:1 len 2048', // forced_push()
    '1.01 s>c . 1:2049 len 0', // the one quick ACK (rcv_wnd 4096 / 2·2048)
    '44.00 s>c . 1:4097 len 0', // delayed ACK, window 0 (the kernel: 42.5 ms later)
    '201.10 s>c . 1:4097 len 0', // the read opens the window (tcp_cleanup_rbuf())
    '201.11 c>s P. 4097:1 len 4096', // two skbs in one GSO packet, as the kernel sent them
    '201.12 s>c . 1:8193 len 0',
    '202.10 s>c . 1:8193 len 0',
    '202.11 c>s FP. 8193:1 len 2048', // the FIN rides the last data (tcp_send_fin())
    '202.12 s>c . 1:10242 len 0', // 2049 > rcv_mss unacknowledged: at once
  ]);
});

test('FIN_WAIT2: an orphan goes to a timewait socket for tcp_fin_timeout and is gone after it; a held FIN_WAIT2 stays', () => {
  const lab = new Lab({ host: { sysctls: { tcp_fin_timeout: 2 } } });
  const { addr, fd: L } = lab.listen();
  const held = lab.connect(addr, 'held');
  lab.advance(1);
  const orphan = lab.connect(addr, 'orphan');
  lab.advance(1);
  value(lab.server.accept(L));
  value(lab.server.accept(L));
  value(lab.client.shutdown(held, 'SHUT_WR'));
  value(lab.client.close(orphan));
  const start = lab.now;
  lab.advance(100);
  const orphanEp = lab.client.endpoint(orphan);
  assert.equal(orphanEp, undefined); // the descriptor is gone
  const fw2 = lab.w.host.observe().filter((o) => o.state === 'FIN_WAIT2');
  assert.equal(fw2.length, 2);
  const tw = fw2.find((o) => o.owner === null)!;
  assert.equal(tw.timer.kind, 'time_wait');
  assert.ok(Math.abs(tw.timer.remainingMs - (2000 - 100 + 4)) < 4.1, `remaining ${tw.timer.remainingMs}`);
  lab.advance(2000 - 100 - 10);
  assert.equal(lab.w.host.observe().filter((o) => o.state === 'FIN_WAIT2').length, 2);
  lab.advance(20);
  const left = lab.w.host.observe().filter((o) => o.state === 'FIN_WAIT2');
  assert.equal(left.length, 1);
  assert.equal(left[0]!.owner?.fd, held);
  lab.advance(600_000);
  assert.equal(lab.clientState(held), 'FIN_WAIT2'); // RFC 9293 has no timer for it; neither has Linux
  assert.ok(lab.now - start > 600_000);
});

test('data to an orphan FIN_WAIT2 (timewait socket) is answered by RST (TCP_TIMEWAIT_SOCKET); to a closed port by RST (NO_SOCKET)', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.client.close(c));
  lab.advance(10);
  const from = lab.segCount;
  value(lab.server.write(s, 'late'));
  lab.advance(1);
  assert.deepEqual(lab.wire(from), ['11.00 s>c P. 1:2 len 4', '11.01 c>s R 2:- len 0 TCP_TIMEWAIT_SOCKET']);
  assert.deepEqual(lab.server.read(s), { ok: true, value: { bytes: 0, eof: true, text: '' } }); // the FIN came first
  assert.equal(lab.serverState(s), null);
});

test('simultaneous close: FIN_WAIT1 + FIN → CLOSING, then TIME_WAIT on both ends', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  const from = lab.segCount;
  value(lab.client.shutdown(c, 'SHUT_WR'));
  value(lab.server.shutdown(s, 'SHUT_WR'));
  lab.advance(1);
  assert.deepEqual(lab.wire(from), ['1.00 c>s F. 1:1 len 0', '1.00 s>c F. 1:1 len 0', '1.01 s>c . 2:2 len 0', '1.01 c>s . 2:2 len 0']);
  const moves = lab.w.host.transitions.filter((t) => t.atMs >= 1).map((t) => `${t.socket === lab.client.endpoint(c)!.name ? 'c' : 's'} ${t.from}->${t.to}`);
  assert.deepEqual(moves, [
    'c ESTABLISHED->FIN_WAIT1',
    's ESTABLISHED->FIN_WAIT1',
    's FIN_WAIT1->CLOSING', // s took c's FIN first (both at 1.01, c's was sent first)
    'c FIN_WAIT1->CLOSING',
    'c CLOSING->CLOSE', // and s's ACK of it arrives first
    's CLOSING->CLOSE',
  ]);
  assert.equal(lab.clientState(c), 'TIME_WAIT');
  assert.equal(lab.serverState(s), 'TIME_WAIT');
});

test('LAST_ACK: close after EOF sends FIN+ACK at once when the ACK of their FIN is still delayed (three-way close)', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.client.write(c, 'req'));
  lab.advance(1);
  value(lab.server.read(s));
  lab.advance(10);
  const from = lab.segCount;
  value(lab.client.close(c));
  lab.advance(1);
  assert.deepEqual(lab.server.read(s), { ok: true, value: { bytes: 0, eof: true, text: '' } });
  value(lab.server.close(s));
  assert.equal(lab.serverState(s), 'LAST_ACK');
  lab.advance(1);
  assert.deepEqual(lab.wire(from), ['12.00 c>s F. 4:1 len 0', '13.00 s>c F. 1:5 len 0', '13.01 c>s . 5:2 len 0']);
  assert.equal(lab.serverState(s), null);
  assert.equal(lab.clientState(c), 'TIME_WAIT');
});

test('TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN), no owner, timer time_wait', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.client.shutdown(c, 'SHUT_WR'));
  lab.advance(10);
  value(lab.server.close(s));
  lab.advance(1);
  assert.equal(lab.clientState(c), 'TIME_WAIT');
  const tw = lab.w.host.observe().find((o) => o.state === 'TIME_WAIT')!;
  assert.equal(tw.owner, null);
  assert.equal(tw.inode, 0);
  assert.ok(Math.abs(tw.timer.remainingMs - 59_999) < 0.1, String(tw.timer.remainingMs));
  lab.advance(59_998);
  assert.equal(lab.clientState(c), 'TIME_WAIT');
  lab.advance(2);
  assert.equal(lab.clientState(c), null);
});

test('TIME_WAIT: a retransmitted FIN is ACKed at once; the RST the ACK draws from the listener kills the timewait socket (RFC 1337 assassination)', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.client.shutdown(c, 'SHUT_WR'));
  lab.advance(10);
  value(lab.server.close(s));
  lab.advance(1);
  const ep = lab.ep(lab.client, c);
  lab.advance(1000);
  const from = lab.segCount;
  lab.w.host.receive({ src: ep.remote, dst: ep.local, seq: ep.rcvNxt - 1, ack: ep.sndNxt, flags: ['FIN', 'ACK'], data: '', window: 1000 });
  lab.advance(1);
  // The ACK reaches the listener's port with no request behind it: tcp_rcv_state_process() in LISTEN resets (TCP_FLAGS).
  assert.deepEqual(lab.wire(from), ['1012.00 c>s . 2:2 len 0', '1012.01 s>c R 2:- len 0 TCP_FLAGS']);
  assert.equal(lab.clientState(c), null);
});

test('self-connect: SYN_SENT + own SYN → SYN_RECV → ESTABLISHED; close → FIN_WAIT1 → CLOSING → TIME_WAIT', () => {
  const lab = new Lab();
  const fd = value(lab.client.socket());
  const port = value(lab.client.bind(fd, 0));
  const me = `127.0.0.1:${port}`;
  lab.names.set(me, 's');
  assert.deepEqual(lab.client.connect(fd, me), { ok: false, errno: 'EINPROGRESS' });
  lab.advance(1);
  assert.deepEqual(lab.wire(), ['0.00 s>s S 0:- len 0', '0.01 s>s S. 0:1 len 0', '0.02 s>s . 1:1 len 0']);
  assert.deepEqual(lab.client.connected(fd), { ok: true });
  value(lab.client.close(fd));
  lab.advance(1);
  assert.deepEqual(lab.wire(3), ['1.00 s>s F. 1:1 len 0', '1.01 s>s . 2:2 len 0']);
  assert.deepEqual(
    lab.w.host.transitions.map((t) => `${t.from}->${t.to}`),
    ['CLOSE->SYN_SENT', 'SYN_SENT->SYN_RECV', 'SYN_RECV->ESTABLISHED', 'ESTABLISHED->FIN_WAIT1', 'FIN_WAIT1->CLOSING', 'CLOSING->CLOSE'],
  );
  assert.deepEqual(lab.w.host.observe().map((o) => o.state), ['TIME_WAIT']);
});

test('SHUT_RD as Linux does it: nothing is sent; later data is ACKed and queued, read returns it, then EOF', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  const from = lab.segCount;
  value(lab.client.shutdown(c, 'SHUT_RD'));
  lab.advance(5);
  assert.deepEqual(lab.wire(from), []);
  assert.deepEqual(lab.client.read(c), { ok: true, value: { bytes: 0, eof: true, text: '' } });
  value(lab.server.write(s, 'after SHUT_RD!'));
  lab.advance(1);
  assert.deepEqual(lab.wire(from), ['6.00 s>c P. 1:1 len 14', '6.01 c>s . 1:15 len 0']);
  assert.equal(lab.w.host.observe().find((o) => o.owner?.pid === lab.client.pid && o.state === 'ESTABLISHED')!.recvQ, 14);
  assert.deepEqual(lab.client.read(c), { ok: true, value: { bytes: 14, eof: false, text: 'after SHUT_RD!' } });
  assert.deepEqual(lab.client.read(c), { ok: true, value: { bytes: 0, eof: true, text: '' } });
});

test('SHUT_RDWR then data in FIN_WAIT2: RST (TCP_ABORT_ON_DATA), the socket goes to CLOSE', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.client.shutdown(c, 'SHUT_RDWR'));
  lab.advance(10);
  assert.equal(lab.clientState(c), 'FIN_WAIT2');
  const from = lab.segCount;
  value(lab.server.write(s, 'late'));
  lab.advance(1);
  assert.deepEqual(lab.wire(from), ['11.00 s>c P. 1:2 len 4', '11.01 c>s R 2:- len 0 TCP_ABORT_ON_DATA']);
  assert.equal(lab.clientState(c), null);
});

test('write after SHUT_WR: EPIPE with SIGPIPE; RST in CLOSE_WAIT sets EPIPE as the socket error (tcp_reset())', () => {
  const lab = new Lab();
  const { c, s } = lab.pair();
  value(lab.client.shutdown(c, 'SHUT_WR'));
  assert.deepEqual(lab.client.write(c, 'x'), { ok: false, errno: 'EPIPE', sigpipe: true });
  lab.advance(10);
  assert.equal(lab.serverState(s), 'CLOSE_WAIT');
  value(lab.client.setLinger(c, true, 0));
  value(lab.client.close(c));
  lab.advance(1);
  assert.equal(lab.serverState(s), null);
  assert.equal(lab.ep(lab.server, s).error, 'EPIPE'); // not ECONNRESET: the RST came in CLOSE_WAIT
  assert.deepEqual(lab.server.read(s), { ok: true, value: { bytes: 0, eof: true, text: '' } }); // SOCK_DONE: EOF before the error
  assert.deepEqual(lab.server.write(s, 'x'), { ok: false, errno: 'EPIPE', sigpipe: true });
  assert.deepEqual(lab.server.write(s, 'x'), { ok: false, errno: 'EPIPE', sigpipe: true });
});

test('exit of a process closes its descriptors: a listener with a connection never accepted resets it (TCP_STATE)', () => {
  const lab = new Lab();
  const { addr } = lab.listen();
  const c = lab.connect(addr);
  lab.advance(1);
  value(lab.client.write(c, 'ping'));
  lab.advance(1);
  value(lab.client.close(c));
  lab.advance(100);
  assert.deepEqual(lab.w.host.observe().map((o) => o.state).sort(), ['CLOSE_WAIT', 'FIN_WAIT2', 'LISTEN']);
  const from = lab.segCount;
  value(lab.server.exit());
  assert.deepEqual(lab.server.read(3), { ok: false, errno: 'ESRCH' });
  lab.advance(1);
  // The RST kills the client's timewait socket (FIN_WAIT2 substate) silently, as in the fixture.
  assert.deepEqual(lab.wire(from), ['102.00 L>c R. 1:6 len 0 TCP_STATE']);
  assert.deepEqual(lab.w.host.observe(), []);
});

test('tcp_fin_timeout above 60 s: the orphan keeps its full socket in FIN_WAIT2 with a keepalive timer for (fin_timeout − 60 s), then a timewait socket', () => {
  const lab = new Lab({ host: { sysctls: { tcp_fin_timeout: 90 } } });
  const { c } = lab.pair();
  value(lab.client.close(c));
  lab.advance(10);
  const fw2 = lab.w.host.observe().find((o) => o.state === 'FIN_WAIT2')!;
  assert.equal(fw2.owner, null);
  assert.equal(fw2.timer.kind, 'keepalive');
  assert.ok(Math.abs(fw2.timer.remainingMs - (30_000 - 10 + 4)) <= 4, String(fw2.timer.remainingMs));
  lab.advance(30_000);
  const tw = lab.w.host.observe().find((o) => o.state === 'FIN_WAIT2')!;
  assert.equal(tw.timer.kind, 'time_wait');
  assert.deepEqual(
    lab.w.host.transitions.filter((t) => t.socket === lab.ep(lab.client, c).name).map((t) => t.to),
    ['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1', 'FIN_WAIT2', 'CLOSE'],
  );
});
