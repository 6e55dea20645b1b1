import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';

import { createNamedNetns, deleteNamedNetns, setLinkUp } from '../../src/sys/index.js';

let seq = 0;

/**
 * A fresh named network namespace, `/run/netns/tt-test-PID-N`, with lo up, made with syscalls
 * (src/sys/netns.ts) rather than `ip netns add`; t.after deletes it even when the test fails.
 */
export function testNetns(t: TestContext): { name: string; path: string } {
  const name = `tt-test-${process.pid}-${++seq}`;
  const path = createNamedNetns(name);
  t.after(() => {
    deleteNamedNetns(name);
  });
  setLinkUp(path, 'lo');
  return { name, path };
}

/** A child process and its stdout, line by line. */
export interface NetnsChild {
  proc: ChildProcess;
  /** The next stdout line; rejects when the child exits first. */
  line: () => Promise<string>;
  /** Resolves with the exit code (null: killed, or it could not start). */
  exited: Promise<number | null>;
}

/**
 * `node ...nodeArgs` inside the named namespace `ns`, through `ip netns exec` (which execs node, so
 * the pid is node's); killed by pid in t.after, even when the test fails.
 */
export function nodeInNetns(t: TestContext, ns: string, nodeArgs: string[], env: NodeJS.ProcessEnv = process.env): NetnsChild {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => resolve(code));
    proc.once('error', () => resolve(null));
  });
  t.after(async () => {
    if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let rest = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const l of parts) {
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const line = (): Promise<string> => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      waiters.push(resolve);
      void exited.then((code) => reject(new Error(`child exited (${code}) before printing a line`)));
    });
  };
  return { proc, line, exited };
}
