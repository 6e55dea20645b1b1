/**
 * Where a fleet's endpoints come from when they are not a fixed list (`endpoints`): a function
 * that answers the current list — DNS A/AAAA records through `node:dns` ({@link dnsResolver}) or
 * the user's own — asked again on an interval and after connection attempts fail (a restarted
 * fleet may have new addresses).
 */
import dns from 'node:dns';

import { checkDurationMs } from './clock.js';
import { checkEndpoints, type EndpointAddress } from './endpoint.js';
import { RpcError } from './errors.js';

/**
 * Answers the endpoints to use now. It may carry `intervalMs`, how often the client asks again
 * (ms, 1..2^31−1); without it the client asks every {@link DEFAULT_RESOLVE_INTERVAL_MS}.
 * An answer that is not a non-empty array of `{ host, port }`, or a rejection, is a failed
 * resolution: the client keeps the list it had (docs/protocol.md "Many endpoints").
 */
export interface Resolver {
  (): Promise<readonly EndpointAddress[]> | readonly EndpointAddress[];
  readonly intervalMs?: number;
}

/** How often a resolver without its own `intervalMs` is asked again, ms. */
export const DEFAULT_RESOLVE_INTERVAL_MS = 30_000;

/** A host name lookup as `dns.promises.lookup(name, { all: true })` answers it. */
export type LookupAll = (name: string, opts: { all: true; family: 0 | 4 | 6 }) => Promise<readonly { address: string; family: number }[]>;

/** Options of {@link dnsResolver}. */
export interface DnsResolverOptions {
  /** Re-resolve every this many ms (1..2^31−1). Default 30 000. */
  intervalMs?: number;
  /** 4: A records only; 6: AAAA only; 0: both (default). */
  family?: 0 | 4 | 6;
  /**
   * The lookup; default `dns.promises.lookup` (getaddrinfo: /etc/hosts, then DNS, as
   * `net.connect` itself resolves). Tests pass their own table.
   */
  lookup?: LookupAll;
}

/**
 * A resolver for a DNS name: every A and AAAA address of `name` (through getaddrinfo, so
 * `localhost` and /etc/hosts work without a network), each at `port`.
 * @throws TypeError / RangeError naming the argument for an empty name, a port outside 1..65535,
 *   an interval outside 1..2^31−1 ms or a family other than 0, 4, 6.
 * @returns a {@link Resolver} whose failures are `RpcError` RESOLVE_FAILED (`errno`: the lookup's
 *   code, e.g. `ENOTFOUND`).
 */
export function dnsResolver(name: string, port: number, opts: DnsResolverOptions = {}): Resolver {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253) throw new TypeError(`dnsResolver: name must be a host name of 1..253 characters, got ${String(name)}`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`dnsResolver: port must be an integer in 1..65535, got ${String(port)}`);
  const intervalMs = checkDurationMs('dnsResolver: intervalMs', opts.intervalMs ?? DEFAULT_RESOLVE_INTERVAL_MS, 1);
  const family = opts.family ?? 0;
  if (family !== 0 && family !== 4 && family !== 6) throw new RangeError(`dnsResolver: family must be 0, 4 or 6, got ${String(family)}`);
  const lookup: LookupAll = opts.lookup ?? ((n, o) => dns.promises.lookup(n, o));
  const resolve = async (): Promise<EndpointAddress[]> => {
    let answers: readonly { address: string; family: number }[];
    try {
      answers = await lookup(name, { all: true, family });
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      throw new RpcError('RESOLVE_FAILED', `lookup of ${name} failed: ${(e as Error).message}`, { processed: 'no', errno: typeof code === 'string' ? code : null, cause: e });
    }
    return answers.map((a) => ({ host: a.address, port }));
  };
  return Object.assign(resolve, { intervalMs });
}

/**
 * Asks `resolver` once and checks its answer.
 * @returns the endpoints, duplicates dropped.
 * @throws RpcError RESOLVE_FAILED (processed 'no') when it throws, rejects, or answers anything
 *   but a non-empty array of `{ host, port }`; the message names the bad entry.
 */
export async function resolveOnce(resolver: Resolver): Promise<EndpointAddress[]> {
  let answer: unknown;
  try {
    answer = await resolver();
  } catch (e) {
    if (e instanceof RpcError && e.code === 'RESOLVE_FAILED') throw e;
    throw new RpcError('RESOLVE_FAILED', `the resolver failed: ${e instanceof Error ? e.message : String(e)}`, { processed: 'no', cause: e });
  }
  try {
    return checkEndpoints('resolver answer', answer);
  } catch (e) {
    throw new RpcError('RESOLVE_FAILED', (e as Error).message, { processed: 'no', cause: e });
  }
}
