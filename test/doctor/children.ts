// Misbehaving peers for the doctor's live tests: real node processes with real sockets. Each is
// a small ES module passed with -e; it prints one JSON line when ready. Every child is tracked
// and ended by pid in killAll() (SIGTERM, then SIGKILL after 1 s: see kill()), which every test
// file calls from after().
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { takeSnapshot, type DoctorSnapshot } from '../../src/doctor/index.js';

export interface Child {
  pid: number;
  /** What the child printed when ready. */
  ready: { port?: number; localPort?: number };
  proc: ChildProcess;
}

const children = new Set<ChildProcess>();

/** Kills every child still alive (SIGKILL by pid) and waits for each to exit. */
export async function killAll(): Promise<void> {
  await Promise.all([...children].map(kill));
}

/**
 * Ends a child by pid: SIGTERM first (children holding sockets answer it by resetting them, so
 * no TIME_WAIT is left behind to collide with later tests' ports), SIGKILL after 1 s.
 */
export async function kill(c: ChildProcess | Child): Promise<void> {
  const proc = 'proc' in c ? c.proc : c;
  children.delete(proc);
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals): boolean => {
    try {
      process.kill(proc.pid as number, sig);
      return true;
    } catch {
      return false; // already gone
    }
  };
  if (!signal('SIGTERM')) return;
  const timer = setTimeout(() => signal('SIGKILL'), 1000);
  await exited;
  clearTimeout(timer);
}

/** Script lines: on SIGTERM, reset (RST) every socket in `held` and exit. */
const RESET_ON_TERM = `process.on('SIGTERM', () => { for (const s of held) s.resetAndDestroy(); setTimeout(() => process.exit(0), 20); });`;

