import { readFileSync } from 'node:fs';

import { readSocketSnapshot, type ReadSocketSnapshotOptions } from '../proc/snapshot.js';
import type { SocketObservation, SocketOwner } from '../tcp/observation.js';
import { addressMatcher, parseAddressFilter } from './filters.js';
import { listNetNamespaces, type NetNamespace } from './namespaces.js';
import { UNREADABLE, type DoctorSocket } from './socket.js';

/**
 * Options of {@link takeSnapshot}: those of proc/'s `readSocketSnapshot()` the doctor passes on
 * (default every state, with owners, `source: 'auto'`, root `/proc`), an address filter, and
 * every network namespace.
 */
export interface SnapshotOptions extends Pick<ReadSocketSnapshotOptions, 'states' | 'owners' | 'ports' | 'source' | 'root' | 'threads'> {
  /**
   * Keep only sockets with one of these at either end: an address (`10.0.0.1`, `::1`, `[::1]`)
   * or an endpoint (`10.0.0.1:80`, `[::1]:80`), checked by `parseAddressFilter()`. An
   * IPv4-mapped IPv6 address matches its IPv4 spelling either way round.
   */
  addresses?: readonly string[];
  /** Read every network namespace of the machine (see `listNetNamespaces()`), not only this one's. */
  allNamespaces?: boolean;
}

/** The sockets at one moment, and what the owner scan could not read. */
export interface DoctorSnapshot {
  sockets: DoctorSocket[];
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
   * ptrace checks). The sockets they hold have owner {@link UNREADABLE}.
   */
  unreadablePids: number;
  /** Processes that exited during the scan. */
  vanishedPids: number;
  /** Sockets held by more than one descriptor (fork, SCM_RIGHTS, dup): inode → every holder. */
  sharedHolders: ReadonlyMap<number, readonly SocketOwner[]>;
  /** With `allNamespaces`: the namespaces read, and those that could not be. */
  namespaces?: { read: NetNamespace[]; failed: { label: string; reason: string }[]; withoutProcess: string[]; unreadablePids: number };
  /** Wall-clock time of the snapshot, ms since the epoch. */
  takenAtMs: number;
  /** How long reading took, ms. */
  durationMs: number;
}

/**
 * Reads the kernel's TCP sockets (IPv4 and IPv6) with their owners, filtered by state, port and
 * address: the doctor's one door to the kernel's tables, an adapter over `proc/`'s
 * `readSocketSnapshot()` (sock_diag rows, or `/proc/net/tcp{,6}` when netlink is unavailable or
 * `root` is a fixture, and a `/proc/PID/fd` owner scan for the kept rows). The table read and the
 * owner scan are not atomic: a socket closed in between keeps its row with owner
 * {@link UNREADABLE} (a descriptor held it, none is found).
 *
 * @throws RangeError for a bad address or option (before reading anything); as
 *   `readSocketSnapshot()` does: a netlink fault, Node's fs error when the tables cannot be read,
 *   ProcParseError for a malformed table.
 */
