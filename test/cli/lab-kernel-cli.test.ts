/**
 * `teardown lab` as a user runs it (issue 8): no tcpdump anywhere; --pcap files that an
 * independent reader (pcap-parser, npm) reads back as the very segments of the trace; the passing
 * states of a self-connect in `transitions`; every RST with its reason; a non-root run that says
 * what it could not capture or trace, and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { CLAIMS } from '../../src/lab/claims.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Trace } from '../../src/lab/trace.js';
import { readWithPcapParser } from '../trace/pcap-reader.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const root = process.getuid?.() === 0;
const needsRoot = root ? false : 'needs root for network namespaces, capture and tracing';

function lab(args: string[], opts: { asNobody?: boolean } = {}) {
  const argv = opts.asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'lab', ...args] : [process.execPath, CLI, 'lab', ...args];
  return spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
}

/** The TCP header fields of an Ethernet + IPv4 frame, read straight from the bytes (RFC 791, RFC 9293 §3.1). */
function tcpOf(frame: Buffer): { src: string; dst: string; seq: number; flags: number; payload: number } {
  assert.equal(frame.readUInt16BE(12), 0x0800, 'IPv4');
  const ip = 14;
  const ihl = ((frame[ip] as number) & 0x0f) * 4;
  const total = frame.readUInt16BE(ip + 2);
  const addr = (at: number) => [...frame.subarray(at, at + 4)].join('.');
  const t = ip + ihl;
  const dataOffset = ((frame[t + 12] as number) >> 4) * 4;
  return {
    src: `${addr(ip + 12)}:${frame.readUInt16BE(t)}`,
    dst: `${addr(ip + 16)}:${frame.readUInt16BE(t + 2)}`,
    seq: frame.readUInt32BE(t + 4),
    flags: frame[t + 13] as number,
    payload: total - ihl - dataOffset,
  };
}

const FLAG_BITS: Record<string, number> = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 };

