/**
 * Time spent in each state, per socket, from a stream of state changes: the `MS` column of bcc's
 * tools/tcpstates.py (time in the previous state), without BPF. Pure: it reads only the events'
 * own times, so it replays recorded traces identically.
 */
import type { TcpStateChangeEvent } from './events.js';

/** A state change with how long the socket had been in `from`. */
export interface TimedStateChange {
  event: TcpStateChangeEvent;
  /**
   * Milliseconds (µs fraction) between the socket's previous transition and this one; null when
   * this tracker has not seen the socket enter `from` (it existed before tracing began).
   */
  msInPrevious: number | null;
}

/**
 * Follows sockets by `skaddr` (the kernel address of their `struct sock`). A transition to CLOSE
 * ends a socket (its memory may be reused by the next one, as tcpstates assumes too). Memory is
 * bounded: past `maxSockets` live entries the oldest is forgotten.
 */
export class StateTimeline {
  private readonly last = new Map<bigint, bigint>();

  /** @throws RangeError when maxSockets is not a positive integer. */
  constructor(readonly maxSockets = 65_536) {
    if (!Number.isInteger(maxSockets) || maxSockets < 1) throw new RangeError(`maxSockets must be a positive integer, got ${maxSockets}`);
  }

  /** Sockets currently followed. */
  get size(): number {
    return this.last.size;
  }

  /** Annotates one change; feed changes in time order (as `read()` returns them). */
  track(event: TcpStateChangeEvent): TimedStateChange {
    const before = this.last.get(event.skaddr);
    const msInPrevious = before === undefined ? null : Number(event.clockNs - before) / 1e6;
    this.last.delete(event.skaddr);
    if (event.to !== 'CLOSE') {
      if (this.last.size >= this.maxSockets) {
        const oldest = this.last.keys().next();
        if (!oldest.done) this.last.delete(oldest.value);
      }
      this.last.set(event.skaddr, event.clockNs);
    }
    return { event, msInPrevious };
  }
}
