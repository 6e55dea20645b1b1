/**
 * A tiny frame-speaking TCP server for the client's tests. It misbehaves exactly as each test asks
 * (GOAWAY with calls in flight, REFUSED, FIN or RST after reading, half-close and keep reading) and
 * counts how many times each call actually ran, keyed by the request body.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import {
  FrameDecoder,
  encodeError,
  encodeGoaway,
  encodeResponse,
  encodeSettings,
  type ErrorCodeName,
  type Frame,
  type GoawayReasonName,
} from '../../src/rpc/frame.js';
import { RpcError, type RpcClient } from '../../src/rpc/index.js';
import { fdOf, setLinger } from '../../src/sys/index.js';
import { eventually } from './server-helpers.js';

export type RequestFrame = Extract<Frame, { type: 'REQUEST' }>;

/** One accepted connection, numbered from 1. */
export class RawConn {
  readonly requests: RequestFrame[] = [];
  readonly cancels: number[] = [];
  /** True when the client's FIN arrived before this side closed: the client closed first. */
  clientClosedFirst = false;
  ended = false;
  constructor(
    readonly server: RawServer,
    readonly n: number,
    readonly socket: net.Socket,
  ) {}

  /** Runs the call (counts it) and answers it with its body. */
  answer(req: RequestFrame, body: Uint8Array = req.body): void {
    this.server.run(req);
    this.write(encodeResponse(req.id, body, 64 << 20));
  }

  error(id: number, code: ErrorCodeName, message = ''): void {
    this.write(encodeError(id, code, message));
  }

  goaway(lastId: number, reason: GoawayReasonName = 'IDLE', idleTimeoutMs = 0): void {
    this.write(encodeGoaway(lastId, reason, idleTimeoutMs));
  }

  write(b: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(b);
  }

  /** close(): FIN when nothing is unread. */
  close(): void {
    this.ended = true;
    this.socket.destroy();
  }

  /** SO_LINGER 0 then close(): RST. */
  reset(): void {
    this.ended = true;
    try {
      setLinger(fdOf(this.socket), { onoff: true, seconds: 0 });
    } catch {
      // already gone
    }
    this.socket.destroy();
  }

  /** shutdown(SHUT_WR): FIN, and keep reading. */
  halfClose(): void {
    this.ended = true;
    this.socket.end();
  }
}

export interface RawServerOptions {
  /** SETTINGS sent on accept (null: none). */
  settings?: { idleTimeoutMs?: number; maxPayloadBytes?: number; maxInFlight?: number } | null;
  /** Called for each REQUEST. Default: answer it. */
  onRequest?: (conn: RawConn, req: RequestFrame) => void;
  onConnection?: (conn: RawConn) => void;
  /** When true for a connection, the server never reads it (the kernel buffers fill). */
  stallReading?: (conn: RawConn) => boolean;
}

export class RawServer {
  readonly conns: RawConn[] = [];
  /** Runs per request body (as UTF-8). */
  readonly runs = new Map<string, number>();
  private readonly server: net.Server;
  port = 0;

  private constructor(readonly opts: RawServerOptions) {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  static async start(opts: RawServerOptions = {}): Promise<RawServer> {
    const s = new RawServer(opts);
    s.server.listen(0, '127.0.0.1');
    await once(s.server, 'listening');
    s.port = (s.server.address() as net.AddressInfo).port;
    return s;
  }

  run(req: RequestFrame): void {
    const key = req.body.toString();
    this.runs.set(key, (this.runs.get(key) ?? 0) + 1);
  }

  runsOf(body: string): number {
    return this.runs.get(body) ?? 0;
  }

  /** All requests read on all connections. */
  get requests(): RequestFrame[] {
    return this.conns.flatMap((c) => c.requests);
  }

  private accept(socket: net.Socket): void {
    const conn = new RawConn(this, this.conns.length + 1, socket);
    this.conns.push(conn);
    socket.on('error', () => {});
    socket.on('end', () => {
      if (!conn.ended) conn.clientClosedFirst = true;
      // Answer the client's FIN with ours (nothing in flight in these tests).
      socket.end();
    });
    const settings = this.opts.settings === undefined ? {} : this.opts.settings;
    if (settings !== null) {
      socket.write(
        encodeSettings({
          idleTimeoutMs: settings.idleTimeoutMs ?? 0,
          maxPayloadBytes: settings.maxPayloadBytes ?? 64 << 20,
          maxInFlight: settings.maxInFlight ?? 128,
        }),
      );
    }
    this.opts.onConnection?.(conn);
    if (this.opts.stallReading?.(conn)) {
      socket.pause();
      return;
    }
    const decoder = new FrameDecoder(64 << 20);
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.type === 'REQUEST') {
          conn.requests.push(f);
          if (this.opts.onRequest) this.opts.onRequest(conn, f);
          else conn.answer(f);
        } else if (f.type === 'CANCEL') {
          conn.cancels.push(f.id);
        }
      }
    });
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A port nothing listens on (bound, read, released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** {@link eventually} for a boolean condition: polls `cond` until true or `timeoutMs` passes. */
export async function until(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  await eventually(what, () => cond() || undefined, timeoutMs);
}

/** A Buffer of `s` (UTF-8): call bodies in tests. */
export const b = (s: string): Buffer => Buffer.from(s);

/** Runs `fn`, then closes the client (FIN first, 500 ms for calls in flight) and the server, even when `fn` throws. */
export async function withSetup(server: RawServer | null, client: RpcClient, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } finally {
    await client.close({ timeoutMs: 500 });
    await server?.close();
  }
}

/** The RpcError `p` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RpcError, `expected an RpcError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the call to fail');
}
