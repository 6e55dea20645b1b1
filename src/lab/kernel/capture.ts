/**
 * Packet capture for the kernel backend: tcpdump on the (namespace's) loopback, its text output
 * parsed into {@link Segment}s.
 *
 * Why text and not pcap: the lab only needs the TCP header fields tcpdump prints on one line, and a
 * line is something a human can check against `tcpdump` run by hand. The one field tcpdump does not
 * print is the sequence number of a segment that carries no data, SYN, FIN or RST (a pure ACK, a
 * keepalive probe, a window probe); those segments get `seq: null`. We do not guess it: a
 * keepalive probe deliberately uses `snd_una - 1`, so "the sender's next sequence number" would be
 * wrong for exactly the segments a teardown lab cares about.
 *
 * Capture is optional equipment. {@link PacketCapture.start} never throws for an environment that
 * cannot capture (no tcpdump, no privilege, no namespace); it answers {@link CaptureUnavailable}
 * with a reason, and the caller reports "packets not captured" and carries on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Segment, TcpFlag } from '../../tcp/segment.js';

// ---------------------------------------------------------------------------------------------
// Parsing (pure)
// ---------------------------------------------------------------------------------------------

/** One TCP line of `tcpdump -nn -tt -S` output, numbers as printed (absolute). */
export interface TcpLine {
  kind: 'tcp';
  /** Kernel receive timestamp, microseconds since the epoch (exact integer). */
  epochUs: number;
  family: 4 | 6;
  /** `ip:port`, IPv6 as `[addr]:port`. */
  src: string;
  dst: string;
  flags: TcpFlag[];
  /** Absolute sequence number; `null` when tcpdump printed none (a segment without data/SYN/FIN/RST). */
  seq: number | null;
  /** End of the `seq a:b` range (absolute), `null` when no range was printed. */
  seqEnd: number | null;
  /** Absolute acknowledgement number; `null` without ACK. */
  ack: number | null;
  window: number;
  /** TCP payload length in bytes. */
  length: number;
  raw: string;
}

/** One UDP line (the capture's flush markers are UDP datagrams to port 9). */
export interface UdpLine {
  kind: 'udp';
  epochUs: number;
  family: 4 | 6;
  src: string;
  dst: string;
  length: number;
  raw: string;
}

export type ParsedLine = TcpLine | UdpLine;

/** A segment as the capture records it: {@link Segment} plus the kernel's absolute timestamp. */
export interface CapturedSegment extends Segment {
  /** Kernel timestamp, milliseconds since the epoch (microsecond fraction), comparable to `Date.now()`. */
  epochMs: number;
}

const FLAG_LETTERS: Readonly<Record<string, TcpFlag>> = {
  S: 'SYN',
  F: 'FIN',
  R: 'RST',
  P: 'PSH',
  '.': 'ACK',
  U: 'URG',
  E: 'ECE',
  W: 'CWR',
};

// `1795248586.906523 IP 127.0.0.1.42478 > 127.0.0.1.43645: Flags [S], seq 2311755256, ...`
// `1795248587.019857 IP6 ::1.50148 > ::1.36341: Flags [S], ...`
// The port is whatever follows the last dot of each address (IPv4 and IPv6 alike).
const LINE_RE = /^(\d+)\.(\d{1,9}) (IP6?) (\S+)\.(\d{1,5}) > (\S+)\.(\d{1,5}): (.*)$/;
const FLAGS_RE = /^Flags \[([^\]]*)\](.*)$/;

function endpoint(address: string, port: string, family: 4 | 6): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Parses one line of `tcpdump -nn -tt -S` output (with or without `-K`, `-l`, `-U`).
 * @returns the TCP or UDP line, or `null` for anything else (blank lines, stderr chatter, other
 *   protocols, truncated headers such as `[|tcp]`). Never throws.
 */
