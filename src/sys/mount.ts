import { C, lastErrno, libc } from './libc.js';
import { errnoName } from '../tcp/errno.js';

/** Outcome of {@link mountFs}: the errno name (`EPERM`, `ENODEV`, `EBUSY`, …) when it failed. */
export type MountResult = { ok: true } | { ok: false; errno: string };

/**
 * mount(2) of a pseudo filesystem (no device, no data): `mount -t <fstype> <source> <target>`
 * with `nosuid,nodev,noexec`, as systemd mounts tracefs and debugfs.
 * Needs CAP_SYS_ADMIN in the mount namespace's owning user namespace; EPERM otherwise, ENODEV
 * when the kernel lacks the filesystem, ENOENT when `target` does not exist.
 */
export function mountFs(fstype: string, source: string, target: string): MountResult {
  const r = libc.mount(source, target, fstype, C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC, null) as number;
  return r === 0 ? { ok: true } : { ok: false, errno: errnoName(lastErrno()) };
}
