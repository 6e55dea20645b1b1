import { flagString } from '../../tcp/segment.js';
import type { CapturedSegment } from '../../tcp/segment.js';
import { actor, confirmed, judge, notCaptured, scenario, unverified, wait } from '../scenario.js';
import { readBytes, type TraceView } from '../trace.js';

const server = actor('server');
const client = actor('client');

/**
 * Article 004: how many segments a teardown takes, counted from the first FIN to the last ACK.
 *
 * Three connections; the client is the active closer of each, the server the passive side:
 * - `k` (004-k): the server closes the moment it reads EOF. Its kernel holds back the ACK of the
 *   client's FIN for the delayed-ACK timer (~40 ms), so the server's FIN, sent well inside it,
 *   can carry that ACK: three segments.
 * - `a` (004-a): the server closes 200 ms after the FIN came: by then the delayed ACK has gone
 *   out on its own; four segments.
 * - `l` (004-l): the client uses shutdown(SHUT_WR) (so it can still take data), and the server,
 *   the moment it reads EOF, writes a reply and closes: the ACK rides on the data, the FIN follows
 *   apart (finding reply-then-close-segments).
 * - `m` (004-l constructed): the same, with the reply sent with MSG_MORE, so it is still queued when
 *   close() runs and `tcp_send_fin()` sets FIN on it: data, FIN and the ACK of the FIN in one segment.
 *
 * "At once" has to be inside the ~40 ms timer, closer than the runner's step-by-step
 * observation can go, so the server arms `closeOnEof` before the client's FIN: its own process
 * reacts within a millisecond of the EOF. Each connection first carries a request the server
 * reads: the kernel starts its delayed-ACK timer at 40 ms only once data has been received (on a
 * connection that never carried data the ACK of a FIN goes out within a few ms, see
 * close-vs-shutdown), and a real passive side has read a request before it sees EOF.
 *
 * Judges 004-a, 004-k, 004-l.
 */
