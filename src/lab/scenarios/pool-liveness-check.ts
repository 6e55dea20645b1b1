import { actor, judge, scenario, wait } from '../scenario.js';
import type { CallResult } from '../ops.js';
import { readBytes, readEof as isEof, resultField } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 003's pool liveness check (seed 003-h) and its race (seed 003-i). Before reusing a
 * pooled connection the client makes one non-blocking recv(MSG_PEEK) of 1 byte: EAGAIN → alive,
 * 0 → the peer closed, another error → broken. Three pooled connections show the three answers
 * (idle; the server close()d it; the server reset it). A fourth shows the race step by step: the
 * check says alive, the server closes right after the check, the client's request is accepted by
 * its kernel, and all that comes back is a RST — the request is lost.
 */
export default scenario({
  id: 'pool-liveness-check',
  article: '003',
  title: 'Pool liveness check with a 1-byte non-blocking peek, and the race it cannot close',
  summary:
    'A pooled connection is checked with recv(MSG_PEEK | MSG_DONTWAIT, 1 byte): EAGAIN while alive, 0 after the server closed, ' +
    "ECONNRESET after a reset. Then the server closes just after a check that said alive: the client's write succeeds and the request is lost.",
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    // Pooled connection 1: idle, then the server reaps it with close() (FIN).
    client.connect('c', 'L'),
    server.accept('L', 's'),
    client.read('c', { max: 1, peek: true }).as('check idle'),
    server.close('s').as('server closed'),
    // Past the ~40 ms delayed ACK: the FIN is in, the client end is CLOSE_WAIT.
    wait(60, 'fin in'),
    client.read('c', { max: 1, peek: true }).as('check after FIN'),
    // Pooled connection 2: the server aborts it (SO_LINGER 0 → RST).
    client.connect('r', 'L'),
    server.accept('L', 'sr'),
    server.linger('sr', 0),
    server.close('sr').as('server reset'),
    client.read('r', { max: 1, peek: true }).as('check after RST'),
    // Pooled connection 3: the race. Check, then the server's close lands before the client's write.
    client.connect('x', 'L'),
    server.accept('L', 'sx'),
    client.read('x', { max: 1, peek: true }).as('race check'),
    server.close('sx').as('race: server closes'),
    client.write('x', 'request').as('race: request sent'),
    // Wait up to 100 ms for the response: what comes instead is EOF (the FIN, read after the check).
    client.read('x', { waitMs: 100 }).as('race: response'),
  ],
  checks: {
    '003-h': (t) => {
      const idle = t.result('check idle');
      const fin = t.result('check after FIN');
      const rst = t.result('check after RST');
      return judge(
        !idle.ok && idle.errno === 'EAGAIN' && isEof(fin) && !rst.ok && rst.errno !== 'EAGAIN',
        `peek on an idle connection: ${res(idle)}${!idle.ok && idle.errno === 'EAGAIN' ? ' (alive)' : ''}; after the server's close(): ${res(fin)} with c ${t.sock('check after FIN', 'c')?.state}${isEof(fin) ? ' (closed)' : ''}; ` +
          `after the server's ${t.rstText('sr', 'server reset', 'check after RST', 'close() (no RST seen)', 'abortive close() (RST unseen: packets not captured, RSTs not traced)')}: ${res(rst)} with r ${t.sock('check after RST', 'r')?.state}${t.sock('check after RST', 'r')?.inTable === false ? ' (gone from the table)' : ''}${!rst.ok && rst.errno !== 'EAGAIN' ? ' (broken)' : ''}`,
      );
    },
    '003-i': (t) => {
      const check = t.result('race check');
      const sent = t.result('race: request sent');
      const resp = t.result('race: response');
      const rsts = t.rstsSent('sx', 'race: request sent', 'race: response');
      const data = t.from('x', t.segments('race: request sent')).find((s) => s.length > 0);
      const reached = !t.captured ? 'packets not captured' : data ? `the ${data.length} B reached the server's close()d socket` : 'no data segment captured';
      const rstText = `, ${reached}${rsts === null ? '' : rsts.length > 0 ? `, which answered ${rsts.join(', ')}` : ', no RST seen'}`;
      const lost = !hasBytes(resp) && !check.ok && check.errno === 'EAGAIN';
      return judge(
        !check.ok && check.errno === 'EAGAIN' && sent.ok && sent.value === 'request'.length && !hasBytes(resp) && (rsts === null || rsts.length > 0),
        `check: ${res(check)}${!check.ok && check.errno === 'EAGAIN' ? ' → alive' : ''}; server close() right after (x ${t.sock('race: server closes', 'x')?.state}); ` +
          `write("request") returned ${sent.ok ? String(sent.value) : sent.errno}${rstText}; the response read ${res(resp)}${lost ? ': the request was lost although the check passed' : ''}`,
      );
    },
  },
});

function hasBytes(r: CallResult): boolean {
  return readBytes(r) > 0;
}

function res(r: CallResult): string {
  if (!r.ok) return r.errno ?? 'failed';
  if (isEof(r)) return '0 (EOF)';
  const n = resultField(r, 'bytes');
  return n !== undefined ? `${String(n)} B` : String(r.value);
}
