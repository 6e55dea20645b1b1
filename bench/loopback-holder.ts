/**
 * A child process of bench/doctor.ts and bench/proc-scan.ts (started through bench/lib-holders.ts)
 * that holds one end of many loopback connections, so each holder stays under the per-process
 * descriptor limit and the benchmark's own process stays small (its /proc/PID/fd is scanned too).
 *
 *   loopback-holder.js server <host> <count> <backlog>
 *       listen on <host>:0, accept <count> connections and never read them (pauseOnConnect), so
 *       a FIN from the client leaves the server end in CLOSE_WAIT for good
 *   loopback-holder.js client <host> <port> <count> <batch> <halfClose>
 *       connect <count> times, <batch> at a time; then end() (shutdown SHUT_WR, FIN) the first
 *       <halfClose> of them (none when 0) and keep them open: the client end waits in FIN_WAIT2
 *
 * Talks to its parent over the fork() IPC channel: {type:'listening',port}, {type:'progress',n},
 * {type:'ready',n}, {type:'error',message}. On {type:'stop'}, SIGTERM, SIGINT or when the parent
 * goes away, it resets every connection (RST, so no TIME_WAIT is left behind) and exits.
 */
import net from 'node:net';

type Msg = { type: 'listening'; port: number } | { type: 'progress'; n: number } | { type: 'ready'; n: number } | { type: 'error'; message: string };

const sockets: net.Socket[] = [];
let server: net.Server | undefined;
let stopping = false;

function send(m: Msg): void {
  if (process.connected) process.send?.(m);
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  server?.close();
  for (const s of sockets) if (!s.destroyed) s.resetAndDestroy();
  // Let libuv close the handles (each close sends its RST), then go.
  setTimeout(() => process.exit(0), 300).unref();
  setImmediate(() => setImmediate(() => process.exit(0)));
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stop') stop();
});

function fail(err: unknown): void {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  stop();
}

function keep(s: net.Socket): void {
  s.on('error', () => {}); // a peer's RST at teardown
  sockets.push(s);
}

async function runServer(host: string, count: number, backlog: number): Promise<void> {
  const srv = net.createServer({ pauseOnConnect: true });
  server = srv;
  srv.on('connection', (s) => {
    keep(s);
    if (sockets.length === count) send({ type: 'ready', n: count });
  });
  srv.on('error', fail);
  await new Promise<void>((resolve) => srv.listen({ host, port: 0, backlog }, resolve));
  send({ type: 'listening', port: (srv.address() as net.AddressInfo).port });
}

function connectOne(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function runClient(host: string, port: number, count: number, batch: number, halfClose: number): Promise<void> {
  while (sockets.length < count && !stopping) {
    const n = Math.min(batch, count - sockets.length);
    const made = await Promise.all(Array.from({ length: n }, () => connectOne(host, port)));
    for (const s of made) {
      s.pause();
      keep(s);
    }
    send({ type: 'progress', n: sockets.length });
  }
  for (let i = 0; i < halfClose && i < sockets.length; i++) sockets[i]?.end();
  send({ type: 'ready', n: sockets.length });
}

const [role, a, b, c, d, e] = process.argv.slice(2);
if (role === 'server') runServer(String(a), Number(b), Number(c)).catch(fail);
else if (role === 'client') runClient(String(a), Number(b), Number(c), Number(d), Number(e)).catch(fail);
else fail(new Error(`unknown holder role ${String(role)}`));
