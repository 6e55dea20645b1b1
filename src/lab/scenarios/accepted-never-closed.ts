import type { CallResult } from '../ops.js';
import { actor, judge, scenario, wait } from '../scenario.js';
import { readEof, resultField } from '../trace.js';

const server = actor('server');
const client = actor('client');

/** What a read returned, in a few words. */
const readText = (r: CallResult): string => {
  if (!r.ok) return r.errno ?? 'failed';
  if (readEof(r)) return '0 (EOF)';
  const n = resultField(r, 'bytes');
  return n !== undefined ? `${n} B` : JSON.stringify(r.value);
};

/**
 * Article 002's reproduction of CLOSE_WAIT: a C server that accepts one connection and loops on
 * recv() for ever, never calling close() (recv() returning 0 is not `< 0`, so the loop goes on);
 * `nc localhost 12345` as the client, stopped with Ctrl+C (SIGINT).
 *
 * Judges 002-f and 004-d (the FIN_WAIT2 on one end is the CLOSE_WAIT on the other, 4-tuple
 * reversed).
 */
export default scenario({
  id: 'accepted-never-closed',
  article: '002',
  title: 'A server that reads and never closes: CLOSE_WAIT here, FIN_WAIT2 there, even after the client is killed',
  summary:
    'The server accepts and reads in a loop; at EOF recv() returns 0 and the loop just goes on, so close() never runs. ' +
    'The client, like nc, sends a line and is killed with SIGINT. The server end stays in CLOSE_WAIT, held by the server; ' +
    'the client end stays in FIN_WAIT2 with no process at all.',
  actors: ['server', 'client'],
  steps: [
    // listen(server_fd, 1), as in the article's code.
    server.listen('L', { backlog: 1 }).as('listen'),
    client.connect('c', 'L').as('connected'),
    server.accept('L', 's').as('accepted'),
    // What a user types into nc.
    client.write('c', 'hello\n').as('client writes'),
    server.read('s', { waitMs: 200 }).as('server reads'),
    // Ctrl+C on nc: the kernel closes its descriptors on exit and sends FIN.
    client.kill('SIGINT').as('client killed'),
    // Past the ~40 ms delayed-ACK timer: the server's kernel has ACKed the FIN.
    wait(80, 'after kill'),
    // The server's loop: recv() returns 0, the loop goes round, recv() returns 0 again …
    server.read('s', { waitMs: 200 }).as('server reads eof'),
    server.read('s', { waitMs: 200 }).as('server reads again'),
    wait(100, 'later'),
  ],
  checks: {
    '002-f': (t) => {
      const s = t.sock('later', 's');
      const c = t.sock('later', 'c');
      const sig = resultField(t.result('client killed'), 'signal');
      const r1 = t.result('server reads eof');
      const r2 = t.result('server reads again');
      return judge(
        s?.state === 'CLOSE_WAIT' && s.actor === 'server' && c?.state === 'FIN_WAIT2' && c.owner === null,
        `client ended by ${sig ?? 'exit'}; the server's recv() returned ${readText(r1)}, then ${readText(r2)}${s?.actor === 'server' ? `, and ${Math.round(t.step('later').after.atMs - t.step('server reads again').after.atMs)} ms later the server still holds it` : ''}; ` +
          `${t.describe('later', 's')}; ${t.describe('later', 'c')}${c ? ` (${c.owner ? 'owned' : 'orphan'}, timer ${c.timer.kind} ${(c.timer.remainingMs / 1000).toFixed(0)} s)` : ''}`,
      );
    },
    '004-d': (t) => {
      const s = t.sock('later', 's');
      const c = t.sock('later', 'c');
      const paired = s !== undefined && c !== undefined && c.local === s.remote && c.remote === s.local;
      return judge(
        c?.state === 'FIN_WAIT2' && s?.state === 'CLOSE_WAIT' && paired,
        `FIN_WAIT2 ${c?.local ?? '?'} → ${c?.remote ?? '?'} and CLOSE_WAIT ${s?.local ?? '?'} → ${s?.remote ?? '?'}: ${paired ? 'the same connection seen from its two ends' : 'not the same connection'}`,
      );
    },
  },
});
