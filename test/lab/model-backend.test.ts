/**
 * The lab's model backend (src/lab/model/run.ts): the trace it produces has the kernel runner's
 * shape and re-judges like a recorded one; "what if" runs (tcp_fin_timeout 60 s, a 200 ms RTT)
 * show their times in virtual time; scenarios the model cannot run are skipped with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CATALOGUE, findScenario } from '../../src/lab/catalogue.js';
import { ScenarioSkipped } from '../../src/lab/errors.js';
import { judgeTrace } from '../../src/lab/judge/index.js';
import { modelSkipReason } from '../../src/lab/model/coverage.js';
import { runOnModel } from '../../src/lab/model/run.js';
import { parseSysctl, SysctlError } from '../../src/lab/model/sysctls.js';
import { renderTrace } from '../../src/lab/report/text.js';
import type { Scenario } from '../../src/lab/scenario.js';
import type { Trace } from '../../src/lab/trace.js';
import { recorded } from './helpers.js';

function scenario(id: string): Scenario {
  const sc = findScenario(id);
  assert.ok(sc, id);
  return sc;
}

test('004-j with tcp_fin_timeout = 60 on the model: the closed end goes ~60 s after close(), and the timeline shows it', () => {
  const t = runOnModel(scenario('fin-wait2-forever-vs-timeout'), { sysctls: { 'net.ipv4.tcp_fin_timeout': 60 } });
  assert.equal(t.env.sysctls['net.ipv4.tcp_fin_timeout'], 60);
  const closed = t.steps.find((s) => s.label === 'b closed');
  const watch = t.steps.find((s) => s.label === 'watch');
  assert.ok(closed && watch?.watched);
  // The watch is stretched past the sysctl: 60 s + 1.2 s.
  assert.equal(watch.step.op === 'watch' ? watch.step.ms : 0, 61_200);
  assert.equal(closed.after.sockets.find((s) => s.label === 'b')?.state, 'FIN_WAIT2');
  const firstWithoutB = watch.watched.find((p) => !p.sockets.some((s) => s.label === 'b'));
  assert.ok(firstWithoutB, 'b disappears during the watch');
  const life = firstWithoutB.atMs - closed.startMs;
  assert.ok(life >= 60_000 && life <= 60_200, `b lived ${life} ms after close()`);
  // The shut-down end is still in FIN_WAIT2 at the end, held by its process.
  assert.equal(watch.after.sockets.find((s) => s.label === 'a')?.state, 'FIN_WAIT2');
  const text = renderTrace(t, { width: 200 });
  assert.match(text, /time_wait 60\.0s/);
  assert.match(text, /watch 61200 ms .*the last at (\d+) ms/);
  const lastAt = Number(/the last at (\d+) ms/.exec(text)?.[1]);
  assert.ok(lastAt - closed.startMs >= 60_000, text);
  assert.equal(t.verdicts.find((v) => v.claim === '004-j')?.verdict, 'confirmed');
  assert.match(t.verdicts[0]?.observed ?? '', /gone 60\.\d\d s after close\(\) \(tcp_fin_timeout 60 s\)/);
});

test('the scenario default (tcp_fin_timeout 2) gives ~2 s, as the kernel recorded it', () => {
  const t = runOnModel(scenario('fin-wait2-forever-vs-timeout'));
  const closed = t.steps.find((s) => s.label === 'b closed');
  const watch = t.steps.find((s) => s.label === 'watch');
  const gone = watch?.watched?.find((p) => !p.sockets.some((s) => s.label === 'b'));
  assert.ok(closed && gone);
  assert.ok(Math.abs(gone.atMs - closed.startMs - 2000) <= 100, `${gone.atMs - closed.startMs} ms`);
});

test("a model trace has the kernel trace's shape, survives JSON, and re-judges to its own verdicts", () => {
  const sc = scenario('close-unread-data');
  const m = runOnModel(sc);
  const k = recorded(sc.id);
  assert.deepEqual(Object.keys(m).sort(), Object.keys(k).sort());
  assert.equal(m.env.backend, 'model');
  assert.deepEqual(m.steps.map((s) => s.label), k.steps.map((s) => s.label));
  const back = JSON.parse(JSON.stringify(m)) as Trace;
  assert.deepEqual(judgeTrace(sc, back), m.verdicts);
  // Segments: relative seq/ack, RSTs with the kernel's reason; each in the step that sent it.
  const segs = m.segments ?? [];
  assert.equal(segs[0]?.seq, 0);
  assert.ok(segs.some((s) => s.flags.includes('RST') && s.rstReason === 'TCP_ABORT_ON_CLOSE'));
  assert.equal(new Set(m.steps.flatMap((s) => s.segments)).size, segs.length);
  // Transitions and resets are named as the kernel's are.
  assert.deepEqual([...new Set((m.transitions ?? []).map((x) => x.socket))].sort(), [...new Set((k.transitions ?? []).map((x) => x.socket))].sort());
  assert.ok((m.resets ?? []).some((r) => r.direction === 'received' && r.socket === 'c1'));
  assert.ok((m.errors ?? []).some((e) => e.socket === 'c1' && e.errno === 'ECONNRESET' && e.error === 104));
});

test('a model run is deterministic: the same scenario and options give the same trace', () => {
  const sc = scenario('three-vs-four-way');
  const strip = (t: Trace): Trace => ({ ...t, durationMs: 0 });
  assert.deepEqual(strip(runOnModel(sc)), strip(runOnModel(sc)));
  assert.notDeepEqual(runOnModel(sc, { seed: 2 }).addresses, runOnModel(sc, { seed: 1 }).addresses);
});

test('--rtt-ms: a 200 ms round trip puts 100 ms between a SYN and its SYN-ACK', () => {
  const t = runOnModel(scenario('accept-never-called'), { rttMs: 200 });
  const segs = t.segments ?? [];
  const syn = segs.find((s) => s.flags.join() === 'SYN');
  const synAck = segs.find((s) => s.flags.includes('SYN') && s.flags.includes('ACK'));
  assert.ok(syn && synAck);
  assert.equal(Math.round(synAck.epochMs - syn.epochMs), 100);
  assert.equal(t.env.rttMs, 200);
  assert.match(renderTrace(t), /RTT 200 ms/);
  assert.throws(() => runOnModel(scenario('accept-never-called'), { rttMs: 2 ** 31 }), RangeError);
});

test('scenarios that need a runtime or a descriptor table are skipped with the reason; a send-buffer fill runs', () => {
  const reasons = new Map(CATALOGUE.map((sc) => [sc.id, modelSkipReason(sc)]));
  assert.match(reasons.get('node-server-eof') ?? '', /node:net/);
  assert.match(reasons.get('multiplexed-eof') ?? '', /rpc/);
  assert.match(reasons.get('accept-emfile') ?? '', /RLIMIT_NOFILE/);
  assert.equal(reasons.get('close-unsent-data'), null);
  assert.equal(reasons.get('simultaneous-close'), null);
  assert.equal(reasons.get('self-connect'), null);
  assert.throws(() => runOnModel(scenario('idle-reaper')), (e: unknown) => e instanceof ScenarioSkipped && /node:net/.test(e.reason));
  // A sysctl the model does not honour skips too.
  assert.match(modelSkipReason(scenario('self-connect'), { 'net.ipv4.tcp_tw_reuse': 1 }) ?? '', /tcp_tw_reuse/);
});

test('parseSysctl: known sysctls within their range, the net.ipv4. prefix optional; anything else a SysctlError', () => {
  const table: [string, { name: string; value: number } | RegExp][] = [
    ['net.ipv4.tcp_fin_timeout=60', { name: 'net.ipv4.tcp_fin_timeout', value: 60 }],
    ['tcp_fin_timeout=0', { name: 'net.ipv4.tcp_fin_timeout', value: 0 }],
    ['net.ipv4.tcp_syn_retries=127', { name: 'net.ipv4.tcp_syn_retries', value: 127 }],
    ['net.ipv4.tcp_syn_retries=0', /1\.\.127/],
    ['net.ipv4.tcp_fin_timeout=2147484', /0\.\.2147483/],
    ['net.ipv4.tcp_fin_timeout=-1', /0\.\.2147483/],
    ['net.ipv4.tcp_fin_timeout=1.5', /NAME=INTEGER/],
    ['net.core.somaxconn=10', /knows only/],
    ['tcp_fin_timeout', /NAME=INTEGER/],
  ];
  for (const [text, want] of table) {
    if (want instanceof RegExp) assert.throws(() => parseSysctl(text), (e: unknown) => e instanceof SysctlError && want.test(e.message), text);
    else assert.deepEqual(parseSysctl(text), want, text);
  }
});

test("the RTO comes from the handshake's RTT: 204 ms on loopback as the kernel's TCP_INFO said, 600 ms at a 200 ms RTT", () => {
  const sc = scenario('sigpipe-then-close');
  const rto = (t: Trace): unknown => {
    const v = t.steps.find((s) => s.label === 'tcp info')?.result.value;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v['rtoMs'] : undefined;
  };
  assert.equal(rto(runOnModel(sc)), rto(recorded(sc.id)));
  assert.equal(rto(runOnModel(sc)), 204);
  assert.equal(rto(runOnModel(sc, { rttMs: 200 })), 600);
  // No spurious retransmission at that RTT: every data segment is sent once.
  const t = runOnModel(scenario('close-vs-shutdown'), { rttMs: 200 });
  const data = (t.segments ?? []).filter((s) => s.length > 0).map((s) => `${s.src}>${s.dst} ${s.seq}`);
  assert.deepEqual(data, [...new Set(data)]);
});
