/**
 * throughput: 64-byte calls, many in flight, on 1 and on 8 connections — calls per second and
 * p50/p99 latency of tcp-teardown rpc against undici 7 (HTTP/1.1 keep-alive, pipelining 10, to a
 * node:http server), against grpc-js (HTTP/2, generic service with raw Buffer serializers, one
 * channel per connection) and against the floor: a raw `net` echo of 64-byte messages, no framing, no
 * ids, no pool. Servers run in a child process (bench/throughput-server), clients here.
 *
 * Load is closed-loop and the same for everyone: `inFlightPerConnection` × connections callers,
 * each sending its next call when the previous one is answered (undici queues what does not
 * fit its pipelining depth, which is part of what it costs).
 *
 * Environment: THROUGHPUT_MS measuring time per case (default 2000), THROUGHPUT_IN_FLIGHT per
 * connection (default 64).
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';

import { Pool } from 'undici';

import { createClient } from '../src/rpc/index.js';
import { createGrpcClient, GRPC_JS_VERSION } from './lib-grpc.js';
import { envInt, forkReady, quantile, stopChild, type BenchOptions, type BenchResult, type BenchTable } from './lib.js';

const SERVER = fileURLToPath(new URL('./throughput-server.js', import.meta.url));
const MESSAGE_BYTES = 64;
const GRPC_LABEL = `grpc-js ${GRPC_JS_VERSION}, unary`;
const WARMUP_MS = 300;

interface Ports {
  rpcPort: number;
  httpPort: number;
  echoPort: number;
  grpcPort: number;
}

interface CaseResult {
  calls: number;
  seconds: number;
  latenciesMs: Float64Array;
}

/** Collects latencies after the warm-up and stops callers when the time is up. */
class Meter {
  private readonly samples: number[] = [];
  private readonly measureFrom: number;
  readonly endAt: number;
  constructor(private readonly durationMs: number) {
    this.measureFrom = performance.now() + WARMUP_MS;
    this.endAt = this.measureFrom + durationMs;
  }
  get running(): boolean {
    return performance.now() < this.endAt;
  }
  record(startedAt: number): void {
    if (startedAt >= this.measureFrom && startedAt < this.endAt) this.samples.push(performance.now() - startedAt);
  }
  result(): CaseResult {
    return { calls: this.samples.length, seconds: this.durationMs / 1000, latenciesMs: Float64Array.from(this.samples) };
  }
}

async function closedLoop(callers: number, meter: Meter, call: () => Promise<unknown>): Promise<void> {
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (meter.running) {
        const t = performance.now();
        await call();
        meter.record(t);
      }
    }),
  );
}

async function rpcCase(port: number, connections: number, inFlight: number, durationMs: number): Promise<CaseResult> {
  const client = createClient({ host: '127.0.0.1', port, maxConnections: connections });
  const body = Buffer.alloc(MESSAGE_BYTES, 7);
  const meter = new Meter(durationMs);
  try {
    await closedLoop(connections * inFlight, meter, () => client.call('echo', body));
  } finally {
    await client.close();
  }
  return meter.result();
}

async function undiciCase(port: number, connections: number, inFlight: number, durationMs: number): Promise<CaseResult> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 10 });
  const body = Buffer.alloc(MESSAGE_BYTES, 7);
  const meter = new Meter(durationMs);
  try {
    await closedLoop(connections * inFlight, meter, async () => {
      const res = await pool.request({ path: '/', method: 'POST', body });
      await res.body.arrayBuffer();
    });
  } finally {
    await pool.destroy();
  }
  return meter.result();
}

/** `connections` grpc-js channels (one HTTP/2 connection each), callers spread over them evenly. */
async function grpcCase(port: number, connections: number, inFlight: number, durationMs: number): Promise<CaseResult> {
  const clients = Array.from({ length: connections }, () => createGrpcClient(port));
  const body = Buffer.alloc(MESSAGE_BYTES, 7);
  const meter = new Meter(durationMs);
  let next = 0;
  try {
    await closedLoop(connections * inFlight, meter, () => (clients[next++ % connections] as (typeof clients)[number]).call(body));
  } finally {
    for (const c of clients) c.close();
  }
  return meter.result();
}

