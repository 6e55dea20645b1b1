/**
 * The ladder diagram of one scenario, as the articles draw teardown: one lifeline per socket end
 * (a listener's accepted children each their own), every captured segment an arrow between them
 * (flags, relative seq:ack, length, a RST's reason from the kernel), each end's state written on
 * its lifeline at every traced transition (passing states too), and the program's calls marked
 * where they were made (`close()`, `write(4 B) → EPIPE + SIGPIPE`).
 *
 * Time runs down at {@link PX_PER_MS} px per ms; a gap longer than {@link BREAK_MS} becomes a grey
 * band with its length written in the time column, so a 2 s timer and a 40 µs reply both read.
 * Labels never overlap: an event whose labels would touch one already placed moves down (the time
 * column gives each event's real time), never up.
 */
import type { TcpState } from '../../tcp/index.js';
import { readBytes, readEof, resultList, socketLabel, type StepRecord, type Trace } from '../trace.js';
import { mermaidText, segmentLabel } from './diagram.js';
import { overlaps, SvgWriter, textBox, textWidth, type Box } from './svg.js';

/** One end of a connection (or a listener) as a lifeline. */
export interface Lifeline {
  /** The scenario's name for the socket (`c`, `L`, `s0`), `~c` for an unaccepted far end, or `ip:port` when it has none. */
  id: string;
  /** `ip:port`, when known. */
  address: string | null;
  /** The actor holding it, when a snapshot saw one. */
  actor: string | null;
}

export type SegmentKind = 'syn' | 'fin' | 'rst' | 'data' | 'ack';

/** What happened at one moment, on the scenario's clock (ms since it started). */
export type LadderEvent =
  | { kind: 'segment'; atMs: number; from: string; to: string; label: string; segKind: SegmentKind }
  | { kind: 'state'; atMs: number; socket: string; state: TcpState; source: 'traced' | 'snapshot' }
  | { kind: 'call'; atMs: number; socket: string; label: string; failed: boolean };

export interface LadderModel {
  lifelines: Lifeline[];
  /** In time order. */
  events: LadderEvent[];
}

/** The scenario's clock origin on CLOCK_REALTIME (ms since the epoch). */
function originEpochMs(t: Trace): number {
  const first = t.steps[0];
  return first ? first.startEpochMs - first.startMs : (t.segments?.[0]?.epochMs ?? 0);
}

/**
 * A socket's one lifeline name: the far end `~c` of a connection later accepted as `s` is `s`
 * (same 4-tuple), and a self-connected `~c` is `c` itself.
 */
export function canonicalSocket(label: string, t: Pick<Trace, 'addresses' | 'remotes'>): string {
  if (!label.startsWith('~')) return label;
  const x = label.slice(1);
  const [addr, remote] = [t.addresses[x], t.remotes[x]];
  if (addr === undefined || remote === undefined) return label;
  const named = Object.keys(t.addresses).find((n) => t.addresses[n] === remote && t.remotes[n] === addr);
  return named ?? label;
}

function segKind(flags: readonly string[], length: number): SegmentKind {
  if (flags.includes('RST')) return 'rst';
  if (flags.includes('SYN')) return 'syn';
  if (flags.includes('FIN')) return 'fin';
  return length > 0 ? 'data' : 'ack';
}

