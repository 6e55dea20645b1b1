import { actor, scenario } from '../scenario.js';
import { readBytes, resultField } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Two RSTs the articles never show arriving:
 * - `d`: the server writes a reply, then aborts (SO_LINGER 0 + close()): RST right after data. A
 *   RST does not purge the receive queue (`tcp_reset()` → `tcp_done()` leaves it), so the client's
 *   read() returns the reply first and only the next one fails ECONNRESET.
 * - `q`: a connection waits in the accept queue, never accepted, when the server closes the
 *   listener: `inet_csk_listen_stop()` disconnects every queued child, each with a RST.
 */
export default scenario({
  id: 'reset-arrivals',
  article: '004',
  title: 'A RST after data, and a listener closed with a queued connection',
  summary:
    'The server writes then aborts one connection: the client still reads the data, then ECONNRESET. Then it closes its ' +
    'listener while a connection waits in the accept queue: that connection is reset.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('d', 'L'),
    server.accept('L', 'sd'),
    server.write('sd', 'reply').as('reply sent'),
    server.linger('sd', 0),
    server.close('sd').as('sd aborted'),
    client.read('d').as('d read 1'),
    client.read('d').as('d read 2'),
    client.connect('q', 'L').as('q queued'),
    server.close('L').as('L closed'),
    client.read('q').as('q read'),
  ],
  checks: {},
  findings: [
    {
      id: 'rst-keeps-received-data',
      fact: 'A RST does not discard received data: read() returns it first, and only the next read() fails ECONNRESET.',
      claims: ['004-h'],
      check: (t) => {
        const r1 = t.result('d read 1');
        const r2 = t.result('d read 2');
        if (readBytes(r1) <= 0 || r2.errno !== 'ECONNRESET') return null;
        return `after sd's ${t.rstText('sd', 'sd aborted')}, d's read() returned ${readBytes(r1)} B ${JSON.stringify(resultField(r1, 'text'))}, then ${r2.errno}`;
      },
    },
    {
      id: 'listener-close-resets-queue',
      fact: 'Closing a listener resets every connection still in its accept queue (inet_csk_listen_stop()).',
      claims: ['001-a'],
      check: (t) => {
        const q = t.sock('q queued', '~q');
        const rd = t.result('q read');
        const rst = t.rstText('~q', 'L closed');
        if (q === undefined || rd.errno !== 'ECONNRESET') return null;
        return `~q, ${q.state} in L's queue${q.owner === null ? ' (no owner)' : ''}: close(L) sent ${rst}; q's read() failed ${rd.errno}`;
      },
    },
  ],
});
