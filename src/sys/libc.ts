import koffi from 'koffi';

/**
 * The libc functions Node does not expose, bound once through koffi. Linux only (x86_64 and
 * aarch64 share every constant used here). Nothing outside src/sys touches these directly.
 */
const lib = koffi.load('libc.so.6');

// SO_ATTACH_FILTER's argument (include/uapi/linux/filter.h): koffi copies the program into memory
// it holds for the duration of the call, so no Buffer address can outlive its Buffer.
const sockFilter = koffi.struct('sock_filter', { code: 'uint16_t', jt: 'uint8_t', jf: 'uint8_t', k: 'uint32_t' });
const sockFprog = koffi.struct('sock_fprog', { len: 'uint16_t', filter: koffi.pointer(sockFilter) });

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
  signal: lib.func('signal', 'intptr_t', ['int', 'intptr_t']),
  sigtimedwait: lib.func('int sigtimedwait(const void *set, _Out_ void *info, const void *timeout)'),
  syscall3: lib.func('long syscall(long number, long a, long b, long c)'),
  // getdents64 has no glibc wrapper before 2.30; the raw call with a buffer argument.
  syscallBuf: lib.func('syscall', 'long', ['long', 'int', 'void *', 'long']),
  setns: lib.func('int setns(int fd, int nstype)'),
  // The name is passed as a reused NUL-terminated byte buffer, so the owner scan converts no
  // string per descriptor.
  readlinkat: lib.func('readlinkat', 'intptr_t', ['int', 'void *', 'void *', 'size_t']),
  // AF_PACKET capture (src/sys/packet.ts). recvmsg takes a hand-built `struct msghdr` whose
  // pointers are the addresses of Buffers the caller keeps alive (koffi.address), so a receive
  // allocates nothing per frame.
  recvmsg: lib.func('intptr_t recvmsg(int fd, void *msg, int flags)'),
  setsockoptFprog: lib.func('setsockopt', 'int', ['int', 'int', 'int', koffi.pointer(sockFprog), 'uint32_t']),
  sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
  if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
  mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)'),
  clock_gettime: lib.func('int clock_gettime(int clock, _Out_ void *ts)'),
  // Named network namespaces without iproute2 (src/sys/netns.ts).
  unshare: lib.func('int unshare(int flags)'),
  umount2: lib.func('int umount2(const char *target, int flags)'),
  ioctl: lib.func('int ioctl(int fd, unsigned long request, void *arg)'),
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
  SO_REUSEPORT: 15,
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
  MSG_MORE: 0x8000,
  EPOLLIN: 0x1,
  EPOLLPRI: 0x2,
  EPOLLOUT: 0x4,
  EPOLLERR: 0x8,
  EPOLLHUP: 0x10,
  EPOLLRDHUP: 0x2000,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  O_RDONLY: 0,
  MS_BIND: 0x1000,
  MNT_DETACH: 2,
  SOCK_DGRAM: 2,
  SIOCGIFFLAGS: 0x8913,
  SIOCSIFFLAGS: 0x8914,
  IFF_UP: 0x1,
  O_CLOEXEC: 0o2000000,
  O_NONBLOCK: 0o4000,
  F_GETFL: 3,
  F_SETFL: 4,
  RLIMIT_NOFILE: 7,
  SIG_BLOCK: 0,
  SIG_UNBLOCK: 1,
  SIG_DFL: 0,
  SIGPIPE: 13,
  SYS_pidfd_open: 434,
  SYS_pidfd_getfd: 438,
  AF_NETLINK: 16,
  SOCK_RAW: 3,
  NETLINK_SOCK_DIAG: 4,
  CLONE_NEWNET: 0x40000000,
  O_DIRECTORY: 0o200000,
  // packet(7), include/uapi/linux/if_packet.h, if_ether.h, asm-generic/socket.h, linux/filter.h
  AF_PACKET: 17,
  ETH_P_ALL: 0x0003,
  SOL_PACKET: 263,
  PACKET_STATISTICS: 6,
  PACKET_AUXDATA: 8,
  SO_ATTACH_FILTER: 26,
  SO_RCVBUFFORCE: 33,
  /** SO_TIMESTAMPNS_OLD: a 64-bit `struct timespec` on 64-bit architectures; also its cmsg type. */
  SO_TIMESTAMPNS: 35,
  MSG_TRUNC: 0x20,
  CLOCK_REALTIME: 0,
  MS_NOSUID: 2,
  MS_NODEV: 4,
  MS_NOEXEC: 8,
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
