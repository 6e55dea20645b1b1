import { C, lastErrno, libc } from './libc.js';
import { SysError } from './errors.js';

/** The clocks of clock_gettime(2) this project reads. */
export type ClockName = 'realtime' | 'monotonic' | 'monotonic_raw' | 'boottime' | 'tai';

const CLOCK_IDS: Record<ClockName, number> = {
  realtime: C.CLOCK_REALTIME,
  monotonic: C.CLOCK_MONOTONIC,
  monotonic_raw: C.CLOCK_MONOTONIC_RAW,
  boottime: C.CLOCK_BOOTTIME,
  tai: C.CLOCK_TAI,
};

const ts = Buffer.alloc(16); // struct timespec { time_t tv_sec; long tv_nsec; } on 64-bit Linux

/**
 * clock_gettime(2) in nanoseconds. `monotonic` is the clock of `process.hrtime.bigint()` and of
 * tracefs's `mono` trace clock (ktime_get_mono_fast_ns), so their readings compare directly.
 * @throws SysError (EINVAL: the kernel lacks that clock).
 */
export function clockNs(clock: ClockName): bigint {
  if (libc.clock_gettime(CLOCK_IDS[clock], ts) !== 0) throw new SysError('clock_gettime', lastErrno(), clock);
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}
