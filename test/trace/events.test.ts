import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';

import { createTcpDecoder, decodePage, epochMsOf, eventFromJson, eventToJson, parseEventFormat, portFilterExpression, portsMatch, type TcpTraceEvent } from '../../src/trace/index.js';
import { capturedFormats, capturedLayout, capturedPages, captureMeta, fixtureText } from './fixtures.js';

/** The captured pages' events as `decoder` reads them, in time order. */
function decodeFixture(decoder = createTcpDecoder(capturedFormats())): TcpTraceEvent[] {
  const layout = capturedLayout();
  const out: TcpTraceEvent[] = [];
  for (const { cpu, page } of capturedPages()) {
    for (const r of decodePage(page, layout).records) {
      const e = decoder.decode(r.data, { clockNs: r.timeNs, cpu, epochOffsetNs: 0n });
      if (e) out.push(e);
    }
  }
  return out.sort((a, b) => (a.clockNs < b.clockNs ? -1 : 1));
}

describe('decoders on the captured connection (close() with 5 unread bytes)', () => {
  const meta = captureMeta();
  const server = `127.0.0.1:${meta.serverPort}`;
  const client = `127.0.0.1:${meta.clientPort}`;
  const events = decodeFixture();

  test('the client socket: CLOSE→SYN_SENT→ESTABLISHED→CLOSE, one skaddr (its port is 0 before SYN_SENT binds it)', () => {
    const established = events.find((e) => e.kind === 'state' && e.local === client && e.to === 'ESTABLISHED');
    assert.ok(established && established.kind === 'state');
    const mine = events.filter((e) => e.kind === 'state' && e.skaddr === established.skaddr);
    assert.deepEqual(
      mine.map((e) => (e.kind === 'state' ? `${e.from}→${e.to}` : '')),
      ['CLOSE→SYN_SENT', 'SYN_SENT→ESTABLISHED', 'ESTABLISHED→CLOSE'],
    );
    const first = mine[0];
    assert.ok(first?.kind === 'state');
    assert.equal(first.local, '127.0.0.1:0');
    assert.equal(first.remote, server);
    assert.equal(first.family, 'IPv4');
  });

  test('the server side: LISTEN→SYN_RECV→ESTABLISHED (the child socket), ESTABLISHED→CLOSE at close()', () => {
    const child = events.filter((e) => e.kind === 'state' && e.local === server && e.remote === client);
    assert.deepEqual(
      child.map((e) => (e.kind === 'state' ? `${e.from}→${e.to}` : '')),
      ['LISTEN→SYN_RECV', 'SYN_RECV→ESTABLISHED', 'ESTABLISHED→CLOSE'],
    );
    const listener = events.filter((e) => e.kind === 'state' && e.local === server && e.remote === '0.0.0.0:0');
    assert.deepEqual(listener.map((e) => (e.kind === 'state' ? e.to : '')), ['LISTEN', 'CLOSE']);
  });

  test('the RST: sent by the server end with reason TCP_ABORT_ON_CLOSE, no provoking segment; received by the client', () => {
    const sent = events.filter((e) => e.kind === 'reset-sent');
    assert.equal(sent.length, 1);
    const s = sent[0];
    assert.ok(s?.kind === 'reset-sent');
    assert.equal(s.local, server);
    assert.equal(s.remote, client);
    assert.equal(s.reason, 'TCP_ABORT_ON_CLOSE');
    assert.equal(s.state, 'CLOSE'); // __tcp_close() sets TCP_CLOSE before tcp_send_active_reset()
    assert.equal(s.skbaddr, 0n);
    assert.notEqual(s.skaddr, 0n);
    const got = events.filter((e) => e.kind === 'reset-received');
    assert.equal(got.length, 1);
    assert.ok(got[0]?.kind === 'reset-received');
    assert.equal(got[0].local, client);
    assert.equal(got[0].remote, server);
    assert.ok(got[0].cookie !== null && got[0].cookie > 0n);
  });

  test('the error report: ECONNRESET on the client socket, as the client saw it', () => {
    const reports = events.filter((e) => e.kind === 'error-report');
    assert.equal(reports.length, 1);
    const r = reports[0];
    assert.ok(r?.kind === 'error-report');
    assert.equal(r.local, client);
    assert.equal(r.errno, meta.clientError);
    assert.equal(r.error, constants.errno.ECONNRESET);
  });

  test('fields agree with the kernel\'s own text (trace.txt), event by event', () => {
    const text = fixtureText('trace.txt')
      .split('\n')
      .filter((l) => /:\s(inet_sock_set_state|tcp_send_reset|tcp_receive_reset|inet_sk_error_report):/.test(l));
    assert.equal(events.length, text.length);
    events.forEach((e, i) => {
      const line = text[i] as string;
      const kv = (k: string): string | undefined => new RegExp(`\\b${k}=(\\S+)`).exec(line)?.[1];
      switch (e.kind) {
        case 'state':
          assert.equal(`TCP_${e.from}`, kv('oldstate'), line);
          assert.equal(`TCP_${e.to}`, kv('newstate'), line);
          assert.equal(e.local, `${kv('saddr')}:${kv('sport')}`, line);
          assert.equal(e.remote, `${kv('daddr')}:${kv('dport')}`, line);
          break;
        case 'reset-sent':
          assert.equal(e.local, kv('src'));
          assert.equal(e.remote, kv('dest'));
          assert.equal(e.reason, kv('reason'));
          assert.equal(`TCP_${e.state}`, kv('state'));
          break;
        case 'reset-received':
          assert.equal(e.local, `${kv('saddr')}:${kv('sport')}`);
          assert.equal(e.cookie?.toString(16), kv('sock_cookie'));
          break;
        case 'error-report':
          assert.equal(String(e.error), kv('error'));
          break;
      }
      assert.equal(e.pid, Number(/-(\d+)\s+\[/.exec(line)?.[1]));
    });
  });

  test('times increase and convert to epoch ms with a µs fraction', () => {
    for (let i = 1; i < events.length; i++) assert.ok((events[i]?.clockNs ?? 0n) >= (events[i - 1]?.clockNs ?? 0n));
    assert.equal(epochMsOf(1_234_567_891n, 1_700_000_000_000_000_000n), 1_700_000_001_234.567);
  });
});

describe('decoders on other kernels\' layouts', () => {
  const base = capturedFormats();

  test('no reason field (Linux < 6.10), no sock_cookie: null, not a failure', () => {
    const noReason = fixtureText('formats/tcp_send_reset.format').replace(/\tfield:enum sk_rst_reason reason;[^\n]*\n/, '');
    const noCookie = fixtureText('formats/tcp_receive_reset.format').replace(/\tfield:__u64 sock_cookie;[^\n]*\n/, '');
    const d = createTcpDecoder({ tcp_send_reset: parseEventFormat(noReason), tcp_receive_reset: parseEventFormat(noCookie) });
    const got = decodeFixture(d);
    const sent = got.find((e) => e.kind === 'reset-sent');
    const recv = got.find((e) => e.kind === 'reset-received');
    assert.ok(sent?.kind === 'reset-sent' && recv?.kind === 'reset-received');
    assert.equal(sent.reason, null);
    assert.equal(sent.local, `127.0.0.1:${captureMeta().serverPort}`);
    assert.equal(recv.cookie, null);
    assert.ok(d.skips.otherEvent > 0); // the state changes and the marker are not this decoder's
  });

  test('a reason name a newer kernel adds passes through; a value without a name is REASON_<n>', () => {
    const renamed = fixtureText('formats/tcp_send_reset.format').replace('{ 11, "TCP_ABORT_ON_CLOSE" }', '{ 11, "TCP_ABORT_SOMETHING_NEW" }');
    const d = createTcpDecoder({ tcp_send_reset: parseEventFormat(renamed) });
    const rec = Buffer.alloc(88);
    rec.writeUInt16LE(base.tcp_send_reset.id, 0);
    rec.writeUInt32LE(11, 28);
    const e = d.decode(rec, { clockNs: 1n, cpu: 0, epochOffsetNs: 0n });
    assert.ok(e?.kind === 'reset-sent');
    assert.equal(e.reason, 'TCP_ABORT_SOMETHING_NEW');
    assert.equal(e.local, null); // family 0: the kernel had no address
    rec.writeUInt32LE(99, 28);
    const f = d.decode(rec, { clockNs: 1n, cpu: 0, epochOffsetNs: 0n });
    assert.ok(f?.kind === 'reset-sent');
    assert.equal(f.reason, 'REASON_99');
  });

  test('IPv6: state change from the v6 fields, reset from sockaddr_in6 bytes', () => {
    const fmt = base.inet_sock_set_state;
    const d = createTcpDecoder(base);
    const f = (n: string): number => fmt.field.get(n)?.offset ?? -1;
    const rec = Buffer.alloc(72);
    rec.writeUInt16LE(fmt.id, 0);
    rec.writeInt32LE(4, f('oldstate'));
    rec.writeInt32LE(5, f('newstate'));
    rec.writeUInt16LE(8080, f('sport'));
    rec.writeUInt16LE(51000, f('dport'));
    rec.writeUInt16LE(10, f('family'));
    rec.writeUInt16LE(6, f('protocol'));
    rec[f('saddr_v6') + 15] = 1; // ::1
    Buffer.from('20010db8000000000000000000000002', 'hex').copy(rec, f('daddr_v6'));
    const e = d.decode(rec, { clockNs: 5n, cpu: 1, epochOffsetNs: 0n });
    assert.ok(e?.kind === 'state');
    assert.deepEqual([e.family, e.from, e.to, e.local, e.remote], ['IPv6', 'FIN_WAIT1', 'FIN_WAIT2', '[::1]:8080', '[2001:db8::2]:51000']);

    const rs = base.tcp_send_reset;
    const r = Buffer.alloc(88);
    r.writeUInt16LE(rs.id, 0);
    r.writeInt32LE(12, rs.field.get('state')?.offset ?? -1);
    r.writeUInt32LE(1, rs.field.get('reason')?.offset ?? -1);
    const sa = rs.field.get('saddr')?.offset ?? -1;
    r.writeUInt16LE(10, sa);
    r.writeUInt16BE(443, sa + 2);
    r[sa + 8 + 15] = 1;
    const da = rs.field.get('daddr')?.offset ?? -1;
    r.writeUInt16LE(10, da);
    r.writeUInt16BE(40000, da + 2);
    Buffer.from('00000000000000000000ffff7f000002', 'hex').copy(r, da + 8);
    const x = d.decode(r, { clockNs: 5n, cpu: 1, epochOffsetNs: 0n });
    assert.ok(x?.kind === 'reset-sent');
    assert.deepEqual([x.family, x.local, x.remote, x.state, x.reason], ['IPv6', '[::1]:443', '[::ffff:127.0.0.2]:40000', 'NEW_SYN_RECV', 'NO_SOCKET']);
  });

  test('not TCP (SCTP, MPTCP-level sockets) and truncated records are skipped and counted', () => {
    const fmt = base.inet_sock_set_state;
    const d = createTcpDecoder(base);
    const rec = Buffer.alloc(72);
    rec.writeUInt16LE(fmt.id, 0);
    rec.writeUInt16LE(132, fmt.field.get('protocol')?.offset ?? -1);
    rec.writeUInt16LE(2, fmt.field.get('family')?.offset ?? -1);
    assert.equal(d.decode(rec, { clockNs: 0n, cpu: 0, epochOffsetNs: 0n }), null);
    assert.equal(d.decode(rec.subarray(0, 20), { clockNs: 0n, cpu: 0, epochOffsetNs: 0n }), null);
    assert.deepEqual({ ...d.skips }, { otherEvent: 0, notTcp: 1, unknownState: 0, truncated: 1 });
  });
});

describe('port filters', () => {
  test('the kernel expression and the userspace match agree on the ranges', () => {
    assert.equal(portFilterExpression([[80, 80]]), 'sport == 80 || dport == 80');
    assert.equal(portFilterExpression([[1000, 2000], [443, 443]]), '(sport >= 1000 && sport <= 2000) || (dport >= 1000 && dport <= 2000) || sport == 443 || dport == 443');
    const ev = (local: string | null, remote: string | null): TcpTraceEvent => ({
      kind: 'reset-sent', clockNs: 0n, epochMs: 0, cpu: 0, pid: 0, family: null, local, remote, state: null, reason: null, skaddr: 0n, skbaddr: 0n,
    });
    assert.equal(portsMatch(ev('127.0.0.1:1500', '127.0.0.1:9'), [[1000, 2000]]), true);
    assert.equal(portsMatch(ev('[::1]:9', '[::1]:2000'), [[1000, 2000]]), true);
    assert.equal(portsMatch(ev('127.0.0.1:999', '127.0.0.1:2001'), [[1000, 2000]]), false);
    assert.equal(portsMatch(ev(null, null), [[0, 65535]]), false);
  });
});

describe('JSON form', () => {
  test('every captured event survives eventToJson → JSON → eventFromJson', () => {
    const events = decodeFixture();
    const text = JSON.stringify(events.map(eventToJson));
    const back = (JSON.parse(text) as Record<string, unknown>[]).map(eventFromJson);
    assert.deepEqual(back, events);
    const sent = events.map(eventToJson).find((e) => e.kind === 'reset-sent');
    assert.match(String(sent?.skaddr), /^0x[0-9a-f]+$/);
    assert.equal(sent?.skbaddr, '0x0');
  });
  test('bad input is a TypeError', () => {
    assert.throws(() => eventFromJson({ kind: 'nope' }), TypeError);
    assert.throws(() => eventFromJson({ kind: 'state', clockNs: 12 }), TypeError);
  });
});