export default scenario({
  id: 'three-vs-four-way',
  article: '004',
  title: 'Three-way vs four-way teardown (delayed ACK)',
  summary:
    'The passive side closes at once on EOF (3 segments: its FIN carries the delayed ACK of the first FIN), or 200 ms ' +
    'later (4 segments: the delayed ACK leaves alone after ~40 ms), or writes a reply and then closes at once (the ACK ' +
    'rides on the data, but the data and its FIN are separate segments), or does so with MSG_MORE (data, FIN and ACK in one: 3 segments).',
  actors: ['server', 'client'],
  steps: [
    server.listen('L').as('listen'),
    client.connect('k', 'L').as('k connected'),
    server.accept('L', 'sk').as('sk accepted'),
    client.connect('a', 'L').as('a connected'),
    server.accept('L', 'sa').as('sa accepted'),
    client.connect('l', 'L').as('l connected'),
    server.accept('L', 'sl').as('sl accepted'),
    client.connect('m', 'L').as('m connected'),
    server.accept('L', 'sm').as('sm accepted'),
    // A request on each connection, read by the server: its delayed-ACK timer is now 40 ms.
    client.write('k', 'request').as('k request'),
    server.read('sk', { waitMs: 100 }).as('sk request read'),
    client.write('a', 'request').as('a request'),
    server.read('sa', { waitMs: 100 }).as('sa request read'),
    client.write('l', 'request').as('l request'),
    server.read('sl', { waitMs: 100 }).as('sl request read'),
    client.write('m', 'request').as('m request'),
    server.read('sm', { waitMs: 100 }).as('sm request read'),

    // 004-k: the server closes within a millisecond of reading EOF.
    server.closeOnEof('sk').as('sk armed'),
    client.close('k').as('k closed'),
    // Past the delayed-ACK timer: whatever the teardown takes is on the wire.
    wait(80, 'k done'),

    // 004-a: the server reads EOF and closes 200 ms after the FIN.
    client.close('a').as('a closed'),
    wait(200, 'a waited'),
    server.read('sa').as('sa eof'),
    server.close('sa').as('sa closed'),
    wait(80, 'a done'),

    // 004-l: on EOF the server writes a reply, then closes at once.
    server.closeOnEof('sl', { write: 'late reply' }).as('sl armed'),
    client.shutdown('l', 'SHUT_WR').as('l shut'),
    wait(80, 'l done'),
    // The half-closed client can still read: the reply, then EOF.
    client.drain('l', 50).as('l read'),

    // 004-l constructed: the reply is sent with MSG_MORE, so it waits in the send queue, and
    // close() puts its FIN on that very segment (`tcp_send_fin()`), which also ACKs the client's FIN.
    server.closeOnEof('sm', { write: 'late reply', more: true }).as('sm armed'),
    client.shutdown('m', 'SHUT_WR').as('m shut'),
    wait(80, 'm done'),
    client.drain('m', 50).as('m read'),
  ],
  findings: [
    {
      id: 'reply-then-close-segments',
      fact:
        'Reply-then-close() sends data and FIN apart, unless the data is still queued at close() (MSG_MORE, TCP_CORK): tcp_send_fin() joins them.',
      claims: ['004-l'],
      check: (t) => {
        const l = replyTeardown(t, 'l', 'sl', 'sl armed', 'l done');
        const m = replyTeardown(t, 'm', 'sm', 'sm armed', 'm done');
        if (!l || !m) return null;
        return `plain: ${l}; with MSG_MORE: ${m}`;
      },
    },
  ],
  checks: {
    '004-a': (t) => {
      const tear = teardown(t, 'a', 'sa', 'a closed', 'a done');
      if (!tear) return notCaptured(t, 'segments cannot be counted');
      if (!tear.passiveFin) return noPassiveClose(tear);
      const [fin, ack, fin2, last] = tear.segs;
      const holds =
        tear.segs.length === 4 &&
        fromActive(t, 'a', fin) && fin?.flags.includes('FIN') === true &&
        !fromActive(t, 'a', ack) && isPureAck(ack) && ack?.ack === tear.finAck &&
        !fromActive(t, 'a', fin2) && fin2?.flags.includes('FIN') === true &&
        fromActive(t, 'a', last) && isPureAck(last);
      const ackGap = ack && fin ? ack.epochMs - fin.epochMs : null;
      const onClose = fin2 !== undefined && t.segments('sa closed').includes(fin2);
      return judge(
        holds,
        `${tear.text}; the server's ACK of the FIN left alone ${ackGap !== null && isPureAck(ack) ? `${ackGap.toFixed(1)} ms after it${delayed(ackGap)}` : 'never'}, ` +
          `its FIN ${fin2 && fin ? `${(fin2.epochMs - fin.epochMs).toFixed(0)} ms after it${onClose ? ', during its close()' : ''}` : 'never'}${states(t, 'a', 'sa', 'a closed', 'a done')}`,
      );
    },
    '004-k': (t) => {
      const tear = teardown(t, 'k', 'sk', 'sk armed', 'k done');
      if (!tear) return notCaptured(t, 'segments cannot be counted');
      if (!tear.passiveFin) return noPassiveClose(tear);
      const [fin, fin2] = tear.segs;
      const carries = fin2 !== undefined && !fromActive(t, 'k', fin2) && fin2.flags.includes('FIN') && fin2.ack === tear.finAck;
      return judge(
        tear.segs.length === 3 && carries && !tear.standaloneAck,
        `${tear.text}; the server's FIN ${carries && fin && fin2 ? `left ${(fin2.epochMs - fin.epochMs).toFixed(2)} ms after the client's and carried the ACK of it` : 'did not carry the ACK of the client FIN'}` +
          `${tear.standaloneAck ? '; a standalone ACK of the FIN was sent' : '; no standalone ACK'}${states(t, 'k', 'sk', 'k closed', 'k done')}`,
      );
    },
    '004-l': (t) => {
      // A claim about what *can* happen: confirmed by the construction where it happens (m), unverified if it could not be built.
      const tear = teardown(t, 'm', 'sm', 'sm armed', 'm done');
      if (!tear) return notCaptured(t, 'segments cannot be counted');
      if (!tear.passiveFin) return noPassiveClose(tear);
      const merged = tear.segs.find((x) => !fromActive(t, 'm', x) && x.length > 0 && x.flags.includes('FIN') && x.ack === tear.finAck);
      const got = Math.max(0, readBytes(t.result('m read')));
      const observed =
        `reply sent with MSG_MORE, then close(): ${tear.text}; ` +
        `${merged ? `one server segment carried the ${merged.length} B of data, its FIN and the ACK of the client's FIN` : 'no server segment carried data, FIN and the ACK of the FIN together'}` +
        `${tear.standaloneAck ? '; a standalone ACK of the FIN was sent' : ''}${states(t, 'm', 'sm', 'm shut', 'm done')}; the client read ${got} B of reply`;
      return merged && tear.segs.length === 3 ? confirmed(observed) : unverified(`could not build it: ${observed}`);
    },
  },
});

