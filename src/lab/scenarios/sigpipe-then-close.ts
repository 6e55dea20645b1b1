import { actor, judge, scenario, wait } from '../scenario.js';
import { resultField } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Remedy 2 of article 002 (seed 002-h): "send() on such a connection raises SIGPIPE, but the
 * descriptor still has to be closed". The client closes; the server end sits in CLOSE_WAIT. The
 * server then writes twice (C semantics, SIGPIPE caught and reported): the first send() is
 * accepted and the client's kernel, whose socket is already closed, answers RST; the second
 * fails with EPIPE and raises SIGPIPE. The RST has taken the connection out of the kernel's table
 * (both ends), yet the server's descriptor is still open until it calls close().
 */
export default scenario({
  id: 'sigpipe-then-close',
  article: '002',
  title: 'send() after the peer closed: RST, then EPIPE + SIGPIPE; the descriptor stays until close()',
  summary:
    'The client closes; the server end is CLOSE_WAIT. The server sends twice: the first send() succeeds and draws a RST, ' +
    'the second fails with EPIPE and SIGPIPE. The socket has left /proc/net/tcp but the process still holds it until close().',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c', 'L'),
    server.accept('L', 's'),
    client.close('c').as('client closed'),
    // Past the ~40 ms delayed ACK of the FIN: client FIN_WAIT2 (orphaned), server CLOSE_WAIT.
    wait(60, 'close wait'),
    // The client's socket was closed with RCV_SHUTDOWN: new data is answered with RST (seed 004-g).
    server.write('s', 'one').as('first send'),
    // The RST has arrived (a loopback round trip, well inside the 10 ms settle): sk_err = EPIPE.
    server.write('s', 'two').as('second send'),
    server.info('s').as('tcp info'),
    // Later, nothing has changed by itself: the process still holds a dead socket.
    wait(100, 'later'),
    server.close('s').as('closed'),
  ],
  checks: {
    '002-h': (t) => {
      const first = t.result('first send');
      const second = t.result('second send');
      const held = t.sock('later', 's');
      const tcpState = String(resultField(t.result('tcp info'), 'state') ?? '?');
      const afterClose = t.sock('closed', 's');
      const rsts = t.rstsSent('c', 'first send');
      const rstText = rsts === null ? ' (packets not captured, RSTs not traced)' : rsts.length > 0 ? `, the client answered ${rsts.join(', ')}` : ', no RST seen';
      return judge(
        t.sock('close wait', 's')?.state === 'CLOSE_WAIT' &&
          first.ok &&
          !second.ok &&
          second.errno === 'EPIPE' &&
          second.sigpipe === true &&
          held !== undefined &&
          !held.inTable &&
          held.actor === 'server' &&
          afterClose === undefined,
        `from ${t.sock('close wait', 's')?.state}: 1st send() ${first.ok ? `returned ${String(first.value)}${first.sigpipe ? ' + SIGPIPE' : ' (no SIGPIPE)'}` : first.errno}${rstText}; ` +
          `2nd send() ${second.ok ? `returned ${String(second.value)}` : `${second.errno}${second.sigpipe ? ' + SIGPIPE' : ' (no SIGPIPE)'}`}; ` +
          `then s is ${held ? `${held.state} (TCP_INFO ${tcpState}), ${held.inTable ? 'still in' : 'gone from'} /proc/net/tcp, client end ${t.sock('later', 'c')?.state ?? 'gone'}, fd still held by ${held.actor ?? 'nobody'} ${t.step('later').after.atMs - t.step('second send').after.atMs} ms later` : 'gone'}; ` +
          `after close(): ${afterClose ? `still ${afterClose.state}` : 'gone'}`,
      );
    },
  },
});
