import { actor, judge, scenario, watch } from '../scenario.js';
import type { Snapshot } from '../trace.js';

const passive = actor('passive');
const active = actor('active');

/** tcp_fin_timeout for this scenario's namespace, in seconds (the default is 60). */
const FIN_TIMEOUT_S = 2;

/**
 * Article 004: the passive side never closes. The active side ended connection `a` with
 * shutdown(SHUT_WR) and keeps the descriptor, and connection `b` with close(). With
 * net.ipv4.tcp_fin_timeout = 2 in the scenario's namespace, a ~3 s watch shows `a` staying in
 * FIN_WAIT2 past the timeout and `b` vanishing after ~2 s without passing through TIME_WAIT.
 *
 * Judges 004-j.
 */
export default scenario({
  id: 'fin-wait2-forever-vs-timeout',
  article: '004',
  title: 'FIN_WAIT2 for ever after shutdown(), for tcp_fin_timeout after close()',
  summary:
    'The passive side never closes. The active side shutdown(SHUT_WR)s one connection (keeping the descriptor) and close()s another. ' +
    `With tcp_fin_timeout = ${FIN_TIMEOUT_S} s, the shut-down end stays in FIN_WAIT2 past the timeout; the closed one disappears after ` +
    'about 2 s, straight from FIN_WAIT2, never in TIME_WAIT.',
  actors: ['passive', 'active'],
  sysctls: { 'net.ipv4.tcp_fin_timeout': FIN_TIMEOUT_S },
  steps: [
    passive.listen('L').as('listen'),
    active.connect('a', 'L').as('a connected'),
    passive.accept('L', 'pa').as('pa accepted'),
    active.connect('b', 'L').as('b connected'),
    passive.accept('L', 'pb').as('pb accepted'),
    // Half-close: the descriptor stays open, so the socket is not an orphan.
    active.shutdown('a', 'SHUT_WR').as('a shut'),
    // Full close: the socket becomes an orphan; its FIN_WAIT2 is bounded by tcp_fin_timeout.
    active.close('b').as('b closed'),
    // 3.2 s > tcp_fin_timeout: long enough to see b go and a stay. Every 50 ms bounds the
    // error on b's measured lifetime. Run with another tcp_fin_timeout (the model's --sysctl),
    // the watch lasts that long plus 1.2 s.
    watch(3200, 50, 'watch', { sysctl: 'net.ipv4.tcp_fin_timeout', plusMs: 1200 }),
  ],
  checks: {
    '004-j': (t) => {
      const w = t.step('watch');
      const pics: Snapshot[] = w.watched ?? [w.after];
      const closedAt = t.step('b closed').startMs;
      const shutAt = t.step('a shut').startMs;
      // The watch keeps a picture only when something changed, so b's lifetime is the time of
      // the first picture without it (the previous sample, ≤ 50 ms + one observation earlier,
      // still had it).
      const firstWithoutB = pics.find((p) => !p.sockets.some((s) => s.label === 'b'));
      const bStates = t.statesOf('b');
      const aStates = t.statesOf('a');
      const aEnd = t.sock('watch', 'a');
      const watchEnd = w.startMs + w.durationMs;
      const aAgeMs = watchEnd - shutAt;
      const fin = (t.trace.env.sysctls['net.ipv4.tcp_fin_timeout'] ?? 60) * 1000;
      const life = firstWithoutB ? firstWithoutB.atMs - closedAt : NaN;
      // Every picture of the watch shows a in FIN_WAIT2, and the last one (unchanged to the end) too.
      const aHeld = pics.every((p) => p.sockets.find((s) => s.label === 'a')?.state === 'FIN_WAIT2');
      // "Stays for tcp_fin_timeout": gone within 15 % of it (timer slack plus the sampling).
      const bTimely = firstWithoutB !== undefined && Math.abs(life - fin) <= fin * 0.15;
      const bClosed = t.sock('b closed', 'b');
      const bTimer = bClosed?.timer;
      const traced = t.traced
        ? `; traced: a ${t.pathText('a', 'a shut')}, b ${t.pathText('b', 'b closed')}${t.transitionsOf('b').some((x) => x.to === 'TIME_WAIT') ? '' : ' (no traced TIME_WAIT)'}`
        : ` (${t.trace.env.traceNote ?? 'transitions not traced'}: states from snapshots every 50 ms only)`;
      return judge(
        aHeld && aEnd?.state === 'FIN_WAIT2' && aAgeMs > fin && bTimely && !bStates.includes('TIME_WAIT'),
        `shutdown() end: ${aStates.join(' → ')}, still ${aEnd?.state ?? 'gone'} ${(aAgeMs / 1000).toFixed(1)} s later (timer ${aEnd?.timer.kind ?? '-'}, held by ${aEnd?.actor ?? 'nobody'}); ` +
          `close() end: ${bStates.join(' → ')} (${bClosed ? (bClosed.owner ? `held by ${bClosed.actor ?? bClosed.owner.command}` : 'orphan') : 'gone'}, timer ${bTimer ? `${bTimer.kind} ${(bTimer.remainingMs / 1000).toFixed(1)} s` : '-'}) → ${firstWithoutB ? `gone ${(life / 1000).toFixed(2)} s after close()` : 'still there at the end of the watch'} ` +
          `(tcp_fin_timeout ${fin / 1000} s), ${bStates.includes('TIME_WAIT') ? 'via TIME_WAIT' : 'never in TIME_WAIT in any snapshot'}${traced}`,
      );
    },
  },
});
