import { actor, judge, scenario, wait } from '../scenario.js';
import { resultList, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Remedies 3 and 4 of article 002 (seeds 002-i, 002-j) in Node: three node:net servers in one
 * process, the naive code beside the remedy. A raw client connects to each, writes "ping" and
 * closes.
 * - `never` pauses its connections and never reads (naive): the app is never told of the EOF.
 * - `ignore` reads, with allowHalfOpen, sees 'end' and does nothing (naive, 002-f in Node).
 * - `closer` answers 'end' with end() (the remedy: read() returned 0, so close).
 * The event loop underneath is libuv's epoll: the peer's close makes the socket readable, libuv's
 * read() returns 0 and Node emits 'end' — if the stream is flowing. A fourth connection to the
 * paused server carries more than libuv reads while paused, to show what stays in the kernel.
 */
export default scenario({
  id: 'node-server-eof',
  article: '002',
  title: "Node servers and the peer's FIN: never read, ignore 'end', close on 'end'",
  summary:
    "Three node:net servers get a client's \"ping\" and FIN: one paused (never reads), one that sees 'end' and ignores it, " +
    "one that calls end() on 'end'. Only the last leaves no CLOSE_WAIT; the events show what each server was told.",
  actors: ['server', 'client'],
  steps: [
    server.nodeServe('never', 'never-read'),
    server.nodeServe('ignore', 'read-ignore-end'),
    server.nodeServe('closer', 'close-on-end'),
    client.connect('a', 'never'),
    client.connect('b', 'ignore'),
    client.connect('c', 'closer'),
    client.write('a', 'ping'),
    client.write('b', 'ping'),
    client.write('c', 'ping'),
    client.close('a'),
    client.close('b'),
    client.close('c').as('closed'),
    // Past the ~40 ms delayed ACK: the naive servers' kernels have ACKed the FINs on their own.
    wait(100, 'settled'),
    server.nodeEvents('never#1').as('never events'),
    server.nodeEvents('ignore#1').as('ignore events'),
    server.nodeEvents('closer#1').as('closer events'),
    // 100000 B is more than libuv reads from a paused socket (one read, then the stream is over its
    // high-water mark and libuv stops reading), yet fits the receive window, so the FIN gets in too.
    client.connect('d', 'never'),
    client.writeBytes('d', 100000).as('bulk written'),
    client.close('d'),
    wait(100, 'bulk settled'),
    server.nodeEvents('never#2').as('bulk events'),
  ],
  checks: {
    '002-i': (t) => {
      const ignore = t.sock('settled', 'ignore#1');
      const closer = t.sock('settled', 'closer#1');
      const ev = events(t, 'ignore events');
      const cev = events(t, 'closer events');
      const segs = t.segments('closed', 'settled');
      const cFin = t.from('c', segs).find((s) => s.flags.includes('FIN'));
      const sFin = t.from('closer#1', segs).find((s) => s.flags.includes('FIN'));
      const ack = sFin && t.from('c', segs).find((s) => s.flags.includes('ACK') && s.epochMs >= sFin.epochMs && !s.flags.includes('FIN'));
      const finGap = !t.captured
        ? ` (${t.trace.env.captureNote ?? 'packets not captured'})`
        : cFin && sFin
          ? ` its FIN left ${(sFin.epochMs - cFin.epochMs).toFixed(1)} ms after the client's, the client's ACK ${ack ? `${(ack.epochMs - sFin.epochMs).toFixed(2)} ms after that` : 'not seen'}`
          : ' no FIN from it was captured';
      const path = t.pathText('closer#1', 'closed');
      const states = path === null ? ` (${t.trace.env.traceNote ?? 'transitions not traced'}: its passing states unseen)` : `; traced: closer#1 ${path}`;
      return judge(
        ev.includes('end') && ignore?.state === 'CLOSE_WAIT' && cev.includes('end') && cev.includes('close') && closer === undefined,
        `read-ignore-end saw [${ev.join(' ')}] and kept ${t.describe('settled', 'ignore#1')}; ` +
          `close-on-end saw [${cev.join(' ')}]:${finGap}${states}; closer#1 ${closer ? `still ${closer.state}` : 'gone'}, client c ${t.sock('settled', 'c')?.state ?? 'gone'}`,
      );
    },
    '002-j': (t) => {
      const never = t.sock('settled', 'never#1');
      const bulk = t.sock('bulk settled', 'never#2');
      const nev = events(t, 'never events');
      const bev = events(t, 'bulk events');
      const cev = events(t, 'closer events');
      const pausedRead =
        never?.recvQ === 0
          ? `libuv read the 4 B out of the kernel even for the paused server (${t.describe('settled', 'never#1')})`
          : `the paused server's kernel still holds ${t.describe('settled', 'never#1')}`;
      const written = t.result('bulk written');
      return judge(
        cev.includes('end') && t.sock('settled', 'closer#1') === undefined,
        `${pausedRead}, ` +
          `${cev.includes('end') && !nev.includes('end') ? 'but only a flowing stream emits' : 'events:'} 'end' (closer: [${cev.join(' ')}]; never-read: [${nev.join(' ') || 'no events'}]${never ? `, still ${never.state}` : ''}); ` +
          `with ${written.ok ? `${String(written.value)} B written` : `a write that failed ${written.errno}`}${bulk && bulk.recvQ > 0 ? ', libuv stopped reading and' : ','} ${t.describe('bulk settled', 'never#2')}${bulk && bulk.recvQ > 0 && bulk.state === 'CLOSE_WAIT' ? ' (unread data + FIN)' : ''}, events [${bev.join(' ') || 'none'}]` +
          (bulk ? '' : ' (gone)'),
      );
    },
  },
});

function events(t: TraceView, label: string): string[] {
  return resultList(t.result(label));
}
