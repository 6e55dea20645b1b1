import { actor, judge, scenario, wait } from '../scenario.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 001: a server listens and never calls accept(); a client connects, writes "ping",
 * closes and exits. Who holds what, and for how long?
 */
export default scenario({
  id: 'accept-never-called',
  article: '001',
  title: 'CLOSE_WAIT when the server never calls accept()',
  summary:
    'The server process listens and never accepts. The client connects, writes 4 bytes, closes and exits; ' +
    'then the server process exits. The kernel does the handshake, queues the data and ACKs the FIN on its own.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L').as('listen'),
    client.connect('c', 'L').as('connected'),
    client.write('c', 'ping').as('written'),
    client.close('c').as('close called'),
    wait(100, 'client closed'),
    client.exit().as('client exited'),
    server.exit().as('server exited'),
  ],
  checks: {
    '001-a': (t) => {
      const c = t.sock('connected', 'c');
      const far = t.sock('connected', '~c');
      return judge(
        t.result('connected').ok && c?.state === 'ESTABLISHED' && far?.state === 'ESTABLISHED',
        `connect() ${t.result('connected').ok ? 'returned 0' : `failed ${t.result('connected').errno}`}; ${t.describe('connected', 'c')}; ${t.describe('connected', '~c')} (in L's accept queue, Recv-Q of L = ${t.sock('connected', 'L')?.recvQ})`,
      );
    },
    '001-b': (t) => {
      const w = t.result('written');
      const cl = t.result('client closed');
      const far = t.sock('written', '~c');
      return judge(w.ok && w.value === 4 && cl.ok, `write() returned ${w.ok ? w.value : w.errno}, close() ${cl.ok ? 'returned 0' : cl.errno}; the server end holds Recv-Q ${far?.recvQ} unread`);
    },
    '001-c': (t) => {
      const c = t.sock('client closed', 'c');
      const far = t.sock('client closed', '~c');
      return judge(
        c?.state === 'FIN_WAIT2' && far?.state === 'CLOSE_WAIT' && far.recvQ === 5 && far.owner === null,
        `${t.describe('client closed', 'c')}; ${t.describe('client closed', '~c')}`,
      );
    },
    '001-d': (t) => {
      const during = t.sock('client exited', '~c');
      const after = t.sock('server exited', '~c');
      return judge(
        during?.state === 'CLOSE_WAIT' && after === undefined,
        `after the client exited: ${t.describe('client exited', '~c')}; after the server process exited: ${after ? t.describe('server exited', '~c') : 'gone'}`,
      );
    },
    '001-e': (t) => {
      const c = t.sock('client closed', 'c');
      const segs = t.segments('close called', 'client closed');
      const fin = t.from('c', segs).find((s) => s.flags.includes('FIN'));
      const ack = t.from('~c', segs).find((s) => s.flags.includes('ACK') && !s.flags.includes('FIN') && fin && s.epochMs >= fin.epochMs);
      const delay = fin && ack ? ` ${(ack.epochMs - fin.epochMs).toFixed(1)} ms after the FIN (delayed ACK)` : '';
      return judge(
        c?.state === 'FIN_WAIT2' && (!t.captured || ack !== undefined),
        `no process ever held the server end, yet ${t.captured ? (ack ? `its kernel sent a pure ACK${delay} and ` : 'no ACK was captured and ') : ''}the client went to ${c?.state}`,
      );
    },
    '001-g': (t) => {
      const c = t.sock('client exited', 'c');
      return judge(
        c === undefined,
        c ? `after the client process exited its socket is still ${c.state} (orphan, no owner, timer ${c.timer.kind} ${Math.round(c.timer.remainingMs / 1000)} s): close() had already orphaned it, exit changes nothing; it lasts tcp_fin_timeout` : 'the FIN_WAIT2 socket went away with the client process',
      );
    },
  },
});
