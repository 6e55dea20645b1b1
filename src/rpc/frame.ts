/**
 * The wire format of tcp-teardown rpc (docs/protocol.md): length-prefixed binary frames.
 *
 * ```
 *  0               4       5       6               10
 *  +---------------+-------+-------+---------------+----------------------+
 *  | payload bytes | type  | flags | id            | payload ...          |
 *  | u32 BE        | u8    | u8    | u32 BE        |                      |
 *  +---------------+-------+-------+---------------+----------------------+
 * ```
 *
 * One frame is 10 header bytes plus its payload. The payload length is checked against the
 * receiver's maximum before a single payload byte is buffered, so an oversized length costs the
 * sender its connection and the receiver no memory.
 */

/** Bytes before the payload: length (4), type (1), flags (1), id (4). */
export const FRAME_HEADER_BYTES = 10;

/** Default largest payload either side accepts, bytes (1 MiB). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;

/** Largest request/response id; ids are u32 and start at 1 on every connection. */
export const MAX_REQUEST_ID = 0xffff_ffff;

/** The reverse of a name → wire value table: index by wire value to get the name. */
function namesByValue<T extends Record<string, number>>(table: T): readonly (keyof T | undefined)[] {
  const names: (keyof T | undefined)[] = [];
  for (const name of Object.keys(table) as (keyof T)[]) names[table[name] as number] = name;
  return names;
}

/** Frame types. Numbers are the wire values. */
export const FrameType = {
  /** Client → server: call `method` with `body`; `id` > every earlier id on the connection. */
  REQUEST: 1,
  /** Server → client: the handler's answer to request `id`. */
  RESPONSE: 2,
  /** Server → client: request `id` failed; `id` 0 is about the whole connection. */
  ERROR: 3,
  /** Either side: liveness probe; the other side answers PONG with the same 8 bytes. */
  PING: 4,
  PONG: 5,
  /** Server → client: no request with id > lastId will be run on this connection. */
  GOAWAY: 6,
  /**
   * First frame of each side: the sender's limits and idle timeout. The server sends it on every
   * connection; the client sends its own (its `maxPayloadBytes` above all) before any REQUEST.
   */
  SETTINGS: 7,
  /** Client → server: the caller gave up on request `id` (deadline, hedge lost); abort it. */
  CANCEL: 8,
} as const;
export type FrameTypeName = keyof typeof FrameType;
export type FrameTypeNumber = (typeof FrameType)[FrameTypeName];

const TYPE_NAMES = namesByValue(FrameType);

/** REQUEST flags. */
export const RequestFlag = {
  /** The caller declared the call idempotent (informational for the server; logs, metrics). */
  IDEMPOTENT: 0x01,
  /** The payload starts with a u32: the caller's remaining deadline, ms. */
  DEADLINE: 0x02,
} as const;

/**
 * ERROR codes. Each says whether the handler may have run, which is what a client needs to
 * decide on a retry.
 */
