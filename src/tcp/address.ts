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
