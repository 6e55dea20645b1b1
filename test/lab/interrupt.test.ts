/**
 * Interrupting `teardown lab` (issue 8): SIGINT or SIGTERM at any moment — while a namespace is
 * being made, mid-scenario, twice in a row, to the whole process group as a terminal sends it —
 * leaves no namespace, no process and no tracefs instance, and exits 130 (143) with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { labNamespacesOf, labProcessesOf, labTraceInstancesOf, needsRoot } from './helpers.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Interrupted {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  hadProcesses: boolean;
}

/**
 * Starts `teardown lab ids…` in its own process group, waits until stderr shows `when`, then
 * `delayMs`, then sends `signals` (each `gapMs` apart) to the group (`group`) or to the pid.
 */
async function interrupt(opts: { ids: string[]; when: RegExp; delayMs: number; signals: NodeJS.Signals[]; gapMs?: number; group: boolean }): Promise<Interrupted & { pid: number }> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'lab', ...opts.ids], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const pid = child.pid as number;
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`never saw ${opts.when}: ${stderr}`)), 20_000);
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (opts.when.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await sleep(opts.delayMs);
    const hadProcesses = labProcessesOf(pid).length > 0;
    for (const [i, sig] of opts.signals.entries()) {
      if (i > 0) await sleep(opts.gapMs ?? 0);
      try {
        process.kill(opts.group ? -pid : pid, sig);
      } catch {
        // already gone after the first signal
      }
    }
    const { code, signal } = await Promise.race([exited, sleep(15_000).then(() => ({ code: null, signal: 'timeout' as NodeJS.Signals }))]);
    // The peers die by SIGKILL from the clean-up; give the kernel a moment to reap them.
    await sleep(200);
    return { pid, code, signal, stderr, hadProcesses };
  } finally {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
}

function assertNothingLeft(r: Interrupted & { pid: number }): void {
  assert.deepEqual(labProcessesOf(r.pid), [], 'no lab process left');
  assert.deepEqual(labNamespacesOf(r.pid), [], 'no lab namespace left');
  assert.deepEqual(labTraceInstancesOf(r.pid), [], 'no tracefs instance left');
  assert.doesNotMatch(r.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  assert.doesNotMatch(r.stderr, /EPIPE/, 'no EPIPE from a peer channel');
}

// Namespace creation is the first thing a scenario does; `running X …` is printed just before.
const cases: { name: string; delays: number[]; signals: NodeJS.Signals[]; gapMs?: number; group: boolean; code: number }[] = [
  { name: 'SIGINT to the pid while namespaces are being made', delays: [0, 5, 15, 30], signals: ['SIGINT'], group: false, code: 130 },
  { name: 'SIGINT to the process group (a terminal’s Ctrl+C) mid-scenario', delays: [400, 900], signals: ['SIGINT'], group: true, code: 130 },
  { name: 'SIGINT twice in a row (the second during the clean-up)', delays: [10, 500], signals: ['SIGINT', 'SIGINT'], gapMs: 1, group: true, code: 130 },
  { name: 'SIGTERM mid-scenario', delays: [600], signals: ['SIGTERM'], group: false, code: 143 },
];

for (const c of cases) {
  test(`interrupt: ${c.name} leaves nothing behind and exits ${c.code}`, { skip: needsRoot }, async () => {
    for (const delayMs of c.delays) {
      const r = await interrupt({ ids: ['full-backlog', 'accept-never-called', 'close-unread-data'], when: /running full-backlog/, delayMs, signals: c.signals, group: c.group, ...(c.gapMs !== undefined ? { gapMs: c.gapMs } : {}) });
      assert.equal(r.code, c.code, `exit status after ${delayMs} ms: ${r.code ?? r.signal}\n${r.stderr}`);
      if (delayMs >= 400) assert.ok(r.hadProcesses, `the lab had processes running ${delayMs} ms in`);
      assert.match(r.stderr, /interrupted \(SIG(INT|TERM)\)/);
      assertNothingLeft(r);
    }
  });
}
