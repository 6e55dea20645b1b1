// What every rule shares: endpoint spelling, listener lookup, grouping, and the Context a rule
// gets (the input, the thresholds, listeners, and the 4-tuple index for finding a connection's
// other end on this machine).
import { parseEndpoint, tupleKey } from '../../tcp/address.js';
import type { TcpState } from '../../tcp/state.js';
import type { DiagnoseInput, DoctorThresholds } from '../finding.js';
import { ownerProcess, UNREADABLE, type DoctorSocket, type ProcessOrUnknown, type ProcessRef } from '../socket.js';
import { ageKey } from '../watch.js';

import { ownerRef } from '../socket.js';

export { ownerRef };

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

// ---- endpoints -------------------------------------------------------------------------------

/** An endpoint with an IPv4-mapped IPv6 address written as IPv4, so both ends' spellings meet. */
export function canonical(endpoint: string): string {
  if (endpoint.charCodeAt(0) !== 91 /* [ */) return endpoint; // IPv4: nothing to rewrite, and no regex per socket
  const m = /^\[::ffff:(\d+\.\d+\.\d+\.\d+)\]:(\d+)$/i.exec(endpoint);
  return m ? `${m[1] as string}:${m[2] as string}` : endpoint;
}

export function split(endpoint: string): { address: string; port: number } {
  try {
    const e = parseEndpoint(canonical(endpoint));
    return e;
  } catch {
    return { address: endpoint, port: -1 };
  }
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export function uniqueSorted(ns: Iterable<number>): number[] {
  return [...new Set(ns)].sort((a, b) => a - b);
}

/** Listeners by port; `find` picks the one a connection arrived on (exact address first, then a wildcard). */
export class Listeners {
  readonly #byPort = new Map<number, DoctorSocket[]>();

  constructor(sockets: readonly DoctorSocket[]) {
    for (const s of sockets) {
      if (s.state !== 'LISTEN') continue;
      const { port } = split(s.local);
      const list = this.#byPort.get(port);
      if (list) list.push(s);
      else this.#byPort.set(port, [s]);
    }
  }

  find(local: string): DoctorSocket | undefined {
    const { address, port } = split(local);
    const candidates = this.#byPort.get(port);
    if (candidates === undefined) return undefined;
    const v6 = address.includes(':');
    return (
      candidates.find((l) => split(l.local).address === address) ??
      candidates.find((l) => isWildcard(split(l.local).address) && split(l.local).address.includes(':') === v6) ??
      candidates.find((l) => isWildcard(split(l.local).address))
    );
  }
}

export function uniqueProcesses(ps: Iterable<ProcessOrUnknown>): ProcessRef[] {
  const seen = new Map<number, ProcessRef>();
  for (const p of ps) if (p !== null && p !== UNREADABLE && !seen.has(p.pid)) seen.set(p.pid, { pid: p.pid, command: p.command });
  return [...seen.values()].sort((a, b) => a.pid - b.pid);
}

/** Every process holding the socket: all its holders when shared, else its owner. */
export function holdersOf(s: DoctorSocket): ProcessRef[] {
  if (s.holders !== undefined) return uniqueProcesses(s.holders);
  const o = ownerProcess(s);
  return o === undefined ? [] : [{ pid: o.pid, command: o.command }];
}

// Owner semantics (unreadable told from none) live with the socket type; re-exported for the rules.
export { holderOf, isUnheld, isUnreadable } from '../socket.js';

/** Whether the address is a loopback one (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopback(address: string): boolean {
  return address === '::1' || /^127\./.test(address) || /^::ffff:127\./i.test(address);
}

export interface Context {
  input: DiagnoseInput;
  t: DoctorThresholds;
  listeners: Listeners;
  /** The input's sockets in any of these states, in input order (see {@link SocketsByState}). */
  inState(...states: TcpState[]): readonly DoctorSocket[];
  /** The other end of a connection when it is on this machine too (see {@link peerFinder}). */
  peer(s: DoctorSocket): DoctorSocket | undefined;
}

/**
 * The sockets of one diagnosis grouped by state in one pass, input order kept: every rule looks
 * at one or a few states, and on a busy host (100 000 sockets, nearly all ESTABLISHED) a filter
 * over every socket per rule would walk them all once per rule.
 */