/** How a call reads on its lifeline: `close()`, `write(4 B) → EPIPE + SIGPIPE`, `read() → EOF`; null for what only observes. */
export function callLabel(rec: StepRecord): string | null {
  const s = rec.step;
  if (s.actor === undefined) return null;
  const r = rec.result;
  let call: string;
  switch (s.op) {
    case 'listen': call = 'listen()'; break;
    case 'connect': call = 'connect()'; break;
    case 'selfConnect': call = 'bind()+connect() to itself'; break;
    case 'accept': call = `accept() → ${s.into}`; break;
    case 'write': call = `${s.blocking ? 'blocking ' : ''}write(${s.fill ? 'until full' : s.data !== undefined ? `${Buffer.byteLength(s.data)} B` : `${s.bytes ?? 0} B`})`; break;
    case 'read': call = s.peek ? 'recv(MSG_PEEK)' : 'read()'; break;
    case 'drain': call = 'read() until EAGAIN'; break;
    case 'shutdown': call = `shutdown(${s.how})`; break;
    case 'closeOnEof': call = 'close() on EOF (armed)'; break;
    case 'close': call = 'close()'; break;
    case 'linger': call = `SO_LINGER {1, ${s.seconds}}`; break;
    case 'quickack': call = `TCP_QUICKACK ${s.on ? 1 : 0}`; break;
    case 'epoll': call = 'epoll_wait()'; break;
    case 'share': call = `pidfd_getfd() from ${s.from}`; break;
    case 'exit': call = 'process exits'; break;
    case 'kill': call = `${s.signal}`; break;
    case 'nodeServe': call = `node:net server (${s.behaviour})`; break;
    default: return null; // info, nodeEvents, limitFds, unlimitFds: observation or set-up
  }
  if (!r.ok) return `${call} → ${r.errno ?? 'failed'}${r.sigpipe ? ' + SIGPIPE' : ''}`;
  if (s.op === 'read' || s.op === 'drain') {
    const n = readBytes(r);
    return `${call} → ${readEof(r) ? (n > 0 ? `${n} B + EOF` : 'EOF') : `${n} B`}`;
  }
  if (s.op === 'epoll') return `${call} → ${resultList(r).join('|') || 'nothing'}`;
  return r.sigpipe ? `${call} + SIGPIPE` : call;
}

/** The sockets a step acts on: its `sock`, or for `exit`/`kill` every socket its actor held just before. */
function callSockets(rec: StepRecord, before: StepRecord | undefined, t: Trace): string[] {
  const s = rec.step;
  if ('sock' in s && typeof s.sock === 'string') return [canonicalSocket(s.sock, t)];
  if ((s.op === 'exit' || s.op === 'kill') && s.actor !== undefined) {
    const pid = t.env.actors[s.actor]?.pid;
    const held = (before?.after.sockets ?? []).filter((x) => x.actor === s.actor || x.holders.some((h) => h.pid === pid));
    return [...new Set(held.map((x) => canonicalSocket(x.label, t)))];
  }
  return [];
}

/**
 * What the ladder shows of a trace, as data (the SVG, the mermaid text and the tests read it):
 * the lifelines in drawing order (each end beside its peer), and every segment, state change and
 * call in time order. States come from the traced transitions; without them, from the snapshots;
 * with them, a snapshot adds only the timewait socket's state (TIME_WAIT, or FIN_WAIT2 after the
 * full socket's traced move to CLOSE): the kernel traces no move into it.
 */
