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
