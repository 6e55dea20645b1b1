export * from './state.js';
export * from './errno.js';
export * from './segment.js';
export * from './observation.js';
export * from './address.js';
export * from './rst-reason.js';
export * from './time.js';
