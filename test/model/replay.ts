/**
 * Replays a recorded lab trace's steps on the model and compares, step by step, the state of
 * every named socket with the kernel's snapshot: a first taste of issue 11's differential check
 * (test code only; the model lab backend comes later).
 */
import { readFileSync } from 'node:fs';

import type { Endpoint, Process, Sysctls } from '../../src/model/index.js';
import { World } from '../../src/model/index.js';
import { value } from './helpers.js';

interface FixtureSocket {
  local: string;
  remote: string;
  state: string;
  label: string;
  inTable: boolean;
}
interface FixtureStep {
  index: number;
  step: { op: string; actor?: string; sock?: string; [k: string]: unknown };
  result: { ok: boolean; errno?: string };
  startMs: number;
  after: { atMs: number; sockets: FixtureSocket[] };
}
interface Fixture {
  scenario: string;
  env: { sysctls: Record<string, number>; ports: [number, number] | null };
  steps: FixtureStep[];
  transitions: { socket: string; from: string; to: string }[] | null;
}

export interface StepDiff {
  step: number;
  op: string;
  label: string;
  kernel: string | null;
  model: string | null;
}

export interface ReplayReport {
  scenario: string;
  /** (step, socket) pairs compared. */
  compared: number;
  agreed: number;
  diffs: StepDiff[];
  /** Actor steps whose ok/errno agreed, of those compared. */
  results: { compared: number; agreed: number; diffs: string[] };
  /** Per socket, the kernel's and the model's sequence of moves (`A→B`), where they differ. */
  transitionDiffs: { label: string; kernel: string[]; model: string[] }[];
  /** Ops the replay does not know (the scenario was not replayed when any). */
  unsupported: string[];
}

const SUPPORTED = new Set(['listen', 'connect', 'accept', 'write', 'read', 'drain', 'shutdown', 'close', 'linger', 'exit', 'kill', 'selfConnect', 'closeOnEof', 'wait', 'watch', 'epoll', 'info']);
const UNCOMPARED_RESULTS = new Set(['epoll', 'info', 'exit', 'kill', 'closeOnEof']);

export function loadFixture(path: string): Fixture {
  return JSON.parse(readFileSync(path, 'utf8')) as Fixture;
}

export function unsupportedOps(f: Fixture): string[] {
  const bad = new Set<string>();
  for (const s of f.steps) {
    if (!SUPPORTED.has(s.step.op)) bad.add(s.step.op);
    if (s.step.op === 'write' && (s.step['fill'] || s.step['blocking'])) bad.add('write(fill|blocking)');
    if (s.step.op === 'read' && s.step['blocking']) bad.add('read(blocking)');
  }
  return [...bad];
}

