/**
 * Just enough HTTP/2 (RFC 9113) to play a hostile gRPC client on a raw socket in bench/hostile:
 * the connection preface, SETTINGS and its ACK, a HEADERS frame for a unary gRPC call (HPACK
 * literals only, RFC 7541 §6.2.2), DATA frames, and a reader that follows the server's flow-control
 * windows so that an attacker which dribbles bytes stays a legal peer (no FLOW_CONTROL_ERROR).
 */

/** RFC 9113 §3.4: what a client sends first. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** RFC 9113 §4.1: length (24), type, flags, stream id (31). */
export const H2_FRAME_HEADER_BYTES = 9;
/** RFC 9113 §6.5.2: SETTINGS_INITIAL_WINDOW_SIZE and the connection window until WINDOW_UPDATE. */
export const H2_DEFAULT_WINDOW = 65_535;
/** RFC 9113 §4.2: largest DATA payload until the peer raises SETTINGS_MAX_FRAME_SIZE. */
export const H2_DEFAULT_MAX_FRAME = 16_384;

const TYPE = { DATA: 0, HEADERS: 1, SETTINGS: 4, WINDOW_UPDATE: 8 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** One frame: its 9-byte header followed by `payload`. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(H2_FRAME_HEADER_BYTES + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(streamId & 0x7fff_ffff, 5);
  b.set(payload, H2_FRAME_HEADER_BYTES);
  return b;
}

/** Only the header of a DATA frame whose `length` payload bytes the caller sends afterwards. */
export function h2DataHeader(streamId: number, length: number, endStream: boolean): Buffer {
  const header = h2Frame(TYPE.DATA, endStream ? FLAG.END_STREAM : 0, streamId);
  header.writeUIntBE(length, 0, 3);
  return header;
}

/** What opens a client connection: the preface and an empty SETTINGS (every setting at its default). */
export function h2ClientStart(): Buffer {
  return Buffer.concat([H2_PREFACE, h2Frame(TYPE.SETTINGS, 0, 0)]);
}

/** {@link h2ClientStart} and the HEADERS of a gRPC unary call on `streamId`. */
export function h2Open(path: string, streamId = 1): Buffer {
  return Buffer.concat([h2ClientStart(), h2GrpcHeaders(path, streamId)]);
}

/** HEADERS (END_HEADERS) of a gRPC call: every field an HPACK "literal without indexing, new name" (§6.2.2). */
export function h2GrpcHeaders(path: string, streamId: number): Buffer {
  const fields: [string, string][] = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', '127.0.0.1'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ];
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    // Each string is short (< 127 bytes): its length fits the 7-bit prefix, Huffman bit clear.
    parts.push(Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1'));
  }
  return h2Frame(TYPE.HEADERS, FLAG.END_HEADERS, streamId, Buffer.concat(parts));
}

/** A whole gRPC message (1-byte compressed flag, u32 length, body) in one DATA frame. */
export function h2GrpcData(streamId: number, body: Uint8Array, endStream: boolean): Buffer {
  return h2Frame(TYPE.DATA, endStream ? FLAG.END_STREAM : 0, streamId, grpcLengthPrefix(body.length, body));
}

/** The 5-byte gRPC length prefix (uncompressed) announcing `length` message bytes, followed by `body` if given. */
export function grpcLengthPrefix(length: number, body: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b.writeUInt32BE(length, 1);
  b.set(body, 5);
  return b;
}

/**
 * Reads the server's frames: ACKs its SETTINGS and tracks how many DATA bytes the client may still
 * send on the connection and on each stream (RFC 9113 §6.9). Everything else is read and ignored.
 */
export class H2PeerWindows {
  #buf: Buffer = Buffer.alloc(0);
  #connection = H2_DEFAULT_WINDOW;
  #initialStream = H2_DEFAULT_WINDOW;
  #streams = new Map<number, number>();
  /** The server's SETTINGS_MAX_FRAME_SIZE. */
  maxFrame = H2_DEFAULT_MAX_FRAME;

  constructor(private readonly send: (b: Buffer) => void) {}

  /** DATA bytes the client may send on `streamId` now. */
  allowance(streamId: number): number {
    return Math.min(this.#connection, this.#streams.get(streamId) ?? this.#initialStream);
  }

  /** Records `n` DATA bytes sent on `streamId`. */
  spend(streamId: number, n: number): void {
    this.#connection -= n;
    this.#streams.set(streamId, (this.#streams.get(streamId) ?? this.#initialStream) - n);
  }

  /** Feeds bytes read from the socket. */
  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= H2_FRAME_HEADER_BYTES) {
      const length = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < H2_FRAME_HEADER_BYTES + length) return;
      const type = this.#buf[3];
      const flags = this.#buf[4] as number;
      const streamId = this.#buf.readUInt32BE(5) & 0x7fff_ffff;
      const payload = this.#buf.subarray(H2_FRAME_HEADER_BYTES, H2_FRAME_HEADER_BYTES + length);
      this.#buf = this.#buf.subarray(H2_FRAME_HEADER_BYTES + length);
      if (type === TYPE.SETTINGS && (flags & FLAG.ACK) === 0) this.#settings(payload);
      else if (type === TYPE.WINDOW_UPDATE && length === 4) {
        const inc = payload.readUInt32BE(0) & 0x7fff_ffff;
        if (streamId === 0) this.#connection += inc;
        else this.#streams.set(streamId, (this.#streams.get(streamId) ?? this.#initialStream) + inc);
      }
    }
  }

  #settings(payload: Buffer): void {
    for (let at = 0; at + 6 <= payload.length; at += 6) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (id === 0x4) {
        // A new initial window shifts every open stream's window by the difference (§6.9.2).
        const delta = value - this.#initialStream;
        for (const [s, w] of this.#streams) this.#streams.set(s, w + delta);
        this.#initialStream = value;
      } else if (id === 0x5) this.maxFrame = value;
    }
    this.send(h2Frame(TYPE.SETTINGS, FLAG.ACK, 0));
  }
}