export const ErrorCode = {
  /** Not run: the request's id was above a GOAWAY's lastId, or the server is closing. Retry anywhere. */
  REFUSED: 1,
  /** Not run: the connection already had `maxInFlight` calls running. Retry anywhere. */
  OVERLOADED: 2,
  /** The handler started and did not finish within the deadline; it may have had effects. */
  DEADLINE_EXCEEDED: 3,
  /** The handler ran and threw; the message is the handler's. */
  HANDLER_FAILED: 4,
  /** The server could not parse what this connection sent; the connection is closed after it. */
  PROTOCOL_ERROR: 5,
  /** The client sent CANCEL before the handler finished; it may have had effects. */
  CANCELLED: 6,
  /**
   * The handler ran; its answer is larger than the client's announced maxPayloadBytes (or the
   * server's own), so it was not sent. Only this call fails; the connection stays.
   */
  RESPONSE_TOO_LARGE: 7,
  /**
   * The handler ran; its answer was dropped because the server's buffer budget
   * (`maxBufferedBytes`, across all connections) was full — clients were not reading answers.
   */
  RESPONSE_DROPPED: 8,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

const ERROR_NAMES = namesByValue(ErrorCode);

/** Why a server sent GOAWAY. */
export const GoawayReason = {
  /** The connection was idle for the server's idle timeout (002-g). */
  IDLE: 1,
  /** The server is shutting down (`server.close()`). */
  SHUTDOWN: 2,
  /** The connection reached the server's maximum age. Reserved: this package's server has no age limit and never sends it. */
  MAX_AGE: 3,
  /** The client broke the protocol; the last frames it sent were not understood. */
  PROTOCOL_ERROR: 4,
  /** The server is at `maxConnections`; this connection was accepted only to say so. */
  TOO_MANY_CONNECTIONS: 5,
} as const;
export type GoawayReasonName = keyof typeof GoawayReason;

const GOAWAY_NAMES = namesByValue(GoawayReason);

/** Longest method name, bytes of UTF-8 (it is length-prefixed with a u8). */
export const MAX_METHOD_BYTES = 255;

/** A decoded frame: the header fields and the payload decoded according to the type. */
export type Frame =
  | { type: 'REQUEST'; id: number; method: string; body: Buffer; idempotent: boolean; deadlineMs: number | null }
  | { type: 'RESPONSE'; id: number; body: Buffer }
  | { type: 'ERROR'; id: number; code: ErrorCodeName; message: string }
  | { type: 'PING'; id: number; data: Buffer }
  | { type: 'PONG'; id: number; data: Buffer }
  | { type: 'GOAWAY'; id: number; lastId: number; reason: GoawayReasonName; idleTimeoutMs: number; message: string }
  | { type: 'SETTINGS'; id: number; idleTimeoutMs: number; maxPayloadBytes: number; maxInFlight: number }
  | { type: 'CANCEL'; id: number };

/**
 * The bytes on the wire were not a valid frame. The connection that sent them cannot be trusted
 * to be at a frame boundary any more, so the only recovery is to close it.
 */
export class FrameError extends Error {
  /** `EPROTO` for malformed frames, `EMSGSIZE` for a length above the receiver's maximum. */
  readonly code: 'EPROTO' | 'EMSGSIZE';
  /**
   * Well-formed frames that arrived before the bad one in the same {@link FrameDecoder.push}.
   * Handling them first makes the outcome independent of how TCP happened to split the bytes.
   */
  framesBefore: Frame[] = [];
  constructor(code: 'EPROTO' | 'EMSGSIZE', message: string) {
    super(`${message} (${code}: close the connection; the stream is no longer at a frame boundary)`);
    this.name = 'FrameError';
    this.code = code;
  }
}

function header(type: FrameTypeNumber, flags: number, id: number, payloadBytes: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
  b.writeUInt32BE(payloadBytes, 0);
  b[4] = type;
  b[5] = flags;
  b.writeUInt32BE(id, 6);
  return b;
}

function checkId(id: number, allowZero: boolean): void {
  if (!Number.isInteger(id) || id < (allowZero ? 0 : 1) || id > MAX_REQUEST_ID) {
    throw new RangeError(`frame id must be an integer in ${allowZero ? 0 : 1}..${MAX_REQUEST_ID}, got ${id}`);
  }
}

function checkSize(payloadBytes: number, maxPayloadBytes: number): void {
  if (payloadBytes > maxPayloadBytes) {
    throw new FrameError('EMSGSIZE', `payload of ${payloadBytes} bytes exceeds the maximum of ${maxPayloadBytes} bytes`);
  }
}

/**
 * Encodes a REQUEST.
 * @param deadlineMs remaining time the caller allows, ms (0..2^32−1), or null for none.
 * @throws FrameError `EMSGSIZE` when the payload exceeds `maxPayloadBytes`;
 *   RangeError for an id out of 1..2^32−1 or a method longer than 255 UTF-8 bytes.
 */
export function encodeRequest(
  id: number,
  method: string,
  body: Uint8Array,
  opts: { idempotent?: boolean; deadlineMs?: number | null; maxPayloadBytes?: number } = {},
): Buffer {
  checkId(id, false);
  const methodBytes = Buffer.byteLength(method);
  if (methodBytes > MAX_METHOD_BYTES) throw new RangeError(`method name is ${methodBytes} bytes; at most ${MAX_METHOD_BYTES}`);
  const hasDeadline = opts.deadlineMs !== undefined && opts.deadlineMs !== null;
  const payload = (hasDeadline ? 4 : 0) + 1 + methodBytes + body.length;
  checkSize(payload, opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
  const flags = (opts.idempotent ? RequestFlag.IDEMPOTENT : 0) | (hasDeadline ? RequestFlag.DEADLINE : 0);
  const b = header(FrameType.REQUEST, flags, id, payload);
  let at = FRAME_HEADER_BYTES;
  if (hasDeadline) {
    b.writeUInt32BE(Math.max(0, Math.min(0xffff_ffff, Math.ceil(opts.deadlineMs as number))), at);
    at += 4;
  }
  b[at++] = methodBytes;
  at += b.write(method, at, 'utf8');
  b.set(body, at);
  return b;
}

/**
 * Encodes a RESPONSE carrying the handler's `body`.
 * @throws FrameError `EMSGSIZE` when the body exceeds `maxPayloadBytes`.
 */
export function encodeResponse(id: number, body: Uint8Array, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): Buffer {
  checkId(id, false);
  checkSize(body.length, maxPayloadBytes);
  const b = header(FrameType.RESPONSE, 0, id, body.length);
  b.set(body, FRAME_HEADER_BYTES);
  return b;
}

/** Encodes an ERROR; `id` 0 addresses the connection. Messages are cut to 1024 bytes of UTF-8. */
export function encodeError(id: number, code: ErrorCodeName, message: string): Buffer {
  checkId(id, true);
  const text = Buffer.from(message, 'utf8').subarray(0, 1024);
  const b = header(FrameType.ERROR, 0, id, 2 + text.length);
  b.writeUInt16BE(ErrorCode[code], FRAME_HEADER_BYTES);
  b.set(text, FRAME_HEADER_BYTES + 2);
  return b;
}

/** Encodes a PING or PONG with exactly 8 opaque bytes (`data` is padded or cut). */
export function encodePing(type: 'PING' | 'PONG', data: Uint8Array = Buffer.alloc(8)): Buffer {
  const b = header(FrameType[type], 0, 0, 8);
  b.fill(0, FRAME_HEADER_BYTES);
  b.set(data.subarray(0, 8), FRAME_HEADER_BYTES);
  return b;
}

/**
 * Encodes a GOAWAY: requests with id <= `lastId` will be answered, all later ones are refused
 * unrun. `idleTimeoutMs` tells the client the server's idle timeout so it can retire
 * connections before the server has to.
 */
export function encodeGoaway(lastId: number, reason: GoawayReasonName, idleTimeoutMs: number, message = ''): Buffer {
  checkId(lastId, true);
  const text = Buffer.from(message, 'utf8').subarray(0, 1024);
  const b = header(FrameType.GOAWAY, 0, 0, 9 + text.length);
  b.writeUInt32BE(lastId, FRAME_HEADER_BYTES);
  b[FRAME_HEADER_BYTES + 4] = GoawayReason[reason];
  b.writeUInt32BE(clampU32(idleTimeoutMs), FRAME_HEADER_BYTES + 5);
  b.set(text, FRAME_HEADER_BYTES + 9);
  return b;
}

/** Encodes SETTINGS, the server's first frame: idle timeout (ms, 0 = none), limits. */
export function encodeSettings(s: { idleTimeoutMs: number; maxPayloadBytes: number; maxInFlight: number }): Buffer {
  const b = header(FrameType.SETTINGS, 0, 0, 12);
  b.writeUInt32BE(clampU32(s.idleTimeoutMs), FRAME_HEADER_BYTES);
  b.writeUInt32BE(clampU32(s.maxPayloadBytes), FRAME_HEADER_BYTES + 4);
  b.writeUInt32BE(clampU32(s.maxInFlight), FRAME_HEADER_BYTES + 8);
  return b;
}

/** Encodes a CANCEL for request `id`. */
export function encodeCancel(id: number): Buffer {
  checkId(id, false);
  return header(FrameType.CANCEL, 0, id, 0);
}

function clampU32(n: number): number {
  return Number.isFinite(n) ? Math.max(0, Math.min(0xffff_ffff, Math.round(n))) : 0xffff_ffff;
}

/** First capacity of the buffer that collects a partial frame, bytes. */
const MIN_PARTIAL_BYTES = 256;

/**
 * Splits a byte stream into frames. Feed it every chunk the socket reads; it returns the
 * complete frames so far and keeps the partial tail.
 *
 * Memory: frames complete within a chunk are decoded in place. The bytes of a frame split across
 * chunks are copied into one buffer that grows by doubling up to the frame's size, so a partial
 * frame costs at most 2 × the bytes received + 256 bytes — whatever the frame announces and
 * however the sender splits it. (Keeping each chunk until the frame completed cost ~416 bytes
 * per byte received from a peer writing 1 byte at a time: Buffer object and allocation per chunk.)
 *
 * It throws {@link FrameError} — and stays failed — for: a length above `maxPayloadBytes`
 * (`EMSGSIZE`, detected from the 4 length bytes alone), an unknown type, unknown flags, a
 * payload whose size does not fit its type, an id that breaks the type's rules. The frames
 * decoded before the bad one in the same push are on the error's `framesBefore`. After an error
 * the owner must close the connection: no further bytes can be trusted.
 */
export class FrameDecoder {
  readonly maxPayloadBytes: number;
  /** The bytes of the incomplete frame at the head of the stream; its capacity grows by doubling. */
  private partial: Buffer | null = null;
  private partialLength = 0;
  private failed: FrameError | null = null;

  constructor(maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES) {
    if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 16 || maxPayloadBytes > 0xffff_ffff) {
      throw new RangeError(`maxPayloadBytes must be an integer in 16..${0xffff_ffff}, got ${maxPayloadBytes}`);
    }
    this.maxPayloadBytes = maxPayloadBytes;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.partialLength;
  }

  /** Bytes of memory the partial frame holds (its buffer's capacity): at most 2 × bufferedBytes + 256. */
  get retainedBytes(): number {
    return this.partial === null ? 0 : this.partial.length;
  }

  /**
   * Appends `chunk` and returns every frame it completes, in order.
   * @throws FrameError on the first malformed frame (and on every later call).
   */
  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    const frames: Frame[] = [];
    try {
      let at = 0;
      if (this.partialLength > 0) {
        at = this.fill(chunk, frames);
        if (at < 0) return frames; // still incomplete
      }
      for (;;) {
        const left = chunk.length - at;
        if (left < 4) break;
        const payloadBytes = chunk.readUInt32BE(at);
        this.checkLength(payloadBytes);
        if (left < FRAME_HEADER_BYTES + payloadBytes) break;
        frames.push(decodeOne(chunk, at, payloadBytes));
        at += FRAME_HEADER_BYTES + payloadBytes;
      }
      // Copy the tail so a small partial frame does not pin a large read chunk.
      if (at < chunk.length) this.append(chunk, at, chunk.length);
    } catch (e) {
      if (e instanceof FrameError) {
        e.framesBefore = frames;
        this.failed = e;
        this.partial = null;
        this.partialLength = 0;
      }
      throw e;
    }
    return frames;
  }

  private checkLength(payloadBytes: number): void {
    if (payloadBytes > this.maxPayloadBytes) {
      throw new FrameError('EMSGSIZE', `frame announces ${payloadBytes} payload bytes; the maximum is ${this.maxPayloadBytes}`);
    }
  }

  /**
   * Adds bytes of `chunk` to the partial frame until it is complete; decodes it into `frames`.
   * @returns where the rest of `chunk` starts, or -1 when the whole chunk went into a frame still incomplete.
   */
  private fill(chunk: Buffer, frames: Frame[]): number {
    let at = 0;
    if (this.partialLength < 4) {
      const take = Math.min(4 - this.partialLength, chunk.length);
      this.append(chunk, 0, take);
      at = take;
      if (this.partialLength < 4) return -1;
    }
    const partial = this.partial as Buffer;
    const payloadBytes = partial.readUInt32BE(0);
    this.checkLength(payloadBytes);
    const total = FRAME_HEADER_BYTES + payloadBytes;
    const take = Math.min(total - this.partialLength, chunk.length - at);
    this.append(chunk, at, at + take, total);
    at += take;
    if (this.partialLength < total) return -1;
    const whole = this.partial as Buffer;
    this.partial = null;
    this.partialLength = 0;
    frames.push(decodeOne(whole, 0, payloadBytes));
    return at;
  }

  /** Copies chunk[from, to) behind the partial bytes, growing the buffer by doubling (never past `limit`). */
  private append(chunk: Buffer, from: number, to: number, limit = Infinity): void {
    const need = this.partialLength + (to - from);
    let buf = this.partial;
    if (buf === null || buf.length < need) {
      const grown = Math.min(limit, Math.max(need, MIN_PARTIAL_BYTES, buf === null ? 0 : buf.length * 2));
      const next = Buffer.allocUnsafe(grown);
      if (buf !== null) buf.copy(next, 0, 0, this.partialLength);
      buf = next;
      this.partial = buf;
    }
    chunk.copy(buf, this.partialLength, from, to);
    this.partialLength = need;
  }
}

