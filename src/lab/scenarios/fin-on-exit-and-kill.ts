import { actor, judge, notCaptured, scenario, wait } from '../scenario.js';
import type { CallResult } from '../ops.js';
import { resultField, type TraceView } from '../trace.js';

const server = actor('server');
const exiter = actor('exiter');
const victim = actor('victim');

/**
 * Article 004: a FIN is not only sent by close() or shutdown(): when a process ends, the kernel
 * closes every descriptor it held, and a TCP socket closed that way sends its FIN like any other.
 *
 * Two client processes each hold an open connection with nothing unread (with unread bytes the
 * same close would send RST instead: see close-unread-data). `exiter` exits on its own
 * (exit_group); `victim` is killed with SIGKILL, which it cannot catch or handle. Neither ever
 * calls close() or shutdown().
 *
 * Judges 004-b.
 */
export default scenario({
  id: 'fin-on-exit-and-kill',
  article: '004',
  title: 'FIN when a process exits or is killed',
  summary:
    'One client process exits and another is killed with SIGKILL, each holding an open connection and having called ' +
    'neither close() nor shutdown(). The kernel closes their descriptors and each socket sends a FIN: the server ends ' +
    'go to CLOSE_WAIT, the orphaned client ends to FIN_WAIT2.',
  actors: ['server', 'exiter', 'victim'],
  steps: [
    server.listen('L').as('listen'),
    exiter.connect('e', 'L').as('e connected'),
    server.accept('L', 'se').as('se accepted'),
    victim.connect('k', 'L').as('k connected'),
    server.accept('L', 'sk').as('sk accepted'),
    exiter.exit().as('exited'),
    victim.kill('SIGKILL').as('killed'),
    // Past the delayed-ACK timer: the FINs are ACKed and the orphans sit in FIN_WAIT2.
    wait(80, 'settled'),
  ],
  checks: {
    '004-b': (t) => {
      if (!t.captured) return notCaptured(t, 'the FIN cannot be seen');
      const e = ended(t, 'e', 'se', 'exited');
      const k = ended(t, 'k', 'sk', 'killed');
      return judge(
        e.fin && !e.rst && k.fin && !k.rst && e.peerState === 'CLOSE_WAIT' && k.peerState === 'CLOSE_WAIT',
        `exit: ${e.text}; SIGKILL (${describeExit(t.result('killed'))}): ${k.text}`,
      );
    },
  },
});

function ended(t: TraceView, sock: string, peer: string, label: string): { fin: boolean; rst: boolean; peerState: string | undefined; text: string } {
  const segs = t.from(sock, t.segments(label));
  const fin = segs.some((s) => s.flags.includes('FIN'));
  const rst = segs.some((s) => s.flags.includes('RST'));
  const mine = t.sock('settled', sock);
  const theirs = t.sock('settled', peer);
  return {
    fin,
    rst,
    peerState: theirs?.state,
    text:
      `${sock} sent ${t.flagsText(segs)}; ` +
      `then ${sock} ${mine ? `${mine.state} ${mine.owner ? 'owned' : 'no owner'}` : 'gone'}, ${peer} ${theirs?.state ?? 'gone'}`,
  };
}

function describeExit(r: CallResult): string {
  const signal = resultField(r, 'signal');
  if (signal) return `died of ${String(signal)}`;
  const code = resultField(r, 'code');
  return code !== undefined ? `exit ${String(code)}` : 'ended';
}
