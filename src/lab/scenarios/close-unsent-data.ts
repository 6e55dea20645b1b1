import { actor, judge, scenario, wait } from '../scenario.js';
import { readBytes, readEof, type TraceView } from '../trace.js';

const receiver = actor('receiver');
const sender = actor('sender');

/**
 * Articles 002 and 004 contradict each other on close() with data still in the send buffer:
 * 002-d says close() discards it, 004-f says it is sent first, then the FIN.
 *
 * To have data still queued when close() is called, the receiver's window has to be shut: its
 * listener gets a small SO_RCVBUF (accepted sockets inherit it) and it never reads, so once its
 * buffer is full it advertises a zero window. The sender (small SO_SNDBUF, so the run stays
 * short) writes until send() says EAGAIN: what it wrote that the receiver could not take stays
 * in its send buffer (Send-Q > 0). Then the sender close()s and exits without calling
 * shutdown(). Only afterwards does the receiver start reading: everything it gets from then on
 * can only have come out of the orphaned socket's send buffer.
 *
 * Judges 002-d, 004-f.
 */
export default scenario({
  id: 'close-unsent-data',
  article: '004',
  title: 'close() with data still in the send buffer',
  summary:
    'The receiver never reads and its window closes; the sender writes until its send buffer is full, then close()s. ' +
    'The orphaned socket stays in FIN_WAIT1 holding the queued bytes; when the receiver finally reads, every byte written ' +
    'arrives, then the FIN (EOF). Nothing is discarded: 004-f holds, 002-d does not.',
  actors: ['receiver', 'sender'],
  steps: [
    receiver.listen('L', { rcvbuf: 4096 }).as('listen'),
    sender.connect('c', 'L', { sndbuf: 4096 }).as('connected'),
    receiver.accept('L', 's').as('accepted'),
    sender.fill('c').as('filled'),
    // The receiver's window is zero now; let the last segments and ACKs land before the picture.
    wait(100, 'queued'),
    sender.close('c').as('closed'),
    // The sender process is gone too: nothing but the kernel's orphan socket can deliver the rest.
    sender.exit().as('sender gone'),
    wait(50, 'orphan'),
    // Reading opens the window: the orphan sends what it still holds, then the FIN.
    receiver.drain('s', 500).as('drained'),
  ],
  checks: {
    '002-d': (t) => {
      const f = facts(t);
      if (f.queued <= 0) return { verdict: 'unverified', observed: `the send buffer was empty when close() was called (Send-Q ${f.queued}): nothing to discard or send` };
      return judge(f.received < f.written, f.line);
    },
    '004-f': (t) => {
      const f = facts(t);
      if (f.queued <= 0) return { verdict: 'unverified', observed: `the send buffer was empty when close() was called (Send-Q ${f.queued}): nothing to discard or send` };
      return judge(f.received === f.written && f.eof && (!t.captured || (f.finAfterData && !f.rst)), f.line);
    },
  },
});

interface Facts {
  written: number;
  queued: number;
  received: number;
  eof: boolean;
  finAfterData: boolean;
  rst: boolean;
  line: string;
}

function facts(t: TraceView): Facts {
  const filled = t.result('filled').value;
  const written = typeof filled === 'number' ? filled : 0;
  const before = t.sock('queued', 'c');
  const queued = before?.sendQ ?? 0;
  const orphan = t.sock('orphan', 'c');
  const d = t.result('drained');
  const received = Math.max(0, readBytes(d));
  const eof = readEof(d);
  const segs = t.captured ? t.from('c', t.segments('closed', 'drained')) : [];
  const fin = segs.find((s) => s.flags.includes('FIN'));
  const lastData = segs.filter((s) => s.length > 0).at(-1);
  // The FIN takes the sequence number after the segment's data: with data starting at 1, the one
  // after the last byte written. It may ride on the last data segment (FIN+PSH+ACK).
  const finSeq = fin && fin.seq !== null ? fin.seq + fin.length : null;
  const finAfterData = finSeq === written + 1 && lastData !== undefined && lastData.epochMs <= (fin?.epochMs ?? 0);
  const rst = segs.some((s) => s.flags.includes('RST'));
  const sentAfter = segs.reduce((n, s) => n + s.length, 0);
  const verdict =
    received === written && eof
      ? t.captured
        ? `close() sent the ${queued} B still queued, then FIN`
        : `the ${queued} B still queued at close() arrived, then EOF`
      : received < written
        ? `${written - received} of the ${queued} B queued at close() never arrived`
        : `the receiver got ${received} B of ${written} written${eof ? '' : ' and no EOF'}`;
  const line =
    `${verdict}: wrote ${written} B, ${queued} B still queued at close() (c ${before?.state} Send-Q ${queued}, s Recv-Q ${t.sock('queued', 's')?.recvQ}); ` +
    `after close() and exit c is ${orphan ? `${orphan.state} Send-Q ${orphan.sendQ}${orphan.sendQ === queued + 1 ? ' (the FIN counts 1)' : ''}, ${orphan.owner ? 'owned' : 'no owner'}` : 'gone'}; ` +
    `the receiver then read ${received} of ${written} B, then ${eof ? 'EOF' : 'no EOF'}` +
    (t.captured ? `; the orphan sent ${sentAfter} B after close(), ${fin ? `then FIN at seq ${finSeq}${fin.length > 0 ? ' (on the last data segment)' : ''}` : 'and no FIN'}, ${rst ? t.rstText('c', 'closed', 'drained') : 'no RST'}` : ` (${t.trace.env.captureNote ?? 'packets not captured'})`);
  return { written, queued, received, eof, finAfterData, rst, line };
}
