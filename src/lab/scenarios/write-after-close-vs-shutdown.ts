import type { CallResult } from '../ops.js';
import { rstReasons } from '../findings.js';
import { actor, confirmed, contradicted, judge, notCaptured, partly, scenario, wait } from '../scenario.js';
import { readBytes, readEof as eof, resultField } from '../trace.js';

const active = actor('active');
const passive = actor('passive');

/**
 * Articles 004 and 003: what the passive side meets when it goes on writing after reading EOF,
 * depending on whether the active side used close() or shutdown(SHUT_WR).
 *
 * Three connections from `passive` to `active`:
 * - `a`: the active side close()s. The passive side reads EOF, writes twice, then reads
 *   (the sequence of 004-i, and the read of 004-h).
 * - `r`: the active side close()s too; the passive side reads EOF, writes once, and then only
 *   reads, twice: what read() alone returns once the RST has come back (004-h), with no second
 *   write in between that could have consumed the socket's pending error.
 * - `b`: the active side shutdown(SHUT_WR)s. The passive side reads EOF and writes twice; the
 *   active side then reads what was written (003-e, 004-i).
 *
 * Judges 004-g, 004-h (by parts: read, and a default-disposition writer killed by SIGPIPE), 004-i, 003-e.
 */
export default scenario({
  id: 'write-after-close-vs-shutdown',
  article: '004',
  title: 'Writing after EOF: the peer close()d vs shutdown(SHUT_WR)',
  summary:
    'The active side ends one connection with close() and another with shutdown(SHUT_WR). The passive side reads EOF on both, ' +
    'then writes twice and reads. After close() the first write is answered with RST and later calls fail; after shutdown() ' +
    'the writes are ACKed and the active side reads them.',
  actors: ['active', 'passive'],
  steps: [
    active.listen('L').as('listen'),
    passive.connect('pa', 'L').as('pa connected'),
    active.accept('L', 'a').as('a accepted'),
    passive.connect('pr', 'L').as('pr connected'),
    active.accept('L', 'r').as('r accepted'),
    passive.connect('pb', 'L').as('pb connected'),
    active.accept('L', 'b').as('b accepted'),
    // Nothing is unread on the active side, so close() sends FIN, not RST (that would be 004-e).
    active.close('a').as('a closed'),
    active.close('r').as('r closed'),
    active.shutdown('b', 'SHUT_WR').as('b shut'),
    // Wait past the ~40 ms delayed-ACK timer, so every FIN is ACKed and the closers sit in FIN_WAIT2.
    wait(80, 'FINs acked'),

    // Connection a: read EOF, write, write, read (004-g, 004-h, 004-i).
    passive.read('pa', { waitMs: 200 }).as('pa eof'),
    passive.write('pa', 'one').as('pa write 1'),
    // Loopback answers at once; this pause only makes sure the RST is in before the next call.
    wait(30, 'pa after write 1'),
    // The error the RST left on pa in CLOSE_WAIT (reading it clears it; the next write fails all the same).
    passive.soError('pa').as('pa SO_ERROR'),
    passive.write('pa', 'two').as('pa write 2'),
    passive.read('pa').as('pa read'),
    // The same write from a process with SIGPIPE's default disposition, as a C program has it.
    passive.defaultSigpipeWrite('pa', 'three').as('pa write by C'),

    // Connection r: read EOF, write, then read twice with no second write (004-h's read).
    passive.read('pr', { waitMs: 200 }).as('pr eof'),
    passive.write('pr', 'one').as('pr write 1'),
    wait(30, 'pr after write 1'),
    passive.read('pr').as('pr read 1'),
    passive.read('pr').as('pr read 2'),

    // Connection b: read EOF, write, write; the half-closed active side reads them (003-e, 004-i).
    passive.read('pb', { waitMs: 200 }).as('pb eof'),
    passive.write('pb', 'one').as('pb write 1'),
    wait(30, 'pb after write 1'),
    passive.write('pb', 'two').as('pb write 2'),
    // Past the delayed-ACK timer: whatever ACKs the active kernel sends for the data are out.
    wait(80, 'pb written'),
    active.drain('b', 100).as('b read'),
  ],
  findings: [
    rstReasons('write-after-close-vs-shutdown'),
    {
      id: 'so-error-close-wait',
      fact: 'A RST that meets a socket in CLOSE_WAIT leaves EPIPE on it, not ECONNRESET (tcp_reset()).',
      claims: ['004-h'],
      check: (t) => {
        const so = t.result('pa SO_ERROR');
        const state = t.sock('pa eof', 'pa')?.state;
        const errs = (t.trace.errors ?? []).filter((e) => e.socket === 'pa').map((e) => e.errno ?? String(e.error));
        if (!so.ok || so.value === 0 || so.value === undefined) return null;
        return `pa ${state ?? 'gone'} got ${t.rstText('a', 'pa write 1', 'pa after write 1')}: SO_ERROR → ${String(so.value)}` +
          `${t.trace.errors === null ? '' : `, traced error ${errs.length ? errs.join(', ') : 'none'}`}`;
      },
    },
  ],
  checks: {
    '004-g': (t) => {
      if (!t.captured) return notCaptured(t, 'the RST cannot be seen');
      const segs = t.segments('pa write 1', 'pa after write 1');
      const data = t.from('pa', segs).find((s) => s.length > 0);
      const rst = t.from('a', segs).find((s) => s.flags.includes('RST'));
      const a = t.sock('pa after write 1', 'a');
      const before = t.sock('FINs acked', 'a');
      // What the snapshots show, then what the tracepoints show of the same socket, in time order.
      const path = t.pathText('a', 'a closed');
      const traced = path === null ? ` (${t.trace.env.traceNote ?? 'transitions not traced'})` : `; traced from close() on: a ${path}`;
      return judge(
        data !== undefined && rst !== undefined && a === undefined,
        `after close(): ${before ? `${t.describe('FINs acked', 'a')}${before.timer.kind !== 'none' ? ` (timer ${before.timer.kind} ${(before.timer.remainingMs / 1000).toFixed(1)} s)` : ''}` : 'a gone'}${traced}; ` +
          `the passive side's ${data?.length ?? 0} B reached it and it answered ${rst ? `${t.words(rst)} (seq ${rst.seq ?? '?'}) ${(rst.epochMs - (data?.epochMs ?? rst.epochMs)).toFixed(2)} ms later` : 'without RST'}${
            rst?.rstReason === 'TCP_TIMEWAIT_SOCKET' && before?.state === 'FIN_WAIT2' && path?.endsWith('→ CLOSE') === true
              ? ' (the reason says a timewait socket answered: the FIN_WAIT2 in the table, the full socket having gone to CLOSE)'
              : ''
          }; ` +
          `then ${a ? `a is still ${a.state}${a.inTable ? '' : ' (out of the table)'}` : 'a is gone from the table'}`,
      );
    },
    '004-h': (t) => {
      const byC = t.result('pa write by C');
      const killed = resultField(byC, 'signal') === 'SIGPIPE';
      const w2 = t.result('pa write 2');
      const after = [t.result('pr read 1'), t.result('pr read 2'), t.result('pa read')];
      const txt = (r: CallResult): string => (r.ok ? (eof(r) ? '0 (EOF)' : `${JSON.stringify(r.value)}`) : r.errno ?? 'failed');
      const reset = after.some((r) => !r.ok && r.errno === 'ECONNRESET');
      const pa = t.sock('pa after write 1', 'pa');
      const rsts = t.rstsSent('a', 'pa write 1', 'pa after write 1');
      const rstWords = rsts === null || rsts.length === 0 ? 'RST' : rsts.join(', ');
      const sigpipe = !w2.ok && w2.sigpipe === true && killed;
      const verdict = reset && sigpipe ? confirmed : !reset && !sigpipe ? contradicted : partly;
      return verdict(
        `${reset ? 'ECONNRESET on read holds' : 'the read part does not hold here'}; ${sigpipe ? 'the SIGPIPE part holds' : 'the SIGPIPE part does not hold'}: ` +
        `a process with SIGPIPE's default disposition writing to pa ${killed ? 'was killed by SIGPIPE' : `was not killed (${byC.ok ? 'write ok' : byC.errno ?? 'failed'}, exit ${JSON.stringify(byC.value ?? null)})`}; ` +
        `after ${rsts === null ? 'the RST (unseen: packets not captured, RSTs not traced)' : rsts.length === 0 ? 'the first write (no RST seen)' : `the ${rstWords}`}, passive end ${pa?.state ?? 'gone'}${pa && !pa.inTable ? ', gone from the table' : ''}: write() fails ${w2.ok ? 'not at all' : w2.errno}${w2.sigpipe ? ' + SIGPIPE' : ' without SIGPIPE'}, ` +
          `read() returns ${txt(after[0] as CallResult)} then ${txt(after[1] as CallResult)} (and ${txt(after[2] as CallResult)} after the failed write)` +
          (reset ? '' : `: never ECONNRESET${t.sock('pa eof', 'pa')?.state === 'CLOSE_WAIT' ? ', the FIN was in first (pa CLOSE_WAIT before the write), so read() reports EOF' : ''}${!w2.ok && w2.errno === 'EPIPE' ? ' and the reset surfaces as EPIPE on write' : ''}`),
      );
    },
    '004-i': (t) => {
      const eofA = t.result('pa eof');
      const eofB = t.result('pb eof');
      const a1 = t.result('pa write 1');
      const a2 = t.result('pa write 2');
      const b1 = t.result('pb write 1');
      const b2 = t.result('pb write 2');
      const res = (r: CallResult): string => (r.ok ? `${r.value} B` : `${r.errno}${r.sigpipe ? ' + SIGPIPE' : ''}`);
      return judge(
        eof(eofA) && eof(eofB) && a1.ok && b1.ok && b2.ok && !a2.ok && a2.sigpipe === true,
        `read() returned ${eof(eofA) && eof(eofB) ? 'EOF on both' : 'something else than EOF'}; peer close()d: send 1 → ${res(a1)}, send 2 → ${res(a2)}; peer shutdown(SHUT_WR): send 1 → ${res(b1)}, send 2 → ${res(b2)}`,
      );
    },
    '003-e': (t) => {
      const rd = t.result('b read');
      const got = Math.max(0, readBytes(rd));
      const segs = t.captured ? t.segments('pb write 1', 'b read') : [];
      const rst = t.from('b', segs).some((s) => s.flags.includes('RST'));
      const acked = t.from('b', segs).filter((s) => s.flags.includes('ACK') && s.length === 0 && !s.flags.includes('FIN')).length;
      const pb = t.sock('pb written', 'pb');
      return judge(
        got === 6 && !rst && pb?.sendQ === 0 && (!t.captured || acked > 0),
        `${t.describe('pb written', 'b')}; the writer's Send-Q is ${pb?.sendQ}${pb?.sendQ === 0 ? ' (all ACKed' : ' (not all ACKed'}${t.captured ? `, ${acked} pure ACK(s), ${rst ? t.rstText('b', 'pb write 1', 'b read') : 'no RST'}` : ''}); the half-closed end then read ${got} B`,
      );
    },
  },
});
