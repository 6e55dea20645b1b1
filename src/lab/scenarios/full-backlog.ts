import { actor, judge, scenario, wait } from '../scenario.js';
import type { ObservedSocket } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * The limit of seed 001-a: the kernel completes handshakes without accept() only while the
 * accept queue has room. Linux admits backlog + 1 connections (`sk_acceptq_is_full()` tests
 * `>`), then drops further SYNs (`tcp_conn_request()` in net/ipv4/tcp_input.c, counted as
 * ListenOverflows); the client retransmits its SYN after the 1 s initial RTO (RFC 6298).
 */
export default scenario({
  id: 'full-backlog',
  article: '001',
  title: 'A full accept queue: the handshake waits for accept() after all',
  summary:
    'A server listens with backlog 1 and never accepts; three clients connect. Then the server accepts once, ' +
    'and the third client gets in with its retransmitted SYN.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L', { backlog: 1 }),
    client.connect('a', 'L').as('first'),
    client.connect('b', 'L').as('second'),
    // A short wait only: the SYN is dropped, connect() stays in progress.
    client.connect('c', 'L', { waitMs: 200 }).as('third'),
    server.accept('L', 's').as('one accepted'),
    // The client's SYN retransmission comes ~1 s after the first SYN.
    wait(1100, 'after SYN retransmit'),
  ],
  checks: {
    '001-a': (t) => {
      const a = t.sock('third', 'a');
      const b = t.sock('third', 'b');
      const c = t.sock('third', 'c');
      const listener = t.sock('third', 'L');
      const later = t.sock('after SYN retransmit', 'c');
      const synsFromC = t.from('c', t.segments('third', 'after SYN retransmit')).filter((x) => x.flags.includes('SYN')).length;
      return judge(
        a?.state === 'ESTABLISHED' && b?.state === 'ESTABLISHED' && c?.state === 'ESTABLISHED',
        `with backlog 1 and no accept(): a ${a?.state}, b ${b?.state}, c ${c?.state} (connect → ${t.result('third').errno ?? 'ok'}); ` +
          `accept queue Recv-Q ${listener?.recvQ ?? '?'}/${listener?.sendQ ?? '?'}${queueText(listener?.recvQ, listener?.sendQ, [a, b, c])}; ` +
          `after one accept() c is ${later?.state ?? 'gone'}${t.captured ? ` (${synsFromC} SYNs sent by c)` : ''}`,
      );
    },
  },
});

/**
 * What the accept queue's length says against its limit (a listener's Send-Q is its backlog): how
 * many handshakes completed without accept(), against the backlog, and whether the queue was full.
 */
function queueText(queued: number | undefined, backlog: number | undefined, conns: (ObservedSocket | undefined)[]): string {
  if (queued === undefined || backlog === undefined) return ' (listener not seen)';
  const established = conns.filter((x) => x?.state === 'ESTABLISHED').length;
  const vs = queued === backlog ? 'backlog' : queued > backlog ? `backlog + ${queued - backlog}` : `backlog − ${backlog - queued}`;
  return `: ${queued} handshake(s) completed without accept() (${vs}), ${established} of ${conns.length} clients ESTABLISHED`;
}
