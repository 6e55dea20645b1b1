import { C, lastErrno, libc, SYS_getdents64 } from './libc.js';

/**
 * The calls an owner scan makes once per descriptor of every process (`/proc/PID/fd/*`), bound
 * raw: each returns a number (negative errno on failure) instead of a result object, and names
 * travel as NUL-terminated bytes, so a scan of 100 000 descriptors allocates nothing per
 * descriptor. readlinkat() relative to an open `/proc/PID/fd` also spares the kernel the walk
 * from `/` on every call (Node's readlinkSync takes a full path).
 */

/** open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC): the descriptor, or -errno. */
export function openDirRaw(path: string): number {
  const fd = libc.open(path, C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC) as number;
  return fd < 0 ? -lastErrno() : fd;
}

/** Whether {@link getdentsRaw} can run on this architecture (its syscall number is known). */
export const HAVE_GETDENTS64 = SYS_getdents64 !== undefined;

/**
 * getdents64(2): fills `buf` with `struct linux_dirent64` records (d_ino u64 at 0, d_off s64 at 8,
 * d_reclen u16 at 16, d_type u8 at 18, NUL-terminated d_name from 19). Returns the bytes filled,
 * 0 at the end of the directory, or -errno. -ENOSYS where {@link HAVE_GETDENTS64} is false.
 */
export function getdentsRaw(dirfd: number, buf: Buffer): number {
  if (SYS_getdents64 === undefined) return -38; // ENOSYS
  const n = Number(libc.syscallBuf(SYS_getdents64, dirfd, buf, buf.length));
  return n < 0 ? -lastErrno() : n;
}

/**
 * readlinkat(2) of the NUL-terminated name starting at `name[0]` (a subarray of a getdents
 * buffer does), relative to `dirfd`, into `out`. Returns the link's length (truncated to
 * `out.length`; no NUL is added) or -errno.
 */
export function readlinkAtRaw(dirfd: number, name: Buffer, out: Buffer): number {
  const n = Number(libc.readlinkat(dirfd, name, out, out.length));
  return n < 0 ? -lastErrno() : n;
}

/** close(2) of a descriptor this module opened; errors are ignored (a directory has nothing to flush). */
export function closeDirRaw(fd: number): void {
  libc.close(fd);
}
