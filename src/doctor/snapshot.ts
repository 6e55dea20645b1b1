import { readSocketSnapshot, type ReadSocketSnapshotOptions } from '../proc/index.js';
import { formatEndpoint, parseEndpoint } from '../tcp/address.js';
import type { SocketObservation, SocketOwner } from '../tcp/observation.js';
import { split } from './rules/context.js';

/**
 * Options of {@link takeSnapshot}: those of proc/'s `readSocketSnapshot()` the doctor passes on
 * (default every state, with owners, `source: 'auto'`, root `/proc`), and an address filter.
 */
export interface SnapshotOptions extends Pick<ReadSocketSnapshotOptions, 'states' | 'owners' | 'ports' | 'source' | 'root'> {
  /**
   * Keep only sockets with one of these at either end: an address (`10.0.0.1`, `::1`, `[::1]`)
   * or an endpoint (`10.0.0.1:80`, `[::1]:80`). An IPv4-mapped IPv6 address matches its IPv4
   * spelling either way round.
   */
  addresses?: readonly string[];
}

/** The sockets of this network namespace at one moment, and what the owner scan could not read. */
export interface DoctorSnapshot {
  sockets: SocketObservation[];
  /** Where the rows came from. Over netlink a LISTEN row's Send-Q is its backlog; over /proc it is 0. */
  source: 'proc' | 'netlink';
  /** Why `'auto'` read /proc rather than netlink, when it did. */
  fallback?: string;
  /** Whether owners were asked for (`owners` not false). */
  ownersScanned: boolean;
  /** Processes whose descriptor table was read. */
  scannedPids: number;
  /**
   * Processes whose `/proc/PID/fd` could not be read (EACCES/EPERM: not root, or shielded by
   * ptrace checks). Their sockets show `owner: null` although a descriptor holds them: tell them
   * apart from truly unowned sockets by `inode` (0 = no file holds it).
   */
  unreadablePids: number;
  /** Processes that exited during the scan. */
  vanishedPids: number;
  /** Sockets held by more than one descriptor (fork, SCM_RIGHTS, dup): inode → every holder. */
  sharedHolders: ReadonlyMap<number, readonly SocketOwner[]>;
  /** Wall-clock time of the snapshot, ms since the epoch. */
  takenAtMs: number;
  /** How long reading took, ms. */
  durationMs: number;
}

/**
 * Reads the kernel's TCP sockets (IPv4 and IPv6) with their owners, filtered by state and port:
 * the doctor's one door to the kernel's tables, an adapter over `proc/`'s `readSocketSnapshot()`
 * (sock_diag rows, or `/proc/net/tcp{,6}` when netlink is unavailable or `root` is a fixture,
 * and a `/proc/PID/fd` owner scan for the kept rows). The table read and the owner scan are not
 * atomic: a socket closed in between keeps its row with `owner: null`.
 *
 * @throws as `readSocketSnapshot()` does: a netlink fault (or any netlink failure with
 *   `source: 'netlink'`), Node's fs error when the tables cannot be read, ProcParseError for a
 *   malformed table, RangeError for a bad option.
 */
export async function takeSnapshot(opts: SnapshotOptions = {}): Promise<DoctorSnapshot> {
  const wantOwners = opts.owners !== false;
  const r = await readSocketSnapshot({
    owners: wantOwners,
    source: opts.source ?? 'auto',
    ...(opts.states === undefined ? {} : { states: opts.states }),
    ...(opts.ports === undefined ? {} : { ports: opts.ports }),
    ...(opts.root === undefined ? {} : { root: opts.root }),
  });
  const snap: DoctorSnapshot = {
    sockets: opts.addresses === undefined ? r.sockets : r.sockets.filter(addressFilter(opts.addresses)),
    source: r.source,
    // proc/ reports false when no kept row had an inode to look for; "asked for" is what matters here.
    ownersScanned: wantOwners,
    scannedPids: r.scannedPids,
    unreadablePids: r.unreadablePids,
    vanishedPids: r.vanishedPids,
    sharedHolders: r.sharedHolders,
    takenAtMs: r.takenAtMs,
    durationMs: r.tookMs,
  };
  if (r.fallback !== undefined) snap.fallback = r.fallback;
  return snap;
}

/** An address as the rules compare them: lower case, IPv4-mapped IPv6 as IPv4. */
function unmapped(address: string): string {
  return split(formatEndpoint({ address: address.toLowerCase(), port: 0 })).address;
}

/** The `addresses` option as a predicate over sockets. */
function addressFilter(wanted: readonly string[]): (s: SocketObservation) => boolean {
  const addresses = new Set<string>();
  const endpoints = new Set<string>();
  for (const w of wanted) {
    let e;
    try {
      e = parseEndpoint(w);
    } catch {
      addresses.add(unmapped(w.replace(/^\[|\]$/g, '')));
      continue;
    }
    endpoints.add(`${unmapped(e.address)} ${e.port}`);
  }
  return (s) =>
    [split(s.local), split(s.remote)].some((e) => addresses.has(e.address) || endpoints.has(`${e.address} ${e.port}`));
}
