/**
 * The model: a deterministic, pure TCP endpoint model with Linux's teardown rules (issue 11).
 * No I/O, no timers, no real clock: virtual time from {@link Clock}, randomness from an injected
 * {@link Random}. Observations, segments and call results use the lab's shapes (src/tcp,
 * src/lab/trace.ts) so a model run can be diffed against a kernel run.
 */
export { Clock, MAX_DELAY_MS, type TimerHandle } from './clock.js';
export { seededRandom, type Random } from './random.js';
export { Network, type LinkOptions, type SegmentSink } from './network.js';
export { Host, Process, type HostCounters, type HostOptions, type HostSocketError, type HostTransition } from './host.js';
export { Endpoint, resetFor, type CallResult, type ReadValue, type ShutdownHow, type ListenQueues } from './endpoint.js';
export { TimewaitSock, type TimewaitVerdict } from './timewait.js';
export { LEGAL_MOVES, isLegalMove, closeState, IllegalTransitionError, type Transition } from './transitions.js';
export { DEFAULT_SYSCTLS, resolveSysctls, SYSCTL_BOUNDS, type Sysctls } from './sysctls.js';
export * from './constants.js';
export type { WireSegment } from './wire.js';
export { World, type WorldOptions } from './world.js';