test('--pcap DIR: one file per scenario; pcap-parser reads back exactly the segments of the recorded trace', { skip: needsRoot }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-pcap-'));
  try {
    const r = lab(['close-unread-data', 'self-connect', '--pcap', join(dir, 'pcap'), '--record', join(dir, 'traces')]);
    assert.equal(r.status, 0, r.stderr);
    for (const id of ['close-unread-data', 'self-connect']) {
      const trace = JSON.parse(readFileSync(join(dir, 'traces', `${id}.json`), 'utf8')) as Trace;
      const frames = (await readWithPcapParser(join(dir, 'pcap', `${id}.pcap`))).packets;
      const segs = trace.segments ?? [];
      assert.ok(segs.length > 4, `${id}: segments captured`);
      assert.equal(frames.length, segs.length, `${id}: one frame per segment`);
      frames.forEach((f, i) => {
        const s = segs[i];
        assert.ok(s);
        const tcp = tcpOf(f.data);
        assert.deepEqual([tcp.src, tcp.dst, tcp.seq, tcp.payload], [s.src, s.dst, s.seqAbs, s.length], `${id} frame ${i}`);
        assert.equal(tcp.flags, s.flags.reduce((n, fl) => n | (FLAG_BITS[fl] ?? 0), 0), `${id} frame ${i} flags`);
        // Same kernel timestamp, to the microsecond the file keeps.
        const us = f.header.timestampSeconds * 1e6 + f.header.timestampMicroseconds;
        assert.ok(Math.abs(us - s.epochMs * 1000) <= 1, `${id} frame ${i}: ${us} µs vs ${s.epochMs} ms`);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('self-connect --json: the passing states in order in transitions; every RST of the run has its reason in resets', { skip: needsRoot }, () => {
  const r = lab(['self-connect', 'close-unread-data', 'idle-reaper', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { outcomes: { scenario: string; trace: Trace }[] };
  const self = report.outcomes.find((o) => o.scenario === 'self-connect')?.trace;
  assert.ok(self?.transitions);
  const s = self.transitions.filter((x) => x.socket === 's').map((x) => `${x.from}>${x.to}`);
  assert.deepEqual(s, ['CLOSE>SYN_SENT', 'SYN_SENT>SYN_RECV', 'SYN_RECV>ESTABLISHED', 'ESTABLISHED>FIN_WAIT1', 'FIN_WAIT1>CLOSING', 'CLOSING>CLOSE']);
  let sent = 0;
  for (const o of report.outcomes) {
    const rsts = (o.trace.segments ?? []).filter((x) => x.flags.includes('RST'));
    const resets = (o.trace.resets ?? []).filter((x) => x.direction === 'sent');
    assert.equal(resets.length, rsts.length, `${o.scenario}: one tcp_send_reset per RST on the wire`);
    for (const x of resets) assert.match(x.reason ?? '', /^[A-Z0-9_]+$/, `${o.scenario}: ${JSON.stringify(x)}`);
    sent += resets.length;
  }
  assert.ok(sent >= 2, `RSTs were sent (${sent})`);
  const abort = report.outcomes.find((o) => o.scenario === 'close-unread-data')?.trace.resets ?? [];
  assert.ok(abort.some((x) => x.direction === 'sent' && x.reason === 'TCP_ABORT_ON_CLOSE'), 'close() with unread data: TCP_ABORT_ON_CLOSE');
  assert.ok(abort.some((x) => x.direction === 'received'), 'and the peer took it in');
});

test('not root: runs what it can, says what it could not capture or trace and why, exit 0', { skip: root && spawnSync('setpriv', ['--help']).status === 0 ? false : 'needs root to drop to nobody with setpriv' }, () => {
  const r = lab(['accept-never-called', '--json'], { asNobody: true });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { outcomes: { status: string; trace: Trace }[] };
  const trace = report.outcomes[0]?.trace;
  assert.equal(report.outcomes[0]?.status, 'ran');
  assert.match(trace?.env.captureNote ?? '', /^packets not captured: /);
  assert.match(trace?.env.traceNote ?? '', /^transitions not traced: /);
  assert.equal(trace?.transitions, null);
  assert.match(r.stderr, /not root/);
});

test('the whole catalogue: the report fits 120 columns and 1,200 lines; --json has one claim entry per claim of SEEDS.md', { skip: needsRoot }, () => {
  const human = lab([]);
  assert.equal(human.status, 0, human.stderr);
  const lines = human.stdout.trimEnd().split('\n');
  const widest = Math.max(...lines.map((l) => [...l].length));
  assert.ok(widest <= 120, `widest line ${widest} columns`);
  assert.ok(lines.length <= 1200, `${lines.length} lines`);
  assert.match(human.stdout, /^━━ claims$/m, 'the summary comes first');
  const json = lab(['--json']);
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout) as { claims: { claim: string; verdict: string; findings: unknown[]; notes: string[] }[]; findings: unknown[] };
  const ids = [...CLAIMS.keys()];
  // The lab's list of claims is SEEDS.md's, when the articles' folder is beside this checkout.
  const seedsPath = fileURLToPath(new URL('../../../../shared/SEEDS.md', import.meta.url));
  if (existsSync(seedsPath)) assert.deepEqual([...readFileSync(seedsPath, 'utf8').matchAll(/^- (\d{3}-[a-z]) /gm)].map((m) => m[1]), ids);
  assert.deepEqual(report.claims.map((c) => c.claim), ids, 'one entry per claim, in SEEDS order');
  for (const c of report.claims) assert.match(c.verdict, /^(confirmed|contradicted|partly|unverified)$/);
});

test('--list --json lists every scenario with its claims, as data', () => {
  const r = spawnSync(process.execPath, [CLI, 'lab', '--list', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout) as { scenarios: { id: string; claims: string[]; summary: string }[]; uncovered: string[] };
  assert.ok(list.scenarios.length >= 26);
  assert.ok(list.scenarios.find((s) => s.id === 'self-connect')?.claims.includes('004-n'));
  assert.ok(Array.isArray(list.uncovered));
});
