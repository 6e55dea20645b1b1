import { closeSync, mkdirSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { C, lastErrno, libc } from './libc.js';
import { SysError } from './errors.js';

/**
 * Runs `create` with this thread inside the network namespace named by `netns` (a namespace file:
 * `/run/netns/NAME`, `/proc/PID/ns/net`), then returns to the thread's own namespace; with
 * `netns === undefined`, just runs `create`.
 *
 * What this is for: a socket answers for the namespace it was created in (`sock_net()` is fixed
 * at creation, net/socket.c `__sock_create()`), so only the socket() call (and a lookup that must
 * see the same namespace, such as if_nametoindex(3)) has to happen inside. This thread enters with
 * setns(CLONE_NEWNET), calls `create`, and goes back to `/proc/thread-self/ns/net` (opened before
 * leaving) before any other JavaScript runs. setns(2) changes the calling thread only, so libuv's
 * threads and worker threads never see the switch. `create` must be synchronous and should only
 * make the calls that need the namespace.
 *
 * @throws SysError: EPERM when entering `netns` needs CAP_SYS_ADMIN this process lacks, ENOENT /
 *   EACCES when the namespace file is gone or unreadable (open(2)), EINVAL when it is not a
 *   network namespace; whatever `create` throws (after the thread is back home).
 * @throws Error when the thread cannot return to its own namespace (never seen; the thread would
 *   stay in the other namespace, so this is not a SysError a caller may shrug off). `undo` is then
 *   called with what `create` returned, so a descriptor is not leaked.
 */
export function inNetns<T>(netns: string | undefined, create: () => T, undo?: (made: T) => void): T {
  if (netns === undefined) return create();
  const flags = C.O_RDONLY | C.O_CLOEXEC;
  const home = libc.open('/proc/thread-self/ns/net', flags) as number;
  if (home < 0) throw new SysError('open', lastErrno(), '/proc/thread-self/ns/net');
  try {
    const target = libc.open(netns, flags) as number;
    if (target < 0) throw new SysError('open', lastErrno(), netns);
    try {
      if ((libc.setns(target, C.CLONE_NEWNET) as number) !== 0) throw new SysError('setns', lastErrno(), `CLONE_NEWNET, ${netns}`);
    } finally {
      libc.close(target);
    }
    let made: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      made = { ok: true, value: create() };
    } catch (error) {
      made = { ok: false, error };
    }
    if ((libc.setns(home, C.CLONE_NEWNET) as number) !== 0) {
      const errno = lastErrno();
      if (made.ok) undo?.(made.value);
      throw new Error(`setns back to this thread's own network namespace failed (errno ${errno}); the thread is left in ${netns}`);
    }
    if (!made.ok) throw made.error;
    return made.value;
  } finally {
    libc.close(home);
  }
}

/** Where named network namespaces live: the directory `ip netns` uses, so `ip netns list` shows ours. */
export const NETNS_RUN_DIR = '/run/netns';

/** `/run/netns/NAME`, after checking that NAME is a plain file name. @throws RangeError otherwise. */
export function netnsPath(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name === '.' || name === '..') throw new RangeError(`network namespace name ${JSON.stringify(name)} is not 1–64 of [A-Za-z0-9_.-]`);
  return `${NETNS_RUN_DIR}/${name}`;
}

/**
 * Makes a named network namespace, as `ip netns add NAME` does, with no iproute2: an empty file
 * `/run/netns/NAME`, a new namespace made by unshare(CLONE_NEWNET) on this thread, bind-mounted
 * onto that file (which keeps it alive with no process in it), and the thread back home — all
 * before any other JavaScript runs. The namespace starts with only `lo`, down.
 * @returns the namespace file's path, for setns(2) ({@link inNetns}).
 * @throws SysError: EEXIST when the name is taken, EPERM without CAP_SYS_ADMIN (unshare, mount);
 *   whatever failed is undone first.
 */
