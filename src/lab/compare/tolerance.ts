/**
 * Timing tolerance as packetdrill applies it (`verify_time()` in gtests/net/packetdrill/run.c):
 * an event may land `tolerance_usecs` (default 4 ms) either side of the expected time, or more
 * when the gap since the previous event is long: `tolerance_percent` (12.5 % here) of that gap.
 * The kernel's trace plays the script's part (the expectation), the model's the live run.
 */

/** The fixed tolerance, ms (packetdrill's `--tolerance_usecs` default, 4000 µs). */
export const TOLERANCE_MS = 4;
/** The share of the gap since the last event that is tolerated when larger (12.5 %). */
export const TOLERANCE_SHARE = 0.125;

/**
 * The tolerance for an event expected `gapMs` after the previous one: max(4 ms, 12.5 % × gap), ms.
 * @param gapMs the kernel's time since the last event, ms (negative gaps count as 0).
 */
export function toleranceMs(gapMs: number): number {
  return Math.max(TOLERANCE_MS, TOLERANCE_SHARE * Math.max(0, gapMs));
}

/**
 * True when the model's gap is within the tolerance of the kernel's: |model − kernel| ≤
 * max(4 ms, 12.5 % × kernel), both ms since the last event. The edge itself agrees (≤, as
 * packetdrill's `actual < expected - tolerance || actual > expected + tolerance` fails only beyond it).
 * A tiny epsilon absorbs the µs rounding of recorded timestamps.
 */
export function withinTolerance(kernelGapMs: number, modelGapMs: number): boolean {
  return Math.abs(modelGapMs - kernelGapMs) <= toleranceMs(kernelGapMs) + 1e-6;
}
