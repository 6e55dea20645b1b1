// One line per part of trace/: tracefs tracepoints here, packet capture beside it.
export * from './tracefs/index.js';