export function parseTcpdumpLine(line: string): ParsedLine | null {
  const text = line.replace(/\r?\n$/, '');
  const m = LINE_RE.exec(text);
  if (!m) return null;
  const [, secs, frac, proto, srcAddr, srcPort, dstAddr, dstPort, rest] = m as unknown as string[];
  // -tt prints microseconds, --nano nanoseconds; keep microseconds, as an exact integer.
  const epochUs = Number(secs) * 1e6 + Number((frac as string).padEnd(6, '0').slice(0, 6));
  const family: 4 | 6 = proto === 'IP6' ? 6 : 4;
  const src = endpoint(srcAddr as string, srcPort as string, family);
  const dst = endpoint(dstAddr as string, dstPort as string, family);
  const body = rest as string;

  const udp = /^UDP, length (\d+)/.exec(body);
  if (udp) return { kind: 'udp', epochUs, family, src, dst, length: Number(udp[1]), raw: text };

  const f = FLAGS_RE.exec(body);
  if (!f) return null;
  const letters = f[1] as string;
  const fields = f[2] as string;
  // Only look at the TCP header fields, i.e. before `, length N` (an application decoder may
  // print anything after `length N:`).
  const lengthMatch = /, length (\d+)/.exec(fields);
  if (!lengthMatch) return null;
  const header = fields.slice(0, lengthMatch.index);

  const flags: TcpFlag[] = [];
  if (letters !== 'none') {
    for (const ch of letters) {
      const flag = FLAG_LETTERS[ch];
      // Letters we do not model (tcpdump 4.99.5+ prints `e` for AE) are dropped, not fatal.
      if (flag !== undefined && !flags.includes(flag)) flags.push(flag);
    }
  }
  const seqM = /, seq (\d+)(?::(\d+))?/.exec(header);
  const ackM = /, ack (\d+)/.exec(header);
  const winM = /, win (\d+)/.exec(header);
  if (!winM) return null;
  return {
    kind: 'tcp',
    epochUs,
    family,
    src,
    dst,
    flags,
    seq: seqM ? Number(seqM[1]) : null,
    seqEnd: seqM?.[2] !== undefined ? Number(seqM[2]) : null,
    ack: ackM ? Number(ackM[1]) : null,
    window: Number(winM[1]),
    length: Number(lengthMatch[1]),
    raw: text,
  };
}

/** `a - b` modulo 2^32: sequence-space distance. */
function seqDiff(a: number, b: number): number {
  return (a - b) >>> 0;
}

/**
 * Turns absolute sequence numbers into numbers relative to each direction's ISN, one line at a
 * time (the capture feeds it live). A direction's ISN is the `seq` of its SYN; a segment whose
 * sender's SYN was not seen keeps `seq: null` (and `ack: null` when the receiver's SYN was not
 * seen).
 */
export class Relativizer {
  /** ISN per direction, keyed `src>dst`. */
  private readonly isn = new Map<string, number>();
  private originUs: number | null;

  /** @param originEpochMs time zero for `timeMs`; default: the first line pushed. */
  constructor(originEpochMs?: number) {
    this.originUs = originEpochMs === undefined ? null : Math.round(originEpochMs * 1000);
  }

  push(line: TcpLine): CapturedSegment {
    if (this.originUs === null) this.originUs = line.epochUs;
    const key = `${line.src}>${line.dst}`;
    const reverse = `${line.dst}>${line.src}`;
    if (line.flags.includes('SYN') && line.seq !== null) {
      const known = this.isn.get(key);
      // A SYN without ACK carrying a different ISN on a 4-tuple we already know is a new
      // incarnation of the connection (port reuse, e.g. after TIME_WAIT): the peer's old ISN no
      // longer applies. A first SYN must not clear the reverse direction: in a simultaneous open
      // both SYNs are "first" and each needs the other's ISN.
      if (known !== undefined && known !== line.seq && !line.flags.includes('ACK')) this.isn.delete(reverse);
      this.isn.set(key, line.seq);
    }
    const ownIsn = this.isn.get(key);
    const peerIsn = this.isn.get(reverse);
    return {
      timeMs: (line.epochUs - this.originUs) / 1000,
      epochMs: line.epochUs / 1000,
      src: line.src,
      dst: line.dst,
      flags: [...line.flags],
      seq: line.seq !== null && ownIsn !== undefined ? seqDiff(line.seq, ownIsn) : null,
      ack: line.ack !== null && peerIsn !== undefined ? seqDiff(line.ack, peerIsn) : null,
      length: line.length,
      window: line.window,
    };
  }
}

