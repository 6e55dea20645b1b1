import type { TcpTraceEvent } from '../trace/index.js';
import { tupleKey } from '../tcp/address.js';
import type { TcpState } from '../tcp/state.js';
import { AGED_STATES, type StateEntries } from './watch.js';

/** Options of {@link StateAges}. */
export interface StateAgesOptions {
  /** When tracing began, on the watch's clock (ms). */
  sinceMs: number;
  /** Converts an event's trace clock (CLOCK_MONOTONIC ns) to the watch's clock (ms). */
  toWatchMs: (clockNs: bigint) => number;
  /** Sockets remembered at most (default 200 000); the oldest entries go first. */
  maxSockets?: number;
}

const AGED: ReadonlySet<TcpState> = new Set(AGED_STATES);

/**
 * True ages from state transitions: for every socket in CLOSE_WAIT, FIN_WAIT2 or FIN_WAIT1, the
 * time it entered that state, taken from the `inet_sock_set_state` event itself. Fed with the
 * tracer's events; answers the watch's {@link StateEntries} questions. Sockets that entered their
 * state before tracing began are unknown here, and the watch shows them as "≥" the tracer's age.
 *
 * Keys are the watch's `ageKey` without the namespace: the tracepoint does not say which network
 * namespace a socket lives in, so with `--all-namespaces` two namespaces' identical 4-tuples share
 * an entry (the later transition wins).
 */
export class StateAges implements StateEntries {
  readonly sinceMs: number;
  readonly #toWatchMs: (clockNs: bigint) => number;
  readonly #max: number;
  /** `STATE local>remote` → entry time; Map order is insertion order, the eviction order. */
  readonly #entered = new Map<string, number>();
  /** `local>remote` → its current aged state, to forget the old key on the next transition. */
  readonly #current = new Map<string, TcpState>();

  constructor(opts: StateAgesOptions) {
    this.sinceMs = opts.sinceMs;
    this.#toWatchMs = opts.toWatchMs;
    this.#max = opts.maxSockets ?? 200_000;
  }

  /** Takes in the events of one read (other kinds are ignored). */
  add(events: readonly TcpTraceEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'state') continue;
      const tuple = tupleKey(e.local, e.remote);
      const was = this.#current.get(tuple);
      if (was !== undefined) {
        this.#entered.delete(`${was} ${tuple}`);
        this.#current.delete(tuple);
      }
      if (!AGED.has(e.to)) continue;
      this.#entered.set(`${e.to} ${tuple}`, this.#toWatchMs(e.clockNs));
      this.#current.set(tuple, e.to);
      if (this.#entered.size > this.#max) {
        const oldest = this.#entered.keys().next().value as string;
        this.#entered.delete(oldest);
        this.#current.delete(oldest.slice(oldest.indexOf(' ') + 1));
      }
    }
  }

  /** Entries remembered. */
  get size(): number {
    return this.#entered.size;
  }

  enteredAt(key: string): number | undefined {
    // The watch's key may end with ` <netns>`: the tracer has no namespace (see the class comment).
    const parts = key.split(' ');
    return this.#entered.get(`${parts[0] as string} ${parts[1] as string}`);
  }
}

/**
 * The watch's clock (`performance.timeOrigin + performance.now()`, ms) for a CLOCK_MONOTONIC
 * time in ns (the tracer's `mono` clock, and `process.hrtime.bigint()`'s).
 */
export function monotonicToWatchMs(): (clockNs: bigint) => number {
  const offsetMs = performance.timeOrigin + performance.now() - Number(process.hrtime.bigint()) / 1e6;
  return (clockNs) => Number(clockNs) / 1e6 + offsetMs;
}
