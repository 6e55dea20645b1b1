import { actor, judge, scenario, wait } from '../scenario.js';
import type { CallResult } from '../ops.js';
import { resultList as bits, readBytes, readEof as isEof } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Remedies 4 and 5 of article 002 (seeds 002-j, 002-k) and article 003's epoll note (seed 003-l),
 * in C terms, on a raw non-blocking socket:
 * - idle connection: recv() fails with EAGAIN and epoll_wait reports no EPOLLIN;
 * - after the peer's close(): epoll reports EPOLLIN + EPOLLRDHUP, recv() returns 0, and close()
 *   leaves no CLOSE_WAIT behind;
 * - after a peer's RST (SO_LINGER 0): what epoll and recv() report instead.
 */
export default scenario({
  id: 'nonblocking-read',
  article: '002',
  title: 'Non-blocking read and epoll: EAGAIN when idle, EPOLLIN + EPOLLRDHUP and 0 at EOF, errors after a RST',
  summary:
    'The server polls and reads an idle connection (EAGAIN, no EPOLLIN), then the client closes: epoll reports EPOLLIN and ' +
    'EPOLLRDHUP, recv() returns 0 and the server closes; no CLOSE_WAIT remains. A second client resets its connection instead.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c', 'L'),
    server.accept('L', 's'),
    server.read('s').as('idle read'),
    server.epoll('s').as('idle epoll'),
    client.close('c').as('peer closed'),
    // Level-triggered: the FIN has arrived (loopback), so this returns at once; the 100 ms only bounds it.
    server.epoll('s', 100).as('epoll after FIN'),
    server.read('s').as('read after FIN'),
    server.close('s').as('server closed'),
    // Past the ~40 ms delayed ACK, so the last ACK has certainly been sent and LAST_ACK is over.
    wait(60, 'after close'),
    // The abortive variant: SO_LINGER {1, 0} makes the client's close() send RST.
    client.connect('r', 'L'),
    server.accept('L', 'sr'),
    client.linger('r', 0),
    client.close('r').as('peer reset'),
    server.epoll('sr', 100).as('epoll after RST'),
    server.read('sr').as('read after RST'),
    server.read('sr').as('read again after RST'),
    server.close('sr').as('reset closed'),
  ],
  checks: {
    '002-k': (t) => {
      const idle = t.result('idle read');
      const eof = t.result('read after FIN');
      const rst = t.result('read after RST');
      const neither = !isEof(rst) && !(!rst.ok && rst.errno === 'EAGAIN');
      return judge(
        !idle.ok && idle.errno === 'EAGAIN' && isEof(eof) && t.sock('after close', 's') === undefined,
        `idle: recv() ${res(idle)}; after the peer's close(): recv() ${res(eof)}, close() → ${t.sock('after close', 's') ? t.describe('after close', 's') : 's gone'}, client c ${t.sock('after close', 'c')?.state ?? 'gone'}; ` +
          `after the peer's ${t.rstText('r', 'peer reset', 'peer reset', 'close() (no RST seen)', 'RST (unseen: packets not captured, RSTs not traced)')} recv() gives ${neither ? 'neither' : 'the same'}: ${res(rst)}, then ${res(t.result('read again after RST'))}`,
      );
    },
    '002-j': (t) => {
      const idle = bits(t.result('idle epoll'));
      const after = bits(t.result('epoll after FIN'));
      return judge(
        !idle.includes('EPOLLIN') && after.includes('EPOLLIN') && isEof(t.result('read after FIN')) && t.sock('after close', 's') === undefined,
        `epoll_wait on the idle socket: ${idle.join(' ') || 'nothing'}${idle.includes('EPOLLIN') ? '' : ' (no EPOLLIN)'}; after the peer's close(): ${after.join(' ')}, recv() ${res(t.result('read after FIN'))}, ` +
          `close() took s from ${t.sock('peer closed', 's')?.state} to ${t.sock('after close', 's')?.state ?? 'gone'}`,
      );
    },
    '003-l': (t) => {
      const after = bits(t.result('epoll after FIN'));
      const reset = bits(t.result('epoll after RST'));
      const apart = reset.includes('EPOLLERR') || reset.includes('EPOLLHUP');
      return judge(
        after.includes('EPOLLRDHUP') && after.includes('EPOLLIN') && isEof(t.result('read after FIN')),
        `a half-close (FIN) is reported as ${after.join(' ') || 'nothing'}${after.includes('EPOLLIN') && after.includes('EPOLLRDHUP') ? ' at once — both, not one or the other —' : ''} and recv() ${res(t.result('read after FIN'))}; ` +
          `a ${t.rstText('r', 'peer reset', 'peer reset', 'close() with SO_LINGER 0 that sent no RST', 'RST (unseen: packets not captured, RSTs not traced)')} is reported as ${reset.join(' ') || 'nothing'} (${apart ? 'EPOLLERR/EPOLLHUP tell it apart' : 'no bit tells it apart'}), recv() ${res(t.result('read after RST'))}`,
      );
    },
  },
});

function res(r: CallResult): string {
  if (!r.ok) return `failed ${r.errno}`;
  if (isEof(r)) return 'returned 0 (EOF)';
  return `returned ${readBytes(r)} B`;
}