function decodeOne(buf: Buffer, at: number, payloadBytes: number): Frame {
  const typeNumber = buf[at + 4] as number;
  const flags = buf[at + 5] as number;
  const id = buf.readUInt32BE(at + 6);
  const start = at + FRAME_HEADER_BYTES;
  const end = start + payloadBytes;
  const type = TYPE_NAMES[typeNumber];
  if (type === undefined) throw new FrameError('EPROTO', `unknown frame type ${typeNumber}`);
  const allowedFlags = type === 'REQUEST' ? RequestFlag.IDEMPOTENT | RequestFlag.DEADLINE : 0;
  if ((flags & ~allowedFlags) !== 0) throw new FrameError('EPROTO', `${type} frame with unknown flags 0x${flags.toString(16)}`);
  const needId = (want: 'zero' | 'nonzero'): void => {
    if ((want === 'zero') !== (id === 0)) throw new FrameError('EPROTO', `${type} frame must have ${want === 'zero' ? 'id 0' : 'a non-zero id'}, got ${id}`);
  };
  // Payloads are copied out so a retained body never pins the whole read chunk.
  switch (type) {
    case 'REQUEST': {
      needId('nonzero');
      let p = start;
      let deadlineMs: number | null = null;
      if (flags & RequestFlag.DEADLINE) {
        if (end - p < 4) throw new FrameError('EPROTO', 'REQUEST with DEADLINE flag is shorter than its 4 deadline bytes');
        deadlineMs = buf.readUInt32BE(p);
        p += 4;
      }
      if (end - p < 1) throw new FrameError('EPROTO', 'REQUEST without a method length byte');
      const methodBytes = buf[p] as number;
      p += 1;
      if (end - p < methodBytes) throw new FrameError('EPROTO', `REQUEST method of ${methodBytes} bytes runs past the payload`);
      const method = buf.toString('utf8', p, p + methodBytes);
      p += methodBytes;
      return { type, id, method, body: Buffer.from(buf.subarray(p, end)), idempotent: (flags & RequestFlag.IDEMPOTENT) !== 0, deadlineMs };
    }
    case 'RESPONSE':
      needId('nonzero');
      return { type, id, body: Buffer.from(buf.subarray(start, end)) };
    case 'ERROR': {
      if (payloadBytes < 2) throw new FrameError('EPROTO', 'ERROR frame shorter than its 2 code bytes');
      const codeNumber = buf.readUInt16BE(start);
      const code = ERROR_NAMES[codeNumber];
      if (code === undefined) throw new FrameError('EPROTO', `ERROR frame with unknown code ${codeNumber}`);
      return { type, id, code, message: buf.toString('utf8', start + 2, end) };
    }
    case 'PING':
    case 'PONG':
      needId('zero');
      if (payloadBytes !== 8) throw new FrameError('EPROTO', `${type} payload must be 8 bytes, got ${payloadBytes}`);
      return { type, id, data: Buffer.from(buf.subarray(start, end)) };
    case 'GOAWAY': {
      needId('zero');
      if (payloadBytes < 9) throw new FrameError('EPROTO', `GOAWAY payload must be at least 9 bytes, got ${payloadBytes}`);
      const reasonNumber = buf[start + 4] as number;
      const reason = GOAWAY_NAMES[reasonNumber];
      if (reason === undefined) throw new FrameError('EPROTO', `GOAWAY with unknown reason ${reasonNumber}`);
      return {
        type,
        id,
        lastId: buf.readUInt32BE(start),
        reason,
        idleTimeoutMs: buf.readUInt32BE(start + 5),
        message: buf.toString('utf8', start + 9, end),
      };
    }
    case 'SETTINGS':
      needId('zero');
      if (payloadBytes !== 12) throw new FrameError('EPROTO', `SETTINGS payload must be 12 bytes, got ${payloadBytes}`);
      return {
        type,
        id,
        idleTimeoutMs: buf.readUInt32BE(start),
        maxPayloadBytes: buf.readUInt32BE(start + 4),
        maxInFlight: buf.readUInt32BE(start + 8),
      };
    case 'CANCEL':
      needId('nonzero');
      if (payloadBytes !== 0) throw new FrameError('EPROTO', `CANCEL payload must be empty, got ${payloadBytes} bytes`);
      return { type, id };
  }
}
