import type { CallResult } from '../ops.js';
import { actor, judge, scenario, wait } from '../scenario.js';
import { readBytes, resultField, resultList } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Articles 002 and 004: what shutdown(SHUT_RD) does, and what becomes of data that arrives
 * after it.
 *
 * The client shuts the read side of `c`. Nothing is sent, and the server's end `s` learns
 * nothing: still ESTABLISHED, epoll reports it writable only. A read on `c` now returns 0 at
 * once, though no FIN ever came. Then the server writes 14 bytes: the kernel could ACK them or
 * not, queue them or drop them (004-q says it drops them), and read() could return them or 0.
 *
 * Judges 002-e, 004-q.
 */
export default scenario({
  id: 'shut-rd',
  article: '004',
  title: 'shutdown(SHUT_RD): what the peer sees, and where later data goes',
  summary:
    'The client calls shutdown(SHUT_RD): no segment leaves, the server stays ESTABLISHED and is not told. ' +
    'read() returns 0 from then on while the queue is empty. The server then writes: the data is ACKed, waits in the ' +
    "client's Recv-Q and read() returns it before 0 again: Linux does not discard it.",
  actors: ['server', 'client'],
  steps: [
    server.listen('L').as('listen'),
    client.connect('c', 'L').as('connected'),
    server.accept('L', 's').as('accepted'),
    client.shutdown('c', 'SHUT_RD').as('shut rd'),
    // Long enough for anything the call caused to be on the wire, delayed ACKs included.
    wait(80, 'after shut'),
    // What the peer can tell: readiness of its end (EPOLLIN / EPOLLRDHUP would mean it was told).
    server.epoll('s').as('peer epoll'),
    // The read side is shut and the queue is empty: read() returns 0 at once (no FIN came).
    client.read('c').as('read before data'),
    server.write('s', 'after SHUT_RD!').as('peer writes'),
    // Past the ~40 ms delayed-ACK timer, so a delayed ACK of the data would be on the wire.
    wait(80, 'data settled'),
    client.read('c').as('read after data'),
    client.read('c').as('read again'),
  ],
  checks: {
    '002-e': (t) => {
      const segs = t.captured ? t.segments('shut rd', 'after shut') : [];
      const ep = t.result('peer epoll');
      const bits = resultList(ep);
      const told = bits.includes('EPOLLIN') || bits.includes('EPOLLRDHUP');
      const s = t.sock('after shut', 's');
      const c = t.sock('after shut', 'c');
      const rd = t.result('read before data');
      return judge(
        (!t.captured || segs.length === 0) && !told && s?.state === 'ESTABLISHED' && c?.state === 'ESTABLISHED',
        `${t.captured ? `shutdown(SHUT_RD) sent ${t.flagsText(segs, 'no segment')}` : 'packets not captured'}; ` +
          `c ${c?.state}, s ${s?.state}; epoll on s: ${bits.length ? bits.join('|') : 'nothing'}; ${isEofText(rd) ? 'yet ' : ''}c's own read() ${callText(rd)}`,
      );
    },
    '004-q': (t) => {
      const written = t.result('peer writes');
      const n = typeof written.value === 'number' ? written.value : 0;
      const c = t.sock('data settled', 'c');
      const s = t.sock('data settled', 's');
      const r1 = t.result('read after data');
      const r2 = t.result('read again');
      const segs = t.captured ? t.segments('peer writes', 'data settled') : [];
      const acked = t.from('c', segs).some((x) => x.flags.includes('ACK') && x.length === 0 && !x.flags.includes('RST'));
      const rst = t.from('c', segs).some((x) => x.flags.includes('RST'));
      const held = (c?.recvQ ?? 0) > 0;
      const discarded = (c?.recvQ ?? 0) === 0 && readBytes(r1) <= 0;
      return judge(
        discarded,
        `the peer's ${n} B were ${t.captured ? (rst ? `answered with ${t.rstText('c', 'peer writes', 'data settled')}` : acked ? 'ACKed' : 'not ACKed') : 'sent (packets not captured)'} (s Send-Q ${s?.sendQ}); ` +
          `c ${held ? 'held them' : 'held none'}: Recv-Q ${c?.recvQ ?? '? (c gone)'}; read() ${callText(r1)}${r1.ok && readBytes(r1) > 0 ? ` (${JSON.stringify(textOf(r1))})` : ''}, then ${callText(r2)}` +
          (discarded ? '' : ': nothing was discarded'),
      );
    },
  },
});

function textOf(r: CallResult): string {
  return r.ok ? String(resultField(r, 'text') ?? '') : '';
}

function isEofText(r: CallResult): boolean {
  return r.ok && readBytes(r) === 0;
}

function callText(r: CallResult): string {
  if (!r.ok) return `fails ${r.errno}`;
  const n = readBytes(r);
  return n === 0 ? 'returns 0 (EOF)' : `returns ${n} B`;
}
