import { actor, judge, scenario, wait } from '../scenario.js';
import { resultField, type ObservedSocket, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * The limit of seed 001-a: the kernel completes handshakes without accept() only while the
 * accept queue has room. Linux admits backlog + 1 connections (`sk_acceptq_is_full()` tests
 * `>`), then drops further SYNs (`tcp_conn_request()` in net/ipv4/tcp_input.c, counted as
 * ListenOverflows); the client retransmits its SYN after the 1 s initial RTO (RFC 6298).
 *
 * Findings beyond the article, with tcp_syn_retries = 1 so the run ends in seconds: a client whose
 * every SYN meets the full queue (`d`) ends with ETIMEDOUT; and two clients whose last handshake
 * ACK is held back (TCP_QUICKACK 0 before connect()) both pass the SYN check while the queue has
 * room, but only the first ACK finds room: `f` is ESTABLISHED while the server keeps only a
 * request socket (SYN_RECV), retransmitting its SYN-ACK (`tcp_check_req()` drops the ACK).
 */
export default scenario({
  id: 'full-backlog',
  article: '001',
  title: 'A full accept queue: the handshake waits for accept() after all',
  summary:
    'A server listens with backlog 1 and never accepts; three clients connect, then a fourth. The server accepts once: ' +
    'the third client gets in with its retransmitted SYN, the fourth times out. Two more clients whose handshake ACK comes late: one is left half-open.',
  actors: ['server', 'client'],
  sysctls: { 'net.ipv4.tcp_syn_retries': 1 },
  steps: [
    server.listen('L', { backlog: 1 }),
    client.connect('a', 'L').as('first'),
    client.connect('b', 'L').as('second'),
    // A short wait only: the SYN is dropped, connect() stays in progress.
    client.connect('c', 'L', { waitMs: 200 }).as('third'),
    // A fourth client, ~200 ms behind c: its SYN and its one retransmit (tcp_syn_retries = 1) meet a full queue.
    client.connect('d', 'L', { waitMs: 0 }).as('fourth'),
    server.accept('L', 's').as('one accepted'),
    // The client's SYN retransmission comes ~1 s after the first SYN.
    wait(1100, 'after SYN retransmit'),
    // Room for one again; two clients whose last handshake ACK waits 200 ms (TCP_QUICKACK 0): both
    // SYNs find room, both clients are ESTABLISHED at once, but only the first ACK finds room.
    server.accept('L', 's2').as('second accepted'),
    client.connect('e', 'L', { delayAck: true, waitMs: 50 }).as('e connected'),
    client.connect('f', 'L', { delayAck: true, waitMs: 50 }).as('f connected'),
    // Past d's give-up time: 1 s + 2 s after its first SYN (tcp_syn_retries = 1).
    wait(1800, 'd gave up'),
    client.soError('d').as('d error'),
    server.counters('ListenOverflows', 'ListenDrops').as('counters'),
  ],
  findings: [
    {
      id: 'syn-retries-etimedout',
      fact:
        'A SYN meeting a full accept queue is dropped unanswered (ListenOverflows); the client retries, then connect() fails ETIMEDOUT.',
      claims: ['001-a'],
      check: (t) => {
        const so = t.result('d error');
        if (!so.ok || so.value !== 'ETIMEDOUT') return null;
        const segs = t.captured ? t.segments('fourth', 'd gave up') : [];
        const syns = t.from('d', segs).filter((x) => x.flags.includes('SYN'));
        const first = syns[0];
        const at = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
        const mine = (t.trace.errors ?? []).filter((e) => e.socket === 'd' || e.socket.startsWith(`${t.addr('d') ?? '?'}>`));
        const err = mine[0];
        const synText = !t.captured ? 'SYNs not captured' : first ? `d's SYNs at ${syns.map((x) => at(x.epochMs - first.epochMs)).join(', ')}, ${t.from('~d', segs).length} answered` : 'no SYN from d seen';
        return `${synText} (tcp_syn_retries ${t.trace.env.sysctls['net.ipv4.tcp_syn_retries'] ?? 'default'}); ` +
          `${err && first ? `${err.errno ?? err.error} set at ${at(err.epochMs - first.epochMs)}, ` : ''}SO_ERROR → ${String(so.value)}; ${counterText(t)}`;
      },
    },
    {
      id: 'half-open-on-overflow',
      fact:
        'A handshake ACK meeting a full accept queue is dropped: the client is ESTABLISHED, the server holds only a SYN_RECV request.',
      claims: ['001-a'],
      check: (t) => {
        const f = t.sock('d gave up', 'f');
        const far = t.sock('d gave up', '~f');
        if (f?.state !== 'ESTABLISHED' || far?.state !== 'SYN_RECV') return null;
        const synacks = t.captured ? t.from('~f', t.segments('f connected', 'd gave up')).filter((x) => x.flags.includes('SYN')).length : null;
        return `f ${f.state}, ~f ${far.state} (timer ${far.timer.kind}${synacks === null ? '' : `, ${synacks} SYN-ACKs`}); e ${t.sock('d gave up', 'e')?.state ?? 'gone'}, ~e ${t.sock('d gave up', '~e')?.state ?? 'gone'}`;
      },
    },
  ],
  checks: {
    '001-a': (t) => {
      const a = t.sock('third', 'a');
      const b = t.sock('third', 'b');
      const c = t.sock('third', 'c');
      const listener = t.sock('third', 'L');
      const later = t.sock('after SYN retransmit', 'c');
      const synsFromC = t.from('c', t.segments('third', 'after SYN retransmit')).filter((x) => x.flags.includes('SYN')).length;
      // The claim (the kernel completes handshakes without accept()) says nothing of the backlog:
      // a full accept queue is a limit to state in the evidence, not a contradiction (SEEDS rules).
      // It would be contradicted only if no connection got ESTABLISHED without accept().
      const established = [a, b, c].filter((x) => x?.state === 'ESTABLISHED').length;
      return judge(
        a?.state === 'ESTABLISHED' && established >= 1,
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
/** `ListenOverflows n, ListenDrops m` from the `counters` step. */
function counterText(t: TraceView): string {
  const r = t.result('counters');
  return `ListenOverflows ${String(resultField(r, 'ListenOverflows') ?? '?')}, ListenDrops ${String(resultField(r, 'ListenDrops') ?? '?')}`;
}

function queueText(queued: number | undefined, backlog: number | undefined, conns: (ObservedSocket | undefined)[]): string {
  if (queued === undefined || backlog === undefined) return ' (listener not seen)';
  const established = conns.filter((x) => x?.state === 'ESTABLISHED').length;
  const vs = queued === backlog ? 'backlog' : queued > backlog ? `backlog + ${queued - backlog}` : `backlog − ${backlog - queued}`;
  return `: ${queued} handshake(s) completed without accept() (${vs}), ${established} of ${conns.length} clients ESTABLISHED`;
}
