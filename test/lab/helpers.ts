import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Trace } from '../../src/lab/trace.js';

/** Why a test that needs a network namespace cannot run here, or false when it can. */
export const needsRoot: string | false = process.getuid?.() !== 0 ? 'needs root for network namespaces' : false;

/** Pids of live processes the lab started for owner `ownerPid` (marked TT_LAB_OWNER in their environment). */
export function labProcessesOf(ownerPid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (env.split('\0').includes(`TT_LAB_OWNER=${ownerPid}`)) found.push(Number(name));
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

/** Network namespaces the lab made for owner `ownerPid` (named tt-PID-N). */
export function labNamespacesOf(ownerPid: number): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(`tt-${ownerPid}-`));
  } catch {
    return []; // no named namespace at all
  }
}

/** tracefs instances a lab run of `ownerPid` made (`instances/tcp-teardown-PID-N`), wherever tracefs is mounted. */
export function labTraceInstancesOf(ownerPid: number): string[] {
  const found: string[] = [];
  for (const root of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
    try {
      for (const name of readdirSync(`${root}/instances`)) if (name.startsWith(`tcp-teardown-${ownerPid}-`)) found.push(`${root}/instances/${name}`);
    } catch {
      // not mounted there
    }
  }
  return found;
}

const TRACES = fileURLToPath(new URL('../../../test/fixtures/traces/', import.meta.url));

/**
 * A fresh copy of the trace of scenario `id` recorded on Linux 6.18 (test/fixtures/traces, made
 * with `teardown lab --record test/fixtures/traces`); tests may alter it.
 * @throws Error when no trace was recorded for `id`.
 */
export function recorded(id: string): Trace {
  const path = `${TRACES}${id}.json`;
  if (!existsSync(path)) throw new Error(`no recorded trace for ${id}: run teardown lab --record test/fixtures/traces`);
  return JSON.parse(readFileSync(path, 'utf8')) as Trace;
}
