import { actor, judge, scenario, wait } from '../scenario.js';
import { resultList } from '../trace.js';

const server = actor('server');
const client = actor('client');

/** How long a connection may stay idle before the reaping server destroys it. */
const IDLE_MS = 300;

/**
 * Remedy 1 of article 002 (seed 002-g): close connections that have been idle too long, as Redis
 * does. Two node:net servers that never read: the naive one keeps every connection; the other
 * destroys a connection after {@link IDLE_MS} of silence. A client connects to both, writes
 * "ping" and closes, so both server ends go to CLOSE_WAIT; only the reaper's goes away.
 */
export default scenario({
  id: 'idle-reaper',
  article: '002',
  title: 'Reaping idle connections removes the CLOSE_WAIT a never-reading server leaks',
  summary:
    `Two servers that never read: one keeps its connections, one destroys them after ${IDLE_MS} ms idle. ` +
    'The client writes and closes on both; before the timeout both hold CLOSE_WAIT, after it only the naive one does.',
  actors: ['server', 'client'],
  steps: [
    server.nodeServe('naive', 'never-read'),
    server.nodeServe('reaper', 'idle-close', { idleMs: IDLE_MS }),
    client.connect('a', 'naive'),
    client.connect('b', 'reaper'),
    client.write('a', 'ping'),
    client.write('b', 'ping'),
    client.close('a'),
    client.close('b').as('client closed'),
    // Well inside the idle time, past the ~40 ms delayed ACK: both server ends are CLOSE_WAIT.
    wait(100, 'before the timeout'),
    // Past the idle time (counted from the last activity, the FIN): the reaper has destroyed its socket.
    wait(IDLE_MS, 'after the timeout'),
    server.nodeEvents('reaper#1').as('reaper events'),
  ],
  checks: {
    '002-g': (t) => {
      const naiveBefore = t.sock('before the timeout', 'naive#1');
      const reaperBefore = t.sock('before the timeout', 'reaper#1');
      const naiveAfter = t.sock('after the timeout', 'naive#1');
      const reaperAfter = t.sock('after the timeout', 'reaper#1');
      const segs = t.segments('client closed', 'after the timeout');
      const cFin = t.from('b', segs).find((s) => s.flags.includes('FIN'));
      const rEnd = t.from('reaper#1', segs).find((s) => s.flags.includes('FIN') || s.flags.includes('RST'));
      const how = !t.captured
        ? ''
        : rEnd && cFin
          ? ` (it sent ${t.words(rEnd)} ${(rEnd.epochMs - cFin.epochMs).toFixed(0)} ms after the client's FIN)`
          : ' (no FIN or RST from it was captured)';
      const ev = resultList(t.result('reaper events'));
      return judge(
        naiveBefore?.state === 'CLOSE_WAIT' && reaperBefore?.state === 'CLOSE_WAIT' && naiveAfter?.state === 'CLOSE_WAIT' && reaperAfter === undefined,
        `${Math.round(t.step('before the timeout').after.atMs - t.step('client closed').after.atMs)} ms after the client's close: ${t.describe('before the timeout', 'naive#1')}, ${t.describe('before the timeout', 'reaper#1')}; ` +
          `${Math.round(t.step('after the timeout').after.atMs - t.step('client closed').after.atMs)} ms after it (the reaper's idle timeout: ${IDLE_MS} ms): ${t.describe('after the timeout', 'naive#1')}, reaper#1 ${reaperAfter ? `still ${reaperAfter.state}` : 'gone'}${how}, events [${ev.join(' ')}]`,
      );
    },
  },
});
