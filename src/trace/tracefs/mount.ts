/**
 * Finding tracefs, mounting it when it is absent, and saying why it cannot be had
 * (Documentation/trace/ftrace.rst §"The File System": tracefs lives at /sys/kernel/tracing, and
 * older set-ups reach it through debugfs at /sys/kernel/debug/tracing).
 */
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';

import { mountFs } from '../../sys/mount.js';

/** Why tracefs (or a session on it) is not available. */
export type TracefsUnavailableReason =
  /** EACCES/EPERM: tracefs needs root (CAP_SYS_ADMIN to mount, root to read its files). */
  | 'not-root'
  /** Kernel lockdown in `confidentiality` mode forbids reading trace buffers. */
  | 'lockdown'
  /** The kernel has no tracefs (built without CONFIG_TRACING, or not Linux). */
  | 'no-tracefs'
  /** tracefs exists but mounting it failed for another reason (the errno says which). */
  | 'mount-failed'
  /** None of the wanted tracepoints exist in this kernel. */
  | 'no-events'
  /** The trace clock asked for is not offered by this kernel. */
  | 'no-clock'
  /** Creating, configuring or opening the private instance failed (the errno says which). */
  | 'instance-failed'
  /** The ring-buffer page or event header is not one this decoder reads (message says which). */
  | 'unsupported-layout';

/** A typed "cannot trace here", with a sentence for a person. */
export interface TracefsUnavailable {
  available: false;
  reason: TracefsUnavailableReason;
  /** One sentence: what failed and what would make it work. */
  message: string;
  /** The errno name of the failing call, when one failed. */
  errno?: string;
}

/** Where tracefs is. */
export interface TracefsRoot {
  available: true;
  /** Directory of the tracefs top level (`/sys/kernel/tracing`). */
  path: string;
  /** True when this call mounted it. */
  mounted: boolean;
}

/** The mount points tracefs is conventionally found at, in order of preference. */
export const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'] as const;

/**
 * tracefs mount points in `/proc/mounts` text (fields: device, mount point, type, …; spaces in
 * paths are `\040`), preferred ones first.
 */
export function tracefsMountPoints(procMounts: string): string[] {
  const found: string[] = [];
  for (const line of procMounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'tracefs' && f[1] !== undefined) found.push(f[1].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  const rank = (p: string): number => {
    const i = (TRACEFS_PATHS as readonly string[]).indexOf(p);
    return i < 0 ? TRACEFS_PATHS.length : i;
  };
  return found.sort((a, b) => rank(a) - rank(b));
}

/** True when /sys/kernel/security/lockdown shows `[confidentiality]` selected. */
export function lockdownConfidential(lockdownText: string): boolean {
  return /\[confidentiality\]/.test(lockdownText);
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'EIO';
}

/** Turns a failed access to tracefs into its reason. */
export function unavailableFromErrno(errno: string, what: string): TracefsUnavailable {
  if (errno === 'EACCES' || errno === 'EPERM') {
    if (lockdownConfidential(readOr('/sys/kernel/security/lockdown'))) {
      return { available: false, reason: 'lockdown', errno, message: `${what}: ${errno}; kernel lockdown (confidentiality) forbids reading trace buffers` };
    }
    return { available: false, reason: 'not-root', errno, message: `${what}: ${errno}; tracing the kernel needs root (CAP_SYS_ADMIN)` };
  }
  if (errno === 'ENODEV') return { available: false, reason: 'no-tracefs', errno, message: `${what}: ENODEV; this kernel has no tracefs (CONFIG_TRACING off)` };
  return { available: false, reason: 'mount-failed', errno, message: `${what}: ${errno}` };
}

/** Checks that this process may use the tracefs at `path` (reads a header file). */
function usable(path: string): TracefsUnavailable | null {
  try {
    accessSync(`${path}/events/header_page`, fsConstants.R_OK);
    readFileSync(`${path}/events/header_page`);
    return null;
  } catch (err) {
    return unavailableFromErrno(errnoOf(err), `reading ${path}/events/header_page`);
  }
}

/**
 * Finds tracefs, mounting it at /sys/kernel/tracing with mount(2) when no mount exists (the same
 * call `mount -t tracefs nodev /sys/kernel/tracing` makes; running mount(8) instead would fail
 * with the same errno, so there is no fallback to it). Never throws.
 */
export function ensureTracefs(): TracefsRoot | TracefsUnavailable {
  if (process.platform !== 'linux') return { available: false, reason: 'no-tracefs', message: `tracefs is Linux's; this is ${process.platform}` };
  for (const p of tracefsMountPoints(readOr('/proc/mounts'))) {
    if (!existsSync(p)) continue;
    const bad = usable(p);
    if (bad === null) return { available: true, path: p, mounted: false };
    if (bad.reason === 'not-root' || bad.reason === 'lockdown') return bad;
  }
  const target = TRACEFS_PATHS[0];
  if (!existsSync(target)) {
    return { available: false, reason: 'no-tracefs', message: `${target} does not exist: this kernel has no tracefs (CONFIG_TRACING off) or /sys is not sysfs` };
  }
  const r = mountFs('tracefs', 'nodev', target);
  if (!r.ok) return unavailableFromErrno(r.errno, `mount -t tracefs nodev ${target}`);
  const bad = usable(target);
  return bad ?? { available: true, path: target, mounted: true };
}
