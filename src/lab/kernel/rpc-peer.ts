/**
 * The rpc side of a lab peer: a tiny frame-speaking server (docs/protocol.md) and calls made
 * through the real `tcp-teardown/rpc` client, so a scenario can run the remedy of seed 003-j
 * beside the naive raw-socket code.
 */
import net from 'node:net';
import { FrameDecoder, encodeResponse, encodeSettings, DEFAULT_MAX_PAYLOAD_BYTES, type Frame } from '../../rpc/frame.js';
import { createClient, RpcError, type RpcClient } from '../../rpc/index.js';
import type { CallValue } from '../ops.js';

/** The method the lab rpc server reads and never answers: a call kept in flight. */
export const HOLD_METHOD = 'hold';

/**
 * Serves the protocol on each accepted socket: SETTINGS first, then every REQUEST answered with
 * its body, except method {@link HOLD_METHOD}, read and left unanswered. A socket that sends bytes
 * that are not frames is destroyed.
 */
export function serveFrames(socket: net.Socket): void {
  socket.on('error', () => {});
  socket.write(encodeSettings({ idleTimeoutMs: 0, maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, maxInFlight: 128 }));
  const decoder = new FrameDecoder(DEFAULT_MAX_PAYLOAD_BYTES);
  socket.on('data', (chunk: Buffer) => {
    let frames: Frame[];
    try {
      frames = decoder.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const f of frames) {
      if (f.type === 'REQUEST' && f.method !== HOLD_METHOD && socket.writable) socket.write(encodeResponse(f.id, f.body));
    }
  });
  socket.on('end', () => socket.end());
}

/** How one rpc call ended, as plain data for the trace. */
function outcome(method: string, r: PromiseSettledResult<Buffer>): CallValue {
  if (r.status === 'fulfilled') return { method, ok: true, bytes: r.value.length };
  const e: unknown = r.reason;
  if (e instanceof RpcError) return { method, ok: false, code: e.code, processed: e.processed, errno: e.errno };
  return { method, ok: false, code: 'THROWN', processed: 'maybe', errno: e instanceof Error ? e.message : String(e) };
}

/**
 * One actor's rpc client (one connection at most, no keepalive) and the calls it started, so a
 * later step can wait for the earlier ones.
 */
export class LabRpcClient {
  private client: RpcClient | null = null;
  private earlier: Array<{ method: string; done: Promise<PromiseSettledResult<Buffer>> }> = [];

  /**
   * Starts `methods` at once (body: the method's name) to `address`. With `afterEarlier`, first
   * waits for every call started by an earlier step to settle. Returns when the first (`'first'`)
   * or every (`'all'`) new call has settled: `{ earlier, calls }`, each an outcome or `'pending'`.
   */
  async calls(address: { address: string; port: number }, methods: string[], until: 'first' | 'all', afterEarlier: boolean): Promise<CallValue> {
    this.client ??= createClient({ host: address.address, port: address.port, maxConnections: 1, keepalive: false, connectTimeoutMs: 1000 });
    const client = this.client;
    const before = this.earlier;
    if (afterEarlier) await Promise.all(before.map((c) => c.done));
    const started = methods.map((method) => {
      const done = client.call(method, Buffer.from(method)).then(
        (value): PromiseSettledResult<Buffer> => ({ status: 'fulfilled', value }),
        (reason: unknown): PromiseSettledResult<Buffer> => ({ status: 'rejected', reason }),
      );
      const entry = { method, done, settled: null as PromiseSettledResult<Buffer> | null };
      void done.then((r) => (entry.settled = r));
      return entry;
    });
    this.earlier = [...before, ...started];
    if (until === 'first') await Promise.race(started.map((c) => c.done));
    else await Promise.all(started.map((c) => c.done));
    // Let the other settlements already due land before reporting.
    await new Promise((r) => setImmediate(r));
    const earlier = afterEarlier ? await Promise.all(before.map(async (c) => outcome(c.method, await c.done))) : [];
    return { earlier, calls: started.map((c) => (c.settled ? outcome(c.method, c.settled) : 'pending')) };
  }
}
