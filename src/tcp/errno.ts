import { constants } from 'node:os';

/**
 * A Linux errno name (`EPIPE`, `ECONNRESET`, …) as `errno(3)` spells it. Numbers are taken from
 * Node's own table (`os.constants.errno`), so they match the running kernel's ABI.
 */
export type ErrnoName = keyof typeof constants.errno;

const byNumber = new Map<number, ErrnoName>();
for (const [name, n] of Object.entries(constants.errno) as [ErrnoName, number][]) {
  // EWOULDBLOCK == EAGAIN and EDEADLOCK == EDEADLK on Linux; keep the first, more common name.
  if (!byNumber.has(n)) byNumber.set(n, name);
}

/** The errno name for an errno number (either sign), or null when Node's table does not know it. */
export function knownErrnoName(n: number): ErrnoName | null {
  return byNumber.get(Math.abs(n)) ?? null;
}

/** The errno name for a positive errno number, or `E<n>` when Node's table does not know it. */
export function errnoName(n: number): string {
  return knownErrnoName(n) ?? `E${Math.abs(n)}`;
}

/** The errno number for a name. @throws RangeError for a name Node's table does not know. */
export function errnoNumber(name: string): number {
  const n = (constants.errno as Record<string, number>)[name];
  if (n === undefined) throw new RangeError(`unknown errno name ${name}`);
  return n;
}

/** The libuv / Node error code (`'ECONNRESET'`) of a thrown Node error, if it carries one. */
export function nodeErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
