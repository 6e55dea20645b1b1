/**
 * tcp-teardown: TCP connection teardown made visible, testable and survivable (Linux).
 * Library entry: the shared vocabulary, the kernel-table readers and the syscalls Node lacks.
 * The lab is at `tcp-teardown/lab`.
 */
export * from './tcp/index.js';
export * from './proc/index.js';
export * from './sys/index.js';
export * from './rpc/index.js';
export * from './doctor/index.js';