/**
 * Relative segments from parsed lines (non-TCP lines are skipped).
 * @param originEpochMs time zero for `timeMs`; default: the first TCP line's timestamp.
 */
export function relativize(lines: readonly (ParsedLine | null)[], originEpochMs?: number): CapturedSegment[] {
  const r = new Relativizer(originEpochMs);
  const out: CapturedSegment[] = [];
  for (const line of lines) if (line?.kind === 'tcp') out.push(r.push(line));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The live capture
// ---------------------------------------------------------------------------------------------

export interface CaptureOptions {
  /** Network namespace to capture in (`ip netns exec NS tcpdump …`); `undefined` = this process's. */
  netns?: string;
  /** Interface; default `lo`. The flush marker only works on `lo` and `any`. */
  iface?: string;
  /** Capture only TCP on these ports; default: all TCP (right for a fresh namespace). */
  ports?: number[];
  /** How long to wait for tcpdump to report `listening on …`; default 3000. */
  listenTimeoutMs?: number;
  /** How long stop() waits for its flush marker; default 2000. */
  flushTimeoutMs?: number;
  /** tcpdump executable; default: looked up in PATH and the sbin directories. */
  tcpdumpPath?: string;
}

/** What {@link PacketCapture.start} answers when this environment cannot capture. */
export interface CaptureUnavailable {
  available: false;
  /** Why, e.g. `tcpdump not installed`, `not permitted: needs root or CAP_NET_RAW (…)`. */
  reason: string;
}

/** tcpdump's own counters, printed to stderr when it exits. */
export interface CaptureStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
}

/** The UDP port flush markers are sent to (discard; nobody listens, nothing answers but ICMP). */
const MARKER_PORT = 9;
const MARKER_HOST = '127.0.0.1';
const MARKER_PAYLOAD = 'tcp-teardown capture flush marker';
const SNAPLEN = 128; // 14 Ethernet + 40 IPv6 + 60 TCP with every option = 114

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

function findExecutable(name: string): string | null {
  if (isAbsolute(name)) return isExecutable(name) ? name : null;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The BPF filter: the TCP we want, plus our flush markers. */
export function captureFilter(ports?: readonly number[]): string {
  const tcp = ports && ports.length > 0 ? `tcp and (${ports.map((p) => `port ${p}`).join(' or ')})` : 'tcp';
  return `(${tcp}) or (udp and dst host ${MARKER_HOST} and dst port ${MARKER_PORT})`;
}

/** Turns tcpdump's / ip's complaint into a short reason a report can print. */
function classifyFailure(stderr: string, opts: { netns: string | undefined; iface: string }): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/verbose output suppressed/.test(l));
  const detail = lines.slice(-2).join(' / ');
  if (/Cannot open network namespace/i.test(stderr)) return `no network namespace ${opts.netns ?? ''}: ${detail}`;
  if (/exec of .* failed: No such file/i.test(stderr)) return `tcpdump not installed (${detail})`;
  if (/permission|not permitted/i.test(stderr)) {
    return opts.netns !== undefined
      ? `not permitted: needs root (ip netns exec) or CAP_NET_RAW (${detail})`
      : `not permitted: needs root or CAP_NET_RAW (${detail})`;
  }
  if (/No such device|doesn't exist/i.test(stderr)) return `no interface ${opts.iface}: ${detail}`;
  return detail || 'tcpdump failed without a message';
}

