import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';

import { createExporter, KERNEL_COUNTERS, METRIC_PREFIX, OTHER, startExporter, topN } from '../../src/index.js';
import { FIXTURES } from '../proc/fixtures.js';
import { closingClient, kill, killAll, leakyServer, until } from './children.js';
import { parsePromText, PromParseError, valueOf, type Family } from './prom-text.js';

after(killAll);

/** What every family the exporter serves must look like (Prometheus naming conventions). */
function assertConventions(families: Map<string, Family>): void {
  assert.ok(families.size > 10);
  for (const f of families.values()) {
    assert.ok(f.name.startsWith(METRIC_PREFIX), `${f.name} has our prefix`);
    assert.ok(f.help !== undefined && f.help.length > 10, `${f.name} has a HELP`);
    assert.ok(f.type === 'counter' || f.type === 'gauge', `${f.name} is typed`);
    if (f.type === 'counter') assert.match(f.name, /_total$/, `counter ${f.name} ends in _total`);
    else assert.doesNotMatch(f.name, /_total$/, `gauge ${f.name} does not end in _total`);
    assert.doesNotMatch(f.name, /_(ms|milliseconds|minutes)$/, 'durations in seconds');
    for (const s of f.samples) assert.ok(Number.isFinite(s.value) && s.value >= 0, `${s.name} ${JSON.stringify(s.labels)} = ${s.value}`);
  }
}

describe('the strict text-format parser (test helper)', () => {
  it('accepts what prom-client writes and rejects what Prometheus would', () => {
    const ok = parsePromText('# HELP a_total Things.\n# TYPE a_total counter\na_total{x="1",y="a\\"b\\\\c\\n"} 3\n\n# TYPE b gauge\nb 1.5e3\n');
    assert.equal(valueOf(ok, 'a_total', { x: '1', y: 'a"b\\c\n' }), 3);
    assert.equal(valueOf(ok, 'b'), 1500);
    const bad = [
      'a{x="1"} 1\na{x="1"} 2\n', // duplicate series
      '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n', // family split
      '# TYPE a gauge\n# TYPE a counter\na 1\n', // TYPE twice
      '# TYPE a gauge\na{x="\\q"} 1\n', // bad escape
      '# TYPE a gauge\na{1x="y"} 1\n', // bad label name
      '# TYPE a gauge\na one\n', // bad value
      '# TYPE a gauge\na 1', // no final newline
      '# TYPE a bogus\na 1\n', // bad type
      '# TYPE a gauge\na 1\n# HELP a late\n', // HELP after samples
    ];
    for (const text of bad) assert.throws(() => parsePromText(text), PromParseError, JSON.stringify(text));
  });
});

describe('topN', () => {
  it('keeps the N largest and sums the rest under "other", ties broken by label text', () => {
    const v = [
      { labels: { command: 'a', local_port: '1' }, value: 1 },
      { labels: { command: 'b', local_port: '2' }, value: 5 },
      { labels: { command: 'c', local_port: '3' }, value: 1 },
      { labels: { command: 'd', local_port: '4' }, value: 3 },
    ];
    assert.deepEqual(topN(v, 2, ['command', 'local_port']), [v[1], v[3], { labels: { command: OTHER, local_port: OTHER }, value: 2 }]);
    assert.deepEqual(topN(v, 3, ['command', 'local_port']).map((x) => x.labels.command), ['b', 'd', 'a', OTHER]);
    assert.deepEqual(topN(v, 4, ['command', 'local_port']).length, 4, 'nothing left: no "other"');
  });
});