export async function takeSnapshot(opts: SnapshotOptions = {}): Promise<DoctorSnapshot> {
  const match = opts.addresses === undefined ? undefined : addressMatcher(opts.addresses.map(parseAddressFilter));
  const wantOwners = opts.owners !== false;
  const base: ReadSocketSnapshotOptions = {
    owners: wantOwners,
    source: opts.source ?? 'auto',
    ...(opts.states === undefined ? {} : { states: opts.states }),
    ...(opts.ports === undefined ? {} : { ports: opts.ports }),
    ...(opts.root === undefined ? {} : { root: opts.root }),
    ...(opts.threads === undefined ? {} : { threads: opts.threads }),
  };
  if (opts.allNamespaces !== true) {
    const r = await readSocketSnapshot(base);
    return toSnapshot([{ r, label: undefined }], wantOwners, match);
  }
  const started = performance.now();
  const list = await listNetNamespaces(opts.root ?? '/proc');
  const parts: { r: Awaited<ReturnType<typeof readSocketSnapshot>>; label: string }[] = [];
  const failed: { label: string; reason: string }[] = [];
  // One namespace at a time: each owner scan already uses every helper thread.
  for (const ns of list.namespaces) {
    try {
      const r = await readSocketSnapshot(ns.self || ns.pid === null ? base : { ...base, pid: ns.pid });
      parts.push({ r, label: ns.label });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') continue; // its last process exited
      failed.push({ label: ns.label, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  const snap = toSnapshot(parts, wantOwners, match);
  snap.namespaces = { read: list.namespaces.filter((n) => parts.some((p) => p.label === n.label)), failed, withoutProcess: list.withoutProcess, unreadablePids: list.unreadablePids };
  snap.durationMs = Math.round((performance.now() - started) * 10) / 10;
  return snap;
}

function toSnapshot(
  parts: readonly { r: Awaited<ReturnType<typeof readSocketSnapshot>>; label: string | undefined }[],
  wantOwners: boolean,
  match: ((local: string, remote: string) => boolean) | undefined,
): DoctorSnapshot {
  const sockets: DoctorSocket[] = [];
  const sharedHolders = new Map<number, SocketOwner[]>();
  let scannedPids = 0;
  let unreadablePids = 0;
  let vanishedPids = 0;
  let source: 'proc' | 'netlink' = 'netlink';
  let fallback: string | undefined;
  let tookMs = 0;
  for (const { r, label } of parts) {
    for (const o of r.sockets) {
      if (match !== undefined && !match(o.local, o.remote)) continue;
      sockets.push(toDoctorSocket(o, wantOwners && r.ownersScanned, r.sharedHolders, label));
    }
    for (const [inode, holders] of r.sharedHolders) sharedHolders.set(inode, holders);
    scannedPids += r.scannedPids;
    unreadablePids = Math.max(unreadablePids, r.unreadablePids); // the same processes, once per namespace
    vanishedPids += r.vanishedPids;
    if (r.source === 'proc') source = 'proc';
    fallback ??= r.fallback;
    tookMs += r.tookMs;
  }
  const snap: DoctorSnapshot = {
    sockets,
    source,
    // proc/ reports false when no kept row had an inode to look for; "asked for" is what matters here.
    ownersScanned: wantOwners,
    scannedPids,
    unreadablePids,
    vanishedPids,
    sharedHolders,
    takenAtMs: parts[0]?.r.takenAtMs ?? Date.now(),
    durationMs: tookMs,
  };
  if (fallback !== undefined) snap.fallback = fallback;
  return snap;
}

/**
 * proc/'s observation as the doctor's: owner unreadable told from none, holders, namespace. The
 * observation is fresh from proc/ and nobody else holds it, so it is changed in place: no copy
 * per socket (a busy host has 100 000).
 */
function toDoctorSocket(o: SocketObservation, scanned: boolean, shared: ReadonlyMap<number, readonly SocketOwner[]>, netns: string | undefined): DoctorSocket {
  const s = o as unknown as DoctorSocket;
  if (o.owner === null && scanned && o.inode !== 0) s.owner = UNREADABLE;
  const holders = o.inode === 0 ? undefined : shared.get(o.inode);
  if (holders !== undefined && holders.length > 1) s.holders = [...holders];
  if (netns !== undefined) s.netns = netns;
  return s;
}

/**
 * Helper threads for the owner scan of a command that runs once (`teardown ss -p`, `teardown
 * doctor`): none when the machine holds few open files, since starting a thread (which loads
 * koffi again) costs more than reading a few thousand descriptor links on this one; every lane
 * when it holds many. The count is `/proc/sys/fs/file-nr`'s allocated handles: the scan reads
 * one link per open descriptor. bench/doctor.ts measures both sides of the threshold.
 * @returns 0, or undefined for proc/'s default (every helper lane).
 */
export function threadsForOneShot(root = '/proc', threshold = ONE_SHOT_THREAD_THRESHOLD): number | undefined {
  try {
    const allocated = Number(readFileSync(`${root}/sys/fs/file-nr`, 'latin1').split(/\s+/)[0]);
    return Number.isFinite(allocated) && allocated < threshold ? 0 : undefined;
  } catch {
    return 0;
  }
}

/** Open files below which a one-shot scan stays on the calling thread (see {@link threadsForOneShot}). */
export const ONE_SHOT_THREAD_THRESHOLD = 40_000;
