/** An IPv4 or IPv6 endpoint. */
export interface Endpoint {
  address: string;
  port: number;
}

/** `127.0.0.1:80`, `[::1]:80`. */
export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/**
 * Parses `127.0.0.1:80` or `[::1]:80`.
 * @throws SyntaxError for anything else.
 */
export function parseEndpoint(text: string): Endpoint {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  if (!m) throw new SyntaxError(`not an ip:port endpoint: ${JSON.stringify(text)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new SyntaxError(`port out of range in ${JSON.stringify(text)}`);
  return { address: (m[1] ?? m[2]) as string, port };
}

/** The connection's 4-tuple as one key, `local>remote`. */
export function tupleKey(local: string, remote: string): string {
  return `${local}>${remote}`;
}

/**
 * RFC 5952 text for eight 16-bit groups: lowercase, no leading zeros, the longest run of two or
 * more zero groups (the first of equal runs) replaced by `::`, and IPv4-mapped addresses
 * (::ffff:0:0/96) in mixed notation, `::ffff:127.0.0.1`.
 *
 * It differs from glibc's and libuv's `inet_ntop` in one corner RFC 5952 leaves alone: those also
 * print deprecated IPv4-compatible addresses (::/96) as `::a.b.c.d`; this prints `::7f00:1`.
 */
export function formatIPv6(groups: readonly number[]): string {
  if (groups.length !== 8) throw new RangeError(`an IPv6 address has 8 groups, got ${groups.length}`);
  const g = groups as readonly [number, number, number, number, number, number, number, number];
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6] >>> 8}.${g[6] & 0xff}.${g[7] >>> 8}.${g[7] & 0xff}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (g[i] as number).toString(16);
  }
  return out;
}

/**
 * Text of a 16-byte IPv6 address in network order at `bytes[at..at+16)`, as {@link formatIPv6}
 * spells it (the same text /proc/net/tcp6 rows and sock_diag get here, so keys join).
 */
export function formatIPv6Bytes(bytes: Uint8Array, at = 0): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = ((bytes[at + 2 * i] as number) << 8) | (bytes[at + 2 * i + 1] as number);
  return formatIPv6(groups);
}

/** Text of a 4-byte IPv4 address in network order at `bytes[at..at+4)`. */
export function formatIPv4Bytes(bytes: Uint8Array, at = 0): string {
  return `${bytes[at] as number}.${bytes[at + 1] as number}.${bytes[at + 2] as number}.${bytes[at + 3] as number}`;
}
