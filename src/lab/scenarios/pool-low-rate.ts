import { actor, judge, scenario, wait } from '../scenario.js';
import type { Step } from '../ops.js';
import { readEof, resultField, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * The server destroys a connection after this long without traffic. Back-to-back calls here are
 * ~50–140 ms apart (every step is observed), quiet calls ~450 ms or more: 300 ms leaves a wide
 * margin on both sides.
 */
const IDLE_MS = 300;
/**
 * A low request rate: the pause between calls. With the steps around it (the pool's refill, the
 * fresh-connection call) a pooled connection sits idle ~450 ms or more before its next call.
 */
const LONG_GAP_MS = 300;
/** Calls per case. */
const CALLS = 3;

/** One call: send the request, wait up to 100 ms for `ok:<request>`. The read is labelled `label`. */
function call(sock: string, label: string): Step[] {
  return [client.write(sock, label).as(`${label}: sent`), client.read(sock, { waitMs: 100 }).as(label)];
}

const busyCalls = Array.from({ length: CALLS }, (_, i) => `busy ${i + 1}`);
const quietCalls = Array.from({ length: CALLS }, (_, i) => `quiet ${i + 1}`);
const freshCalls = Array.from({ length: CALLS }, (_, i) => `fresh ${i + 1}`);

/**
 * Article 003's risk factors (seed 003-g): a client connection pool, a low request rate and a
 * server that reaps idle connections. One node:net server answers every request (`ok:` + it)
 * and destroys connections idle for {@link IDLE_MS}. Three ways to call it, {@link CALLS} calls each:
 * - busy: one pooled connection, calls back to back (gaps of a few tens of ms, below the idle time);
 * - quiet: one pooled connection, a {@link LONG_GAP_MS} pause between calls; when a call fails the pool
 *   discards the connection and dials a warm replacement at once (min-idle 1);
 * - fresh: a new connection per call, same long gaps, closed after the call.
 * A call fails when its response is not `ok:<request>`.
 */
export default scenario({
  id: 'pool-low-rate',
  article: '003',
  title: 'Idle-reaping server: pooled calls fail only at a low rate; a fresh connection per call never does',
  summary:
    `The server answers calls and destroys connections idle for ${IDLE_MS} ms. A pooled connection called back to back never fails; ` +
    `pooled calls with ${LONG_GAP_MS} ms pauses fail on every reused connection; a fresh connection per call at the same rate never fails.`,
  actors: ['server', 'client'],
  steps: [
    server.nodeServe('rpc', 'answer-idle-close', { idleMs: IDLE_MS }),
    // Busy: every call comes before the idle timer (reset by each call and answer) runs out.
    client.connect('busy', 'rpc'),
    ...busyCalls.flatMap((l) => call('busy', l)),
    client.close('busy'),
    // Quiet, pooled and fresh side by side, sharing the long gaps.
    client.connect('pool1', 'rpc'),
    ...quietCalls.flatMap((label, i) => {
      const conn = `pool${i === 0 ? 1 : i}`;
      const fresh = `fresh${i + 1}`;
      const gap: Step[] = i === 0 ? [] : [wait(LONG_GAP_MS, `gap ${i}`)];
      // After a failed call (every call but the first) the pool throws the connection away and dials a
      // new one. Steps cannot branch, so the refill is written out; the count comes from the responses.
      const refill: Step[] = i === 0 ? [] : i === CALLS - 1 ? [client.close(conn)] : [client.close(conn), client.connect(`pool${i + 1}`, 'rpc')];
      return [
        ...gap,
        ...call(conn, label),
        ...refill,
        client.connect(fresh, 'rpc'),
        ...call(fresh, freshCalls[i] as string),
        client.close(fresh),
      ];
    }),
  ],
  checks: {
    '003-g': (t) => {
      const busy = failures(t, busyCalls);
      const quiet = failures(t, quietCalls);
      const fresh = failures(t, freshCalls);
      const firstQuietFail = quietCalls.find((l) => !answered(t, l));
      const how = firstQuietFail ? `; a failed call: send() ${String(t.result(`${firstQuietFail}: sent`).value ?? t.result(`${firstQuietFail}: sent`).errno)}, then ${readText(t, firstQuietFail)}` : '';
      return judge(
        busy.length === 0 && fresh.length === 0 && quiet.length > 0,
        `server's idle timeout ${IDLE_MS} ms; pooled, calls ${gaps(t, busyCalls)} ms apart: ${busy.length}/${CALLS} failed; ` +
          `pooled, calls ${gaps(t, quietCalls)} ms apart: ${quiet.length}/${CALLS} failed (${quiet.join(', ') || 'none'})${how}; ` +
          `fresh connection per call, same gaps: ${fresh.length}/${CALLS} failed`,
      );
    },
  },
});

function answered(t: TraceView, label: string): boolean {
  return resultField(t.result(label), 'text') === `ok:${label}`;
}

function failures(t: TraceView, labels: string[]): string[] {
  return labels.filter((l) => !answered(t, l));
}

function readText(t: TraceView, label: string): string {
  const r = t.result(label);
  const v = r.value;
  if (!r.ok) return `the response read failed ${r.errno}`;
  if (readEof(r)) return 'the response read returned EOF';
  return `the response read returned ${JSON.stringify(v)}`;
}

/** The range of gaps between successive sends, `min–max`. */
function gaps(t: TraceView, labels: string[]): string {
  const starts = labels.map((l) => t.step(`${l}: sent`).startMs);
  const g = starts.slice(1).map((s, i) => s - (starts[i] as number));
  return `${Math.min(...g)}–${Math.max(...g)}`;
}
