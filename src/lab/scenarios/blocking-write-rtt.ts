import type { CallResult } from '../ops.js';
import { actor, judge, scenario, wait } from '../scenario.js';
import { resultField } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 002 ends on "a blocking write() waits at least one round trip; a blocking read() does
 * not". Does a blocking write wait for the peer's ACK?
 *
 * The round trip is made long and visible: the receiving end `s` is put in delayed-ACK mode
 * (TCP_QUICKACK 0), so its kernel ACKs the data ~40 ms after it arrives instead of at once. The
 * client then makes a real blocking send() (O_NONBLOCK cleared for the call, flags 0, as the
 * article's C code does) and the op records how long the call took and TCP_INFO's `unacked` the
 * moment it returned. If send() waited for a round trip, `unacked` would be 0 and the call would
 * have lasted until the ACK.
 *
 * What the kernel does (tcp_sendmsg in net/ipv4/tcp.c): it copies the bytes into the socket's
 * send buffer, pushes what the window allows, and returns. It only sleeps (sk_stream_wait_memory)
 * when the send buffer has no room, i.e. when earlier data is still unacknowledged and fills it:
 * that is the one case where a blocking write waits for ACKs. MSG_DONTWAIT / O_NONBLOCK changes
 * only that case (EAGAIN instead of sleeping), which is why the lab's other writes, non-blocking,
 * behave the same as blocking ones whenever the buffer has room.
 *
 * The second half: a blocking recv() on `s` once the byte is queued returns it at once; it sends
 * nothing and waits for nothing. (With nothing queued, a blocking recv() sleeps until data or EOF
 * arrives: that waits for the peer, not for a round trip.)
 *
 * Judges 002-l.
 */
export default scenario({
  id: 'blocking-write-rtt',
  article: '002',
  title: 'Does a blocking write() wait for a round trip?',
  summary:
    'The receiver delays its ACKs (TCP_QUICKACK 0). A blocking send() of one byte returns in microseconds with the ' +
    'byte still unacknowledged; the ACK comes ~40 ms later. A blocking recv() of the queued byte returns at once too.',
  actors: ['server', 'client'],
  steps: [
    server.listen('L').as('listen'),
    client.connect('c', 'L').as('connected'),
    server.accept('L', 's').as('accepted'),
    // Delayed-ACK mode on the receiver: the ACK of the next data waits for the ~40 ms timer.
    server.quickack('s', false).as('delayed acks'),
    client.blockingWrite('c', 'x').as('blocking write'),
    // Past the delayed-ACK timer: the ACK has come.
    wait(100, 'acked'),
    server.read('s', { blocking: true }).as('blocking read'),
  ],
  checks: {
    '002-l': (t) => {
      const w = t.result('blocking write');
      const r = t.result('blocking read');
      const wElapsed = field(w, 'elapsedMs');
      const unacked = field(w, 'unacked');
      const rElapsed = field(r, 'elapsedMs');
      const rBytes = field(r, 'bytes');
      const sendQ = t.sock('blocking write', 'c')?.sendQ;
      const segs = t.captured ? t.segments('blocking write', 'acked') : [];
      const data = t.from('c', segs).find((s) => s.length > 0);
      const ack = data ? t.from('s', segs).find((s) => s.flags.includes('ACK') && s.ack !== null && s.ack >= (data.seq ?? 0) + data.length) : undefined;
      const ackAfter = data && ack ? ack.epochMs - data.epochMs : null;
      const readSegs = t.captured ? t.from('s', t.segments('blocking read')).length : 0;
      // The write waited for the round trip only if, when it returned, nothing was left unacknowledged.
      const writeWaited = w.ok && unacked === 0;
      const readWaited = !r.ok || rBytes <= 0 || (ackAfter !== null && rElapsed >= ackAfter);
      return judge(
        writeWaited && !readWaited,
        `blocking send() of ${field(w, 'bytes')} B ${w.ok ? `returned after ${wElapsed.toFixed(3)} ms` : `failed ${w.errno}`} with TCP_INFO unacked ${unacked} (Send-Q ${sendQ} in the picture after)` +
          `${t.captured ? (ackAfter !== null ? `; the ACK came ${ackAfter.toFixed(1)} ms after the data segment` : '; no ACK of the data was captured') : ''}; ` +
          `a blocking recv() of the queued byte returned ${rBytes} B after ${rElapsed.toFixed(3)} ms${t.captured ? `, sending ${readSegs} segment(s)` : ''}` +
          `: the write ${writeWaited ? 'waited' : 'did not wait'} for the round trip, the read ${readWaited ? 'did or failed' : 'did not'}`,
      );
    },
  },
});

function field(r: CallResult, k: string): number {
  const v = resultField(r, k);
  return typeof v === 'number' ? v : -1;
}