/** Every capture not yet known to have exited, for the process 'exit' guard. */
const live = new Set<PacketCapture>();
let exitGuardInstalled = false;
function installExitGuard(): void {
  if (exitGuardInstalled) return;
  exitGuardInstalled = true;
  // Never leave tcpdump running: on a normal exit (or process.exit) kill whatever is left.
  // A fatal signal with no handler (or SIGKILL) bypasses 'exit': tcpdump then dies of SIGPIPE at
  // its next write to our closed stdout, i.e. only when another packet matches. Deleting its
  // namespace does not end it (it holds a reference). Callers should stop() in finally and hook
  // their signals to process.exit.
  process.on('exit', () => {
    for (const c of live) c.kill();
  });
}

/**
 * A running tcpdump. Obtain one with {@link PacketCapture.start}; always end it with
 * {@link PacketCapture.stop} (or {@link PacketCapture.kill} in an emergency).
 */
export class PacketCapture {
  readonly available = true as const;
  /** tcpdump's pid (`ip netns exec` execs it, so it is the child's pid). */
  readonly pid: number;
  readonly netns: string | undefined;
  readonly iface: string;
  readonly filter: string;
  /** `Date.now()` just before tcpdump was spawned: time zero of every segment's `timeMs`. */
  readonly startedAtEpochMs: number;
  /** Output lines that were neither TCP segments nor flush markers. */
  readonly rawLines: string[] = [];
  /**
   * After stop(): `true` when the flush marker was seen (every segment sent before stop() is in the
   * result), `false` when it was not (see {@link flushProblem}); `null` before.
   */
  flushConfirmed: boolean | null = null;
  flushProblem: string | null = null;
  /** tcpdump's counters from its exit message, when it printed them. */
  stats: CaptureStats | null = null;

  private readonly child: ChildProcess;
  private readonly flushTimeoutMs: number;
  private readonly relativizer: Relativizer;
  private readonly segments: CapturedSegment[] = [];
  private stdoutRest = '';
  private stderrText = '';
  private exited = false;
  private readonly closed: Promise<void>;
  private readonly markerPorts = new Set<number>();
  private markerWaiters: { port: number; done: (seen: boolean) => void }[] = [];
  private helper: ChildProcess | null = null;
  private stopping: Promise<CapturedSegment[]> | null = null;

