import { errnoName } from '../tcp/errno.js';

const HINTS: Record<string, string> = {
  EPERM: 'run as root (or grant the capability the call needs)',
  EACCES: 'run as root (or grant the capability the call needs)',
  EBADF: 'the descriptor is closed: do not use a socket after close()',
  ENOTCONN: 'the socket is not connected (or already reset): connect first, or stop using it',
  EMFILE: 'the process is out of descriptors: close some or raise RLIMIT_NOFILE',
  ENFILE: 'the system is out of descriptors: close some or raise fs.file-max',
  EADDRINUSE: 'the address is taken: pick another port or set SO_REUSEADDR',
  EINVAL: 'an argument is out of range for this socket',
  ENOPROTOOPT: 'this kernel does not support the option',
};

/**
 * A failed system call, carrying the errno name (`code`), its number, the call and what to do.
 */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly hint: string;
  constructor(syscall: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    const hint = HINTS[code] ?? 'see the man page of the call';
    super(`${syscall}${detail ? ` (${detail})` : ''} failed: ${code}; ${hint}`);
    this.name = 'SysError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.hint = hint;
  }
}
