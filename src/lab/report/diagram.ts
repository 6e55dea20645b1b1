/**
 * Sequence diagrams of captured segments: plain text for terminals and reports, mermaid for
 * markdown. One diagram per connection; {@link groupByConnection} splits a capture.
 *
 * A text diagram reads like this (times from the first segment shown):
 * ```
 *     client 127.0.0.1:40312                     server 127.0.0.1:5000
 *               |                                            |
 *   0.000 ms    |----- S  seq 0 ------------------------------->|
 *   0.013 ms    |<---- S. seq 0 ack 1 ---------------------------|
 * ```
 */
import { parseEndpoint, tupleKey } from '../../tcp/address.js';
import { flagString, type Segment } from '../../tcp/segment.js';

/** One side of a diagram: a name for people (`client`) and the `ip:port` its segments carry. */
export interface DiagramEnd {
  label: string;
  address: string;
}

export interface DiagramEnds {
  left: DiagramEnd;
  right: DiagramEnd;
}

export interface DiagramOptions {
  /** Target line width in characters; arrows grow past it only when a label needs the room. Default 72. */
  width?: number;
  /** Digits after the decimal point of the millisecond column. Default 3 (tcpdump's microseconds). */
  decimals?: number;
  /** Time zero of the time column, on the segments' `timeMs` scale. Default: the first segment's. */
  originMs?: number;
  /** Show every segment's advertised window. A zero window is always shown (except on RST). */
  showWindow?: boolean;
  /**
   * One line for what always reads the same: a plain three-way handshake (`S`, `S. ack 1`,
   * `. ack 1`) becomes `<== handshake ==>`, and a data segment or a FIN ACKed by a pure ACK within
   * 1 ms gets that ACK on its line (`P. seq 1:5 ack 1 (4 B), ACKed at once`). A delayed ACK keeps
   * its own line. Default false.
   */
  compact?: boolean;
  /**
   * With `compact`: a pure ACK of data or a FIN that is the connection's very next segment is
   * folded onto that segment's line when it came within this many ms, its delay written there
   * (`ACKed 41.6 ms later`). Default 1 (only ACKs sent at once).
   */
  foldAckMs?: number;
}

/** Within this many ms an ACK of data counts as "at once" (not delayed) for the compact diagram. */
const AT_ONCE_MS = 1;

/** Which segments a compact diagram folds: `handshake` starts a plain three-way handshake; `acked` is data whose pure ACK follows at once. */
function foldings(segments: readonly Segment[], foldAckMs: number): Map<number, 'handshake' | 'acked'> {
  const out = new Map<number, 'handshake' | 'acked'>();
  const is = (s: Segment | undefined, flags: string): boolean => s !== undefined && flagString(s.flags) === flags;
  for (let i = 0; i < segments.length; i++) {
    const [a, b, c] = [segments[i], segments[i + 1], segments[i + 2]];
    if (a && b && c && is(a, 'S') && is(b, 'S.') && is(c, '.') && a.seq === 0 && b.seq === 0 && b.ack === 1 && c.ack === 1 && c.length === 0 &&
      b.src === a.dst && b.dst === a.src && c.src === a.src && c.dst === a.dst && a.src !== a.dst) {
      out.set(i, 'handshake');
      i += 2;
      continue;
    }
    // Data or a FIN, and the pure ACK of exactly it, sent back at once (no delayed ACK).
    const consumed = a ? a.length + (a.flags.includes('FIN') ? 1 : 0) : 0;
    if (a && b && consumed > 0 && !a.flags.includes('SYN') && !a.flags.includes('RST') && a.seq !== null && is(b, '.') && b.length === 0 && b.src === a.dst && b.dst === a.src && a.src !== a.dst &&
      b.ack === (a.seq + consumed) % TWO32 && b.timeMs - a.timeMs <= foldAckMs && b.window !== 0) {
      out.set(i, 'acked');
      i += 1;
    }
  }
  return out;
}

const TWO32 = 2 ** 32;

/**
 * A segment as one short label: flags, relative seq (a range for data), ack, payload size, e.g.
 * `S. seq 0 ack 1`, `P. seq 1:5 ack 1 (4 B)`, `.  ack 5`, `R. seq 5 ack 1 [TCP_ABORT_ON_CLOSE]`.
 * `seq ?`/`ack ?` mark numbers whose ISN the capture did not see; a pure ACK shows no seq (as
 * tcpdump prints it: it is the sender's next sequence number, and says nothing new); a RST the
 * kernel sent shows the kernel's reason.
 * @param flagWidth pad the flags to this width so labels line up.
 */
export function segmentLabel(s: Segment, opts: { flagWidth?: number; showWindow?: boolean } = {}): string {
  const parts: string[] = [flagString(s.flags).padEnd(opts.flagWidth ?? 0)];
  const consumesSeq = s.length > 0 || s.flags.includes('SYN') || s.flags.includes('FIN') || s.flags.includes('RST');
  if (s.seq !== null && consumesSeq) parts.push(s.length > 0 ? `seq ${s.seq}:${(s.seq + s.length) % TWO32}` : `seq ${s.seq}`);
  else if (consumesSeq) parts.push('seq ?');
  if (s.ack !== null) parts.push(`ack ${s.ack}`);
  else if (s.flags.includes('ACK')) parts.push('ack ?');
  if (opts.showWindow || (s.window === 0 && !s.flags.includes('RST'))) parts.push(`win ${s.window}`);
  if (s.length > 0) parts.push(`(${s.length} B)`);
  if (s.rstReason) parts.push(`[${s.rstReason}]`);
  return parts.join(' ');
}

