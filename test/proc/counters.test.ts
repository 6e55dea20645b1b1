import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  parseNetstat,
  parseSockstat,
  ProcParseError,
  readNetCounters,
  readNetCountersSync,
  readSockstat,
  readSockstatSync,
} from '../../src/proc/index.js';
import { FIXTURES, fixtureText } from './fixtures.js';

const root = `${FIXTURES}basic`;

function parseError(fn: () => unknown, lineNumber: number, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProcParseError, String(err));
    assert.equal(err.code, 'EPROCPARSE');
    assert.equal(err.lineNumber, lineNumber);
    assert.match(err.reason, reason);
    return true;
  });
}

describe('parseNetstat', () => {
  it('reads the captured /proc/net/netstat: the full accept queue dropped SYNs', () => {
    const c = parseNetstat(fixtureText('basic/net/netstat'));
    assert.deepEqual(Object.keys(c), ['TcpExt', 'IpExt', 'MPTcpExt']);
    assert.equal(c.TcpExt?.ListenOverflows, 4);
    assert.equal(c.TcpExt?.ListenDrops, 4);
    assert.equal(c.TcpExt?.TW, 3);
    assert.equal(c.TcpExt?.SyncookiesSent, 0);
  });

  it('reads /proc/net/snmp, negative values included', () => {
    const c = parseNetstat(fixtureText('basic/net/snmp'), '/proc/net/snmp');
    // (no IcmpMsg section: the capture's fresh namespace had seen no ICMP message yet)
    assert.deepEqual(Object.keys(c), ['Ip', 'Icmp', 'Tcp', 'Udp', 'UdpLite']);
    assert.equal(c.Tcp?.MaxConn, -1);
    assert.equal(c.Tcp?.RtoMax, 120_000);
    assert.equal(c.Tcp?.CurrEstab, 21);
  });

  it('a small example, exactly', () => {
    assert.deepEqual(parseNetstat('TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 2 17\nIpExt: InOctets\nIpExt: 123456789012\n'), {
      TcpExt: { SyncookiesSent: 2, ListenOverflows: 17 },
      IpExt: { InOctets: 123_456_789_012 },
    });
    assert.deepEqual(parseNetstat(''), {});
  });

  it('rejects malformed text with the line number', () => {
    parseError(() => parseNetstat('TcpExt: A B\n'), 1, /no line of values/);
    parseError(() => parseNetstat('TcpExt: A B\nTcpExt: 1\n'), 2, /names 2 counters but this line has 1 values/);
    parseError(() => parseNetstat('TcpExt: A B\nIpExt: 1 2\n'), 2, /expected the values of section TcpExt, found section IpExt/);
    parseError(() => parseNetstat('TcpExt: A B\nTcpExt: 1 x2\n'), 2, /TcpExt B is not an integer: "x2"/);
    parseError(() => parseNetstat('TcpExt: A\nTcpExt: 1\nno colon here\nTcpExt: 1\n'), 3, /section name/);
    assert.throws(() => parseNetstat('TcpExt: A\n', '/proc/1/net/netstat'), /^ProcParseError: \/proc\/1\/net\/netstat:1: .*"TcpExt: A"$/);
  });
});

describe('parseSockstat', () => {
  it('reads the captured sockstat and sockstat6', () => {
    const s = parseSockstat(fixtureText('basic/net/sockstat'));
    assert.deepEqual(s.TCP, { inuse: 26, orphan: 1, tw: 3, alloc: 40, mem: 1021 });
    assert.deepEqual(s.sockets, { used: 42 });
    assert.deepEqual(s.FRAG, { inuse: 0, memory: 0 });
    assert.deepEqual(parseSockstat(fixtureText('basic/net/sockstat6'), 'sockstat6').TCP6, { inuse: 10 });
  });

  it('rejects malformed text with the line number', () => {
    parseError(() => parseSockstat('sockets: used 1\nTCP: inuse 5 orphan\n'), 2, /TCP has a name without a value \("orphan"\)/);
    parseError(() => parseSockstat('TCP: inuse five\n'), 1, /TCP inuse is not an integer: "five"/);
    parseError(() => parseSockstat('TCP inuse 5\n'), 1, /section name/);
  });
});

describe('counter readers', () => {
  it('readNetCounters merges snmp and netstat; the sync twin agrees', async () => {
    const c = await readNetCounters({ root });
    assert.equal(c.Tcp?.CurrEstab, 21);
    assert.equal(c.TcpExt?.ListenOverflows, 4);
    assert.deepEqual(readNetCountersSync({ root }), c);
    assert.deepEqual(await readNetCounters({ root, pid: 4242 }), c);
  });

  it('readSockstat merges sockstat6 when present and does without it', async () => {
    const s = await readSockstat({ root });
    assert.equal(s.TCP?.tw, 3);
    assert.equal(s.TCP6?.inuse, 10);
    assert.deepEqual(readSockstatSync({ root }), s);
    const v4only = await readSockstat({ root: `${FIXTURES}no-ipv6` });
    assert.equal(v4only.TCP6, undefined);
    assert.deepEqual(readSockstatSync({ root: `${FIXTURES}no-ipv6` }), v4only);
  });

  it('missing files are fs errors', async () => {
    await assert.rejects(readNetCounters({ root: `${FIXTURES}no-ipv6` }), { code: 'ENOENT' });
    assert.throws(() => readSockstatSync({ root: `${FIXTURES}nope` }), { code: 'ENOENT' });
  });

  it('reads the live /proc/net counters of this machine', async () => {
    const c = await readNetCounters();
    assert.equal(typeof c.Tcp?.ActiveOpens, 'number');
    assert.equal(typeof c.TcpExt?.ListenOverflows, 'number');
    const s = readSockstatSync({ pid: process.pid });
    assert.equal(typeof s.TCP?.inuse, 'number');
  });
});
