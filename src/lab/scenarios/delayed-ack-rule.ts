import type { CapturedSegment } from '../../tcp/segment.js';
import { actor, scenario, wait } from '../scenario.js';
import { msText, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * The rule behind 001-e's and 004-k's timings: a FIN puts the receiver in delayed-ACK (pingpong)
 * mode (`tcp_fin()`), out of quickack mode, so its ACK waits the socket's ACK timeout
 * `icsk_ack.ato`: 0 — the next timer tick — until the first data arrives, TCP_ATO_MIN (40 ms)
 * from then on (`tcp_event_data_recv()` sets it, crediting quickacks with `tcp_incr_quickack()`).
 * Two connections left in the accept queue (the kernel ACKs, no process needed), closed by the
 * client the same way: `d` carried a request first, `n` nothing.
 */
export default scenario({
  id: 'delayed-ack-rule',
  article: '004',
  title: 'How long the ACK of a FIN waits: data received or not',
  summary: 'The client closes two connections the server never accepted, one after sending a request, one after sending nothing. How soon does each FIN get its ACK?',
  actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('d', 'L'),
    client.connect('n', 'L'),
    client.write('d', 'request').as('request sent'),
    client.close('d').as('d closed'),
    wait(70, 'd acked'),
    client.close('n').as('n closed'),
    wait(70, 'n acked'),
  ],
  checks: {},
  findings: [
    {
      id: 'fin-ack-delay',
      fact: "A FIN's ACK waits icsk_ack.ato (tcp_fin() leaves quickack mode): one timer tick before any data arrived, ~40 ms (TCP_ATO_MIN) after.",
      claims: ['001-e', '004-k'],
      check: (t) => {
        const d = finAckGap(t, 'd', '~d', 'd closed', 'd acked');
        const n = finAckGap(t, 'n', '~n', 'n closed', 'n acked');
        if (d === null || n === null) return null;
        const sent = t.result('request sent');
        return `FIN after ${sent.ok ? String(sent.value) : 0} B of data: ACKed ${msText(d)} later; FIN on a connection with no data: ${msText(n)} later`;
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
