// Start-up: each command loads only what it needs (issue 13, item 10). A module resolve hook
// records every module the CLI process loads; the timing itself is bench/doctor.ts's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** The module URLs `teardown ...args` loads (resolved specifiers, node: builtins left out). */
function loadedBy(args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'tt-startup-'));
  try {
    const log = join(dir, 'loads.txt');
    const hook = join(dir, 'hook.mjs');
    writeFileSync(
      hook,
      `import { appendFileSync } from 'node:fs';
       export async function resolve(specifier, context, next) {
         const r = await next(specifier, context);
         if (!r.url.startsWith('node:')) appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
         return r;
       }`,
    );
    writeFileSync(log, '');
    const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(pathToFileURL(hook).href)});`;
    const r = spawnSync(process.execPath, ['--import', register, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.ok(r.status === 0, `teardown ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HEAVY = ['/node_modules/prom-client/', '/node_modules/cli-table3/', '/src/lab/', '/src/rpc/', '/src/doctor/rules/', '/src/doctor/exporter.js', '/src/trace/'];

describe('each command loads only what it needs', () => {
  it('teardown ss: no prom-client, cli-table3, lab, rpc, rules or tracer', () => {
    const loaded = loadedBy(['ss']);
    assert.ok(loaded.some((u) => u.includes('/src/doctor/snapshot.js')), 'the hook sees our modules');
    for (const heavy of HEAVY) assert.deepEqual(loaded.filter((u) => u.includes(heavy)), [], heavy);
  });

  it('teardown --help: not even koffi or the socket readers', () => {
    const loaded = loadedBy(['--help']);
    for (const heavy of [...HEAVY, '/node_modules/koffi/', '/src/proc/', '/src/doctor/snapshot.js']) assert.deepEqual(loaded.filter((u) => u.includes(heavy)), [], heavy);
  });

  it('teardown doctor --json: the rules, but no prom-client, lab, rpc or text renderer', () => {
    const r = loadedBy(['doctor', '--json', '--port', '1']);
    assert.ok(r.some((u) => u.includes('/src/doctor/rules/')));
    for (const heavy of ['/node_modules/prom-client/', '/node_modules/cli-table3/', '/node_modules/picocolors/', '/src/lab/', '/src/rpc/', '/src/trace/']) assert.deepEqual(r.filter((u) => u.includes(heavy)), [], heavy);
  });
});
