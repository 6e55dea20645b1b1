/**
 * State transitions, RSTs with the kernel's reason, and socket errors for the kernel backend,
 * from tracefs tracepoints (src/trace/tracefs) in a private instance per scenario. The events
 * carry no network namespace: the scenario's namespace has a local-port range of its own
 * (port-slots.ts), and both the kernel filter and the naming below keep only that range.
 *
 * Tracing is optional equipment, like capture: where tracefs cannot be used, the report says
 * "transitions not traced: <why>" and the run goes on.
 */
import { openTcpTracer, type TcpTraceEvent, type TcpTracer } from '../../trace/index.js';
import type { CapturedSegment } from '../../tcp/segment.js';
import { socketLabel, stepAt, type TraceReset, type TraceSocketError, type TraceTransition } from '../trace.js';

import { resources } from './cleanup.js';

/** One scenario's tracer: events collected as the steps go, a barrier at the end. */
export class LabTracer {
  readonly #tracer: TcpTracer;
  readonly #events: TcpTraceEvent[] = [];
  readonly #unregister: () => void;

  private constructor(tracer: TcpTracer) {
    this.#tracer = tracer;
    this.#unregister = resources.onRelease(this, () => tracer.closeSync());
  }

  /** @returns the tracer, or `{ reason }` when tracefs cannot be used here. */
  static open(ports: readonly [number, number]): LabTracer | { reason: string } {
    const t = openTcpTracer({ ports: [ports] });
    if (t.available === false) return { reason: t.reason };
    return new LabTracer(t);
  }

  poll(): void {
    for (const e of this.#tracer.read()) this.#events.push(e);
  }

  /** Reads up to a barrier, removes the instance, and returns every event with what was lost. */
  async stop(): Promise<{ events: TcpTraceEvent[]; lost: number }> {
    for (const e of await this.#tracer.flush()) this.#events.push(e);
    const lost = this.#tracer.stats.lost;
    await this.close();
    this.#events.sort((a, b) => a.epochMs - b.epochMs);
    return { events: this.#events, lost };
  }

  async close(): Promise<void> {
    await this.#tracer.close();
    this.#unregister();
  }
}

/** What {@link nameTraceEvents} reads of a run: the socket names and when each step began. */
export interface NamingContext {
  /** Scenario name → `ip:port` of the socket's own end. */
  addresses: Readonly<Record<string, string>>;
  /** Scenario name → `ip:port` of its peer. */
  remotes: Readonly<Record<string, string>>;
  /** CLOCK_REALTIME ms at which each step began, in step order. */
  stepStarts: readonly number[];
}

const UNBOUND = /:0$/;

/**
 * Gives every traced event the scenario's name for its socket (pure).
 *
 * A socket is known by its 4-tuple, except at CLOSE → SYN_SENT: `tcp_v4_connect()` sets the state
 * before `inet_hash_connect()` picks the local port, so that event reads port 0. Such an event
 * takes the tuple of the next event of the same `struct sock` (`skaddr`), which is the same socket:
 * an address is only reused after the socket is freed, and a socket in SYN_SENT leaves it only by
 * another traced transition.
 */
export function nameTraceEvents(events: readonly TcpTraceEvent[], ctx: NamingContext): { transitions: TraceTransition[]; resets: TraceReset[]; errors: TraceSocketError[] } {
  const sorted = [...events].sort((a, b) => a.epochMs - b.epochMs);
  const name = (local: string | null, remote: string | null): string =>
    local === null || remote === null ? 'unknown' : (socketLabel(local, remote, ctx.addresses, ctx.remotes) ?? `${local}>${remote}`);
  const transitions: TraceTransition[] = [];
  const resets: TraceReset[] = [];
  const errors: TraceSocketError[] = [];
  sorted.forEach((e, i) => {
    const step = stepAt(ctx.stepStarts, e.epochMs);
    switch (e.kind) {
      case 'state': {
        let { local, remote } = e;
        if (UNBOUND.test(local)) {
          const next = sorted.slice(i + 1).find((x) => x.kind === 'state' && x.skaddr === e.skaddr && !UNBOUND.test(x.local));
          if (next && next.kind === 'state') ({ local, remote } = next);
        }
        transitions.push({ epochMs: e.epochMs, socket: name(local, remote), from: e.from, to: e.to, step });
        break;
      }
      case 'reset-sent':
        resets.push({ epochMs: e.epochMs, socket: name(e.local, e.remote), direction: 'sent', reason: e.reason, state: e.state, step });
        break;
      case 'reset-received':
        resets.push({ epochMs: e.epochMs, socket: name(e.local, e.remote), direction: 'received', reason: null, state: null, step });
        break;
      case 'error-report':
        errors.push({ epochMs: e.epochMs, socket: name(e.local, e.remote), errno: e.errno, error: e.error, step });
        break;
    }
  });
  return { transitions, resets, errors };
}

/** How far apart a RST segment's timestamp and its `tcp_send_reset` event may be to be matched, ms. */
const RESET_MATCH_MS = 20;

/**
 * Writes each RST segment's reason from the `tcp_send_reset` event that sent it: same sender and
 * receiver, nearest in time (the tracepoint fires right after the segment left; both clocks are
 * CLOCK_REALTIME). Each event explains at most one segment; a RST with no event keeps
 * `rstReason: null`.
 */
export function attachResetReasons(segments: CapturedSegment[], events: readonly TcpTraceEvent[]): void {
  const sent = events.filter((e) => e.kind === 'reset-sent');
  const used = new Set<number>();
  for (const seg of segments) {
    if (!seg.flags.includes('RST')) continue;
    let best = -1;
    let bestGap = RESET_MATCH_MS;
    sent.forEach((e, i) => {
      if (used.has(i) || e.local !== seg.src || e.remote !== seg.dst) return;
      const gap = Math.abs(e.epochMs - seg.epochMs);
      if (gap <= bestGap) {
        best = i;
        bestGap = gap;
      }
    });
    const match = sent[best];
    if (best >= 0 && match) used.add(best);
    seg.rstReason = match?.reason ?? null;
  }
}
