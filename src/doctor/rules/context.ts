// What every rule shares: endpoint spelling, listener lookup, grouping, and the Context a rule
// gets (the input, the thresholds, listeners, and the 4-tuple index for finding a connection's
// other end on this machine).
import { parseEndpoint, tupleKey } from '../../tcp/address.js';
import type { SocketObservation } from '../../tcp/observation.js';
import type { DiagnoseInput, DoctorThresholds } from '../finding.js';
import { ageKey, type ProcessRef } from '../watch.js';

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

// ---- endpoints -------------------------------------------------------------------------------

/** An endpoint with an IPv4-mapped IPv6 address written as IPv4, so both ends' spellings meet. */
export function canonical(endpoint: string): string {
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

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export function uniqueSorted(ns: Iterable<number>): number[] {
  return [...new Set(ns)].sort((a, b) => a - b);
}

/** Listeners by port; `find` picks the one a connection arrived on (exact address first, then a wildcard). */
export class Listeners {
  readonly #byPort = new Map<number, SocketObservation[]>();

  constructor(sockets: readonly SocketObservation[]) {
    for (const s of sockets) {
      if (s.state !== 'LISTEN') continue;
      const { port } = split(s.local);
      const list = this.#byPort.get(port);
      if (list) list.push(s);
      else this.#byPort.set(port, [s]);
    }
  }

  find(local: string): SocketObservation | undefined {
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

export function ownerRef(s: SocketObservation): ProcessRef | null {
  return s.owner === null ? null : { pid: s.owner.pid, command: s.owner.command };
}

export function uniqueProcesses(ps: Iterable<ProcessRef | null>): ProcessRef[] {
  const seen = new Map<number, ProcessRef>();
  for (const p of ps) if (p !== null && !seen.has(p.pid)) seen.set(p.pid, p);
  return [...seen.values()].sort((a, b) => a.pid - b.pid);
}

export interface Context {
  input: DiagnoseInput;
  t: DoctorThresholds;
  listeners: Listeners;
  /** canonical `local>remote` → socket, to find the other end of a connection on this machine. */
  byTuple: Map<string, SocketObservation>;
}

export function peerOf(ctx: Context, s: SocketObservation): SocketObservation | undefined {
  return ctx.byTuple.get(tupleKey(canonical(s.remote), canonical(s.local)));
}

export function oldest(ctx: Context, socks: readonly SocketObservation[]): number | null {
  const ages = ctx.input.watch?.ages;
  if (ages === undefined) return null;
  let max: number | null = null;
  for (const s of socks) {
    const a = ages.get(ageKey(s));
    if (a !== undefined && (max === null || a > max)) max = a;
  }
  return max;
}

export function cap(ctx: Context, socks: readonly SocketObservation[]): SocketObservation[] {
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

export function seenText(ms: number | null): string {
  return ms === null ? '' : `, the oldest seen for ${seconds(ms)}`;
}

/** The context of one diagnosis. */
export function makeContext(input: DiagnoseInput, t: DoctorThresholds): Context {
  const byTuple = new Map<string, SocketObservation>();
  for (const s of input.sockets) if (s.state !== 'LISTEN') byTuple.set(tupleKey(canonical(s.local), canonical(s.remote)), s);
  return { input, t, listeners: new Listeners(input.sockets), byTuple };
}
