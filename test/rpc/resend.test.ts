/**
 * The pool's resend decision (src/rpc/resend.ts) as a table, without sockets: every rule of
 * RESEND_RULES is reached by at least one row, and the shared backoff formula is exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, decideResend, RESEND_RULES, type FailedAttempt, type ResendCounts, type ResendRule } from '../../src/rpc/index.js';
import { CONNECT_BACKOFF, OVERLOAD_BACKOFF } from '../../src/rpc/backoff.js';
import { requeueAfterConnectFailure, type ConnectFailure } from '../../src/rpc/resend.js';

const limits = { maxTransparentRetries: 5, maxIdempotentRetries: 1 };
const zero: ResendCounts = { transparent: 0, idempotent: 0, overloaded: 0, worst: 'no' };

interface Row {
  name: string;
  attempt: FailedAttempt;
  idempotent: boolean;
  remainingMs?: number;
  counts?: Partial<ResendCounts>;
  draw?: number;
  want: { action: 'resend' | 'wait' | 'fail'; rule: ResendRule; processed?: 'no' | 'maybe' | 'yes'; delayMs?: number; counts?: Partial<ResendCounts> };
}

const rows: Row[] = [
  { name: 'an answer ends the call with what it says', attempt: { kind: 'final', processed: 'yes' }, idempotent: true, want: { action: 'fail', rule: 'answer-final', processed: 'yes' } },
  { name: "a final 'no' after an earlier lost attempt says 'maybe'", attempt: { kind: 'final', processed: 'no' }, idempotent: true, counts: { worst: 'maybe' }, want: { action: 'fail', rule: 'answer-final', processed: 'maybe' } },
  { name: 'never written: re-sent, any method', attempt: { kind: 'unrun', why: 'not-written' }, idempotent: false, want: { action: 'resend', rule: 'unrun-resend', counts: { transparent: 1 } } },
  { name: 'above GOAWAY lastId: re-sent', attempt: { kind: 'unrun', why: 'goaway' }, idempotent: false, want: { action: 'resend', rule: 'unrun-resend' } },
  { name: 'REFUSED: re-sent', attempt: { kind: 'unrun', why: 'refused' }, idempotent: false, counts: { transparent: 4 }, want: { action: 'resend', rule: 'unrun-resend', counts: { transparent: 5 } } },
  { name: 'unrun past maxTransparentRetries: fails, processed as before', attempt: { kind: 'unrun', why: 'refused' }, idempotent: true, counts: { transparent: 5 }, want: { action: 'fail', rule: 'unrun-limit', processed: 'no' } },
  { name: 'OVERLOADED: waits the first backoff (draw 0: the full 10 ms ceiling)', attempt: { kind: 'unrun', why: 'overloaded' }, idempotent: false, draw: 0, want: { action: 'wait', rule: 'overloaded-backoff', delayMs: 10, counts: { transparent: 1, overloaded: 1 } } },
  { name: 'third OVERLOADED: 40 ms ceiling, draw 0.5 → 30 ms', attempt: { kind: 'unrun', why: 'overloaded' }, idempotent: false, counts: { overloaded: 2, transparent: 2 }, draw: 0.5, want: { action: 'wait', rule: 'overloaded-backoff', delayMs: 30 } },
  { name: 'OVERLOADED with less time left than the wait: fails', attempt: { kind: 'unrun', why: 'overloaded' }, idempotent: true, remainingMs: 9, draw: 0, want: { action: 'fail', rule: 'overloaded-past-deadline', processed: 'no' } },
  { name: 'lost, idempotent: re-sent, and the call may have run', attempt: { kind: 'lost' }, idempotent: true, want: { action: 'resend', rule: 'lost-idempotent', counts: { idempotent: 1, worst: 'maybe' } } },
  { name: 'lost, not idempotent: fails maybe', attempt: { kind: 'lost' }, idempotent: false, want: { action: 'fail', rule: 'lost-not-idempotent', processed: 'maybe' } },
  { name: 'lost again past maxIdempotentRetries: fails maybe', attempt: { kind: 'lost' }, idempotent: true, counts: { idempotent: 1, worst: 'maybe' }, want: { action: 'fail', rule: 'lost-limit', processed: 'maybe' } },
];

test('resend decision: every row of the table', () => {
  for (const r of rows) {
    const counts = { ...zero, ...r.counts };
    const d = decideResend(r.attempt, { idempotent: r.idempotent, remainingMs: r.remainingMs ?? Infinity }, counts, limits, r.draw ?? 0);
    assert.equal(d.action, r.want.action, r.name);
    assert.equal(d.rule, r.want.rule, r.name);
    if (r.want.processed !== undefined) assert.equal(d.action === 'fail' && d.processed, r.want.processed, r.name);
    if (r.want.delayMs !== undefined) assert.equal(d.action === 'wait' && d.delayMs, r.want.delayMs, r.name);
    for (const [k, v] of Object.entries(r.want.counts ?? {})) assert.equal(d.counts[k as keyof ResendCounts], v, `${r.name}: counts.${k}`);
  }
});

test('resend decision: the table reaches every rule, and every rule has its reason', () => {
  const reached = new Set(rows.map((r) => r.want.rule));
  for (const rule of Object.keys(RESEND_RULES) as ResendRule[]) {
    assert.ok(reached.has(rule), `no row reaches rule ${rule}`);
    assert.ok(RESEND_RULES[rule].length > 20, `rule ${rule} has no reason`);
  }
});

test('backoff: exponential, capped, jittered within (ceiling × (1 − jitter), ceiling]', () => {
  const p = { initialMs: 20, maxMs: 50, multiplier: 2, jitter: 0 };
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffMs(p, n, 0.9)), [20, 40, 50, 50]);
  assert.equal(backoffMs({ ...p, jitter: 1 }, 2, 0.25), 30);
  assert.equal(backoffMs(OVERLOAD_BACKOFF, 1, 0.999999) > 5, true);
  assert.equal(backoffMs(OVERLOAD_BACKOFF, 20, 0), 1000);
  assert.equal(backoffMs(CONNECT_BACKOFF, 1, 0), 50);
  assert.equal(backoffMs(CONNECT_BACKOFF, 30, 0), 5000);
  assert.equal(backoffMs(CONNECT_BACKOFF, 3, 1 - 2 ** -52) > 100, true);
});

test('requeue after a connect failure: only a reset after the handshake, below maxTransparentRetries', () => {
  const rows: [string, ConnectFailure, number, boolean][] = [
    ['reset in a closing listener\'s accept queue', { handshakeDone: true, errno: 'ECONNRESET' }, 0, true],
    ['EPIPE writing SETTINGS into that reset', { handshakeDone: true, errno: 'EPIPE' }, 4, true],
    ['the fifth re-queue is the last (maxTransparentRetries 5)', { handshakeDone: true, errno: 'ECONNRESET' }, 5, false],
    ['refused: nothing listens', { handshakeDone: false, errno: 'ECONNREFUSED' }, 0, false],
    ['reset before the handshake completed', { handshakeDone: false, errno: 'ECONNRESET' }, 0, false],
    ['no SETTINGS within connectTimeoutMs', { handshakeDone: true, errno: 'ETIMEDOUT' }, 0, false],
    ['EOF before SETTINGS (a server that closes at once)', { handshakeDone: true, errno: 'EOF' }, 0, false],
    ['no errno', { handshakeDone: true, errno: null }, 0, false],
  ];
  for (const [name, failure, requeues, want] of rows) assert.equal(requeueAfterConnectFailure(failure, requeues, limits), want, name);
  assert.equal(requeueAfterConnectFailure({ handshakeDone: true, errno: 'ECONNRESET' }, 0, { maxTransparentRetries: 0 }), false, 'maxTransparentRetries 0: never');
});
