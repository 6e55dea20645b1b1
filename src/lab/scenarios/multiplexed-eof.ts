import { actor, judge, scenario } from '../scenario.js';
import type { CallResult } from '../ops.js';
import { readEof, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 003's full-duplex multiplexing (seed 003-j): "once a read sees EOF, later sends fail at
 * once". Three requests go out back to back on one connection; the server makes one read() (it
 * gets all three, they were queued together), answers the first and closes. The client reads the
 * answer and the EOF, then sends again: what does the kernel do with that send?
 *
 * A second connection shows the other way a server's close can land: it read only the first
 * request, so close() with the others unread sends RST (seed 004-e), and the client never sees
 * an EOF at all.
 */
export default scenario({
  id: 'multiplexed-eof',
  article: '003',
  title: 'Pipelined requests, the server closes: sends after EOF still succeed until the RST',
  summary:
    'Three requests in flight; the server reads once, answers one and closes (FIN). The client reads the answer and EOF; ' +
    'its next send() is accepted by the kernel and draws a RST; only the send after that fails (EPIPE).',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c', 'L'),
    server.accept('L', 's'),
    client.write('c', 'req1'),
    client.write('c', 'req2'),
    client.write('c', 'req3').as('three in flight'),
    // One read() takes every queued byte: all three requests.
    server.read('s').as('server reads'),
    server.write('s', 'rsp1').as('server answers'),
    server.close('s').as('server closes'),
    client.drain('c', 100).as('client reads'),
    client.write('c', 'req4').as('send after EOF'),
    client.write('c', 'req5').as('send after RST'),
    // Variant: the server reads only the first request and closes with two unread.
    client.connect('d', 'L'),
    server.accept('L', 't'),
    client.write('d', 'req1'),
    client.write('d', 'req2'),
    client.write('d', 'req3'),
    server.read('t', { max: 4 }).as('t reads one'),
    server.write('t', 'rsp1'),
    server.close('t').as('t closes'),
    client.read('d').as('d read 1'),
    client.read('d').as('d read 2'),
    client.write('d', 'req4').as('d send'),
  ],
  checks: {
    '003-j': (t) => {
      const sawEof = readEof(t.result('client reads'));
      const after = t.result('send after EOF');
      const next = t.result('send after RST');
      const rsts = t.rstsSent('s', 'send after EOF');
      const finFromT = t.from('t', t.segments('t closes')).some((s) => s.flags.includes('FIN'));
      const rstsFromT = t.rstsSent('t', 't closes');
      const rstText = rsts === null ? ' (packets not captured, RSTs not traced)' : rsts.length > 0 ? ` and the server end answered ${rsts.join(', ')}` : ', no RST seen';
      const unread = t.sock('t reads one', 't')?.recvQ;
      const tSent = rstsFromT && rstsFromT.length > 0 ? rstsFromT.join(', ') : !t.captured ? '(packets not captured)' : finFromT ? 'FIN' : 'neither FIN nor RST';
      const d1 = t.result('d read 1');
      const d2 = t.result('d read 2');
      const dEof = readEof(d1) || readEof(d2);
      const answered = t.result('server answers');
      // As a statement about the kernel: the first send() after the EOF must fail for the claim to hold.
      return judge(
        sawEof && !after.ok,
        `server read ${res(t.result('server reads'))}, ${answered.ok ? `answered ${String(answered.value)} B` : `its answer failed ${answered.errno}`}, closed; client read ${res(t.result('client reads'))}, ` +
          `then send() ${after.ok ? `returned ${String(after.value)}${sentData(t) ? ' (the kernel queued and sent it)' : ''}` : `failed ${after.errno}`}${rstText}; ${after.ok ? 'only ' : ''}the next send() ${res(next)}. ` +
          `(A server that closed with ${unread ?? '?'} B unread sent ${tSent}: the client read ${res(d1)}, then ${res(d2)}${dEof ? '' : ', never an EOF'}; send ${res(t.result('d send'))})`,
      );
    },
  },
});

function res(r: CallResult): string {
  const sig = r.sigpipe ? ' + SIGPIPE' : '';
  if (!r.ok) return `failed ${r.errno}${sig}`;
  const v = r.value;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    if (v.eof === true && v.bytes === 0) return '0 (EOF)';
    const text = typeof v.text === 'string' && v.text.length > 0 ? ` "${v.text}"` : '';
    return `${String(v.bytes)} B${text}${v.eof === true ? ' then EOF' : ''}`;
  }
  return `returned ${String(v)}${sig}`;
}

/** The first send after EOF put a data segment on the wire (false when not captured). */
function sentData(t: TraceView): boolean {
  return t.from('c', t.segments('send after EOF')).some((s) => s.length > 0);
}
