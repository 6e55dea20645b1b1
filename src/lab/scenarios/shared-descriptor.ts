import { actor, judge, scenario, wait } from '../scenario.js';
import type { ObservedSocket, TraceView } from '../trace.js';

const server = actor('server');
const a = actor('A');
const b = actor('B');

/** The actors holding a socket (its descriptor holders, by pid), sorted: `A+B`, `B`, `nobody`. */
function holdersOf(t: TraceView, s: ObservedSocket | undefined): string {
  if (!s) return 'gone';
  const byPid = new Map(Object.entries(t.trace.env.actors).map(([name, { pid }]) => [pid, name]));
  const names = [...new Set(s.holders.map((h) => byPid.get(h.pid) ?? h.command))].sort();
  return names.length > 0 ? names.join('+') : 'nobody';
}

/**
 * Article 003: close() drops one reference to the socket; shutdown() acts on the socket itself.
 * Process A holds two connected sockets, `c` and `d`; process B takes a copy of each descriptor
 * (pidfd_getfd, as a fork() or SCM_RIGHTS would give it).
 *
 * - `c`: A close()s it: no FIN, the socket lives on in B. Then B shutdown(SHUT_WR)s it: FIN.
 * - `d`: A shutdown(SHUT_WR)s it while B still holds it: FIN at once, and B's write on its own
 *   descriptor fails, because both descriptors name the one socket.
 *
 * Judges 003-f.
 */
export default scenario({
  id: 'shared-descriptor',
  article: '003',
  title: 'A socket shared by two processes: close() drops a reference, shutdown() acts on the socket',
  summary:
    'Process A connects two sockets and process B takes a copy of each descriptor. A close()s one: nothing goes out, B still holds it; ' +
    'B then shutdown()s it and the FIN leaves. A shutdown()s the other while B holds it: the FIN leaves at once and B can no longer write.',
  actors: ['server', 'A', 'B'],
  needsPidfd: true,
  steps: [
    server.listen('L').as('listen'),
    a.connect('c', 'L').as('c connected'),
    server.accept('L', 'sc').as('sc accepted'),
    a.connect('d', 'L').as('d connected'),
    server.accept('L', 'sd').as('sd accepted'),
    // B duplicates A's descriptors: two descriptors, two processes, one socket each.
    b.share('c', 'A').as('c shared'),
    b.share('d', 'A').as('d shared'),

    // c: A's close() drops A's reference only.
    a.close('c').as('A closes c'),
    // Past the delayed-ACK timer: had a FIN gone out, it would be ACKed and visible by now.
    wait(80, 'c after A closed'),
    // The last holder half-closes: the socket itself is shut down.
    b.shutdown('c', 'SHUT_WR').as('B shuts c'),
    wait(80, 'c after B shut'),

    // d: A's shutdown() acts on the socket, whoever else holds it.
    a.shutdown('d', 'SHUT_WR').as('A shuts d'),
    wait(80, 'd after A shut'),
    // B never called shutdown(), yet its descriptor's socket can no longer send.
    b.write('d', 'ping').as('B writes d'),
  ],
  checks: {
    '003-f': (t) => {
      const fins = (from: string, to: string, name: string): number => t.from(name, t.segments(from, to)).filter((s) => s.flags.includes('FIN')).length;
      const cShared = t.sock('c shared', 'c');
      const cAfterClose = t.sock('c after A closed', 'c');
      const cAfterShut = t.sock('c after B shut', 'c');
      const dAfterShut = t.sock('d after A shut', 'd');
      const w = t.result('B writes d');
      const closeFins = t.captured ? fins('A closes c', 'c after A closed', 'c') : null;
      const shutFinsC = t.captured ? fins('B shuts c', 'c after B shut', 'c') : null;
      const shutFinsD = t.captured ? fins('A shuts d', 'd after A shut', 'd') : null;
      const holds =
        holdersOf(t, cShared) === 'A+B' &&
        cAfterClose?.state === 'ESTABLISHED' &&
        holdersOf(t, cAfterClose) === 'B' &&
        (closeFins === null || closeFins === 0) &&
        cAfterShut?.state === 'FIN_WAIT2' &&
        (shutFinsC === null || shutFinsC === 1) &&
        dAfterShut?.state === 'FIN_WAIT2' &&
        holdersOf(t, dAfterShut) === 'A+B' &&
        (shutFinsD === null || shutFinsD === 1) &&
        !w.ok &&
        w.errno === 'EPIPE';
      const n = (x: number | null): string => (x === null ? 'packets not captured' : `${x} FIN`);
      return judge(
        holds,
        `c held by ${holdersOf(t, cShared)}; A's close(): ${n(closeFins)}, c ${cAfterClose?.state ?? 'gone'} held by ${holdersOf(t, cAfterClose)}; ` +
          `B's shutdown(): ${n(shutFinsC)}, c ${cAfterShut?.state ?? 'gone'}. ` +
          `A's shutdown() of d: ${n(shutFinsD)}, d ${dAfterShut?.state ?? 'gone'} still held by ${holdersOf(t, dAfterShut)}; B's write on d → ${w.ok ? `${w.value} B` : `${w.errno}${w.sigpipe ? ' + SIGPIPE' : ''}`}`,
      );
    },
  },
});
