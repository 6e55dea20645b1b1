import { flagString } from '../../src/tcp/index.js';
import { World, type CallResult, type Endpoint, type Process, type WorldOptions } from '../../src/model/index.js';

/** A world with a server and a client process, and names for addresses in segment lines. */
export class Lab {
  readonly w: World;
  readonly server: Process;
  readonly client: Process;
  readonly names = new Map<string, string>();
  /** Endpoints by `pid:fd`, kept after close() so a test can follow an orphan. */
  readonly #eps = new Map<string, Endpoint>();

  constructor(opts: WorldOptions = {}) {
    this.w = new World(opts);
    this.server = this.w.host.spawn('server');
    this.client = this.w.host.spawn('client');
  }

  get now(): number {
    return this.w.clock.nowMs;
  }

  advance(ms: number): void {
    this.w.clock.advance(ms);
  }

  /** listen() on an ephemeral port; returns the fd and the address. */
  listen(backlog = 128): { fd: number; addr: string } {
    const fd = value(this.server.socket());
    value(this.server.listen(fd, backlog));
    const ep = this.server.endpoint(fd)!;
    this.names.set(ep.local, 'L');
    return { fd, addr: ep.local };
  }

  /** connect() from the client, names its address `name`; does not advance time. */
  connect(addr: string, name = 'c'): number {
    const fd = value(this.client.socket());
    const r = this.client.connect(fd, addr);
    if (r.ok || r.errno !== 'EINPROGRESS') throw new Error(`connect: ${JSON.stringify(r)}`);
    this.names.set(this.ep(this.client, fd).local, name);
    return fd;
  }

  /** A connected, accepted pair after 1 ms of handshake. */
  pair(backlog = 128): { L: number; c: number; s: number; addr: string } {
    const { fd: L, addr } = this.listen(backlog);
    const c = this.connect(addr);
    this.advance(1);
    const s = value(this.server.accept(L));
    this.ep(this.server, s);
    this.names.set(addr, 's');
    return { L, c, s, addr };
  }

  /** Segments from index `from` as `time src>dst flags seq ack len [reason]` lines (relative seq/ack). */
  wire(from = 0): string[] {
    return this.w.network.segments.slice(from).map((g) => {
      const n = (a: string): string => this.names.get(a) ?? a;
      const reason = g.rstReason ? ` ${g.rstReason}` : '';
      return `${g.timeMs.toFixed(2)} ${n(g.src)}>${n(g.dst)} ${flagString(g.flags)} ${g.seq ?? '-'}:${g.ack ?? '-'} len ${g.length}${reason}`;
    });
  }

  get segCount(): number {
    return this.w.network.segments.length;
  }

  /** The endpoint behind `fd` of `p`, remembered past close(). */
  ep(p: Process, fd: number): Endpoint {
    const k = `${p.pid}:${fd}`;
    const live = p.endpoint(fd);
    if (live !== undefined && this.#eps.get(k) !== live) this.#eps.set(k, live);
    const ep = this.#eps.get(k);
    if (ep === undefined) throw new Error(`no endpoint for ${k}`);
    return ep;
  }

  /** The state /proc would show for the client end `fd`'s connection, or null. */
  clientState(fd: number): string | null {
    const ep = this.ep(this.client, fd);
    return this.w.host.stateOf(ep.local, ep.remote);
  }

  serverState(fd: number): string | null {
    const ep = this.ep(this.server, fd);
    return this.w.host.stateOf(ep.local, ep.remote);
  }
}

/** The value of a successful call; throws with the errno otherwise. */
export function value<T>(r: CallResult<T>): T {
  if (!r.ok) throw new Error(`call failed: ${r.errno}`);
  return r.value as T;
}
