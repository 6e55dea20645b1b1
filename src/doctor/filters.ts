import { isIPv4, isIPv6 } from 'node:net';

import { parseEndpoint } from '../tcp/address.js';

/** One `--address` filter: an address, and a port when an endpoint was given. */
export interface AddressFilter {
  /** Lower case; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as its IPv4 spelling. */
  address: string;
  /** The port, or null for "any port". */
  port: number | null;
}

function unmap(address: string): string {
  const a = address.toLowerCase();
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return m ? (m[1] as string) : a;
}

function checkPort(raw: string, text: string): number {
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port > 65535) throw new RangeError(`port out of range 0..65535 in ${JSON.stringify(text)}`);
  return port;
}

/**
 * Parses an `--address` value as iproute2's `ss` reads a host condition: `10.0.0.1`, `::1`,
 * `[::1]`, `10.0.0.1:80`, `[::1]:80`. An IPv6 endpoint needs the brackets (`::1:80` is refused,
 * not guessed at), addresses must be valid (`999.1.1.1` is not), ports 0..65535.
 * @throws RangeError saying what is wrong with `text`.
 */
export function parseAddressFilter(text: string): AddressFilter {
  const t = text.trim();
  if (t === '') throw new RangeError('empty address: give an address (10.0.0.1, ::1) or an endpoint (10.0.0.1:80, [::1]:80)');
  if (isIPv4(t) || isIPv6(t)) return { address: unmap(t), port: null };
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(t);
  if (bracketed) {
    const inner = bracketed[1] as string;
    if (!isIPv6(inner)) throw new RangeError(`not an IPv6 address inside brackets: ${JSON.stringify(text)}`);
    return { address: unmap(inner), port: bracketed[2] === undefined ? null : checkPort(bracketed[2], text) };
  }
  const colon = t.lastIndexOf(':');
  if (colon > 0 && t.indexOf(':') === colon) {
    const host = t.slice(0, colon);
    if (!isIPv4(host)) throw new RangeError(`not an IPv4 address: ${JSON.stringify(host)} in ${JSON.stringify(text)}`);
    return { address: host, port: checkPort(t.slice(colon + 1), text) };
  }
  if (t.includes(':')) {
    throw new RangeError(`not an IPv6 address: ${JSON.stringify(text)} (an IPv6 endpoint needs brackets: [::1]:80)`);
  }
  throw new RangeError(`not an IP address or ip:port endpoint: ${JSON.stringify(text)}`);
}

/**
 * The filters as a predicate over endpoints (`ip:port`, `[ip6]:port`): true when either end of a
 * socket matches one of them.
 */
export function addressMatcher(filters: readonly AddressFilter[]): (local: string, remote: string) => boolean {
  const addresses = new Set<string>();
  const endpoints = new Set<string>();
  for (const f of filters) (f.port === null ? addresses.add(f.address) : endpoints.add(`${f.address} ${f.port}`));
  const test = (endpoint: string): boolean => {
    let e;
    try {
      e = parseEndpoint(endpoint);
    } catch {
      return false; // rows come from proc/ in this shape; anything else matches no filter
    }
    const address = unmap(e.address);
    return addresses.has(address) || endpoints.has(`${address} ${e.port}`);
  };
  return (local, remote) => test(local) || test(remote);
}
