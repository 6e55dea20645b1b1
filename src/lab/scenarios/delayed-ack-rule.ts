import type { CapturedSegment } from '../../tcp/segment.js';
import { actor, scenario, wait } from '../scenario.js';
import { msText, readBytes, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * The rule behind 001-e and 004-k's timings: a FIN puts the receiver in delayed-ACK (pingpong)
 * mode (`tcp_fin()`), so its ACK waits the socket's ACK timeout `icsk_ack.ato`, which is 0 — the
 * next timer tick — until the first data arrives, and TCP_ATO_MIN (40 ms) from then on
 * (`tcp_event_data_recv()` sets it, crediting quickacks with `tcp_incr_quickack()`). Two
 * connections, closed by the client the same way: `d` carried a request first, `n` nothing.
 */
export default scenario({
  id: 'delayed-ack-rule',
  article: '004',
  title: 'How long the ACK of a FIN waits: data received or not',
  summary: 'The client closes two idle connections; the server read a request on one of them and nothing on the other. How soon does each FIN get its ACK?',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('d', 'L'),
    server.accept('L', 'sd'),
    client.connect('n', 'L'),
    server.accept('L', 'sn'),
    client.write('d', 'request'),
    server.read('sd', { waitMs: 100 }).as('request read'),
    client.close('d').as('d closed'),
    wait(70, 'd acked'),
    client.close('n').as('n closed'),
    wait(70, 'n acked'),
  ],
  checks: {},
  findings: [
    {
      id: 'fin-ack-delay',
      fact:
        'The ACK of a FIN waits the receiver\'s ACK timeout (icsk_ack.ato; tcp_fin() ends quickack mode): the next timer tick ' +
        'on a connection that never received data, ~40 ms (TCP_ATO_MIN, set by tcp_event_data_recv()) once it has.',
      claims: ['001-e', '004-k'],
      check: (t) => {
        const d = finAckGap(t, 'd', 'sd', 'd closed', 'd acked');
        const n = finAckGap(t, 'n', 'sn', 'n closed', 'n acked');
        if (d === null || n === null) return null;
        return `after ${readBytes(t.result('request read'))} B received, d's FIN was ACKed ${msText(d)} later; on n, which received nothing, ${msText(n)} later`;
      },
    },
  ],
});

/** ms from `active`'s FIN to `passive`'s first segment acknowledging it; null when either is not captured. */
export function finAckGap(t: TraceView, active: string, passive: string, from: string, to: string): number | null {
  if (!t.captured) return null;
  const segs = t.segments(from, to);
  const fin = t.from(active, segs).find((s) => s.flags.includes('FIN'));
  if (!fin || fin.seq === null) return null;
  const want = fin.seq + fin.length + 1;
  const ack = t.from(passive, segs).find((s: CapturedSegment) => s.flags.includes('ACK') && s.ack === want);
  return ack ? ack.epochMs - fin.epochMs : null;
}