export function replay(f: Fixture): ReplayReport {
  const unsupported = unsupportedOps(f);
  const report: ReplayReport = { scenario: f.scenario, compared: 0, agreed: 0, diffs: [], results: { compared: 0, agreed: 0, diffs: [] }, transitionDiffs: [], unsupported };
  if (unsupported.length > 0) return report;

  const sysctls: Partial<Sysctls> = {};
  const fin = f.env.sysctls['net.ipv4.tcp_fin_timeout'];
  if (fin !== undefined) sysctls.tcp_fin_timeout = fin;
  if (f.env.ports) sysctls.ip_local_port_range = f.env.ports;
  const w = new World({ seed: 11, host: { sysctls } });
  const clock = w.clock;
  const procs = new Map<string, Process>();
  const proc = (actor: string): Process => {
    let p = procs.get(actor);
    if (!p) {
      p = w.host.spawn(actor);
      procs.set(actor, p);
    }
    return p;
  };
  const named = new Map<string, { p: Process; fd: number; ep: Endpoint }>();
  const nameOf = new Map<Endpoint, string>();
  const setName = (name: string, p: Process, fd: number): void => {
    const ep = p.endpoint(fd)!;
    named.set(name, { p, fd, ep });
    nameOf.set(ep, name);
    ep.label = name;
  };
  const poll = (ms: number, done: () => boolean): void => {
    for (let waited = 0; !done() && waited < ms; waited++) clock.advance(1);
  };

  for (const rec of f.steps) {
    if (rec.startMs > clock.nowMs) clock.advance(rec.startMs - clock.nowMs);
    const st = rec.step;
    const p = st.actor ? proc(st.actor) : null;
    const sock = st.sock ? named.get(st.sock) : undefined;
    let result: { ok: boolean; errno?: string } = { ok: true };
    switch (st.op) {
      case 'listen': {
        const fd = value(p!.socket());
        if (typeof st['rcvbuf'] === 'number') p!.setRcvbuf(fd, st['rcvbuf']);
        result = p!.listen(fd, typeof st['backlog'] === 'number' ? st['backlog'] : 128);
        setName(st.sock!, p!, fd);
        break;
      }
      case 'connect': {
        const fd = value(p!.socket());
        const to = named.get(st['to'] as string)!;
        p!.connect(fd, to.ep.local);
        setName(st.sock!, p!, fd);
        poll(typeof st['waitMs'] === 'number' ? st['waitMs'] : 1000, () => p!.connected(fd).ok || (p!.connected(fd) as { errno: string }).errno !== 'EINPROGRESS');
        result = p!.connected(fd);
        break;
      }
      case 'selfConnect': {
        const fd = value(p!.socket());
        const port = value(p!.bind(fd, 0));
        p!.connect(fd, `${w.host.ip}:${port}`);
        setName(st.sock!, p!, fd);
        poll(1000, () => p!.connected(fd).ok);
        result = p!.connected(fd);
        break;
      }
      case 'accept': {
        let r = p!.accept(sock!.fd);
        const wait = typeof st['waitMs'] === 'number' ? st['waitMs'] : 0;
        for (let i = 0; !r.ok && r.errno === 'EAGAIN' && i < wait; i++) {
          clock.advance(1);
          r = p!.accept(sock!.fd);
        }
        if (r.ok) setName(st['into'] as string, p!, r.value!);
        result = r;
        break;
      }
      case 'write':
        result = p!.write(sock!.fd, typeof st['data'] === 'string' ? st['data'] : (st['bytes'] as number));
        break;
      case 'read': {
        let r = p!.read(sock!.fd, typeof st['max'] === 'number' ? st['max'] : undefined);
        const wait = typeof st['waitMs'] === 'number' ? st['waitMs'] : 0;
        for (let i = 0; !r.ok && r.errno === 'EAGAIN' && i < wait; i++) {
          clock.advance(1);
          r = p!.read(sock!.fd);
        }
        result = r;
        break;
      }
      case 'drain': {
        const wait = typeof st['waitMs'] === 'number' ? st['waitMs'] : 100;
        let quiet = 0;
        for (;;) {
          const r = p!.read(sock!.fd);
          if (r.ok && r.value!.eof) break;
          if (!r.ok && r.errno !== 'EAGAIN') {
            result = r;
            break;
          }
          if (r.ok) quiet = 0;
          else if (quiet++ >= wait) break;
          else clock.advance(1);
        }
        break;
      }
      case 'shutdown':
        result = p!.shutdown(sock!.fd, st['how'] as 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR');
        break;
      case 'close':
        result = p!.close(sock!.fd);
        break;
      case 'linger':
        result = p!.setLinger(sock!.fd, true, st['seconds'] as number);
        break;
      case 'exit':
      case 'kill':
        result = p!.exit();
        break;
      case 'closeOnEof': {
        const { fd } = sock!;
        const proc0 = p!;
        const until = clock.nowMs + (typeof st['waitMs'] === 'number' ? st['waitMs'] : 5000);
        const tick = (): void => {
          const r = proc0.read(fd);
          if (r.ok && r.value!.eof) {
            if (typeof st['write'] === 'string') proc0.write(fd, st['write']);
            proc0.close(fd);
            return;
          }
          if ((r.ok || r.errno === 'EAGAIN') && clock.nowMs < until) clock.schedule(1, tick);
        };
        clock.schedule(1, tick);
        break;
      }
      default:
        break; // wait, watch, epoll, info: time only
    }
    if (rec.after.atMs > clock.nowMs) clock.advance(rec.after.atMs - clock.nowMs);

    if (st.actor && !UNCOMPARED_RESULTS.has(st.op)) {
      report.results.compared++;
      const same = rec.result.ok === result.ok && (rec.result.ok || rec.result.errno === result.errno);
      if (same) report.results.agreed++;
      else report.results.diffs.push(`step ${rec.index} ${st.op} ${st.sock ?? ''}: kernel ${rec.result.errno ?? 'ok'}, model ${result.ok ? 'ok' : result.errno}`);
    }

    // States per label: kernel snapshot vs model tables.
    const kernel = new Map<string, string>();
    for (const s of rec.after.sockets) if (s.inTable) kernel.set(s.label, s.state);
    const model = new Map<string, string>();
    const byTuple = new Map<string, string>();
    for (const [name, { ep }] of named) byTuple.set(`${ep.local}|${ep.remote}`, name);
    for (const o of w.host.observe()) {
      const direct = byTuple.get(`${o.local}|${o.remote}`);
      const far = byTuple.get(`${o.remote}|${o.local}`);
      const label = direct ?? (far !== undefined ? `~${far}` : `${o.local}>${o.remote}`);
      model.set(label, o.state);
    }
    for (const label of new Set([...kernel.keys(), ...model.keys()])) {
      report.compared++;
      const k = kernel.get(label) ?? null;
      const m = model.get(label) ?? null;
      if (k === m) report.agreed++;
      else report.diffs.push({ step: rec.index, op: st.op, label, kernel: k, model: m });
    }
  }

  // Transitions per named socket (the accepted end is `~c` in the kernel's trace until accepted).
  if (f.transitions) {
    const kMoves = new Map<string, string[]>();
    for (const t of f.transitions) kMoves.set(t.socket, [...(kMoves.get(t.socket) ?? []), `${t.from}→${t.to}`]);
    const mMoves = new Map<string, string[]>();
    const namedTuples = new Set<string>();
    for (const [name, { ep }] of named) {
      mMoves.set(name, ep.transitions.map((t) => `${t.from}→${t.to}`));
      namedTuples.add(`${ep.local}>${ep.remote}`);
      namedTuples.add(name);
    }
    for (const t of w.host.transitions) {
      if (namedTuples.has(t.socket) || t.socket.endsWith('>0.0.0.0:0')) continue;
      const [local, remote] = t.socket.split('>');
      const far = [...named].find(([, v]) => v.ep.local === remote && v.ep.remote === local)?.[0];
      const label = far ? `~${far}` : t.socket;
      mMoves.set(label, [...(mMoves.get(label) ?? []), `${t.from}→${t.to}`]);
    }
    for (const label of new Set([...kMoves.keys(), ...mMoves.keys()])) {
      const k = kMoves.get(label) ?? [];
      const m = mMoves.get(label) ?? [];
      if (k.join() !== m.join()) report.transitionDiffs.push({ label, kernel: k, model: m });
    }
  }
  return report;
}
