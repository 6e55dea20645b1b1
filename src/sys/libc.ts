import koffi from 'koffi';

/**
 * The libc functions Node does not expose, bound once through koffi. Linux only (x86_64 and
 * aarch64 share every constant used here). Nothing outside src/sys touches these directly.
 */
const lib = koffi.load('libc.so.6');

export const libc = {
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
  listen: lib.func('int listen(int fd, int backlog)'),
  connect: lib.func('int connect(int fd, const void *addr, uint32_t len)'),
  accept4: lib.func('int accept4(int fd, _Out_ void *addr, _Inout_ uint32_t *len, int flags)'),
  recv: lib.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)'),
  send: lib.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
  shutdown: lib.func('int shutdown(int fd, int how)'),
  fcntl: lib.func('int fcntl(int fd, int cmd, ...)'),
  close: lib.func('int close(int fd)'),
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)'),
  getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ void *val, _Inout_ uint32_t *len)'),
  getsockname: lib.func('int getsockname(int fd, _Out_ void *addr, _Inout_ uint32_t *len)'),
  getpeername: lib.func('int getpeername(int fd, _Out_ void *addr, _Inout_ uint32_t *len)'),
  epoll_create1: lib.func('int epoll_create1(int flags)'),
  epoll_ctl: lib.func('int epoll_ctl(int epfd, int op, int fd, const void *event)'),
  epoll_wait: lib.func('int epoll_wait(int epfd, _Out_ void *events, int maxevents, int timeout)'),
  open: lib.func('int open(const char *path, int flags)'),
  getrlimit: lib.func('int getrlimit(int resource, _Out_ void *rlim)'),
  setrlimit: lib.func('int setrlimit(int resource, const void *rlim)'),
  pthread_sigmask: lib.func('int pthread_sigmask(int how, const void *set, _Out_ void *old)'),
  sigpending: lib.func('int sigpending(_Out_ void *set)'),
  sigtimedwait: lib.func('int sigtimedwait(const void *set, _Out_ void *info, const void *timeout)'),
  syscall3: lib.func('long syscall(long number, long a, long b, long c)'),
  // getdents64 has no glibc wrapper before 2.30; the raw call with a buffer argument.
  syscallBuf: lib.func('syscall', 'long', ['long', 'int', 'void *', 'long']),
  setns: lib.func('int setns(int fd, int nstype)'),
  // The name is passed as a reused NUL-terminated byte buffer, so the owner scan converts no
  // string per descriptor.
  readlinkat: lib.func('readlinkat', 'intptr_t', ['int', 'void *', 'void *', 'size_t']),
  mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)'),
  clock_gettime: lib.func('int clock_gettime(int clock, _Out_ void *ts)'),
};

/** errno of the last failed call on this thread (koffi saves it right after the call). */
export function lastErrno(): number {
  return koffi.errno();
}

/** Constants from the Linux UAPI headers (identical on x86_64 and aarch64). */
export const C = {
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_STREAM: 1,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_ERROR: 4,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_KEEPALIVE: 9,
  SO_RCVTIMEO: 20,
  SO_SNDTIMEO: 21,
  SO_LINGER: 13,
  IPPROTO_TCP: 6,
  TCP_NODELAY: 1,
  TCP_KEEPIDLE: 4,
  TCP_KEEPINTVL: 5,
  TCP_KEEPCNT: 6,
  TCP_LINGER2: 8,
  TCP_INFO: 11,
  TCP_QUICKACK: 12,
  TCP_USER_TIMEOUT: 18,
  SHUT_RD: 0,
  SHUT_WR: 1,
  SHUT_RDWR: 2,
  MSG_PEEK: 0x2,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  EPOLLIN: 0x1,
  EPOLLPRI: 0x2,
  EPOLLOUT: 0x4,
  EPOLLERR: 0x8,
  EPOLLHUP: 0x10,
  EPOLLRDHUP: 0x2000,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  O_RDONLY: 0,
  O_CLOEXEC: 0o2000000,
  O_NONBLOCK: 0o4000,
  F_GETFL: 3,
  F_SETFL: 4,
  RLIMIT_NOFILE: 7,
  SIG_BLOCK: 0,
  SIGPIPE: 13,
  SYS_pidfd_open: 434,
  SYS_pidfd_getfd: 438,
  AF_NETLINK: 16,
  SOCK_RAW: 3,
  NETLINK_SOCK_DIAG: 4,
  CLONE_NEWNET: 0x40000000,
  O_DIRECTORY: 0o200000,
  MS_NOSUID: 2,
  MS_NODEV: 4,
  MS_NOEXEC: 8,
  CLOCK_REALTIME: 0,
  CLOCK_MONOTONIC: 1,
  CLOCK_MONOTONIC_RAW: 4,
  CLOCK_BOOTTIME: 7,
  CLOCK_TAI: 11,
} as const;

/**
 * getdents64's number differs between the two architectures (x86_64 keeps its historical table,
 * aarch64 uses the generic one); undefined elsewhere, where callers fall back to readdir.
 */
export const SYS_getdents64: number | undefined = ({ x64: 217, arm64: 61 } as Record<string, number>)[process.arch];