/** Starts `node -e script` (an ES module) and waits for its first stdout line, parsed as JSON. */
export async function startNode(script: string, env: Record<string, string> = {}, prefix: string[] = []): Promise<Child> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  const argv = [...prefix, process.execPath, '--input-type=module', '-e', script];
  const proc = spawn(argv[0] as string, argv.slice(1), { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const ready = await new Promise<Child['ready']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child not ready after 10 s; stderr: ${err}`)), 10_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(out.slice(0, nl)) as Child['ready']);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`child exited before ready (${code ?? signal}); stderr: ${err}`));
    });
  });
  return { pid: proc.pid as number, ready, proc };
}

/**
 * A server that accepts and never closes (seed 002-f). `read-eof`: reads to EOF ('end') and
 * leaves the socket open (allowHalfOpen), so CLOSE_WAIT with Recv-Q 0. `never-read`: never reads
 * (pauseOnConnect), so CLOSE_WAIT with the data and the FIN unread (Recv-Q >= 1).
 */
export function leakyServer(mode: 'read-eof' | 'never-read'): Promise<Child> {
  return startNode(
    `import net from 'node:net';
     const held = [];
     const srv = net.createServer({ allowHalfOpen: true, pauseOnConnect: process.env.MODE === 'never-read' }, (s) => {
       held.push(s);
       if (process.env.MODE === 'read-eof') { s.on('data', () => {}); s.on('end', () => {}); }
     });
     ${RESET_ON_TERM}
     srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port })));`,
    { MODE: mode },
  );
}

/** A server whose event loop is stalled right after listen(): accept() never runs (seed 001). */
export function stalledServer(backlog = 511): Promise<Child> {
  return startNode(
    `import net from 'node:net';
     const srv = net.createServer(() => {});
     srv.listen({ port: 0, host: '127.0.0.1', backlog: Number(process.env.BACKLOG) }, () => {
       console.log(JSON.stringify({ port: srv.address().port }));
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks the event loop for ever
     });`,
    { BACKLOG: String(backlog) },
  );
}

/**
 * A client that connects, writes "ping", closes (close(): FIN) and exits: its end becomes an
 * orphaned FIN_WAIT2.
 */
export async function closingClient(port: number, count = 1): Promise<void> {
  const c = await startNode(
    `import net from 'node:net';
     let left = Number(process.env.COUNT);
     const ports = [];
     for (let i = 0; i < Number(process.env.COUNT); i++) {
       const s = net.connect(Number(process.env.PORT), '127.0.0.1', () => {
         ports.push(s.localPort);
         s.end('ping', () => { s.destroy(); if (--left === 0) { console.log(JSON.stringify({ localPort: ports[0] })); process.exit(0); } });
       });
     }`,
    { PORT: String(port), COUNT: String(count) },
  );
  await new Promise<void>((resolve) => (c.proc.exitCode !== null ? resolve() : c.proc.once('exit', () => resolve())));
  children.delete(c.proc);
}

/**
 * A client that half-closes (end(): shutdown(SHUT_WR), FIN) and then waits, keeping its socket:
 * FIN_WAIT2 held by a process, waiting for a FIN that a never-closing server never sends (004-j).
 */
export function halfClosingClient(port: number): Promise<Child> {
  return startNode(
    `import net from 'node:net';
     const s = net.connect({ port: Number(process.env.PORT), host: '127.0.0.1', allowHalfOpen: true }, () => {
       s.end('ping', () => console.log(JSON.stringify({ localPort: s.localPort })));
     });
     const held = [s];
     ${RESET_ON_TERM}
     s.on('data', () => {});
     setInterval(() => {}, 1 << 30);`,
    { PORT: String(port) },
  );
}

/** A client that opens, writes and closes a connection every `everyMs`, for ever. */
export function repeatingClient(port: number, everyMs: number): Promise<Child> {
  return startNode(
    `import net from 'node:net';
     const once = () => { const s = net.connect(Number(process.env.PORT), '127.0.0.1', () => s.end('ping', () => s.destroy())); s.on('error', () => {}); };
     once();
     setInterval(once, Number(process.env.EVERY));
     console.log('{}');`,
    { PORT: String(port), EVERY: String(everyMs) },
  );
}

/** Polls the sockets with these ports until `ok` holds (or 5 s pass) and returns the last snapshot. */
export async function until(ports: number[], ok: (s: DoctorSnapshot) => boolean): Promise<DoctorSnapshot> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const snap = await takeSnapshot({ ports });
    if (ok(snap) || Date.now() > deadline) return snap;
    await sleep(50);
  }
}

/**
 * A server that closes every connection at once (end(): FIN), and a client process that opens
 * `count` connections to it and never closes them after reading the EOF (allowHalfOpen): the
 * client's ends sit in CLOSE_WAIT on ephemeral ports, pointing at the server's port (issue 13, 5).
 */
export async function clientSideLeak(count: number): Promise<{ server: Child; client: Child; port: number }> {
  const server = await startNode(
    `import net from 'node:net';
     const held = [];
     const srv = net.createServer((s) => { s.on('error', () => {}); s.end(); });
     ${RESET_ON_TERM}
     srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port })));`,
  );
  const port = server.ready.port as number;
  const client = await startNode(
    `import net from 'node:net';
     const held = [];
     let left = Number(process.env.COUNT);
     for (let i = 0; i < Number(process.env.COUNT); i++) {
       const s = net.connect({ port: Number(process.env.PORT), host: '127.0.0.1', allowHalfOpen: true });
       held.push(s);
       s.on('data', () => {});
       s.on('end', () => { if (--left === 0) console.log('{}'); });
     }
     ${RESET_ON_TERM}
     setInterval(() => {}, 1 << 30);`,
    { PORT: String(port), COUNT: String(count) },
  );
  return { server, client, port };
}

/**
 * A server that hands each accepted connection to a child process as its fd 3 (a descriptor
 * inherited at spawn, as after fork()) and keeps its own copy without ever reading it; the child
 * reads to EOF and never closes. Both hold the socket (issue 13, 6). Prints the child's pid.
 */
export function forkSharingServer(): Promise<Child> {
  return startNode(
    `import net from 'node:net';
     import { spawn } from 'node:child_process';
     const held = [];
     const kids = [];
     const srv = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => {
       held.push(s);
       const kid = spawn(process.execPath, ['-e', "const net = require('node:net'); const s = new net.Socket({ fd: 3, allowHalfOpen: true, readable: true, writable: true }); s.on('data', () => {}); s.on('end', () => {}); setInterval(() => {}, 1 << 30);"], { stdio: ['ignore', 'ignore', 'ignore', s] });
       kids.push(kid);
       console.log(JSON.stringify({ port: srv.address().port, child: kid.pid }));
     });
     process.on('SIGTERM', () => { for (const k of kids) k.kill('SIGKILL'); for (const s of held) s.resetAndDestroy(); setTimeout(() => process.exit(0), 50); });
     srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port })));`,
  );
}

/**
 * A receiver that never reads, and a sender process that fills its kernel send buffer toward it,
 * calls end() and exits: its socket becomes an orphaned FIN_WAIT1 holding megabytes in Send-Q,
 * probing a zero window (issue 13, 9).
 */
export async function stuckSender(): Promise<{ receiver: Child; port: number }> {
  const receiver = await startNode(
    `import net from 'node:net';
     const held = [];
     const srv = net.createServer({ pauseOnConnect: true }, (s) => held.push(s));
     ${RESET_ON_TERM}
     srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port })));`,
  );
  const port = receiver.ready.port as number;
  const sender = await startNode(
    `import net from 'node:net';
     const s = net.connect(Number(process.env.PORT), '127.0.0.1');
     const chunk = Buffer.alloc(1 << 16, 120);
     let last = Date.now();
     s.on('connect', () => {
       const pump = () => { while (s.write(chunk)) {} last = Date.now(); };
       pump();
       s.on('drain', pump);
       const t = setInterval(() => { if (Date.now() - last > 400) { clearInterval(t); s.end(); console.log('{}'); setTimeout(() => process.exit(0), 50); } }, 100);
     });`,
    { PORT: String(port) },
  );
  await new Promise<void>((resolve) => (sender.proc.exitCode !== null ? resolve() : sender.proc.once('exit', () => resolve())));
  children.delete(sender.proc);
  return { receiver, port };
}

/** Runs `node --input-type=module -e script` inside network namespace `ns` (ip netns exec), tracked like the others. */
export function startNodeIn(ns: string, script: string, env: Record<string, string> = {}): Promise<Child> {
  return startNode(script, env, ['ip', 'netns', 'exec', ns]);
}
