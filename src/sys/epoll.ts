import { C, lastErrno, libc } from './libc.js';
import { SysError } from './errors.js';

/** Readiness bits as epoll(7) names them. */
export type EpollEvent = 'EPOLLIN' | 'EPOLLOUT' | 'EPOLLERR' | 'EPOLLHUP' | 'EPOLLRDHUP' | 'EPOLLPRI';
const BITS: [EpollEvent, number][] = [
  ['EPOLLIN', C.EPOLLIN],
  ['EPOLLPRI', C.EPOLLPRI],
  ['EPOLLOUT', C.EPOLLOUT],
  ['EPOLLERR', C.EPOLLERR],
  ['EPOLLHUP', C.EPOLLHUP],
  ['EPOLLRDHUP', C.EPOLLRDHUP],
];

// struct epoll_event is packed (12 bytes) on x86_64 only; 16 bytes with padding elsewhere.
const EVENT_BYTES = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

/**
 * One epoll instance watching one descriptor, level-triggered: what an event loop sees when the
 * peer half-closes (EPOLLIN + EPOLLRDHUP, seeds 002-j and 003-l) or resets (EPOLLERR/EPOLLHUP).
 */
export class EpollWatch {
  readonly #epfd: number;
  constructor(readonly fd: number, events: EpollEvent[] = ['EPOLLIN', 'EPOLLOUT', 'EPOLLRDHUP']) {
    const epfd = libc.epoll_create1(C.O_CLOEXEC) as number;
    if (epfd < 0) throw new SysError('epoll_create1', lastErrno());
    this.#epfd = epfd;
    const ev = Buffer.alloc(EVENT_BYTES);
    ev.writeUInt32LE(events.reduce((m, e) => m | bitOf(e), 0), 0);
    ev.writeInt32LE(fd, DATA_OFFSET);
    if (libc.epoll_ctl(epfd, C.EPOLL_CTL_ADD, fd, ev) !== 0) {
      const err = lastErrno();
      libc.close(epfd);
      throw new SysError('epoll_ctl(EPOLL_CTL_ADD)', err, `fd ${fd}`);
    }
  }

  /**
   * epoll_wait for at most `timeoutMs` (0 = just look). Blocks this thread while it waits.
   * @returns the ready events, empty when none within the time.
   * @throws SysError (EINTR is retried).
   */
  wait(timeoutMs: number): EpollEvent[] {
    const out = Buffer.alloc(EVENT_BYTES);
    for (;;) {
      const n = libc.epoll_wait(this.#epfd, out, 1, Math.max(0, Math.round(timeoutMs))) as number;
      if (n < 0) {
        const err = lastErrno();
        if (err === 4) continue; // EINTR
        throw new SysError('epoll_wait', err);
      }
      if (n === 0) return [];
      const bits = out.readUInt32LE(0);
      return BITS.filter(([, b]) => (bits & b) !== 0).map(([name]) => name);
    }
  }

  close(): void {
    libc.close(this.#epfd);
  }
}

function bitOf(e: EpollEvent): number {
  return BITS.find(([name]) => name === e)?.[1] ?? 0;
}
