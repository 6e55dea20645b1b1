export * from './errors.js';
export * from './socket.js';
export * from './options.js';
export * from './process.js';
export * from './epoll.js';
export { C as LINUX } from './libc.js';
export * from './mount.js';
export * from './clock.js';