describe('the registry on the captured /proc fixture', () => {
  it('serves every metric under our prefix with HELP, TYPE and conventional names; values from the fixture', async () => {
    const { registry } = createExporter({ root: `${FIXTURES}basic`, owners: false });
    const text = await registry.metrics();
    const fams = parsePromText(text);
    assertConventions(fams);
    const p = METRIC_PREFIX;
    assert.equal(valueOf(fams, `${p}sockets`, { state: 'CLOSE_WAIT' }), 3);
    assert.equal(valueOf(fams, `${p}sockets`, { state: 'LISTEN' }), 12);
    assert.equal(valueOf(fams, `${p}sockets`, { state: 'CLOSING' }), 0, 'every state has a series');
    assert.equal(valueOf(fams, `${p}close_wait_sockets`, { command: '?', local_port: '3002', remote: '' }), 1, 'held, owner not scanned');
    assert.equal(valueOf(fams, `${p}fin_wait2_sockets`, { held: 'true' }), 1);
    assert.equal(valueOf(fams, `${p}fin_wait2_sockets`, { held: 'false' }), 2);
    assert.equal(valueOf(fams, `${p}never_accepted_sockets`, { listener: '127.0.0.1:3001', state: 'ESTABLISHED' }), 3);
    assert.equal(valueOf(fams, `${p}orphan_sockets`), 1);
    for (const c of KERNEL_COUNTERS) assert.equal(fams.get(p + c.metric)?.type, 'counter', `${c.metric} is served`);
    assert.equal(fams.get(`${p}ephemeral_ports`)?.samples.length, 0, 'no sysctls in the fixture: no value, not a made-up one');
    assert.ok((valueOf(fams, `${p}findings`, { id: 'teardown-pair', severity: 'info' }) ?? 0) >= 1);
  });
});

describe('docs/grafana-dashboard.json', () => {
  it('is a dashboard whose queries use only metrics and labels the exporter serves', async () => {
    const dash = JSON.parse(readFileSync(new URL('../../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
      panels: { type: string; targets?: { expr: string }[] }[];
      templating: { list: { definition?: string }[] };
    };
    const exprs = [...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dash.templating.list.map((v) => v.definition ?? '')];
    const fams = parsePromText(await createExporter({ root: `${FIXTURES}basic`, owners: false }).registry.metrics());
    const used = new Set(exprs.flatMap((e) => e.match(/tcp_teardown_[a-z0-9_]+/g) ?? []));
    assert.ok(used.size >= 15, `the dashboard uses ${used.size} metrics`);
    for (const name of used) assert.ok(fams.has(name), `${name} is served`);
    const labels = new Set(exprs.flatMap((e) => [...e.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => (m[1] as string).split(',').map((l) => l.trim()))));
    const served = new Set([...fams.values()].flatMap((f) => f.samples.flatMap((s) => Object.keys(s.labels))));
    for (const l of labels) assert.ok(served.has(l) || l === 'instance', `label ${l} is served`);
  });
});

describe('live', () => {
  it('CLOSE_WAIT by command and port, top N then "other"; the oldest CLOSE_WAIT ages across scrapes', async () => {
    const a = await leakyServer('read-eof');
    const b = await leakyServer('read-eof');
    const ran = await startExporter({ port: 0, topN: 1, cacheMs: 0 });
    try {
      const pa = a.ready.port as number;
      const pb = b.ready.port as number;
      await closingClient(pa, 2);
      await closingClient(pb, 1);
      await until([pa, pb], (s) => s.sockets.filter((x) => x.state === 'CLOSE_WAIT' && x.owner !== null).length === 3);
      assert.match(ran.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(ran.url);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const fams = parsePromText(await res.text());
      assertConventions(fams);
      // Other CLOSE_WAITs may exist on this machine; ours are the top entry or inside "other".
      const cw = fams.get(`${METRIC_PREFIX}close_wait_sockets`)?.samples ?? [];
      assert.ok(cw.length <= 2, `top 1 + other: ${JSON.stringify(cw)}`);
      const total = cw.reduce((n, s) => n + s.value, 0);
      assert.ok(total >= 3);
      const top = cw.find((s) => s.labels.command !== OTHER);
      if (top?.labels.command === 'node' && top.labels.local_port === String(pa)) assert.equal(top.value, 2);

      await new Promise((r) => setTimeout(r, 300));
      const again = parsePromText(await (await fetch(ran.url)).text());
      assert.ok((valueOf(again, `${METRIC_PREFIX}close_wait_oldest_seconds`) ?? 0) >= 0.25, 'seen for at least the time between scrapes');
      assert.equal((await fetch(ran.url.replace('/metrics', '/nope'))).status, 404);
    } finally {
      await ran.close();
      await kill(a);
      await kill(b);
    }
  });
});