function timeColumn(segments: readonly Segment[], opts: DiagramOptions): string[] {
  const decimals = opts.decimals ?? 3;
  const origin = opts.originMs ?? segments[0]?.timeMs ?? 0;
  const texts = segments.map((s) => `${(s.timeMs - origin).toFixed(decimals)} ms`);
  const w = Math.max(0, ...texts.map((t) => t.length));
  return texts.map((t) => t.padStart(w));
}

/** Places `text` so that its middle sits at column `center` (never before `min`). */
function placeCentered(line: string, text: string, center: number, min: number): string {
  const start = Math.max(min, center - Math.floor(text.length / 2));
  return line.padEnd(start) + text;
}

/**
 * A plain-text sequence diagram of one connection's segments, one line per segment (two for a
 * segment a self-connected socket sends to itself: a loop back onto its own lifeline).
 * Segments whose addresses match neither end are listed in place with a `?` marker.
 */
export function renderSequenceDiagram(segments: readonly Segment[], ends: DiagramEnds, opts: DiagramOptions = {}): string {
  const width = opts.width ?? 72;
  const flagWidth = Math.max(2, ...segments.map((s) => flagString(s.flags).length));
  const labels = segments.map((s) => segmentLabel(s, { flagWidth, showWindow: opts.showWindow ?? false }));
  const times = timeColumn(segments, opts);
  const indent = '  ';
  const timeWidth = times[0]?.length ?? 0;
  const barCol = indent.length + timeWidth + 4; // column of the left lifeline
  const pad = ' '.repeat(barCol);
  const selfOnly = ends.left.address === ends.right.address;

  const leftCaption = `${ends.left.label} ${ends.left.address}`.trim();
  const lines: string[] = [];

  if (selfOnly) {
    // One socket talking to itself (e.g. a connect() that picked its own port): one lifeline.
    lines.push(placeCentered('', `${leftCaption} (self-connected)`, barCol, 0));
    segments.forEach((s, i) => {
      const head = `${indent}${times[i]}`.padEnd(barCol);
      if (s.src === ends.left.address && s.dst === ends.left.address) {
        lines.push(`${head}|---. ${labels[i]}`);
        lines.push(`${pad}|<--'`);
      } else {
        lines.push(`${head}?  ${s.src} > ${s.dst}  ${labels[i]}`);
      }
    });
    if (segments.length === 0) lines.push(`${pad}|   (no segments)`);
    return lines.join('\n') + '\n';
  }

  const folded = opts.compact ? foldings(segments, opts.foldAckMs ?? AT_ONCE_MS) : new Map<number, 'handshake' | 'acked'>();
  for (const [i, kind] of folded) {
    if (kind === 'handshake') labels[i] = 'handshake: S, S. ack 1, . ack 1';
    else {
      const delay = (segments[i + 1] as Segment).timeMs - (segments[i] as Segment).timeMs;
      labels[i] = `${labels[i]}, ACKed ${delay <= AT_ONCE_MS ? 'at once' : `${delay.toFixed(1)} ms later`}`;
    }
  }
  // Arrow body between the lifelines: `----- label ----->` needs label + 11 characters.
  const longest = Math.max(0, ...labels.map((l) => l.length));
  const body = Math.max(width - barCol - 2, longest + 11, 20);
  const rightCol = barCol + body + 1;
  const rightCaption = `${ends.right.label} ${ends.right.address}`.trim();
  let skipFirst = false;
  let header = placeCentered('', leftCaption, barCol, 0);
  // A folded handshake at the very start goes on the caption line, between the two ends.
  if (folded.get(0) === 'handshake' && segments[0]) {
    const note = `<== handshake ${times[0]?.trim()} ==>`;
    const room = rightCol - Math.floor(rightCaption.length / 2) - header.length;
    if (room >= note.length + 4) {
      header = placeCentered(header, note, header.length + Math.floor(room / 2), header.length + 2);
      skipFirst = true;
    }
  }
  header = placeCentered(header, rightCaption, rightCol, header.length + 3);
  lines.push(header);

  let skip = skipFirst ? 3 : 0;
  segments.forEach((s, i) => {
    if (skip > 0) {
      skip--;
      return;
    }
    const head = `${indent}${times[i]}`.padEnd(barCol);
    const label = labels[i] as string;
    const fold = folded.get(i);
    if (fold === 'handshake') {
      skip = 2;
      lines.push(`${head}|<==== ${label} ${'='.repeat(body - label.length - 9)}=>|`);
      return;
    }
    if (fold === 'acked') skip = 1;
    const fromLeft = s.src === ends.left.address && s.dst === ends.right.address;
    const fromRight = s.src === ends.right.address && s.dst === ends.left.address;
    if (fromLeft) {
      lines.push(`${head}|----- ${label} ${'-'.repeat(body - label.length - 9)}->|`);
    } else if (fromRight) {
      lines.push(`${head}|<---- ${label} ${'-'.repeat(body - label.length - 7)}|`);
    } else if (s.src === s.dst && (s.src === ends.left.address || s.src === ends.right.address)) {
      lines.push(`${head}|---. ${label} (self)`);
      lines.push(`${pad}|<--'`);
    } else {
      lines.push(`${head}?  ${s.src} > ${s.dst}  ${label}`);
    }
  });
  if (segments.length === 0) lines.push(`${pad}|${'(no segments)'.padStart(Math.floor(body / 2) + 6).padEnd(body)}|`);
  return lines.join('\n') + '\n';
}

