export * from './bpf.js';
export * from './decode.js';
export * from './capture.js';
export * from './pcap.js';