export function ladderModel(t: Trace): LadderModel {
  const origin = originEpochMs(t);
  const canon = (label: string): string => canonicalSocket(label, t);
  const events: LadderEvent[] = [];
  for (const seg of t.segments ?? []) {
    const from = canon(socketLabel(seg.src, seg.dst, t.addresses, t.remotes) ?? seg.src);
    const to = canon(socketLabel(seg.dst, seg.src, t.addresses, t.remotes) ?? seg.dst);
    events.push({ kind: 'segment', atMs: seg.epochMs - origin, from, to, label: segmentLabel(seg), segKind: segKind(seg.flags, seg.length) });
  }
  const states: { atMs: number; socket: string; state: TcpState; traced: boolean }[] = [];
  for (const x of t.transitions ?? []) states.push({ atMs: x.epochMs - origin, socket: canon(x.socket), state: x.to, traced: true });
  t.steps.forEach((rec) => {
    for (const snap of [...(rec.watched ?? []), rec.after]) {
      for (const s of snap.sockets) states.push({ atMs: snap.atMs, socket: canon(s.label), state: s.state, traced: false });
    }
  });
  states.sort((a, b) => a.atMs - b.atMs || Number(b.traced) - Number(a.traced));
  const last = new Map<string, TcpState>();
  const traced = t.transitions !== null;
  for (const s of states) {
    const was = last.get(s.socket);
    if (s.traced) {
      events.push({ kind: 'state', atMs: s.atMs, socket: s.socket, state: s.state, source: 'traced' });
      last.set(s.socket, s.state);
    } else if (was !== s.state && (!traced || s.state === 'TIME_WAIT' || (was === 'CLOSE' && s.state !== 'CLOSE'))) {
      // Traced, a socket seen after its move to CLOSE is the timewait socket tcp_time_wait() left
      // (TIME_WAIT, or FIN_WAIT2 for an orphan waiting out tcp_fin_timeout): no tracepoint shows it.
      events.push({ kind: 'state', atMs: s.atMs, socket: s.socket, state: s.state, source: 'snapshot' });
      last.set(s.socket, s.state);
    }
  }
  t.steps.forEach((rec, i) => {
    const label = callLabel(rec);
    if (label === null) return;
    for (const socket of callSockets(rec, t.steps[i - 1], t)) events.push({ kind: 'call', atMs: rec.startEpochMs - origin, socket, label, failed: !rec.result.ok });
  });
  const rank = { call: 0, segment: 1, state: 2 } as const;
  events.sort((a, b) => a.atMs - b.atMs || rank[a.kind] - rank[b.kind]);

  // Lifelines in order of first appearance, each followed by its peer so most arrows are short.
  const seen: string[] = [];
  const note = (id: string): void => {
    if (!seen.includes(id)) seen.push(id);
  };
  for (const e of events) {
    if (e.kind === 'segment') {
      note(e.from);
      note(e.to);
    } else note(e.socket);
  }
  const peerOf = (id: string): string | undefined => {
    const p = id.startsWith('~') ? id.slice(1) : canon(`~${id}`);
    return p !== id && seen.includes(p) ? p : undefined;
  };
  const order: string[] = [];
  for (const id of seen) {
    if (order.includes(id)) continue;
    order.push(id);
    const peer = peerOf(id);
    if (peer !== undefined && !order.includes(peer)) order.push(peer);
  }
  const actorOf = new Map<string, string>();
  for (const rec of t.steps) for (const s of rec.after.sockets) if (s.actor) actorOf.set(canon(s.label), s.actor);
  const addressOf = (id: string): string | null => (id.startsWith('~') ? (t.remotes[id.slice(1)] ?? null) : (t.addresses[id] ?? (/:\d+$/.test(id) ? id : null)));
  return { lifelines: order.map((id) => ({ id, address: addressOf(id), actor: actorOf.get(id) ?? null })), events };
}

/** Vertical scale between events, px per ms. */
export const PX_PER_MS = 4;
/** A gap longer than this is drawn as a break of {@link BREAK_PX}, its length written beside it. */
export const BREAK_MS = 20;
const BREAK_PX = 34;

const SIZE = { head: 12, address: 10, segment: 11, state: 10, call: 11, time: 10 } as const;
const AXIS_W = 84;
const TOP = 56;
const PAD = 1.5; // room kept around every label

