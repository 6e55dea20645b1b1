import type { SocketObservation, SocketOwner } from '../tcp/observation.js';

/**
 * The owner value of a socket a descriptor holds (its inode is not 0) while no process the scan
 * could read has that descriptor: the holder's `/proc/PID/fd` was unreadable (EACCES/EPERM: not
 * root, or ptrace checks), or it closed the socket or exited mid-scan. Not the same as `null`
 * (no descriptor at all: never accepted, orphaned, TIME_WAIT), and never shown as "no owner".
 */
export const UNREADABLE = 'unreadable';

/** Who holds a socket: a process, {@link UNREADABLE}, or `null` when no descriptor does. */
export type DoctorOwner = SocketOwner | typeof UNREADABLE | null;

/**
 * A socket as the doctor reports it: the shared {@link SocketObservation} shape, with an owner
 * that tells "unreadable" from "none", every holder of a shared socket, and its network
 * namespace when several were read.
 */
export interface DoctorSocket extends Omit<SocketObservation, 'owner'> {
  owner: DoctorOwner;
  /**
   * Every holder, by pid then fd, when more than one descriptor holds it (inherited over
   * fork(), passed over a Unix socket, dup()ed): it sends no FIN until all of them close it
   * (seed 003-f). Absent when one or none does.
   */
  holders?: SocketOwner[];
  /** The network namespace it lives in (see `NetNamespace.label`), with `allNamespaces` only. */
  netns?: string;
}

/** A process named in a finding: pid and `/proc/PID/comm`. */
export interface ProcessRef {
  pid: number;
  command: string;
}

/** A process, {@link UNREADABLE}, or `null` (no process holds it). */
export type ProcessOrUnknown = ProcessRef | typeof UNREADABLE | null;

/** The owning process of a socket, without its fd. */
export function ownerRef(s: Pick<DoctorSocket, 'owner'>): ProcessOrUnknown {
  return s.owner === null || s.owner === UNREADABLE ? s.owner : { pid: s.owner.pid, command: s.owner.command };
}

/**
 * Who holds the socket as findings name it: the process, {@link UNREADABLE} when a descriptor
 * holds it but no process was named (unreadable, or owners not scanned), or null only when no
 * descriptor holds it (inode 0). The one place `null` with an inode is read as unreadable.
 */
export function holderOf(s: Pick<DoctorSocket, 'owner' | 'inode'>): ProcessOrUnknown {
  return isUnreadable(s) ? UNREADABLE : ownerRef(s);
}

/** A socket a descriptor holds whose holder could not be named. */
export function isUnreadable(s: Pick<DoctorSocket, 'owner' | 'inode'>): boolean {
  return s.owner === UNREADABLE || (s.owner === null && s.inode !== 0);
}

/** A socket no descriptor holds (never accepted, orphaned, TIME_WAIT). */
export function isUnheld(s: Pick<DoctorSocket, 'owner' | 'inode'>): boolean {
  return s.owner === null && s.inode === 0;
}

/** The owning process, or undefined when none or unreadable. */
export function ownerProcess(s: Pick<DoctorSocket, 'owner'>): SocketOwner | undefined {
  return s.owner === null || s.owner === UNREADABLE ? undefined : s.owner;
}

/** `node(1234)`, `owner unreadable`, or `no owner`. */
export function processText(p: ProcessOrUnknown): string {
  if (p === null) return 'no owner';
  if (p === UNREADABLE) return 'owner unreadable';
  return `${p.command}(${p.pid})`;
}