export class SocketsByState {
  readonly #sockets: readonly DoctorSocket[];
  /** State → the input indices of its sockets, ascending. */
  readonly #at = new Map<TcpState, number[]>();

  constructor(sockets: readonly DoctorSocket[]) {
    this.#sockets = sockets;
    for (let i = 0; i < sockets.length; i++) {
      const state = (sockets[i] as DoctorSocket).state;
      const at = this.#at.get(state);
      if (at === undefined) this.#at.set(state, [i]);
      else at.push(i);
    }
  }

  /** Sockets in any of `states`, in input order; a fresh array each call. */
  get(states: readonly TcpState[]): DoctorSocket[] {
    const at = states.flatMap((st) => this.#at.get(st) ?? []);
    if (states.length > 1) at.sort((a, b) => a - b);
    return at.map((i) => this.#sockets[i] as DoctorSocket);
  }
}

/**
 * canonical `local>remote` → socket for every connection (not listeners), built on the first
 * question: only the CLOSE_WAIT and FIN_WAIT2 rules ask, and only when such sockets exist.
 */
function peerFinder(sockets: readonly DoctorSocket[]): (s: DoctorSocket) => DoctorSocket | undefined {
  let byTuple: Map<string, DoctorSocket> | undefined;
  return (s) => {
    if (byTuple === undefined) {
      byTuple = new Map();
      for (const x of sockets) if (x.state !== 'LISTEN') byTuple.set(tupleKey(canonical(x.local), canonical(x.remote)), x);
    }
    return byTuple.get(tupleKey(canonical(s.remote), canonical(s.local)));
  };
}

export function oldest(ctx: Context, socks: readonly DoctorSocket[]): number | null {
  const ages = ctx.input.watch?.ages;
  if (ages === undefined) return null;
  let max: number | null = null;
  for (const s of socks) {
    const a = ages.get(ageKey(s));
    if (a !== undefined && (max === null || a > max)) max = a;
  }
  return max;
}

export function cap(ctx: Context, socks: readonly DoctorSocket[]): DoctorSocket[] {
  return socks.slice(0, ctx.t.maxSocketsPerFinding);
}

export function groupBy<K, V>(items: Iterable<V>, key: (v: V) => K): Map<K, V[]> {
  const m = new Map<K, V[]>();
  for (const v of items) {
    const k = key(v);
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  }
  return m;
}

/**
 * `, the oldest in CLOSE_WAIT for 240.0 s` (from a traced transition), `… for ≥ 20.0 s` (it was
 * there before the tracer or the watch began), or `` when not watching.
 */
export function ageText(ctx: Context, socks: readonly DoctorSocket[]): string {
  const w = ctx.input.watch;
  if (w === undefined) return '';
  let max: number | null = null;
  let key = '';
  for (const s of socks) {
    const k = ageKey(s);
    const a = w.ages.get(k);
    if (a !== undefined && (max === null || a > max)) {
      max = a;
      key = k;
    }
  }
  if (max === null) return '';
  const state = key.split(' ')[0] as string;
  const atLeast = w.agesAtLeast.has(key) ? '≥ ' : '';
  return w.agesFrom === 'trace' ? `, the oldest in ${state} for ${atLeast}${seconds(max)}` : `, the oldest seen for ${atLeast}${seconds(max)}`;
}

/** The context of one diagnosis. */
export function makeContext(input: DiagnoseInput, t: DoctorThresholds): Context {
  const byState = new SocketsByState(input.sockets);
  return { input, t, listeners: new Listeners(byState.get(['LISTEN'])), inState: (...states) => byState.get(states), peer: peerFinder(input.sockets) };
}

/**
 * Which end of a connection a socket is: `server` when a listener here owns its local port (or
 * the port is outside ip_local_port_range), `client` when it is an ephemeral port of a
 * connection this machine opened. A client's local port says nothing; its remote endpoint does.
 */
export function sideOf(s: DoctorSocket, listeners: Listeners, range: readonly [number, number] | null): 'server' | 'client' {
  if (listeners.find(s.local) !== undefined) return 'server';
  const port = split(s.local).port;
  return range !== null && port >= range[0] && port <= range[1] ? 'client' : 'server';
}
