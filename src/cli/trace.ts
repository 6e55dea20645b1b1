import { readFileSync } from 'node:fs';

import { parseStateName } from '../doctor/states.js';
import { matchesFilter, TRACE_HEADER, traceLineText, TransitionTracker, type TraceFilter } from '../doctor/trace.js';
import type { TcpState } from '../tcp/state.js';
import { openTcpTracer } from '../trace/index.js';
import { standardOutput, StopSignal, usage } from './output.js';

// `teardown trace`: live TCP state transitions and RSTs from a private tracefs instance (no BPF),
// printed as they come; the instance is removed on Ctrl+C, SIGTERM, a closed pipe or --duration.

/** Options of {@link traceCommand}, as commander hands them over. */
export interface TraceCliOptions {
  port?: number[];
  state?: string[];
  pid?: number[];
  json?: boolean;
  duration?: number;
}

/** How often the ring buffers are drained, ms: a transition shows within this. */
const READ_EVERY_MS = 100;

/** `/proc/PID/comm`, cached per pid for the session (bounded). */
function commandReader(): (pid: number) => string | null {
  const cache = new Map<number, string | null>();
  return (pid) => {
    if (cache.has(pid)) return cache.get(pid) ?? null;
    let comm: string | null;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      comm = null;
    }
    if (cache.size >= 4096) cache.delete(cache.keys().next().value as number);
    cache.set(pid, comm);
    return comm;
  };
}

/**
 * `teardown trace [--port P]... [--state S]... [--pid N]... [--json] [--duration S]`.
 * @returns 0 when stopped (signal, closed pipe, duration), 1 when tracing is not permitted or
 *   not available (the message says why), 2 on bad usage.
 */
export async function traceCommand(opts: TraceCliOptions): Promise<number> {
  const states: TcpState[] = [];
  for (const name of opts.state ?? []) {
    const s = parseStateName(name);
    if (s === undefined || s.length > 2) return usage('trace', `unknown state ${JSON.stringify(name)} (a state such as close-wait or CLOSE_WAIT)`);
    states.push(...s);
  }
  const filter: TraceFilter = { ...(opts.port === undefined ? {} : { ports: opts.port }), states, ...(opts.pid === undefined ? {} : { pids: opts.pid }) };
  const tracer = openTcpTracer(opts.port === undefined ? {} : { ports: opts.port.map((p) => [p, p] as const) });
  if (!tracer.available) {
    process.stderr.write(`teardown trace: cannot trace TCP (${tracer.reason}): ${tracer.message}\n`);
    return 1;
  }
  const out = standardOutput();
  const tracker = new TransitionTracker({ commandOf: commandReader() });
  const stop = new StopSignal(out);
  const deadline = opts.duration === undefined ? Infinity : performance.now() + opts.duration * 1000;
  const drain = (): void => {
    for (const e of tracer.read()) {
      const line = tracker.add(e);
      if (line === undefined || !matchesFilter(line, filter)) continue;
      if (!out.write(`${opts.json ? JSON.stringify(line) : traceLineText(line)}\n`)) return;
    }
  };
  try {
    if (tracer.missingEvents.length > 0) process.stderr.write(`teardown trace: this kernel lacks ${tracer.missingEvents.join(', ')}: those events are not shown\n`);
    process.stderr.write(`teardown trace: tracing (tracefs instance ${tracer.instance}); Ctrl+C to stop\n`);
    if (!opts.json) out.write(`${TRACE_HEADER}\n`);
    while (!stop.stopped && performance.now() < deadline) {
      drain();
      await stop.sleep(Math.max(0, Math.min(READ_EVERY_MS, deadline - performance.now())));
    }
    if (out.state === 'open') drain();
  } finally {
    stop.dispose();
    await tracer.close();
  }
  return 0;
}