interface Teardown {
  /** Segments of the connection from its first FIN on, in time order. */
  segs: CapturedSegment[];
  /** The ack number that acknowledges the first FIN. */
  finAck: number | null;
  /** A pure ACK of the first FIN from the passive side (no data, no FIN). */
  standaloneAck: boolean;
  /** The passive side's FIN was seen: it did close. */
  passiveFin: boolean;
  text: string;
}

/** The segments of connection `active`↔`passive` seen from step `from` to `to`, from the first FIN on. */
function teardown(t: TraceView, active: string, passive: string, from: string, to: string): Teardown | null {
  if (!t.captured) return null;
  const all = t.segments(from, to);
  const conn = [...t.from(active, all), ...t.from(passive, all)].sort((x, y) => x.epochMs - y.epochMs);
  const i = conn.findIndex((s) => s.flags.includes('FIN'));
  const segs = i < 0 ? [] : conn.slice(i);
  const first = segs[0];
  // The FIN takes one sequence number after any data it carries.
  const finAck = first && first.seq !== null ? first.seq + first.length + 1 : null;
  const standaloneAck = segs.some((s) => !fromActive(t, active, s) && isPureAck(s) && s.ack === finAck);
  const text =
    `${segs.length} segments from the first FIN to the last ACK: ` +
    segs.map((s) => `${flagString(s.flags)}${s.length ? `(${s.length} B)` : ''} ${fromActive(t, active, s) ? 'client' : 'server'}`).join(', ');
  const passiveFin = segs.some((s) => !fromActive(t, active, s) && s.flags.includes('FIN'));
  return { segs, finAck, standaloneAck, passiveFin, text };
}

function fromActive(t: TraceView, active: string, s: CapturedSegment | undefined): boolean {
  return s !== undefined && s.src === t.addr(active);
}

function isPureAck(s: CapturedSegment | undefined): boolean {
  return s !== undefined && s.length === 0 && s.flags.includes('ACK') && !s.flags.some((f) => f === 'FIN' || f === 'SYN' || f === 'RST');
}

/** The server never sent its FIN: the teardown was not completed, so there is nothing to count. */
function noPassiveClose(tear: Teardown): { verdict: 'unverified'; observed: string } {
  return { verdict: 'unverified', observed: `the server never sent its FIN, so the teardown cannot be counted (${tear.text})` };
}

/** `(delayed ACK)` for a gap as long as Linux's delayed-ACK timer (TCP_DELACK_MIN, 40 ms), else nothing. */
function delayed(gapMs: number): string {
  return gapMs >= 30 ? ' (delayed ACK)' : '';
}

/**
 * The states both ends passed through from step `from` on, with the time spent in each, from the
 * traced transitions (the passing ones: FIN_WAIT1, LAST_ACK, CLOSING); without tracing, says so.
 * Then the active end's row after step `end`: the traced CLOSE is the full socket handing over to a
 * timewait socket, which the table shows.
 */
function states(t: TraceView, active: string, passive: string, from: string, end: string): string {
  const a = t.pathText(active, from);
  const p = t.pathText(passive, from);
  const after = `then the client end is ${t.sock(end, active)?.state ?? 'gone'} in the table`;
  if (a === null || p === null) return ` (${t.trace.env.traceNote ?? 'transitions not traced'}: passing states unseen); ${after}`;
  return `; traced: client ${a}; server ${p}; ${after}`;
}

/** One phrase for a reply-then-close teardown: its segment count and whether data and FIN shared a segment; null when not captured or not closed. */
function replyTeardown(t: TraceView, active: string, passive: string, from: string, to: string): string | null {
  const tear = teardown(t, active, passive, from, to);
  if (!tear || !tear.passiveFin) return null;
  const server = tear.segs.filter((x) => !fromActive(t, active, x));
  const merged = server.some((x) => x.length > 0 && x.flags.includes('FIN'));
  return `${tear.segs.length} segments, ${merged ? 'data and FIN in one' : 'data and FIN apart'} (${server.map((x) => `${flagString(x.flags)}${x.length ? ` ${x.length} B` : ''}`).join(', ')})`;
}
