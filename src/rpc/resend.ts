/**
 * The pool's resend decision (docs/protocol.md, "What the client may conclude"): after an attempt
 * of a call failed, may the same call be sent again — now, after a wait, or not at all, and then
 * with what `processed`? A pure function of what the attempt proved, the call, and the counts so
 * far (the shape of Go net/http's `rewindBody`/`shouldRetryRequest` and grpc-js's retrying call),
 * so every rule is checked in a table without sockets (test/rpc/resend.test.ts).
 */
import { backoffMs, OVERLOAD_BACKOFF } from './backoff.js';
import type { Processed } from './errors.js';
import { worse } from './outcome.js';

/** Why a call provably did not run (outcome rules 1 and 2). */
export type UnrunWhy = 'not-written' | 'goaway' | 'refused' | 'overloaded';

/** What a failed attempt proved, as the decision needs it (the connection's Outcome without the body). */
export type FailedAttempt =
  | { kind: 'unrun'; why: UnrunWhy }
  | { kind: 'lost' }
  | { kind: 'final'; processed: Processed };

/** Counts over the attempts of one call so far. */
export interface ResendCounts {
  /** Re-sends of calls that provably did not run (rules 1–2). */
  transparent: number;
  /** Re-sends of idempotent calls lost on a broken connection (rule 3). */
  idempotent: number;
  /** OVERLOADED answers so far (the backoff grows with them). */
  overloaded: number;
  /** The strongest `processed` any attempt so far established. */
  worst: Processed;
}

/** The limits of {@link decideResend}, from ClientOptions. */
export interface ResendLimits {
  maxTransparentRetries: number;
  maxIdempotentRetries: number;
}

/** The rules, each with the reason it is safe (or why it stops). */
export const RESEND_RULES = {
  'answer-final':
    'rule 4: an answer (RESPONSE, or ERROR other than REFUSED/OVERLOADED) is final for the attempt; so are the caller\'s own deadline and cancel and a local limit',
  'unrun-resend':
    'rules 1–2: the call never left this process, or its id is above a GOAWAY\'s lastId, or the server answered REFUSED: it did not run and will not, so sending it again cannot run it twice, whatever the method',
  'unrun-limit':
    'rules 1–2, bounded: maxTransparentRetries re-sends of unrun calls already made; a sick server (GOAWAY on every connection) must not loop the call for ever',
  'overloaded-backoff':
    'rule 2: OVERLOADED is sent instead of running the handler; re-sending at once would likely meet the same answer, so wait (exponential, jittered) first',
  'overloaded-past-deadline': 'rule 2, bounded: the backoff after OVERLOADED would end past the call\'s deadline',
  'lost-idempotent':
    'rule 3: written, then the connection failed before any answer; the server may have run it, and the caller declared running it twice harmless',
  'lost-not-idempotent':
    'rule 3: written, then the connection failed before any answer; nothing in TCP says whether the server ran it (003-j), and the call is not idempotent: fail with processed \'maybe\'',
  'lost-limit': 'rule 3, bounded: maxIdempotentRetries re-sends of this lost idempotent call already made',
} as const;

export type ResendRule = keyof typeof RESEND_RULES;

/** What to do after a failed attempt. `counts` are the counts to carry into the next attempt. */
export type ResendDecision =
  | { action: 'resend'; rule: ResendRule; counts: ResendCounts }
  | { action: 'wait'; rule: ResendRule; delayMs: number; counts: ResendCounts }
  | { action: 'fail'; rule: ResendRule; processed: Processed; counts: ResendCounts };

/**
 * Decides whether a failed attempt of a call is sent again.
 * @param call `idempotent` as declared; `remainingMs` until its deadline (Infinity for none).
 * @param draw a random number in [0, 1) for the OVERLOADED backoff's jitter (`Clock.random()`).
 */
export function decideResend(
  attempt: FailedAttempt,
  call: { idempotent: boolean; remainingMs: number },
  counts: ResendCounts,
  limits: ResendLimits,
  draw: number,
): ResendDecision {
  switch (attempt.kind) {
    case 'final':
      return { action: 'fail', rule: 'answer-final', processed: worse(counts.worst, attempt.processed), counts };
    case 'unrun': {
      if (counts.transparent >= limits.maxTransparentRetries) return { action: 'fail', rule: 'unrun-limit', processed: counts.worst, counts };
      if (attempt.why !== 'overloaded') {
        return { action: 'resend', rule: 'unrun-resend', counts: { ...counts, transparent: counts.transparent + 1 } };
      }
      const overloaded = counts.overloaded + 1;
      const delayMs = backoffMs(OVERLOAD_BACKOFF, overloaded, draw);
      if (call.remainingMs <= delayMs) return { action: 'fail', rule: 'overloaded-past-deadline', processed: counts.worst, counts };
      return { action: 'wait', rule: 'overloaded-backoff', delayMs, counts: { ...counts, transparent: counts.transparent + 1, overloaded } };
    }
    case 'lost': {
      const worst = worse(counts.worst, 'maybe');
      if (!call.idempotent) return { action: 'fail', rule: 'lost-not-idempotent', processed: worst, counts: { ...counts, worst } };
      if (counts.idempotent >= limits.maxIdempotentRetries) return { action: 'fail', rule: 'lost-limit', processed: worst, counts: { ...counts, worst } };
      return { action: 'resend', rule: 'lost-idempotent', counts: { ...counts, idempotent: counts.idempotent + 1, worst } };
    }
  }
}

/** A connection attempt that failed before the server's SETTINGS, as {@link requeueAfterConnectFailure} needs it. */
export interface ConnectFailure {
  /** The TCP handshake had completed: something at the address accepted the SYN. */
  handshakeDone: boolean;
  /** The errno name of the failure (`ECONNRESET`, `ECONNREFUSED`, `ETIMEDOUT`, `EOF` …), or null. */
  errno: string | null;
}

/**
 * Whether a call waiting in a pool for a connection keeps waiting (a new connection is dialled
 * after the connect backoff) when the last attempt failed and nothing else can serve it — instead
 * of failing with that attempt's error (processed 'no' either way: no call is written before the
 * server's SETTINGS).
 *
 * Yes only for a reset after the handshake (`ECONNRESET`, or `EPIPE` writing our SETTINGS into
 * it), `requeues` times below maxTransparentRetries: the signature of a listener closed with the
 * connection still in its accept queue — `inet_csk_listen_stop()`, net/ipv4/inet_connection_sock.c,
 * with `net.ipv4.tcp_migrate_req` 0, the default — which is what a server's rolling restart does
 * to connections made in the instant before the old process's `close()`. The address is alive
 * (it completed the handshake) and a new process may listen there already (SO_REUSEPORT).
 * A refused or timed-out attempt is not retried here: nothing answers there (or it answers too
 * slowly), and failing fast (gRPC's TRANSIENT_FAILURE) beats holding calls on a dead address.
 */
export function requeueAfterConnectFailure(failure: ConnectFailure, requeues: number, limits: Pick<ResendLimits, 'maxTransparentRetries'>): boolean {
  if (!failure.handshakeDone || (failure.errno !== 'ECONNRESET' && failure.errno !== 'EPIPE')) return false;
  return requeues < limits.maxTransparentRetries;
}