/** A duration for the time column: `1.99 s`, `40.2 ms`. */
function gapText(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

const STYLE = [
  'text{fill:#222}',
  '.life{stroke:#888;stroke-width:1.2}',
  '.pre{stroke:#ccc;stroke-width:1;stroke-dasharray:3 3}',
  '.band{fill:#eef0f3}',
  '.brk{fill:#666;font-style:italic}',
  '.time{fill:#666}',
  '.head{font-weight:bold}',
  '.addr{fill:#666}',
  '.bg{fill:#fff;fill-opacity:0.85}',
  '.stbox{fill:#fff6d5;stroke:#c9a227;stroke-width:0.8}',
  '.stbox.snap{fill:#f1f1f1;stroke:#999;stroke-dasharray:2 1}',
  '.state{fill:#6b4f00}',
  '.call{fill:#1b3f8f;font-weight:bold}',
  '.call.fail{fill:#b00020}',
  '.mark{fill:#1b3f8f}',
  '.mark.fail{fill:#b00020}',
  '.end{stroke:#888;stroke-width:1.5}',
  '.a-syn{stroke:#1a7f37;fill:none;stroke-width:1.4}.h-syn{fill:#1a7f37}.t-syn{fill:#1a7f37}',
  '.a-fin{stroke:#0a58ca;fill:none;stroke-width:1.6}.h-fin{fill:#0a58ca}.t-fin{fill:#0a58ca;font-weight:bold}',
  '.a-rst{stroke:#d00000;fill:none;stroke-width:1.8}.h-rst{fill:#d00000}.t-rst{fill:#d00000;font-weight:bold}',
  '.a-data{stroke:#222;fill:none;stroke-width:1.4}.h-data{fill:#222}.t-data{fill:#222}',
  '.a-ack{stroke:#999;fill:none;stroke-width:1}.h-ack{fill:#999}.t-ack{fill:#777}',
].join('');

/** A laid-out ladder: the SVG text, its size, and the box of every label it wrote. */
export interface LadderSvg {
  svg: string;
  width: number;
  height: number;
  labels: readonly Box[];
  lifelines: number;
}

function grow(b: Box, by: number): Box {
  return { x: b.x - by, y: b.y - by, w: b.w + 2 * by, h: b.h + 2 * by };
}

/** The SVG ladder diagram of one scenario (see the module comment). */
export function renderLadderSvg(t: Trace, model: LadderModel = ladderModel(t)): LadderSvg {
  const lines = model.lifelines;
  const headW = Math.max(0, ...lines.map((l) => Math.max(textWidth(l.id, SIZE.head), textWidth(`${l.actor ? `${l.actor} ` : ''}${l.address ?? ''}`, SIZE.address))));
  const spacing = Math.max(210, headW + 24);
  // Calls are written left of their lifeline: the first lifeline leaves room for its longest.
  const firstCalls = model.events.filter((e) => e.kind === 'call' && e.socket === lines[0]?.id).map((e) => textWidth((e as { label: string }).label, SIZE.call));
  const x0 = AXIS_W + Math.max(headW / 2, ...firstCalls.map((w) => w + 14), 40) + 6;
  const xOf = new Map(lines.map((l, i) => [l.id, x0 + i * spacing]));
  const svg = new SvgWriter();
  const body = new SvgWriter(); // drawn after the lifelines, over them
  const placed: Box[] = [];
  const timeBoxes: Box[] = [];
  const bands: { y0: number; y1: number; text: string }[] = [];
  const first = new Map<string, number>();
  const endsAt = new Map<string, number>();
  const rightmost = x0 + Math.max(0, lines.length - 1) * spacing;
  let maxX = rightmost + spacing / 2;

  type Item = { boxes: Box[]; draw: (y: number) => void };
  const itemFor = (e: LadderEvent): ((y: number) => Item) => {
    if (e.kind === 'segment') {
      const x1 = xOf.get(e.from) as number;
      const x2 = xOf.get(e.to) as number;
      if (x1 === x2) {
        return (y) => {
          const label = textBox(x1 + 40, y + 4, e.label, SIZE.segment, 'start');
          return {
            boxes: [label, { x: x1, y: y - 8, w: 36, h: 16 }],
            draw: (yy) => {
              body.path(`M${x1} ${yy - 7} C${x1 + 34} ${yy - 9} ${x1 + 34} ${yy + 9} ${x1 + 2} ${yy + 7}`, `a-${e.segKind}`);
              body.path(`M${x1 + 1} ${yy + 7} l7 -4.5 l0 8 z`, `h-${e.segKind}`);
              body.text(x1 + 40, yy + 4, e.label, { size: SIZE.segment, cls: `t-${e.segKind}` });
            },
          };
        };
      }
      const mid = (x1 + x2) / 2;
      return (y) => {
        const label = textBox(mid, y - 4, e.label, SIZE.segment, 'middle');
        return {
          boxes: [label, { x: Math.min(x1, x2), y: y - 1, w: Math.abs(x2 - x1), h: 2 }],
          draw: (yy) => {
            const dir = x2 > x1 ? 1 : -1;
            body.line(x1, yy, x2 - dir * 7, yy, `a-${e.segKind}`);
            body.path(`M${x2} ${yy} l${-dir * 9} -4 l0 8 z`, `h-${e.segKind}`);
            body.rect(textBox(mid, yy - 4, e.label, SIZE.segment, 'middle'), 'bg');
            body.text(mid, yy - 4, e.label, { size: SIZE.segment, anchor: 'middle', cls: `t-${e.segKind}` });
          },
        };
      };
    }
    const x = xOf.get(e.socket) as number;
    if (e.kind === 'state') {
      return (y) => {
        const label = textBox(x + 8, y + 4, e.state, SIZE.state, 'start');
        // A move to CLOSE may end the lifeline with a × just below: keep that free too.
        const cross = { x: x - 6, y: y + 2, w: 12, h: 12 };
        return {
          boxes: e.state === 'CLOSE' ? [grow(label, 2), cross] : [grow(label, 2)],
          draw: (yy) => {
            body.rect(grow(textBox(x + 8, yy + 4, e.state, SIZE.state, 'start'), 2), e.source === 'traced' ? 'stbox' : 'stbox snap', 3);
            body.path(`M${x} ${yy} l5 0`, 'life');
            body.text(x + 8, yy + 4, e.state, { size: SIZE.state, cls: 'state', ...(e.source === 'snapshot' ? { title: 'seen in a /proc snapshot: the timewait socket, which no tracepoint shows' } : {}) });
          },
        };
      };
    }
    return (y) => {
      const label = textBox(x - 8, y + 4, e.label, SIZE.call, 'end');
      return {
        boxes: [label, { x: x - 4, y: y - 4, w: 8, h: 8 }],
        draw: (yy) => {
          body.rect({ x: x - 4, y: yy - 4, w: 8, h: 8 }, e.failed ? 'mark fail' : 'mark', 1);
          body.text(x - 8, yy + 4, e.label, { size: SIZE.call, anchor: 'end', cls: e.failed ? 'call fail' : 'call' });
        },
      };
    };
  };

  let y = TOP;
  let prevMs: number | null = null;
  let lastTimeText = '';
  for (const e of model.events) {
    let want = y;
    if (prevMs !== null) {
      const dt = e.atMs - prevMs;
      if (dt > BREAK_MS) {
        bands.push({ y0: y + 10, y1: y + BREAK_PX - 8, text: gapText(dt) });
        want = y + BREAK_PX + 4;
      } else want = y + dt * PX_PER_MS;
    }
    const make = itemFor(e);
    let item = make(want);
    // Moves down until none of its labels (or its arrow) touches what is placed; never up.
    for (let guard = 0; guard < 400 && item.boxes.some((b) => placed.some((p) => overlaps(grow(b, PAD), p))); guard++) {
      want += 2;
      item = make(want);
    }
    item.draw(want);
    placed.push(...item.boxes);
    // Only the recent boxes can collide with what comes later (y only grows).
    if (placed.length > 400) placed.splice(0, placed.length - 200);
    for (const b of item.boxes) maxX = Math.max(maxX, b.x + b.w + 8);
    const time = e.atMs < 1000 ? `${e.atMs.toFixed(3)} ms` : `${(e.atMs / 1000).toFixed(4)} s`;
    const tb = textBox(AXIS_W - 8, want + 4, time, SIZE.time, 'end');
    if (time !== lastTimeText && !timeBoxes.some((b) => overlaps(grow(tb, PAD), b))) {
      svg.text(AXIS_W - 8, want + 4, time, { size: SIZE.time, anchor: 'end', cls: 'time' });
      timeBoxes.push(tb);
      lastTimeText = time;
    }
    const ids = e.kind === 'segment' ? [e.from, e.to] : [e.socket];
    for (const id of ids) if (!first.has(id)) first.set(id, want);
    if (e.kind === 'state') {
      if (e.state === 'CLOSE') endsAt.set(e.socket, want);
      else endsAt.delete(e.socket);
    }
    y = want;
    prevMs = e.atMs;
  }
  const height = y + 40;
  const width = Math.max(maxX, rightmost + 60);
  // Bands first (under everything), then lifelines, then the events.
  const under = new SvgWriter();
  for (const b of bands) {
    under.rect({ x: 4, y: b.y0, w: width - 8, h: b.y1 - b.y0 }, 'band');
    const tb = textBox(AXIS_W - 8, (b.y0 + b.y1) / 2 + 4, `+${b.text}`, SIZE.time, 'end');
    if (!timeBoxes.some((x) => overlaps(grow(tb, PAD), x))) {
      under.text(AXIS_W - 8, (b.y0 + b.y1) / 2 + 4, `+${b.text}`, { size: SIZE.time, anchor: 'end', cls: 'brk' });
      timeBoxes.push(tb);
    }
  }
  for (const l of lines) {
    const x = xOf.get(l.id) as number;
    under.text(x, 18, l.id, { size: SIZE.head, anchor: 'middle', cls: 'head' });
    const sub = `${l.actor ? `${l.actor} ` : ''}${l.address ?? ''}`.trim();
    if (sub) under.text(x, 33, sub, { size: SIZE.address, anchor: 'middle', cls: 'addr' });
    const start = first.get(l.id) ?? TOP;
    const end = endsAt.get(l.id) ?? height - 16;
    under.line(x, 40, x, start, 'pre');
    under.line(x, start, x, end, 'life');
    if (endsAt.has(l.id)) under.path(`M${x - 5} ${end + 3} l10 10 M${x + 5} ${end + 3} l-10 10`, 'end');
  }
  const all = [...under.labels, ...svg.labels, ...body.labels];
  const doc = new SvgWriter();
  doc.raw(under.markup + svg.markup + body.markup);
  return { svg: doc.toString(width, height, STYLE, `${t.scenario}: ${t.title}`), width, height, labels: all, lifelines: lines.length };
}

/**
 * The ladder as a mermaid `sequenceDiagram`, for pasting into docs: one participant per lifeline,
 * each segment a message (prefixed with its time), each state a note right of its lifeline, each
 * call a note left of it. (`renderMermaid` in diagram.ts draws one connection's segments
 * between two ends; this draws every end of a scenario with its states.)
 */
export function renderLadderMermaid(t: Trace, model: LadderModel = ladderModel(t)): string {
  const id = new Map(model.lifelines.map((l, i) => [l.id, `P${i}`]));
  const out = ['sequenceDiagram', `    %% ${mermaidText(`${t.scenario}: ${t.title}`)}`];
  for (const l of model.lifelines) out.push(`    participant ${id.get(l.id)} as ${mermaidText(`${l.id}${l.address ? ` ${l.address}` : ''}`)}`);
  for (const e of model.events) {
    if (e.kind === 'segment') out.push(`    ${id.get(e.from)}->>${id.get(e.to)}: ${mermaidText(`${e.atMs.toFixed(3)} ms ${e.label}`)}`);
    else if (e.kind === 'state') out.push(`    Note right of ${id.get(e.socket)}: ${e.state}`);
    else out.push(`    Note left of ${id.get(e.socket)}: ${mermaidText(e.label)}`);
  }
  return `${out.join('\n')}\n`;
}
