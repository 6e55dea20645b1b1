/**
 * One server of a fleet as the client sees it: its address, its lifecycle (one state type, one
 * table of legal moves, as grpc-js's `Subchannel.transitionToState`), and what it counted. The
 * fleet (fleet.ts) drives the moves; this file only says which ones are legal.
 */
import { formatEndpoint } from '../tcp/address.js';

/** A server address: a host name or IP literal, and a TCP port (1..65535). */
export interface EndpointAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * An endpoint's life in the client:
 * - `active`: in rotation; picked for new calls.
 * - `ejected`: a connection attempt failed (ECONNREFUSED, timeout …) with no ready connection
 *   left, or its drain ended while it is still listed; out of rotation until a backoff passes.
 * - `probing`: one probe connection is under way; success returns the endpoint to `active`.
 * - `draining`: the server sent GOAWAY(SHUTDOWN), or the resolver stopped listing it, or the
 *   client is closing: no new calls to its current connections, whose calls in flight finish.
 *   Still listed (and the client not closing): `probing` at once, on a fresh pool beside the
 *   draining one — a new process may already listen on the same port (SO_REUSEPORT, a rolling
 *   restart); else, once its connections are gone, `removed` (or `ejected` if listed again).
 * - `removed`: gone; nothing more happens to it.
 */
export type EndpointState = 'active' | 'ejected' | 'probing' | 'draining' | 'removed';

/**
 * The legal moves of {@link EndpointState}; the fleet's one transition function refuses (and
 * counts) any other. There is no way back from `draining` to `active` without a probe: a server
 * that said SHUTDOWN is trusted again only once a new connection proves something listens.
 */
export const ENDPOINT_TRANSITIONS: Readonly<Record<EndpointState, readonly EndpointState[]>> = {
  active: ['ejected', 'draining'],
  ejected: ['probing', 'draining'],
  probing: ['active', 'ejected', 'draining'],
  draining: ['probing', 'ejected', 'removed'],
  removed: [],
};

/** Per-endpoint figures, in `client.stats().endpoints` and `client.endpoints()`. */
export interface EndpointStats {
  host: string;
  port: number;
  state: EndpointState;
  /** Attempts of calls handed to this endpoint's connections. */
  attempts: number;
  /** Calls in flight on its connections plus calls waiting in its pool, now. */
  load: number;
  /** Connections ready now. */
  ready: number;
  connectionsOpened: number;
  connectionsClosed: number;
  /** Connection attempts that failed before the connection became ready (refused, timed out …). */
  connectFailures: number;
  goawaysReceived: number;
  /** Times it was taken out of rotation for failed connects. */
  ejections: number;
  /** Probe connections tried, and how many of them failed. */
  probes: number;
  probesFailed: number;
  /** Times it drained (GOAWAY SHUTDOWN, dropped by the resolver, client close). */
  drains: number;
  /** State moves refused as illegal (a bug if ever above 0). */
  illegalTransitions: number;
}

/**
 * Most endpoints one list (or resolver answer) may name. Each gets a pool, timers and stats; a
 * resolver answering more is broken or hostile, and is refused rather than obeyed.
 */
export const MAX_ENDPOINTS = 1024;

/** The map key of an endpoint: `host:port`, `[::1]:port` for an IPv6 literal. */
export function endpointKey(e: EndpointAddress): string {
  return formatEndpoint({ address: e.host, port: e.port });
}

/**
 * Checks a list of endpoints and drops duplicates (first kept, order otherwise kept).
 * @param where the option or source as the user knows it, e.g. `createClient: endpoints`.
 * @throws TypeError / RangeError naming `where` and the entry: not an array, empty, more than
 *   {@link MAX_ENDPOINTS}, an entry that is not `{ host: non-empty string, port: integer 1..65535 }`.
 */
export function checkEndpoints(where: string, v: unknown): EndpointAddress[] {
  if (!Array.isArray(v)) throw new TypeError(`${where} must be an array of { host, port }, got ${describe(v)}`);
  if (v.length === 0) throw new RangeError(`${where} must list at least one endpoint, got []`);
  if (v.length > MAX_ENDPOINTS) throw new RangeError(`${where} lists ${v.length} endpoints; at most ${MAX_ENDPOINTS}`);
  const seen = new Set<string>();
  const out: EndpointAddress[] = [];
  v.forEach((e: unknown, i) => {
    const entry = e as { host?: unknown; port?: unknown } | null;
    if (typeof entry !== 'object' || entry === null) throw new TypeError(`${where}[${i}] must be { host, port }, got ${describe(e)}`);
    if (typeof entry.host !== 'string' || entry.host.length === 0 || entry.host.length > 253) {
      throw new TypeError(`${where}[${i}].host must be a host name or IP of 1..253 characters, got ${describe(entry.host)}`);
    }
    if (typeof entry.port !== 'number' || !Number.isInteger(entry.port) || entry.port < 1 || entry.port > 65535) {
      throw new RangeError(`${where}[${i}].port must be an integer in 1..65535, got ${describe(entry.port)}`);
    }
    const a: EndpointAddress = { host: entry.host, port: entry.port };
    const key = endpointKey(a);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(a);
  });
  return out;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}
