import type { CallResult } from '../ops.js';
import { actor, judge, notCaptured, scenario, wait } from '../scenario.js';
import { readEof as eof, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

const res = (r: CallResult): string => (r.ok ? (eof(r) ? '0 (EOF)' : typeof r.value === 'number' ? `${r.value} B` : JSON.stringify(r.value)) : `${r.errno}${r.sigpipe ? ' + SIGPIPE' : ''}`);

/**
 * Article 003's test, scaled down by ten: a server that close()s connections idle for 2 s
 * (`nc -kl 5555 -i 2`) and a client that writes after 6 s and again 3 s later. Here the server's
 * idle timer is 200 ms (modelled as: 200 ms with no traffic, then close()), the client writes at
 * about 600 ms and 300 ms after that.
 *
 * Two client connections, both idle-closed by the server at the same moment:
 * - `c` is the article's Go client: write, wait 300 ms, write (003-b, 003-c, 003-m).
 * - `d` asks 003-d's question: write, then read, then write again at once.
 *
 * Judges 003-a, 003-b, 003-c, 003-d, 003-m.
 */
export default scenario({
  id: 'idle-close-then-write',
  article: '003',
  title: 'A pooled connection the server closed while idle: the write succeeds, the next one fails',
  summary:
    'The server close()s two connections after 200 ms of idleness (article: 2 s). The client, unaware, writes on one at ~600 ms and ' +
    'again 300 ms later (article: 6 s and 3 s); on the other it writes, reads and writes again. The first write is accepted and ' +
    "answered with RST by the server's kernel; what follows fails.",
  actors: ['server', 'client'],
  steps: [
    server.listen('L').as('listen'),
    client.connect('c', 'L').as('c connected'),
    server.accept('L', 's').as('s accepted'),
    client.connect('d', 'L').as('d connected'),
    server.accept('L', 't').as('t accepted'),
    // The server's idle timer: ~200 ms after the first connection with no byte sent (nc -i 2,
    // scaled by 1/10; the connects and accepts above take about 100 ms).
    wait(80, 'idle'),
    // Nothing unread on the server side, so close() sends FIN (not RST).
    server.close('s').as('s closed'),
    server.close('t').as('t closed'),
    // Past the ~40 ms delayed-ACK timer: the client's kernel has ACKed both FINs by now.
    wait(80, 'idle-closed'),
    // The client sleeps on until ~600 ms after connecting (the article's 6 s).
    wait(240, 'client asleep'),

    // Connection c: the article's client writes, sleeps 300 ms (the article's 3 s), writes again.
    client.write('c', 'Halo').as('c write 1'),
    // The RST comes back at once on loopback; the rest of this pause is the client's sleep.
    wait(270, 'c after write 1'),
    client.write('c', 'Halo2').as('c write 2'),

    // Connection d: write, read, write (003-d).
    client.write('d', 'Halo').as('d write 1'),
    // Loopback answers at once; this pause only makes sure the RST is in before the read.
    wait(30, 'd after write 1'),
    client.read('d').as('d read'),
    client.write('d', 'Halo2').as('d write 2'),
  ],
  checks: {
    '003-a': (t) => {
      const c = t.sock('idle-closed', 'c');
      const s = t.sock('idle-closed', 's');
      if (!t.captured) {
        return judge(c?.state === 'CLOSE_WAIT' && s?.state === 'FIN_WAIT2', `${t.describe('idle-closed', 'c')}; ${t.describe('idle-closed', 's')} (packets not captured)`);
      }
      const segs = t.segments('s closed', 'client asleep');
      const fin = t.from('s', segs).find((x) => x.flags.includes('FIN'));
      const ack = t.from('c', segs).find((x) => x.flags.includes('ACK') && fin !== undefined && x.epochMs >= fin.epochMs);
      const clientFin = t.from('c', t.segments('s closed', 'c write 1')).some((x) => x.flags.includes('FIN'));
      return judge(
        c?.state === 'CLOSE_WAIT' && s?.state === 'FIN_WAIT2' && fin !== undefined && ack !== undefined && !clientFin,
        `server sent ${fin ? 'FIN' : 'no FIN'}, client kernel ${ack ? `ACKed it ${(ack.epochMs - (fin?.epochMs ?? ack.epochMs)).toFixed(1)} ms later` : 'did not ACK it'} and sent ${clientFin ? 'a FIN' : 'no FIN'}; ${t.describe('idle-closed', 'c')}; ${t.describe('idle-closed', 's')}`,
      );
    },
    '003-b': (t) => {
      const w = t.result('c write 1');
      return judge(w.ok && w.value === 4, `write() on the connection, ${t.sock('client asleep', 'c')?.state ?? 'gone'} before it, returned ${res(w)}`);
    },
    '003-c': (t) => {
      if (!t.captured) return notCaptured(t, 'the RST cannot be seen');
      const segs = t.segments('c write 1', 'c after write 1');
      const data = t.from('c', segs).find((x) => x.length > 0);
      const rst = t.from('s', segs).find((x) => x.flags.includes('RST'));
      const sGone = t.sock('c after write 1', 's') === undefined;
      const sBefore = t.sock('client asleep', 's');
      return judge(
        data !== undefined && rst !== undefined && sGone,
        `the client's ${data?.length ?? 0} B went out; the server end (close()d, ${sBefore ? `${sBefore.state}, ${sBefore.owner ? 'owned' : 'no owner'}` : 'gone'} before the write) answered ${rst ? `${t.words(rst)} ${(rst.epochMs - (data?.epochMs ?? rst.epochMs)).toFixed(2)} ms later` : 'without RST'} and ${sGone ? 'is gone' : `is ${t.sock('c after write 1', 's')?.state}`}; ${t.describe('c after write 1', 'c')}${t.sock('c after write 1', 'c')?.inTable === false ? ' (gone from the table)' : ''}`,
      );
    },
    '003-d': (t) => {
      const r = t.result('d read');
      const w = t.result('d write 2');
      const sent = t.captured ? t.from('d', t.segments('d write 2')).length : null;
      return judge(
        eof(r) && !w.ok && (sent === null || sent === 0),
        `after ${rstAfter(t)}, read() returned ${res(r)}; the next write() failed ${w.ok ? 'not at all' : res(w)}${sent === null ? '' : ` (${sent} segment(s) sent)`}`,
      );
    },
    '003-m': (t) => {
      const w1 = t.step('c write 1');
      const w2 = t.step('c write 2');
      const since = w1.startMs - t.step('c connected').startMs;
      const gap = w2.startMs - w1.startMs;
      return judge(
        w1.result.ok && !w2.result.ok,
        `idle close at ${t.step('s closed').startMs - t.step('c connected').startMs} ms; write 1 at ${since} ms → ${res(w1.result)}; write 2 ${gap} ms later → ${res(w2.result)}`,
      );
    },
  },
});

/** The RST that answered d's first write, as evidence names it. */
function rstAfter(t: TraceView): string {
  const r = t.rstsSent('t', 'd write 1', 'd after write 1');
  return r === null ? 'the write (RST unseen: packets not captured, RSTs not traced)' : r.length === 0 ? 'the write (no RST seen)' : `the ${r.join(', ')}`;
}
