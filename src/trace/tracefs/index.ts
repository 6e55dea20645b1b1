export * from './format.js';
export * from './ring-buffer.js';
export * from './events.js';
export * from './mount.js';
export * from './session.js';
export * from './timeline.js';
