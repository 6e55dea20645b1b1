/**
 * Test helpers for the rpc server: a raw client that speaks frames over a plain net.Socket (no
 * rpc client involved, so every byte and every FIN is the test's choice), and socket-table
 * lookups through src/proc.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { readTcpTables, type TcpRow } from '../../src/proc/index.js';
import { FrameDecoder, FrameError, encodeRequest, type Frame } from '../../src/rpc/frame.js';
import { fdOf, tcpInfo } from '../../src/sys/index.js';
import { nodeErrorCode } from '../../src/tcp/errno.js';

type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>;

/** A client that writes frames and records everything it reads, FIN and errors included. */
export class RawClient {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  eof = false;
  closed = false;
  errno: string | null = null;
  protocolError: FrameError | null = null;
  readonly #decoder = new FrameDecoder();
  readonly #fd: number;
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.localPort = socket.localPort as number;
    this.#fd = fdOf(socket);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.frames.push(...this.#decoder.push(chunk));
      } catch (err) {
        this.protocolError = err as FrameError;
      }
      this.#wake();
    });
    socket.on('end', () => {
      this.eof = true;
      this.#wake();
    });
    socket.on('error', (err) => {
      this.errno = nodeErrorCode(err) ?? 'EIO';
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  /** Connects with allowHalfOpen, so this client sends its FIN only when the test says so. */
  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, allowHalfOpen: true });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  /** The client's port, kept: a closed net.Socket no longer reports it. */
  readonly localPort: number;

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `test()` holds, re-checked on every read/EOF/error; rejects after `timeoutMs`. */
  until<T>(what: string, test: () => T | undefined | false, timeoutMs = 3000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        const v = test();
        if (v !== undefined && v !== false) {
          clearTimeout(timer);
          resolve(v);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(this.frames.map(brief))}, eof=${this.eof}, errno=${this.errno}`)), timeoutMs);
      const loop = (): void => {
        if (!check()) this.#waiters.push(loop);
      };
      loop();
    });
  }

  /** The first frame of `type` (and `id`, if given) read so far, waiting for it if needed. */
  frame<T extends Frame['type']>(type: T, id?: number, timeoutMs?: number): Promise<FrameOf<T>> {
    return this.until(`${type}${id === undefined ? '' : ` id=${id}`}`, () => this.frames.find((f) => f.type === type && (id === undefined || f.id === id)) as FrameOf<T> | undefined, timeoutMs);
  }

  /** Answer (RESPONSE or ERROR) for request `id`. */
  answer(id: number, timeoutMs?: number): Promise<FrameOf<'RESPONSE'> | FrameOf<'ERROR'>> {
    return this.until(`answer to ${id}`, () => this.frames.find((f) => (f.type === 'RESPONSE' || f.type === 'ERROR') && f.id === id) as FrameOf<'RESPONSE'> | FrameOf<'ERROR'> | undefined, timeoutMs);
  }

  waitEof(timeoutMs?: number): Promise<true> {
    return this.until('EOF', () => this.eof || undefined, timeoutMs);
  }

  waitClosed(timeoutMs?: number): Promise<true> {
    return this.until('close', () => this.closed || undefined, timeoutMs);
  }

  request(id: number, method: string, body: string | Buffer = '', opts: { deadlineMs?: number | null; idempotent?: boolean } = {}): void {
    this.socket.write(encodeRequest(id, method, typeof body === 'string' ? Buffer.from(body) : body, opts));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /**
   * Resolves once this client's connection was reset by the peer. Judged by Node when it saw
   * ECONNRESET, else by the kernel (TCP_INFO: CLOSE after an RST, where a FIN leaves CLOSE_WAIT):
   * libuv may report an RST as a plain EOF — when POLLHUP comes with data in one wakeup,
   * uv__stream_io() signals EOF without calling read(), so ECONNRESET never surfaces.
   */
  waitReset(timeoutMs = 2000): Promise<true> {
    const fd = this.#fd;
    return eventually(
      'connection reset',
      () => (this.errno === 'ECONNRESET' || (!this.socket.destroyed && tcpInfo(fd).state === 'CLOSE') ? true : undefined),
      timeoutMs,
    );
  }

  /** shutdown(SHUT_WR): the client's FIN. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function brief(f: Frame): string {
  switch (f.type) {
    case 'ERROR':
      return `ERROR ${f.id} ${f.code}`;
    case 'GOAWAY':
      return `GOAWAY last=${f.lastId} ${f.reason}`;
    default:
      return `${f.type} ${f.id}`;
  }
}

/** Rows of /proc/net/tcp on `port` (either end), without the listener. */
export async function rowsOnPort(port: number): Promise<TcpRow[]> {
  const rows = await readTcpTables({ families: [4] });
  return rows.filter((r) => r.state !== 'LISTEN' && (r.localPort === port || r.remotePort === port));
}

/** The row of the connection between client port `clientPort` and server port `serverPort`, seen from `side`. */
export async function rowOf(side: 'server' | 'client', serverPort: number, clientPort: number): Promise<TcpRow | undefined> {
  const rows = await rowsOnPort(serverPort);
  return side === 'server'
    ? rows.find((r) => r.localPort === serverPort && r.remotePort === clientPort)
    : rows.find((r) => r.localPort === clientPort && r.remotePort === serverPort);
}

/** Polls `test` every 10 ms until it returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, test: () => Promise<T | undefined> | T | undefined, timeoutMs = 3000): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = await test();
    if (v !== undefined) return v;
    if (performance.now() > until) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Open descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Threads of this process. */
export function threads(): number {
  return readdirSync('/proc/self/task').length;
}

/** node:timers/promises' setTimeout, under the name the tests use. */
export { sleep };

/** Closes what a test opened, whatever happened in it: `const res = new Resources(); afterEach(() => res.release())`. */
export class Resources {
  #items: (() => Promise<unknown> | unknown)[] = [];

  /** Registers a server (closed at once, resetting what is left) or a client (destroyed). */
  add<T extends { close(opts?: { deadlineMs?: number }): Promise<void> } | RawClient | net.Socket>(item: T): T {
    if (item instanceof RawClient || item instanceof net.Socket) this.#items.push(() => item.destroy());
    else this.#items.push(() => item.close({ deadlineMs: 0 }));
    return item;
  }

  onRelease(f: () => Promise<unknown> | unknown): void {
    this.#items.push(f);
  }

  async release(): Promise<void> {
    const items = this.#items.reverse();
    this.#items = [];
    for (const f of items) await f();
  }
}

/** mulberry32: a small seeded PRNG, so a failing random case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

