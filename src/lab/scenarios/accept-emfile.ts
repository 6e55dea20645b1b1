import { actor, judge, scenario, wait } from '../scenario.js';
import { resultField } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 001's way out (seed 001-f): accept() fails with EMFILE while the process is out of
 * descriptors; the connection waits, complete, in the accept queue; once a descriptor is free
 * accept() succeeds and an ordinary close() releases it.
 */
export default scenario({
  id: 'accept-emfile',
  article: '001',
  title: 'accept() failing with EMFILE, then recovering (C semantics)',
  summary:
    'The server lowers RLIMIT_NOFILE to what it already holds, so accept() fails with EMFILE while a client ' +
    'connects, writes and closes. Then the limit is restored: accept() succeeds, the server reads the data and EOF, closes.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    // No spare descriptor: the next accept() has nowhere to put the new socket.
    server.limitFds(0).as('limited'),
    client.connect('c', 'L').as('connected'),
    client.write('c', 'ping'),
    server.accept('L', 's', 100).as('accept fails'),
    // What an epoll server's loop does meanwhile: level-triggered, the listener stays readable.
    server.acceptLoop('L', 20).as('busy loop'),
    client.close('c'),
    // Past the ~40 ms delayed ACK of the FIN: the client is in FIN_WAIT2, the queued end in CLOSE_WAIT.
    wait(100, 'waiting in queue'),
    server.accept('L', 's', 100).as('accept still fails'),
    server.unlimitFds().as('descriptors free'),
    server.accept('L', 's', 100).as('accepted'),
    server.drain('s', 50).as('read'),
    server.close('s').as('closed'),
    wait(50, 'released'),
  ],
  findings: [
    {
      id: 'emfile-busy-loop',
      fact:
        'While accept() fails EMFILE the connection stays queued, so level-triggered epoll reports the listener readable again and again: a busy loop.',
      claims: ['001-f'],
      check: (t) => {
        const r = t.result('busy loop');
        const wakeups = Number(resultField(r, 'wakeups') ?? 0);
        const accepted = Number(resultField(r, 'accepted') ?? 0);
        const errors = resultField(r, 'errors');
        if (!r.ok || wakeups === 0 || accepted > 0) return null;
        const errs = errors && typeof errors === 'object' && !Array.isArray(errors) ? Object.entries(errors).map(([k, v]) => `${String(v)} × ${k}`).join(', ') : 'none';
        return `in ${(t.step('busy loop').step as { ms?: number }).ms ?? '?'} ms: L readable ${wakeups} times, accept() ${errs}, ${accepted} accepted, L Recv-Q ${t.sock('busy loop', 'L')?.recvQ ?? '?'}`;
      },
    },
  ],
  checks: {
    '001-f': (t) => {
      const failed = t.result('accept fails');
      const still = t.result('accept still fails');
      const queued = t.sock('waiting in queue', '~c');
      const accepted = t.result('accepted');
      const read = t.result('read').value as { bytes?: number; eof?: boolean } | undefined;
      const afterClose = t.sock('released', 's');
      const holds =
        failed.errno === 'EMFILE' &&
        still.errno === 'EMFILE' &&
        queued?.state === 'CLOSE_WAIT' &&
        queued.owner === null &&
        accepted.ok &&
        read?.bytes === 4 &&
        read.eof === true &&
        (afterClose === undefined || afterClose.state === 'LAST_ACK' || afterClose.state === 'CLOSE');
      return judge(
        holds,
        `accept() → ${failed.errno ?? 'ok'}, then ${still.errno ?? 'ok'}${queued ? `, while ${t.describe('waiting in queue', '~c')} waited in the queue` : ', and the connection was not in the queue (~c gone)'}; ` +
          `with descriptors free accept() → ${accepted.ok ? 'ok' : accepted.errno}, read ${read?.bytes ?? '?'} B${read?.eof ? ' + EOF' : ''}, ` +
          `close() → ${afterClose ? afterClose.state : 'server end gone'}; client ${t.sock('released', 'c')?.state ?? 'gone'}`,
      );
    },
  },
});