  private constructor(child: ChildProcess, opts: { netns: string | undefined; iface: string; filter: string; startedAtEpochMs: number; flushTimeoutMs: number }) {
    this.child = child;
    this.pid = child.pid ?? -1;
    this.netns = opts.netns;
    this.iface = opts.iface;
    this.filter = opts.filter;
    this.startedAtEpochMs = opts.startedAtEpochMs;
    this.flushTimeoutMs = opts.flushTimeoutMs;
    this.relativizer = new Relativizer(opts.startedAtEpochMs);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrText += chunk;
    });
    child.on('exit', () => {
      this.exited = true;
    });
    this.closed = new Promise((resolve) => {
      const finish = (): void => {
        this.exited = true;
        if (this.stdoutRest) this.onLine(this.stdoutRest);
        this.stdoutRest = '';
        this.parseStats();
        for (const w of this.markerWaiters) w.done(false);
        this.markerWaiters = [];
        live.delete(this);
        resolve();
      };
      child.once('close', finish);
      // A spawn failure ('error' without a process) emits 'close' too on Node 20, but be sure.
      child.once('error', () => {
        if (child.pid === undefined) finish();
      });
    });
  }

  /**
   * Starts tcpdump and resolves once it is capturing (it printed `listening on IFACE`), or with
   * {@link CaptureUnavailable} when it cannot (not installed, not permitted, no such namespace or
   * interface, no `listening` within `listenTimeoutMs`).
   * @throws RangeError only for invalid options (a programming error, not an environment problem).
   */
  static async start(opts: CaptureOptions = {}): Promise<PacketCapture | CaptureUnavailable> {
    const iface = opts.iface ?? 'lo';
    const netns = opts.netns;
    for (const p of opts.ports ?? []) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`ports: ${p} is not a TCP port (1..65535)`);
    }
    const listenTimeoutMs = opts.listenTimeoutMs ?? 3000;
    const flushTimeoutMs = opts.flushTimeoutMs ?? 2000;
    if (!(listenTimeoutMs > 0)) throw new RangeError(`listenTimeoutMs must be > 0, got ${listenTimeoutMs}`);
    if (!(flushTimeoutMs > 0)) throw new RangeError(`flushTimeoutMs must be > 0, got ${flushTimeoutMs}`);
    if (netns !== undefined && !/^[A-Za-z0-9_.-]+$/.test(netns)) throw new RangeError(`netns: ${JSON.stringify(netns)} is not a namespace name`);

    if (process.platform !== 'linux') return { available: false, reason: `capture needs Linux (this is ${process.platform})` };
    const tcpdump = findExecutable(opts.tcpdumpPath ?? 'tcpdump');
    if (tcpdump === null) return { available: false, reason: `tcpdump not installed${opts.tcpdumpPath ? ` (no ${opts.tcpdumpPath})` : ''}` };
    let command = tcpdump;
    let prefix: string[] = [];
    if (netns !== undefined) {
      const ip = findExecutable('ip');
      if (ip === null) return { available: false, reason: `ip(8) not installed (needed to enter network namespace ${netns})` };
      command = ip;
      prefix = ['netns', 'exec', netns, tcpdump];
    }
    const filter = captureFilter(opts.ports);
    const args = (immediate: boolean): string[] => [
      ...prefix,
      '-i', iface,
      '-nn', // no host or port names: no DNS, numbers to parse
      '-tt', // epoch timestamps (the kernel's), comparable to Date.now()
      '-S', // absolute sequence numbers; we relativize ourselves, per direction
      '-K', // do not verify checksums (loopback leaves them to offload: every one looks "incorrect")
      '-l', // line-buffered stdout: each packet's line is written as it is decoded
      '-U', // packet-buffered (matters with -w; harmless here)
      // Hand packets over at once instead of when a TPACKET_V3 block fills or times out (1 s).
      ...(immediate ? ['--immediate-mode'] : []),
      '-s', String(SNAPLEN),
      filter,
    ];
    const launch = { command, netns, iface, filter, listenTimeoutMs, flushTimeoutMs };
    const first = await PacketCapture.launch({ ...launch, args: args(true) });
    // tcpdump older than 4.7 does not know --immediate-mode; without it packets may arrive up to
    // a second late, which the flush marker still covers.
    if (!first.available && /unrecognized option|invalid option|unknown option/i.test(first.reason)) {
      return PacketCapture.launch({ ...launch, args: args(false) });
    }
    return first;
  }

  private static async launch(o: {
    command: string;
    args: string[];
    netns: string | undefined;
    iface: string;
    filter: string;
    listenTimeoutMs: number;
    flushTimeoutMs: number;
  }): Promise<PacketCapture | CaptureUnavailable> {
    const { netns, iface, listenTimeoutMs } = o;
    const startedAtEpochMs = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(o.command, o.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    } catch (err) {
      return { available: false, reason: `cannot start tcpdump: ${(err as Error).message}` };
    }
    const capture = new PacketCapture(child, { netns, iface, filter: o.filter, startedAtEpochMs, flushTimeoutMs: o.flushTimeoutMs });
    if (child.pid !== undefined) {
      live.add(capture);
      installExitGuard();
    }

    const outcome = await new Promise<{ ok: true } | { ok: false; reason: string }>((resolve) => {
      let settled = false;
      const settle = (v: { ok: true } | { ok: false; reason: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.stderr?.off('data', onErr);
        resolve(v);
      };
      const onErr = (): void => {
        if (/^listening on /m.test(capture.stderrText)) settle({ ok: true });
      };
      const timer = setTimeout(
        () => settle({ ok: false, reason: `tcpdump did not start listening within ${listenTimeoutMs} ms${capture.stderrText.trim() ? `: ${classifyFailure(capture.stderrText, { netns, iface })}` : ''}` }),
        listenTimeoutMs,
      );
      child.stderr?.on('data', onErr);
      child.once('error', (err: NodeJS.ErrnoException) => {
        settle({ ok: false, reason: err.code === 'ENOENT' ? `${netns !== undefined ? 'ip(8)' : 'tcpdump'} not installed (${err.message})` : `cannot start tcpdump: ${err.message}` });
      });
      void capture.closed.then(() => settle({ ok: false, reason: classifyFailure(capture.stderrText, { netns, iface }) }));
    });
    if (!outcome.ok) {
      capture.kill();
      await Promise.race([capture.closed, delay(1000)]);
      return { available: false, reason: outcome.reason };
    }
    return capture;
  }

  /** Segments parsed so far (a copy), in capture order. */
  segmentsSoFar(): CapturedSegment[] {
    return this.segments.slice();
  }

  /** Whether tcpdump is still running. */
  get running(): boolean {
    return !this.exited;
  }

  /**
   * Flushes and stops the capture. Every segment that passed the interface before stop() was
   * called is in the result when {@link flushConfirmed} is `true` afterwards.
   *
   * The barrier: a UDP datagram to 127.0.0.1:9 sent from the capture's namespace *after* stop()
   * was called. Segments handed to loopback earlier reach the packet socket's ring earlier, and
   * tcpdump reads the ring in order, so once the marker's line is read, so are theirs. Only then
   * is tcpdump sent SIGTERM; we wait for it to exit (SIGKILL after 2 s) and for its stdout to end.
   * Calling stop() twice returns the same result.
   */
  stop(): Promise<CapturedSegment[]> {
    this.stopping ??= (async () => {
      try {
        if (!this.exited) await this.flush();
        else {
          this.flushConfirmed = false;
          this.flushProblem = 'tcpdump had already exited';
        }
      } finally {
        await this.terminate();
      }
      return this.segmentsSoFar();
    })();
    return this.stopping;
  }

  /**
   * Emergency cleanup, synchronous (safe in a process 'exit' handler): SIGKILL to tcpdump and to a
   * marker helper still running. Segments already parsed stay available via segmentsSoFar().
   */
  kill(): void {
    for (const p of [this.child, this.helper]) {
      if (p && p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
        try {
          p.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  // -------------------------------------------------------------------------------------------

  private onStdout(chunk: string): void {
    const text = this.stdoutRest + chunk;
    const lines = text.split('\n');
    this.stdoutRest = lines.pop() ?? '';
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    const parsed = parseTcpdumpLine(line);
    if (parsed === null) {
      this.rawLines.push(line);
      return;
    }
    if (parsed.kind === 'udp') {
      if (parsed.dst === `${MARKER_HOST}:${MARKER_PORT}`) {
        const srcPort = Number(/:(\d+)$/.exec(parsed.src)?.[1]);
        this.markerPorts.add(srcPort);
        const ready = this.markerWaiters.filter((w) => w.port === srcPort);
        this.markerWaiters = this.markerWaiters.filter((w) => w.port !== srcPort);
        for (const w of ready) w.done(true);
      } else {
        this.rawLines.push(line);
      }
      return;
    }
    this.segments.push(this.relativizer.push(parsed));
  }

  private parseStats(): void {
    const n = (re: RegExp): number | null => {
      const m = re.exec(this.stderrText);
      return m ? Number(m[1]) : null;
    };
    const captured = n(/(\d+) packets? captured/);
    const receivedByFilter = n(/(\d+) packets? received by filter/);
    const droppedByKernel = n(/(\d+) packets? dropped by kernel/);
    if (captured !== null && receivedByFilter !== null && droppedByKernel !== null) {
      this.stats = { captured, receivedByFilter, droppedByKernel };
    }
  }

  private async flush(): Promise<void> {
    if (this.iface !== 'lo' && this.iface !== 'any') {
      // The marker goes over loopback; on another interface it would never show. Settle instead.
      await delay(200);
      this.flushConfirmed = false;
      this.flushProblem = `no flush marker on interface ${this.iface} (only lo/any); waited 200 ms`;
      return;
    }
    const deadline = Date.now() + this.flushTimeoutMs;
    let port: number;
    try {
      port = await this.sendMarker(this.flushTimeoutMs);
    } catch (err) {
      this.flushConfirmed = false;
      this.flushProblem = `could not send flush marker: ${(err as Error).message}`;
      return;
    }
    const seen =
      this.markerPorts.has(port) ||
      (await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.markerWaiters = this.markerWaiters.filter((w) => w !== waiter);
          resolve(false);
        }, Math.max(0, deadline - Date.now()));
        const waiter = {
          port,
          done: (ok: boolean): void => {
            clearTimeout(timer);
            resolve(ok);
          },
        };
        this.markerWaiters.push(waiter);
      }));
    this.flushConfirmed = seen;
    if (!seen) this.flushProblem = `flush marker (udp ${MARKER_HOST}:${port} > :${MARKER_PORT}) not seen within ${this.flushTimeoutMs} ms`;
  }

  /** Sends one marker datagram from the capture's namespace; resolves with its source port. */
  private sendMarker(timeoutMs: number): Promise<number> {
    if (this.netns === undefined) {
      return new Promise((resolve, reject) => {
        const sock = createSocket('udp4');
        const timer = setTimeout(() => {
          sock.close();
          reject(new Error(`timeout after ${timeoutMs} ms`));
        }, timeoutMs);
        sock.once('error', (err) => {
          clearTimeout(timer);
          sock.close();
          reject(err);
        });
        sock.bind(0, MARKER_HOST, () => {
          const { port } = sock.address();
          sock.send(MARKER_PAYLOAD, MARKER_PORT, MARKER_HOST, (err) => {
            clearTimeout(timer);
            sock.close();
            if (err) reject(err);
            else resolve(port);
          });
        });
      });
    }
    // Another namespace: a throwaway node process inside it sends the datagram and prints its
    // source port once sent. (Node cannot setns(2) itself.)
    const script =
      `const d=require('node:dgram').createSocket('udp4');` +
      `d.on('error',e=>{console.error(e.message);process.exit(1)});` +
      `d.bind(0,${JSON.stringify(MARKER_HOST)},()=>{const p=d.address().port;` +
      `d.send(${JSON.stringify(MARKER_PAYLOAD)},${MARKER_PORT},${JSON.stringify(MARKER_HOST)},e=>{` +
      `if(e){console.error(e.message);process.exit(1)}console.log(p);d.close()})})`;
    const ip = findExecutable('ip') ?? 'ip';
    return new Promise((resolve, reject) => {
      const helper = spawn(ip, ['netns', 'exec', this.netns as string, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.helper = helper;
      let out = '';
      let err = '';
      helper.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
      helper.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
      const timer = setTimeout(() => {
        helper.kill('SIGKILL');
        reject(new Error(`marker helper timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      helper.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      helper.once('close', (code) => {
        clearTimeout(timer);
        if (this.helper === helper) this.helper = null;
        const port = Number(out.trim());
        if (code === 0 && Number.isInteger(port) && port > 0) resolve(port);
        else reject(new Error(`marker helper exited ${code}: ${err.trim() || out.trim()}`));
      });
    });
  }

  private async terminate(): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill('SIGTERM');
      } catch {
        // gone already
      }
      const closed = await Promise.race([this.closed.then(() => true), delay(2000).then(() => false)]);
      if (!closed) {
        this.kill();
        await Promise.race([this.closed, delay(1000)]);
      }
    } else {
      await Promise.race([this.closed, delay(1000)]);
    }
    live.delete(this);
  }
}

/** Same as {@link PacketCapture.start}. */
export function startCapture(opts: CaptureOptions = {}): Promise<PacketCapture | CaptureUnavailable> {
  return PacketCapture.start(opts);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
