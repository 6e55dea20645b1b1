import { actor, judge, scenario, wait } from '../scenario.js';
import type { TcpState } from '../../tcp/index.js';
import { msText, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/** A small receive buffer, so each end's window closes after a few kilobytes. */
const RCVBUF = 4096;

/**
 * Article 004: CLOSING "also appears when both ends close at the same time". Loopback has no
 * delay to make two FINs cross, so the crossing is made deterministic with flow control:
 *
 * 1. Both ends fill each other's (small) receive buffer and neither reads: both windows are zero.
 * 2. Both call shutdown(SHUT_WR): both go to FIN_WAIT1, each FIN queued behind data the peer's
 *    zero window keeps back. Neither FIN can leave: both ends have closed, neither knows.
 * 3. The client drains: its window opens, the server's data and FIN arrive while the client is
 *    still in FIN_WAIT1 (its own FIN stuck) → CLOSING. The server's FIN is ACKed → FIN_WAIT2.
 * 4. The server drains: the client's data and FIN arrive → the server goes to TIME_WAIT and
 *    ACKs; that ACK takes the client from CLOSING to TIME_WAIT. Both ends end in TIME_WAIT.
 *
 * Judges 004-o.
 */
export default scenario({
  id: 'simultaneous-close',
  article: '004',
  title: 'Simultaneous close: CLOSING, and TIME_WAIT on both ends',
  summary:
    'Both ends fill each other\'s small receive buffer, then both shutdown(SHUT_WR): both FIN_WAIT1 with the FIN held back by a zero window. ' +
    'One end drains and receives the peer\'s FIN while its own is still unsent (CLOSING); then the other drains. Both end in TIME_WAIT.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L', { rcvbuf: RCVBUF }).as('listen'),
    client.connect('c', 'L', { rcvbuf: RCVBUF, sndbuf: RCVBUF }).as('connected'),
    server.accept('L', 's').as('accepted'),
    // Each end writes more than the peer's receive buffer holds: the rest waits in its own send
    // queue behind a zero window. The client (small SO_SNDBUF) writes until its buffer is full;
    // the server writes a fixed 16 KiB (an accepted socket has no SO_SNDBUF of its own here, and
    // "until full" would let send-buffer autotuning queue megabytes).
    client.fill('c').as('c filled'),
    server.writeBytes('s', 16384).as('s filled'),
    // Let in-flight data land and both windows reach zero.
    wait(50, 'windows closed'),
    client.shutdown('c', 'SHUT_WR').as('c shut'),
    server.shutdown('s', 'SHUT_WR').as('s shut'),
    // Both FINs are now queued behind data; wait to show that none of them leaves.
    wait(100, 'both closed'),
    // The client reads everything: the server's data and, last, its FIN.
    client.drain('c', 100).as('c drained'),
    wait(50, 'c closing'),
    // The server reads everything: the client's data and FIN.
    server.drain('s', 100).as('s drained'),
    wait(50, 'both time_wait'),
  ],
  checks: {
    '004-o': (t) => {
      const c0 = t.sock('both closed', 'c');
      const s0 = t.sock('both closed', 's');
      const finsBefore = t.captured ? t.segments('c shut', 'both closed').filter((x) => x.flags.includes('FIN')).length : null;
      // The passing states from the tracepoints when traced; otherwise what the snapshots caught.
      const passed = (name: string): TcpState[] => t.passedStates(name) ?? t.statesOf(name);
      const cClosing = passed('c').includes('CLOSING');
      const sClosing = passed('s').includes('CLOSING');
      const cEnd = t.sock('both time_wait', 'c');
      const sEnd = t.sock('both time_wait', 's');
      const closing = cClosing ? (sClosing ? 'both ends' : 'c') : sClosing ? 's' : 'neither end';
      const paths = t.traced
        ? `traced: c ${t.pathText('c', 'c shut')}; s ${t.pathText('s', 'c shut')}`
        : `seen in snapshots (${t.trace.env.traceNote ?? 'transitions not traced'}): c ${t.statesOf('c').join(' → ')}; s ${t.statesOf('s').join(' → ')}`;
      return judge(
        c0?.state === 'FIN_WAIT1' && s0?.state === 'FIN_WAIT1' && (cClosing || sClosing) && cEnd?.state === 'TIME_WAIT' && sEnd?.state === 'TIME_WAIT',
        `after both shutdown()s: c ${c0?.state} Send-Q ${c0?.sendQ}, s ${s0?.state} Send-Q ${s0?.sendQ}${finsBefore === null ? '' : `, ${finsBefore} FIN(s) on the wire`}; ` +
          `then ${paths}: CLOSING on ${closing}${finOrder(t)}; at the end c ${cEnd?.state ?? 'gone'}, s ${sEnd?.state ?? 'gone'}`,
      );
    },
  },
});

/** Which FIN left first once the windows opened, from the packets: the end that got the peer's FIN before its own left is the one in CLOSING. */
function finOrder(t: TraceView): string {
  if (!t.captured) return '';
  const segs = t.segments('c shut', 'both time_wait');
  const cFin = t.from('c', segs).find((x) => x.flags.includes('FIN'));
  const sFin = t.from('s', segs).find((x) => x.flags.includes('FIN'));
  if (!cFin || !sFin) return ` (FINs seen: c ${cFin ? 'yes' : 'none'}, s ${sFin ? 'yes' : 'none'})`;
  const [first, second, gap] = cFin.epochMs <= sFin.epochMs ? ['c', 's', sFin.epochMs - cFin.epochMs] : ['s', 'c', cFin.epochMs - sFin.epochMs];
  return ` (${first}'s FIN left first, ${second}'s ${msText(gap as number)} later)`;
}
