import { timewaitSockets } from '../findings.js';
import type { CallResult } from '../ops.js';
import { actor, judge, notCaptured, scenario, wait } from '../scenario.js';
import { readBytes, readEof as isEof, type ObservedSocket, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/** The four ways the client ends a connection, one connection each: client end → server end. */
const WAYS = [
  { sock: 'rd', peer: 'srd', call: 'shutdown(SHUT_RD)' },
  { sock: 'wr', peer: 'swr', call: 'shutdown(SHUT_WR)' },
  { sock: 'rdwr', peer: 'srdwr', call: 'shutdown(SHUT_RDWR)' },
  { sock: 'cl', peer: 'scl', call: 'close()' },
] as const;

/**
 * Articles 002 and 004: shutdown(SHUT_RD), shutdown(SHUT_WR), shutdown(SHUT_RDWR) and close(),
 * each on its own connection, side by side. Which of them sends a FIN, what state each end
 * reaches, which direction still works afterwards, and whether the process still holds the
 * socket.
 *
 * The client opens four connections (`rd`, `wr`, `rdwr`, `cl`; the server's ends are `srd`,
 * `swr`, `srdwr`, `scl`) and ends each one a different way. Then it tries both directions on
 * what it still holds, the server writes into the two ends whose read side should be shut, and
 * finally the server closes `swr` so that connection's teardown completes while the client still
 * holds `wr`: a socket held by a descriptor but gone from /proc/net/tcp (`*` in the report).
 *
 * Judges 002-a, 002-b, 002-c, 004-c.
 */
export default scenario({
  id: 'close-vs-shutdown',
  article: '002',
  title: 'shutdown(SHUT_RD / SHUT_WR / SHUT_RDWR) vs close(), side by side',
  summary:
    'Four connections, ended with shutdown(SHUT_RD), shutdown(SHUT_WR), shutdown(SHUT_RDWR) and close(). ' +
    'SHUT_RD sends nothing; the other three send a FIN. The shutdown()s leave the socket in the process; close() leaves an ' +
    'orphan the kernel finishes alone. Data sent afterwards to the SHUT_RDWR end and to the close()d one is answered with RST alike.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L').as('listen'),
    client.connect('rd', 'L').as('rd connected'),
    server.accept('L', 'srd').as('srd accepted'),
    client.connect('wr', 'L').as('wr connected'),
    server.accept('L', 'swr').as('swr accepted'),
    client.connect('rdwr', 'L').as('rdwr connected'),
    server.accept('L', 'srdwr').as('srdwr accepted'),
    client.connect('cl', 'L').as('cl connected'),
    server.accept('L', 'scl').as('scl accepted'),

    // One call per connection; the packets seen during each step are what that call sent.
    client.shutdown('rd', 'SHUT_RD').as('rd shut'),
    client.shutdown('wr', 'SHUT_WR').as('wr shut'),
    client.shutdown('rdwr', 'SHUT_RDWR').as('rdwr shut'),
    client.close('cl').as('cl closed'),
    // Past any delayed ACK (at most ~40 ms): every FIN is ACKed, so each closer sits in FIN_WAIT2.
    wait(80, 'settled'),

    // Which directions still work on what the client holds (002-a).
    client.read('rd').as('rd read'),
    client.write('rd', 'x').as('rd write'),
    server.write('swr', 'to wr').as('swr writes'),
    client.read('wr', { waitMs: 100 }).as('wr read'),
    client.write('wr', 'x').as('wr write'),
    client.read('rdwr').as('rdwr read'),
    client.write('rdwr', 'x').as('rdwr write'),

    // Data into the two ends whose read side is shut, the held one and the orphan (004-c: "like close()").
    server.write('srdwr', 'to rdwr').as('srdwr writes'),
    server.write('scl', 'to cl').as('scl writes'),
    // Loopback answers at once; the pause makes sure every RST is in before the picture.
    wait(30, 'answered'),

    // The server closes swr: wr's teardown completes while the client still holds wr (002-c).
    server.close('swr').as('swr closed'),
    wait(30, 'wr torn down'),
  ],
  findings: [timewaitSockets],
  checks: {
    '002-a': (t) => {
      const rdRead = t.result('rd read');
      const rdWrite = t.result('rd write');
      const wrRead = t.result('wr read');
      const wrWrite = t.result('wr write');
      const bothRead = t.result('rdwr read');
      const bothWrite = t.result('rdwr write');
      const clGone = t.sock('cl closed', 'cl')?.owner === null;
      const clRsts = t.rstsSent('cl', 'scl writes', 'answered');
      const finFromSrd = t.captured ? t.from('srd', t.segments('rd shut', 'rd read')).some((s) => s.flags.includes('FIN')) : null;
      const holds =
        isEof(rdRead) && rdWrite.ok &&
        readBytes(wrRead) === 5 && !wrWrite.ok && wrWrite.errno === 'EPIPE' &&
        isEof(bothRead) && !bothWrite.ok && bothWrite.errno === 'EPIPE' &&
        clGone && (clRsts === null || clRsts.length > 0);
      return judge(
        holds,
        `SHUT_RD: read ${callText(rdRead)}${finFromSrd === null ? '' : finFromSrd ? " (after the peer's FIN)" : ' (no FIN had come)'}, write ${callText(rdWrite)}; ` +
          `SHUT_WR: read ${callText(wrRead)}, write ${callText(wrWrite)}; ` +
          `SHUT_RDWR: read ${callText(bothRead)}, write ${callText(bothWrite)}; ` +
          `close(): ${clGone ? 'no descriptor left to call' : `cl still held by ${t.sock('cl closed', 'cl')?.actor ?? 'a process'}`}, ` +
          `and the peer's data was answered ${clRsts === null ? 'unseen (packets not captured, RSTs not traced)' : clRsts.length > 0 ? `with ${clRsts.join(', ')}` : 'without RST'}`,
      );
    },
    '002-b': (t) => {
      if (!t.captured) return notCaptured(t, 'no way to see which call sent a FIN');
      const sent = WAYS.map((w) => ({ ...w, segs: t.from(w.sock, t.segments(`${w.sock === 'cl' ? 'cl closed' : `${w.sock} shut`}`)) }));
      const fin = (segs: { flags: string[] }[]): boolean => segs.some((s) => s.flags.includes('FIN'));
      const holds = sent.every((w) => fin(w.segs) === (w.sock !== 'rd'));
      return judge(holds, sent.map((w) => `${w.call} sent ${t.flagsText(w.segs)}`).join('; '));
    },
    '002-c': (t) => {
      const after = WAYS.map((w) => ({ ...w, s: t.sock(w.sock === 'cl' ? 'cl closed' : 'settled', w.sock) }));
      const held = after.filter((w) => w.sock !== 'cl').every((w) => w.s?.actor === 'client');
      const cl = t.sock('settled', 'cl');
      const wrRows = rows(t, 'wr torn down', 'wr');
      const wrHeld = wrRows.find((s) => !s.inTable);
      const wrRow = wrRows.find((s) => s.inTable);
      return judge(
        held && cl !== undefined && cl.owner === null && wrHeld?.actor === 'client',
        `after shutdown: ${after.filter((w) => w.sock !== 'cl').map((w) => `${w.sock} ${w.s?.state} held by ${w.s?.actor ?? 'nobody'}`).join(', ')}; ` +
          `after close(): cl ${cl ? `${cl.state} ${cl.owner ? `held by ${cl.actor ?? cl.owner.command}` : 'with no owner'}` : 'gone'}${cl && cl.timer.kind !== 'none' ? ` (orphan, tcp_fin_timeout timer ${(cl.timer.remainingMs / 1000).toFixed(1)} s): the descriptor went at once, the connection lives on in the kernel` : ''}; ` +
          `once wr's teardown completed the client ${wrHeld ? `still held it (${wrHeld.state}, out of the table` : `did not hold it (${t.describe('wr torn down', 'wr')}`}${wrRow ? `; the table has ${wrRow.state} for it, ${wrRow.owner ? 'owned' : 'no owner'}` : ''})`,
      );
    },
    '004-c': (t) => {
      const segsOf = (sock: string, step: string): { flags: string[] }[] => (t.captured ? t.from(sock, t.segments(step)) : []);
      const fin = (sock: string, step: string): boolean => segsOf(sock, step).some((s) => s.flags.includes('FIN'));
      const rdNothing = segsOf('rd', 'rd shut').length === 0;
      const rdState = t.sock('settled', 'rd')?.state;
      const srdState = t.sock('settled', 'srd')?.state;
      const both = t.sock('settled', 'rdwr');
      const cl = t.sock('settled', 'cl');
      const sBoth = t.sock('settled', 'srdwr');
      const sCl = t.sock('settled', 'scl');
      const rstBoth = rstFrom(t, 'rdwr', 'srdwr writes', 'answered');
      const rstCl = rstFrom(t, 'cl', 'scl writes', 'answered');
      const traced = t.traced ? `; traced: rdwr ${t.pathText('rdwr', 'rdwr shut')}, cl ${t.pathText('cl', 'cl closed')}` : ` (${t.trace.env.traceNote ?? 'transitions not traced'})`;
      if (!t.captured) return notCaptured(t, 'no way to see FINs');
      const holds =
        rdNothing && rdState === 'ESTABLISHED' && srdState === 'ESTABLISHED' &&
        fin('wr', 'wr shut') && fin('rdwr', 'rdwr shut') && fin('cl', 'cl closed') &&
        both?.state === cl?.state && sBoth?.state === sCl?.state && rstBoth && rstCl;
      return judge(
        holds,
        `SHUT_RD sent ${rdNothing ? 'no segment' : 'a segment'} (rd ${rdState}, srd ${srdState}); SHUT_WR sent ${fin('wr', 'wr shut') ? 'FIN' : 'no FIN'}; ` +
          `SHUT_RDWR and close() both sent ${fin('rdwr', 'rdwr shut') && fin('cl', 'cl closed') ? 'FIN' : 'not both FIN'}, reached ${both?.state}/${cl?.state} (peer ${sBoth?.state}/${sCl?.state}) and answered later data with ${t.rstText('rdwr', 'srdwr writes', 'answered')} / ${t.rstText('cl', 'scl writes', 'answered')}; ` +
          `the difference: the SHUT_RDWR socket is ${both?.actor ? `still held by ${both.actor}` : 'held by nobody'} ${both?.timer.kind === 'none' ? '(no timer running)' : `(timer ${both?.timer.kind})`}, ` +
          `the close()d one is ${cl?.owner === null ? 'an orphan' : `held by ${cl?.actor ?? 'a process'}`} ${cl && cl.timer.kind !== 'none' ? `(tcp_fin_timeout timer ${(cl.timer.remainingMs / 1000).toFixed(1)} s)` : '(no timer)'}${traced}`,
      );
    },
  },
});

/** Every row labelled `name` after step `label`: a socket can be both a table row and a held `*` row. */
function rows(t: TraceView, label: string, name: string): ObservedSocket[] {
  return t.step(label).after.sockets.filter((s) => s.label === name);
}

/** An RST from `sock` among the segments seen from step `from` to step `to`. */
function rstFrom(t: TraceView, sock: string, from: string, to: string): boolean {
  return t.from(sock, t.segments(from, to)).some((s) => s.flags.includes('RST'));
}

function callText(r: CallResult): string {
  if (!r.ok) return `fails ${r.errno}${r.sigpipe ? ' + SIGPIPE' : ''}`;
  if (typeof r.value === 'number') return `returns ${r.value}`;
  if (isEof(r)) return 'returns 0 (EOF)';
  return `returns ${readBytes(r)} B`;
}
