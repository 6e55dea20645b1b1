import type { CallResult } from '../ops.js';
import { actor, judge, notCaptured, scenario, wait } from '../scenario.js';
import { readBytes, type TraceView } from '../trace.js';
import { rstReasons } from '../findings.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 004: close() on a socket whose receive buffer still holds unread bytes.
 *
 * Three connections, the server closing its end of each:
 * - `s0` (control): the server read the client's bytes, so close() finds nothing unread.
 * - `s1`: the server never read the client's bytes; close() finds them in its receive buffer
 *   (004-e). The client's next read() shows what it was told.
 * - `s2` (contrast): nothing unread, but SO_LINGER {1, 0}: the abortive close, RST with an
 *   empty buffer, and no FIN_WAIT / TIME_WAIT left behind on the closing side.
 *
 * Judges 004-e, and 004-h's read (a RST that meets an ESTABLISHED socket: ECONNRESET).
 */
export default scenario({
  id: 'close-unread-data',
  article: '004',
  title: 'close() with unread data sends RST, not FIN',
  summary:
    'The server closes three connections: one whose data it read (FIN), one whose data it left unread (RST; the ' +
    "client's read() fails ECONNRESET), and one with SO_LINGER {1, 0} and nothing unread (RST too, no TIME_WAIT).",
  actors: ['server', 'client'],
  steps: [
    server.listen('L').as('listen'),
    client.connect('c0', 'L').as('c0 connected'),
    server.accept('L', 's0').as('s0 accepted'),
    client.connect('c1', 'L').as('c1 connected'),
    server.accept('L', 's1').as('s1 accepted'),
    client.connect('c2', 'L').as('c2 connected'),
    server.accept('L', 's2').as('s2 accepted'),

    // Control: the request is read, so close() finds an empty receive buffer.
    client.write('c0', 'request').as('c0 request'),
    server.read('s0', { waitMs: 100 }).as('s0 read'),
    server.close('s0').as('s0 closed'),

    // 004-e: the request stays unread in s1's receive buffer when close() is called.
    client.write('c1', 'request').as('c1 request'),
    // Past the delayed-ACK timer: the bytes are ACKed and sit in s1's Recv-Q.
    wait(60, 'c1 request queued'),
    server.close('s1').as('s1 closed'),
    client.read('c1').as('c1 read'),

    // Contrast: nothing unread, but SO_LINGER {on, 0 s}.
    server.linger('s2', 0).as('s2 linger 0'),
    server.close('s2').as('s2 closed'),
    client.read('c2').as('c2 read'),
    // Would-be FIN_WAIT / TIME_WAIT of s2 would still be in the table here.
    wait(30, 'after abort'),
  ],
  findings: [rstReasons('close-unread-data')],
  checks: {
    '004-h': (t) => {
      const before = t.sock('c1 request queued', 'c1');
      const rd = t.result('c1 read');
      return judge(
        before?.state === 'ESTABLISHED' && rd.errno === 'ECONNRESET',
        `the part about read(): c1 was ${before?.state ?? 'gone'} when ${t.rstText('s1', 's1 closed')} came, and its read() ${rd.ok ? 'succeeded' : `failed ${rd.errno}`}`,
      );
    },
    '004-e': (t) => {
      if (!t.captured) return notCaptured(t, 'FIN or RST cannot be seen');
      const unread = t.sock('c1 request queued', 's1')?.recvQ ?? 0;
      const control = sent(t, 's0', 's0 closed');
      const s1 = sent(t, 's1', 's1 closed');
      const s2 = sent(t, 's2', 's2 closed');
      const r1 = t.result('c1 read');
      const r2 = t.result('c2 read');
      const s2After = t.sock('after abort', 's2');
      const holds = unread > 0 && control.fin && !control.rst && s1.rst && !s1.fin && !r1.ok && r1.errno === 'ECONNRESET';
      return judge(
        holds,
        `with ${unread} B unread, close() sent ${s1.text} and the client's read() ${callText(r1)}; ` +
          `with everything read, close() sent ${control.text}; ` +
          `with nothing unread but SO_LINGER {1, 0}, close() sent ${s2.text}, the client's read() ${callText(r2)}, and s2 left ${s2After ? `${s2After.state} behind` : 'nothing behind (no FIN_WAIT, no TIME_WAIT)'}` +
          (t.traced ? `; traced: s2 ${t.pathText('s2', 's2 closed')}` : ` (${t.trace.env.traceNote ?? 'transitions not traced'})`),
      );
    },
  },
});

/** What socket `sock` sent during step `label`. */
function sent(t: TraceView, sock: string, label: string): { fin: boolean; rst: boolean; text: string } {
  const segs = t.from(sock, t.segments(label));
  return {
    fin: segs.some((s) => s.flags.includes('FIN')),
    rst: segs.some((s) => s.flags.includes('RST')),
    text: t.flagsText(segs),
  };
}

function callText(r: CallResult): string {
  if (!r.ok) return `fails ${r.errno}`;
  const n = readBytes(r);
  return n === 0 ? 'returns 0 (EOF)' : `returns ${n} B`;
}
