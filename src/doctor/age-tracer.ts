import { openTcpTracer, type TcpTracer } from '../trace/index.js';
import { monotonicToWatchMs, StateAges } from './ages.js';

/** A running source of true ages: a tracefs session on `inet_sock_set_state` and its {@link StateAges}. */
export interface AgeTracer {
  /** Reads what the tracer holds now, and returns the ages (call before each scan). */
  entries(): StateAges;
  /** Stops tracing and removes the tracefs instance. Idempotent. */
  close(): Promise<void>;
}

/** Why true ages are not available (not root, no tracefs, lockdown…), in one sentence. */
export interface AgesUnavailable {
  available: false;
  message: string;
}

/** How often the ring buffer is drained between scans, ms: well before 512 KiB per CPU fills. */
const PUMP_MS = 250;

/**
 * Starts tracing state transitions for true ages (`doctor --watch`, the exporter). Never throws
 * for the environment: when tracing is not permitted it says why and the caller keeps scan-based
 * ages. The pump timer is unref()ed: it never keeps the process alive.
 */
export function startAgeTracer(): AgeTracer | AgesUnavailable {
  const opened = openTcpTracer({ events: ['inet_sock_set_state'] });
  if (!opened.available) return { available: false, message: opened.message };
  const tracer: TcpTracer = opened;
  const toWatchMs = monotonicToWatchMs();
  const ages = new StateAges({ sinceMs: toWatchMs(process.hrtime.bigint()), toWatchMs });
  const pump = (): void => {
    if (tracer.state === 'open') ages.add(tracer.read());
  };
  const timer = setInterval(pump, PUMP_MS);
  timer.unref();
  return {
    entries() {
      pump();
      return ages;
    },
    async close() {
      clearInterval(timer);
      await tracer.close();
    },
  };
}