/** The floor: each connection keeps `inFlight` 64-byte messages outstanding; echo order is FIFO. */
async function rawEchoCase(port: number, connections: number, inFlight: number, durationMs: number): Promise<CaseResult> {
  const meter = new Meter(durationMs);
  const message = Buffer.alloc(MESSAGE_BYTES, 7);
  await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
          const sentAt: number[] = [];
          let head = 0;
          let pendingBytes = 0;
          const send = (): void => {
            sentAt.push(performance.now());
            socket.write(message);
          };
          socket.on('connect', () => {
            for (let i = 0; i < inFlight; i++) send();
          });
          socket.on('data', (chunk: Buffer) => {
            pendingBytes += chunk.length;
            while (pendingBytes >= MESSAGE_BYTES) {
              pendingBytes -= MESSAGE_BYTES;
              meter.record(sentAt[head++] as number);
              if (meter.running) send();
            }
            if (head === sentAt.length) socket.end();
          });
          socket.on('error', reject);
          socket.on('close', () => resolve());
        }),
    ),
  );
  return meter.result();
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const durationMs = envInt('THROUGHPUT_MS', 2000);
  const inFlight = envInt('THROUGHPUT_IN_FLIGHT', 64);
  const { child, ready } = await forkReady<Ports>(SERVER);
  const { rpcPort, httpPort, echoPort, grpcPort } = ready;
  const table: BenchTable = {
    title: `${MESSAGE_BYTES}-byte calls, ${inFlight} in flight per connection, ${durationMs} ms per case after ${WARMUP_MS} ms warm-up`,
    head: ['contender', 'connections', 'calls/s', 'p50 ms', 'p99 ms', 'calls/s ÷ undici', 'calls/s ÷ grpc-js', 'calls/s ÷ raw net', 'p99 ÷ undici'],
    rows: [],
  };
  try {
    for (const connections of [1, 8]) {
      const results = new Map<string, CaseResult>();
      const cases: [string, () => Promise<CaseResult>][] = [
        ['raw net echo (floor)', () => rawEchoCase(echoPort, connections, inFlight, durationMs)],
        ['undici 7 Pool, pipelining 10', () => undiciCase(httpPort, connections, inFlight, durationMs)],
        [GRPC_LABEL, () => grpcCase(grpcPort, connections, inFlight, durationMs)],
        ['tcp-teardown rpc', () => rpcCase(rpcPort, connections, inFlight, durationMs)],
      ];
      for (const [label, fn] of cases) {
        opts.progress(`${label}, ${connections} connection(s)`);
        results.set(label, await fn());
      }
      const raw = results.get('raw net echo (floor)') as CaseResult;
      const und = results.get('undici 7 Pool, pipelining 10') as CaseResult;
      const grp = results.get(GRPC_LABEL) as CaseResult;
      const rate = (r: CaseResult): number => r.calls / r.seconds;
      const pct = (r: CaseResult, q: number): number => quantile([...r.latenciesMs].sort((a, b) => a - b), q);
      for (const [label, r] of results) {
        table.rows.push([
          label,
          connections,
          Math.round(rate(r)),
          pct(r, 0.5).toFixed(2),
          pct(r, 0.99).toFixed(2),
          `${(rate(r) / rate(und)).toFixed(2)}×`,
          `${(rate(r) / rate(grp)).toFixed(2)}×`,
          `${(rate(r) / rate(raw)).toFixed(2)}×`,
          `${(pct(r, 0.99) / pct(und, 0.99)).toFixed(2)}×`,
        ]);
      }
    }
  } finally {
    await stopChild(child);
  }
  return {
    bench: 'throughput',
    title: 'calls per second and latency, closed loop, clients and servers in separate processes',
    params: { messageBytes: MESSAGE_BYTES, inFlightPerConnection: inFlight, durationMs },
    rows: [],
    ratios: [],
    notes: [
      'undici talks HTTP/1.1 to a node:http server; grpc-js talks HTTP/2 to a grpc-js server (identity serializers: no protobuf cost); the raw echo has no framing, ids or pool: the floor no protocol can beat',
    ],
    tables: [table],
  };
}