function compareEndpoints(a: string, b: string): number {
  try {
    const ea = parseEndpoint(a);
    const eb = parseEndpoint(b);
    if (ea.address !== eb.address) return ea.address < eb.address ? -1 : 1;
    return ea.port - eb.port;
  } catch {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}

/**
 * The canonical key of the connection between two endpoints, the same for both directions:
 * `low>high`, endpoints ordered by address text, then port number (`127.0.0.1:5000>127.0.0.1:40312`).
 * A self-connected socket's key is `a>a`.
 */
export function connectionKey(a: string, b: string): string {
  return compareEndpoints(a, b) <= 0 ? tupleKey(a, b) : tupleKey(b, a);
}

/**
 * Splits segments by connection (4-tuple, both directions together), keeping capture order
 * within each group and ordering the groups by their first segment. A 4-tuple reused by a later
 * connection stays in the same group; its new SYN shows where the new incarnation begins.
 */
export function groupByConnection(segments: readonly Segment[]): Map<string, Segment[]> {
  const groups = new Map<string, Segment[]>();
  for (const s of segments) {
    const key = connectionKey(s.src, s.dst);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(s);
  }
  return groups;
}

/**
 * Who opened the connection: the sender of the first SYN without ACK (else the receiver of the
 * first SYN+ACK). `null` when neither was captured.
 */
export function connectionEnds(segments: readonly Segment[]): { client: string; server: string } | null {
  const syn = segments.find((s) => s.flags.includes('SYN') && !s.flags.includes('ACK'));
  if (syn) return { client: syn.src, server: syn.dst };
  const synAck = segments.find((s) => s.flags.includes('SYN') && s.flags.includes('ACK'));
  if (synAck) return { client: synAck.dst, server: synAck.src };
  return null;
}

/**
 * Ends for a diagram of one connection: the opener on the left as `client`, the other as `server`;
 * without a handshake in view, the endpoints in key order as `A` and `B`.
 */
export function defaultEnds(segments: readonly Segment[]): DiagramEnds {
  const cs = connectionEnds(segments);
  if (cs) return { left: { label: 'client', address: cs.client }, right: { label: 'server', address: cs.server } };
  const first = segments[0];
  if (!first) return { left: { label: 'A', address: '?' }, right: { label: 'B', address: '?' } };
  const [a, b] = connectionKey(first.src, first.dst).split('>') as [string, string];
  return { left: { label: 'A', address: a }, right: { label: 'B', address: b } };
}

/** Mermaid text may not contain `;` or `#` (statement separator, comment); use entity codes. */
export function mermaidText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[#;]/g, (c) => (c === '#' ? '#35;' : '#59;'));
}

export interface MermaidOptions {
  /** Prefix each message with its time (`0.013 ms: S. seq 0 ack 1`). Default true. */
  showTimes?: boolean;
  decimals?: number;
  originMs?: number;
  showWindow?: boolean;
}

/** A mermaid `sequenceDiagram` of one connection's segments, for markdown reports. */
export function renderMermaid(segments: readonly Segment[], ends: DiagramEnds, opts: MermaidOptions = {}): string {
  const showTimes = opts.showTimes ?? true;
  const times = timeColumn(segments, opts).map((t) => t.trim());
  const selfOnly = ends.left.address === ends.right.address;
  const lines = ['sequenceDiagram'];
  lines.push(`    participant L as ${mermaidText(`${ends.left.label} ${ends.left.address}`.trim())}`);
  if (!selfOnly) lines.push(`    participant R as ${mermaidText(`${ends.right.label} ${ends.right.address}`.trim())}`);
  const id = (address: string): string | null => (address === ends.left.address ? 'L' : address === ends.right.address ? 'R' : null);
  segments.forEach((s, i) => {
    const label = segmentLabel(s, { showWindow: opts.showWindow ?? false });
    const text = mermaidText(showTimes ? `${times[i]}: ${label}` : label);
    const from = id(s.src);
    const to = id(s.dst);
    if (from !== null && to !== null) lines.push(`    ${from}->>${to}: ${text}`);
    else lines.push(`    Note over L${selfOnly ? '' : ',R'}: ${mermaidText(`${s.src} > ${s.dst}`)} ${text}`);
  });
  return lines.join('\n') + '\n';
}
