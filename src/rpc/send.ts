/**
 * One call through the outcome rules (docs/protocol.md, "What the client may conclude"): take a
 * connection, send one attempt, and after a failure ask decideResend (resend.ts) whether the call
 * may go again. Shared by the single-server pool and the fleet, which differ only in where the
 * next connection comes from — so a call moved off a draining server follows exactly the rules a
 * call moved off a closing connection does.
 */
import type { ClientConnection } from './connection.js';
import { RpcError } from './errors.js';
import { pause, remainingMs, withProcessed } from './outcome.js';
import { decideResend, type ResendCounts, type ResendLimits } from './resend.js';
import type { Call, ClientStats } from './types.js';
import type { Clock } from './clock.js';

/**
 * Gives a connection with a slot reserved for `call`, or rejects with an RpcError (processed 'no').
 * @param retry a re-send of a call already admitted (not refused for a full queue).
 */
export type Acquire = (call: Call, retry: boolean) => Promise<ClientConnection>;

/**
 * Sends `call` until it is answered or provably cannot be re-sent.
 * @throws RpcError whose `processed` is the strongest any attempt established.
 */
export async function sendWithRules(
  call: Call,
  acquire: Acquire,
  limits: ResendLimits & { clock: Clock },
  stats: Pick<ClientStats, 'transparentRetries' | 'idempotentRetries'>,
): Promise<Buffer> {
  const clock = limits.clock;
  let counts: ResendCounts = { transparent: 0, idempotent: 0, overloaded: 0, worst: 'no' };
  let tries = 0;
  for (;;) {
    let conn: ClientConnection;
    try {
      conn = await acquire(call, tries > 0);
    } catch (e) {
      // No connection for this try (connect failed, queue full, deadline, closed): it still
      // counts as an attempt.
      throw withProcessed(e as RpcError, counts.worst, tries + 1);
    }
    tries++;
    const out = await conn.exchange(call);
    if (out.kind === 'response') return out.body;
    // The rules, with their reasons, are in resend.ts (decideResend, RESEND_RULES).
    const d = decideResend(
      out.kind === 'final' ? { kind: 'final', processed: out.error.processed } : out.kind === 'unrun' ? { kind: 'unrun', why: out.why } : { kind: 'lost' },
      { idempotent: call.idempotent, remainingMs: remainingMs(call.deadline, clock) },
      counts,
      limits,
      out.kind === 'unrun' && out.why === 'overloaded' ? clock.random() : 0,
    );
    counts = d.counts;
    if (d.action === 'fail') throw withProcessed(out.error, d.processed, tries);
    if (d.rule === 'lost-idempotent') stats.idempotentRetries++;
    else stats.transparentRetries++;
    if (d.action === 'wait' && !(await pause(d.delayMs, call.signal, clock))) {
      throw withProcessed(new RpcError('CANCELLED', 'the caller aborted the call while it waited to be re-sent', { processed: 'no' }), counts.worst, tries);
    }
  }
}
