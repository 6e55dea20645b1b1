// One line per part of trace/: packets from an AF_PACKET socket, tracepoints from tracefs.
export * from './packet/index.js';
export * from './tracefs/index.js';
