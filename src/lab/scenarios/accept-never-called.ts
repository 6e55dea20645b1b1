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
        `connect() ${t.result('connected').ok ? 'returned 0' : `failed ${t.result('connected').errno}`}; ${t.describe('connected', 'c')}; ${t.describe('connected', '~c')}` +
          `${far && far.owner === null ? ' (accepted by no one)' : ''}, Recv-Q of L = ${t.sock('connected', 'L')?.recvQ ?? 'L gone'} (its accept queue)`,
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
        `after the client exited: ${t.describe('client exited', '~c')}; after the server process exited: ${after ? t.describe('server exited', '~c') : 'gone'}` +
          `, and the server end sent ${t.rstText('~c', 'server exited', 'server exited', 'no RST')}`,
      );
    },
    '001-e': (t) => {
      const c = t.sock('client closed', 'c');
      const segs = t.segments('close called', 'client closed');
      const fin = t.from('c', segs).find((s) => s.flags.includes('FIN'));
      const ack = t.from('~c', segs).find((s) => s.flags.includes('ACK') && !s.flags.includes('FIN') && fin && s.epochMs >= fin.epochMs);
      const gap = fin && ack ? ack.epochMs - fin.epochMs : null;
      // The delayed-ACK timer is at least 40 ms (TCP_DELACK_MIN); a gap that long is that timer.
      const delay = gap === null ? '' : ` ${gap.toFixed(1)} ms after the FIN${gap >= 30 ? ' (delayed ACK)' : ''}`;
      const held = t.trace.steps.some((st) => [...(st.watched ?? []), st.after].some((snap) => snap.sockets.some((x) => x.label === '~c' && x.owner !== null)));
      return judge(
        c?.state === 'FIN_WAIT2' && (!t.captured || ack !== undefined),
        `${held ? 'a process held the server end at some point' : 'no process held the server end in any snapshot'}, yet ${t.captured ? (ack ? `its kernel sent a pure ACK${delay} and ` : 'no ACK was captured and ') : ''}the client went to ${c?.state}`,
      );
    },
    '001-g': (t) => {
      const c = t.sock('client exited', 'c');
      const before = t.sock('client closed', 'c');
      const orphanBefore = before !== undefined && before.owner === null;
      return judge(
        c === undefined,
        c
          ? `after the client process exited its socket is still ${c.state} (${c.owner ? 'owned' : 'no owner'}, timer ${c.timer.kind} ${Math.round(c.timer.remainingMs / 1000)} s); ` +
              `before the exit, after close(): ${t.describe('client closed', 'c')}${orphanBefore ? ': close() had already orphaned it, the exit changed nothing' : ''}`
          : `the ${before?.state ?? 'client'} socket went away with the client process`,
      );
    },
  },
});
