export * from './bpf.js';
export * from './decode.js';
export * from './capture.js';
export * from './pcap.js';
/** CLOCK_REALTIME in ns: the clock of {@link CapturedPacket.epochNs}, for stamping step boundaries. */
export { realtimeNs } from '../../sys/packet.js';
