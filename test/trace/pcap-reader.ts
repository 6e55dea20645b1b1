import { parse, type GlobalHeader, type PacketHeader } from 'pcap-parser';

/** What pcap-parser read of one file. */
export interface ReadBack {
  header: GlobalHeader;
  packets: Array<{ header: PacketHeader; data: Buffer }>;
}

/** Reads a pcap file with pcap-parser (npm), a reader that shares no code with our writer. */
export function readWithPcapParser(path: string): Promise<ReadBack> {
  return new Promise((resolve, reject) => {
    const out: ReadBack = { header: undefined as unknown as GlobalHeader, packets: [] };
    const p = parse(path);
    p.on('globalHeader', (h: GlobalHeader) => (out.header = h));
    p.on('packet', (pk: { header: PacketHeader; data: Buffer }) => out.packets.push({ header: pk.header, data: Buffer.from(pk.data) }));
    p.on('error', reject);
    p.on('end', () => resolve(out));
  });
}