export function createNamedNetns(name: string): string {
  const path = netnsPath(name);
  mkdirSync(NETNS_RUN_DIR, { recursive: true });
  try {
    closeSync(openSync(path, 'wx', 0o444));
  } catch (e) {
    throw new SysError('open', (e as NodeJS.ErrnoException).errno ? -((e as NodeJS.ErrnoException).errno as number) : 17, path);
  }
  const home = libc.open('/proc/thread-self/ns/net', C.O_RDONLY | C.O_CLOEXEC) as number;
  if (home < 0) {
    const errno = lastErrno();
    unlinkSync(path);
    throw new SysError('open', errno, '/proc/thread-self/ns/net');
  }
  let failure: SysError | null = null;
  try {
    if ((libc.unshare(C.CLONE_NEWNET) as number) !== 0) failure = new SysError('unshare', lastErrno(), 'CLONE_NEWNET');
    else if ((libc.mount('/proc/thread-self/ns/net', path, null, C.MS_BIND, null) as number) !== 0) failure = new SysError('mount', lastErrno(), `bind /proc/thread-self/ns/net ${path}`);
  } finally {
    if ((libc.setns(home, C.CLONE_NEWNET) as number) !== 0) {
      const errno = lastErrno();
      libc.close(home);
      throw new Error(`setns back to this thread's own network namespace failed (errno ${errno}) after making ${path}`);
    }
    libc.close(home);
  }
  if (failure) {
    libc.umount2(path, C.MNT_DETACH);
    unlinkSync(path);
    throw failure;
  }
  return path;
}

/**
 * Deletes a named network namespace, as `ip netns del NAME` does: detaches the bind mount and
 * removes the file. The namespace itself goes when nothing else holds it (a process inside, an
 * open descriptor). Also tidies a half-made one (the file without its mount). Never throws.
 * @returns true when the file was there.
 */
export function deleteNamedNetns(name: string): boolean {
  const path = netnsPath(name);
  libc.umount2(path, C.MNT_DETACH);
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sets interface `iface` of the namespace at `netns` up (`ip link set IFACE up`): SIOCGIFFLAGS,
 * then SIOCSIFFLAGS with IFF_UP, on a datagram socket made inside the namespace (netdevice(7)).
 * @throws SysError: ENODEV for no such interface, EPERM without CAP_NET_ADMIN.
 */
export function setLinkUp(netns: string, iface: string): void {
  if (Buffer.byteLength(iface) > 15) throw new RangeError(`interface name ${JSON.stringify(iface)} is longer than 15 bytes`);
  const fd = inNetns(netns, () => libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0) as number);
  if (fd < 0) throw new SysError('socket', lastErrno(), `AF_INET in ${netns}`);
  try {
    const ifr = Buffer.alloc(40); // struct ifreq: char ifr_name[16]; union { short ifr_flags; … }
    ifr.write(iface, 0, 'latin1');
    if ((libc.ioctl(fd, C.SIOCGIFFLAGS, ifr) as number) !== 0) throw new SysError('ioctl', lastErrno(), `SIOCGIFFLAGS ${iface}`);
    ifr.writeInt16LE(ifr.readInt16LE(16) | C.IFF_UP, 16);
    if ((libc.ioctl(fd, C.SIOCSIFFLAGS, ifr) as number) !== 0) throw new SysError('ioctl', lastErrno(), `SIOCSIFFLAGS ${iface}`);
  } finally {
    libc.close(fd);
  }
}

/**
 * Sets a sysctl of the namespace at `netns` (`sysctl -w key=value` run inside it): /proc/sys/net
 * answers for the network namespace of the thread that opens it, so the file is opened and
 * written on this thread while it is inside.
 * @param key dotted, `net.ipv4.tcp_fin_timeout`.
 * @throws RangeError for a key that is not a dotted sysctl name; the write's error (EACCES,
 *   ENOENT for an unknown key, EINVAL for a bad value) otherwise.
 */
export function writeNetnsSysctl(netns: string, key: string, value: string | number): void {
  if (!/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/.test(key)) throw new RangeError(`sysctl key ${JSON.stringify(key)} is not a dotted name`);
  const file = `/proc/sys/${key.replaceAll('.', '/')}`;
  inNetns(netns, () => writeFileSync(file, `${value}\n`));
}

/**
 * Moves this thread into the namespace at `netns` for good (a process that lives there: the lab's
 * peers). Only the calling thread moves (setns(2)); call it on the main thread before making any
 * socket.
 * @throws SysError (EPERM, ENOENT, EINVAL) as {@link inNetns}.
 */
export function enterNetns(netns: string): void {
  const fd = libc.open(netns, C.O_RDONLY | C.O_CLOEXEC) as number;
  if (fd < 0) throw new SysError('open', lastErrno(), netns);
  try {
    if ((libc.setns(fd, C.CLONE_NEWNET) as number) !== 0) throw new SysError('setns', lastErrno(), `CLONE_NEWNET, ${netns}`);
  } finally {
    libc.close(fd);
  }
}
