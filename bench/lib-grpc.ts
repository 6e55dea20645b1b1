/**
 * grpc-js as the benches' measured peer: one generic unary method with raw Buffer (de)serializers
 * (no protoc, no codegen, no protobuf cost: the bytes of a call are the bytes the bench gives),
 * a server helper and a promise-returning call. Used by bench/idle-reap, bench/throughput and
 * bench/hostile and by their server processes.
 */
import { createRequire } from 'node:module';
import net from 'node:net';

import * as grpc from '@grpc/grpc-js';

/** The installed grpc-js version, for labels ("grpc-js 1.14.7"). */
export const GRPC_JS_VERSION = (createRequire(import.meta.url)('@grpc/grpc-js/package.json') as { version: string }).version;

const identity = (b: Buffer): Buffer => b;

/** `/bench.Bench/Call`: a unary call, request and response bodies are opaque bytes. */
export const GRPC_METHOD_PATH = '/bench.Bench/Call';

const service: grpc.ServiceDefinition = {
  call: {
    path: GRPC_METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** The unary handler a bench server gives: the request body in, the response body out (or a promise of it). */
export type GrpcHandler = (body: Buffer) => Buffer | Promise<Buffer>;

/** A grpc-js server (a child process of its own in every bench) serving {@link GRPC_METHOD_PATH} with `handler`. */
export function createGrpcServer(handler: GrpcHandler, options: grpc.ServerOptions = {}): grpc.Server {
  const server = new grpc.Server(options);
  server.addService(service, {
    call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (out) => callback(null, out),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: String(err) }),
        );
    },
  });
  return server;
}

/** Binds `server` to 127.0.0.1 on a free port, without TLS. */
export function bindGrpc(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** A grpc-js server behind a `net.Server` of ours that counts the connections it is handed. */
export interface CountedGrpcListener {
  port: number;
  /** Connections accepted and handed to grpc-js; dropped: closed at once for being over `maxConnections`. */
  counts: { accepted: number; dropped: number };
  close(): void;
}

/**
 * Serves `server` on 127.0.0.1 through a counting listener: grpc-js has no connection event nor a
 * connection limit of its own, so a `net.Server` accepts, counts and hands each socket over with
 * `createConnectionInjector` (the same HTTP/2 session setup, idle timer included, as `bindAsync`).
 * `maxConnections` is Node's `net.Server.maxConnections`: a connection over it is closed at once.
 */
export async function listenCounted(server: grpc.Server, maxConnections?: number): Promise<CountedGrpcListener> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const counts = { accepted: 0, dropped: 0 };
  const listener = net.createServer((socket) => {
    counts.accepted++;
    injector.injectConnection(socket);
  });
  if (maxConnections !== undefined) listener.maxConnections = maxConnections;
  listener.on('drop', () => counts.dropped++);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as net.AddressInfo).port,
    counts,
    close: () => {
      listener.close();
      injector.destroy();
    },
  };
}

const GenericClient = grpc.makeGenericClientConstructor(service, 'Bench');

/** A grpc-js client: one channel to `port`. */
export interface GrpcBenchClient {
  call(body: Buffer): Promise<Buffer>;
  close(): void;
}

/**
 * A client with its own channel. `grpc.use_local_subchannel_pool` keeps its connection its own:
 * by default grpc-js shares one subchannel (one TCP connection) between every channel of the
 * process with the same target and options, which would make "one client per caller" a lie.
 */
export function createGrpcClient(port: number, options: grpc.ChannelOptions = {}): GrpcBenchClient {
  const client = new GenericClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    ...options,
  });
  return {
    call: (body) =>
      new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest<Buffer, Buffer>(GRPC_METHOD_PATH, identity, identity, body, (err, out) => {
          if (err) reject(err);
          else resolve(out as Buffer);
        });
      }),
    close: () => client.close(),
  };
}

export { grpc };
