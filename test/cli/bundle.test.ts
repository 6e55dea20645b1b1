// The `teardown` command as npm installs it: bin/teardown.cjs (reached through a symlink, as in
// node_modules/.bin) running dist/src/cli/start.cjs, which loads teardown.cjs with its V8 code
// cache (and teardown-experiments.cjs for lab, report, compare, rpc-demo): the CommonJS build of
// the CLI (scripts/bundle-cli.ts). The other CLI tests run tsc's ES modules; these check that the
// shipped files behave the same, find their helper files, load packages and the experiments only
// when needed, and start Node without NODE_EXTRA_CA_CERTS. Every child is killed by pid in after().
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { closingClient, killAll, leakyServer, until } from '../doctor/children.js';

const ESM_CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../src/cli/teardown.cjs', import.meta.url));
const EXPERIMENTS = fileURLToPath(new URL('../../src/cli/teardown-experiments.cjs', import.meta.url));
const start = createRequire(import.meta.url)('../../src/cli/start.cjs') as typeof import('../../src/cli/start.cjs');
const BIN = fileURLToPath(new URL('../../../bin/teardown.cjs', import.meta.url));

let dir = '';
/** bin/teardown.cjs through a symlink in a .bin directory elsewhere, as npm links it. */
let linked = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-bundle-'));
  linked = join(dir, '.bin', 'teardown');
  mkdirSync(dirname(linked));
  symlinkSync(BIN, linked);
});
after(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

type Env = Record<string, string | undefined>;
const baseEnv = (extra: Env = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  delete env.NODE_TEST_CONTEXT;
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
};
const viaBin = (args: string[], env?: Env) => spawnSync(linked, args, { encoding: 'utf8', timeout: 60_000, env: baseEnv(env) });
const viaEsm = (args: string[], env?: Env) => spawnSync(process.execPath, [ESM_CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: baseEnv(env) });

describe('the shipped teardown command', () => {
  it('is built with no import.meta left; every module URL it computes names a file of dist/src', () => {
    assert.ok(existsSync(BUNDLE) && existsSync(EXPERIMENTS), 'npm run build writes dist/src/cli/teardown.cjs and teardown-experiments.cjs');
    const source = readFileSync(BUNDLE, 'utf8') + readFileSync(EXPERIMENTS, 'utf8');
    assert.doesNotMatch(source, /import\.meta/);
    const rels = [...source.matchAll(/__teardownModuleUrl\("([^"]+)"\)/g)].map((m) => m[1] as string);
    assert.ok(rels.length >= 5, `module URLs rewritten: ${rels.join(', ')}`);
    for (const rel of rels) assert.ok(existsSync(resolve(dirname(BUNDLE), rel)), `${rel} exists next to the bundle`);
    // The files those modules open relative to themselves (workers, child scripts) exist too.
    for (const f of ['../proc/helper-worker.js', '../lab/kernel/peer.js', '../lab/kernel/sentinel.js', '../rpc/demo-server.js', '../rpc/fleet-server.js']) {
      assert.ok(existsSync(resolve(dirname(BUNDLE), f)), f);
    }
  });

  it('has a V8 code cache that a Node started as bin/teardown.cjs starts it accepts, and other V8 flags refuse', () => {
    assert.equal(start.BUNDLE, BUNDLE);
    // In children: this test process may run under NODE_OPTIONS of its own.
    const rejected = (nodeArgs: string[]): string => {
      const code = `const s = require(${JSON.stringify(fileURLToPath(new URL('../../src/cli/start.cjs', import.meta.url)))}); process.stdout.write(String(s.compileBundle(s.BUNDLE, require('node:fs').readFileSync(s.CODE_CACHE)).cachedDataRejected));`;
      const r = spawnSync(process.execPath, [...nodeArgs, '-e', code], { encoding: 'utf8', env: baseEnv({ NODE_OPTIONS: undefined }) });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    assert.equal(rejected([]), 'false', 'the build made the cache for a plain node');
    assert.equal(rejected(['--max-old-space-size=4096']), 'true', 'V8 refuses a cache made under other flags (the bundle then compiles as usual)');
    // A cache for a source of another length is refused too, and that source still compiles.
    const other = join(dir, 'other.cjs');
    writeFileSync(other, `${readFileSync(BUNDLE, 'utf8')}\n// changed\n`);
    assert.equal(start.compileBundle(other, readFileSync(start.CODE_CACHE)).cachedDataRejected, true);
  });

  it('prints what the ES modules print: --help, lab --list, usage errors (exit 2, no stack)', () => {
    for (const args of [['--help'], ['lab', '--list'], ['ss', '--help']]) {
      const a = viaBin(args);
      const b = viaEsm(args);
      assert.equal(a.status, 0, a.stderr);
      assert.equal(a.stdout, b.stdout, args.join(' '));
    }
    const bad = viaBin(['ss', '--port', '70000']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a port number: "70000"/);
    assert.doesNotMatch(bad.stderr, /at .*\.c?js:\d+/);
  });

  it('runs the model backend with the same verdicts as the ES modules', () => {
    const verdicts = (out: string): string[] => out.split('\n').filter((l) => /\b(confirmed|partly|contradicted|unverified)\b/.test(l) && /\b\d{3}-[a-z]\b/.test(l));
    const a = viaBin(['lab', '--backend', 'model', 'close-unsent-data', 'shut-rd']);
    const b = viaEsm(['lab', '--backend', 'model', 'close-unsent-data', 'shut-rd']);
    assert.equal(a.status, b.status, a.stderr);
    assert.ok(verdicts(a.stdout).length >= 2, a.stdout);
    assert.deepEqual(verdicts(a.stdout), verdicts(b.stdout));
  });

  it('runs a kernel scenario: its peer processes start from their files in dist/src (root)', { skip: process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false }, () => {
    const r = viaBin(['lab', 'close-unsent-data', '--no-capture']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 scenarios ran, 0 skipped, 0 failed/);
    assert.match(r.stdout, /004-f confirmed/);
  });

  it('ss --owners finds a CLOSE_WAIT leak and its process, as the ES modules do', async () => {
    const server = await leakyServer('read-eof');
    const port = server.ready.port as number;
    await closingClient(port, 1);
    await until([port], (s) => s.sockets.some((x) => x.state === 'CLOSE_WAIT' && x.owner !== null));
    const a = viaBin(['ss', '--owners', 'state', 'close-wait', '--port', String(port)]);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, new RegExp(`^CLOSE-WAIT\\s+0\\s+0\\s+127\\.0\\.0\\.1:${port}\\s+127\\.0\\.0\\.1:\\d+\\s+node,pid=${server.pid},fd=\\d+$`, 'm'));
    assert.equal(a.stdout, viaEsm(['ss', '--owners', 'state', 'close-wait', '--port', String(port)]).stdout);
    // doctor: the same findings and the same exit status (1 on a warning) through the launcher.
    const findings = (r: ReturnType<typeof viaBin>): string[] => (JSON.parse(r.stdout) as { findings: { id: string }[] }).findings.map((f) => f.id).sort();
    const docBin = viaBin(['doctor', '--json', '--port', String(port)]);
    const docEsm = viaEsm(['doctor', '--json', '--port', String(port)]);
    assert.equal(docBin.status, docEsm.status, docBin.stderr);
    assert.ok(findings(docBin).length > 0, docBin.stdout);
    assert.deepEqual(findings(docBin), findings(docEsm));
  });

  it('SIGINT reaches the command itself: doctor --watch stops after its scan, exit 0', async () => {
    const child = spawn(linked, ['doctor', '--watch', '1', '--no-trace', '--port', '1'], { env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (/findings?:/.test(out)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${String(code)} before its first scan: ${out}`)));
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      process.kill(child.pid as number, 'SIGINT'); // the launcher exec'd node: this pid is node's
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('starts Node without NODE_EXTRA_CA_CERTS (Node 20 parses that file at every start; teardown makes no TLS connection)', () => {
    const seen = join(dir, 'extra-ca.txt');
    const hook = join(dir, 'record-extra-ca.cjs');
    writeFileSync(hook, `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ value: process.env.NODE_EXTRA_CA_CERTS ?? null }));`);
    const bundle = join(dir, 'some-bundle.pem');
    const valueIn = (run: typeof viaBin): string | null => {
      rmSync(seen, { force: true });
      const r = run(['--help'], { NODE_EXTRA_CA_CERTS: bundle, NODE_OPTIONS: `--require "${hook}"` });
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(readFileSync(seen, 'utf8')) as { value: string | null }).value;
    };
    assert.equal(valueIn(viaEsm), bundle, 'node started directly keeps it');
    assert.equal(valueIn(viaBin), null, 'the launcher drops it before node starts');
  });

  it('loads koffi only for commands that read sockets; prom-client, cli-table3 and the experiments not for ss', () => {
    const log = join(dir, 'required.txt');
    const hook = join(dir, 'record-require.cjs');
    writeFileSync(
      hook,
      `const Module = require('node:module'); const fs = require('node:fs');
       const load = Module._load;
       Module._load = function (request, ...rest) { fs.appendFileSync(${JSON.stringify(log)}, request + '\\n'); return load.call(this, request, ...rest); };`,
    );
    const required = (args: string[]): string[] => {
      writeFileSync(log, '');
      const r = viaBin(args, { NODE_OPTIONS: `--require "${hook}"` });
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(log, 'utf8').split('\n').filter(Boolean);
    };
    const experiments = './teardown-experiments.cjs';
    const help = required(['--help']);
    assert.ok(help.length > 0, 'the hook sees require() calls');
    for (const pkg of ['koffi', 'prom-client', 'cli-table3', experiments]) assert.ok(!help.includes(pkg), `--help requires ${pkg}`);
    const ss = required(['ss', '--port', '1']);
    assert.ok(ss.includes('koffi'), 'ss reads sockets through koffi');
    for (const pkg of ['prom-client', 'cli-table3', experiments]) assert.ok(!ss.includes(pkg), `ss requires ${pkg}`);
    assert.ok(required(['lab', '--list']).includes(experiments), 'lab is in teardown-experiments.cjs');
  });
});
