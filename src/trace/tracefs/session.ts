/**
 * A private tracefs session on the TCP tracepoints, without BPF: the tcpstates / tcpdrop view
 * (bcc tools/tcpstates.py) from the kernel's own ring buffer.
 *
 * Each session makes its own tracefs instance, `instances/tcp-teardown-<pid>-<n>`
 * (Documentation/trace/ftrace.rst §"Instances"): its own ring buffer, trace clock, event enables
 * and filters, so two sessions (two lab runs, a lab run and `teardown trace`) never see or disturb
 * each other's events, and nothing of the top-level buffer (someone else's `trace-cmd`) changes.
 *
 * Reading: every CPU's `per_cpu/cpuN/trace_pipe_raw`, opened O_NONBLOCK and read() page-sized:
 * a read returns the committed events of a partly filled page at once (ring_buffer_read_page()
 * copies event by event when the writer is still on the reader page; only splice() waits for full
 * pages), and EAGAIN when the CPU has nothing, so a few events show up without waiting for a page
 * to fill and without `buffer_percent`. Measured on Linux 6.18: one connection's events are
 * readable the moment the syscalls that caused them return.
 *
 * Clock: the instance's trace_clock is `mono` by default — ktime_get_mono_fast_ns(), i.e.
 * CLOCK_MONOTONIC, the clock of `process.hrtime.bigint()`, so a lab's step times and these events
 * compare without conversion, and a wall-clock step (NTP, settimeofday) cannot reorder them.
 * `epochMs` adds CLOCK_REALTIME − CLOCK_MONOTONIC measured with clock_gettime(2) around each
 * read() (the tightest of three realtime readings between two monotonic ones, typically < 1 µs
 * wide). `tai` would also give wall-clock time, but CLOCK_TAI equals CLOCK_REALTIME + the
 * kernel's TAI offset, which is 0 unless an NTP daemon sets it: correct conversion would still
 * need the offset, and TAI jumps with the wall clock.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, writeFileSync, writeSync, constants as fsConstants } from 'node:fs';

import { clockNs, type ClockName } from '../../sys/clock.js';
import { createTcpDecoder, eventPorts, ALL_TCP_TRACEPOINTS, TCP_TRACEPOINTS, type DecodeSkips, type TcpEventDecoder, type TcpTracepoint, type TcpTraceEvent } from './events.js';
import { parseEventFormat, parseEventHeader, parsePageHeader, TraceFormatError, type EventFormat } from './format.js';
import { ensureTracefs, unavailableFromErrno, type TracefsUnavailable } from './mount.js';
import { pageLayout, RingBufferError, walkPage, type PageInfo, type PageLayout } from './ring-buffer.js';

/** Trace clocks a session can use: those with a clock_gettime(2) twin, so times convert. */
export type TraceClock = 'mono' | 'mono_raw' | 'boot' | 'tai';

const CLOCK_TWIN: Record<TraceClock, ClockName> = { mono: 'monotonic', mono_raw: 'monotonic_raw', boot: 'boottime', tai: 'tai' };

/** Options of {@link openTcpTracer}. */
export interface TcpTracerOptions {
  /** Tracepoints to enable; default all four. Those this kernel lacks are listed in `missingEvents`. */
  events?: readonly TcpTracepoint[];
  /**
   * Keep only events whose local or remote port lies in one of these inclusive ranges. Applied
   * in the kernel through each event's `filter` file where the event has sport/dport fields and
   * the kernel accepts the expression, and always in userspace too (tcp_send_reset has no port
   * fields; a rejected filter falls back to userspace alone).
   */
  ports?: ReadonlyArray<readonly [number, number]>;
  /** Ring buffer per CPU, KiB (`buffer_size_kb`); default 512. */
  bufferKb?: number;
  /** Trace clock; default `mono` (see the module comment). */
  clock?: TraceClock;
}

/** Counters of a session since it opened. */
export interface TcpTracerStats {
  /** Pages read from trace_pipe_raw. */
  pages: number;
  /** Records of the enabled events seen (before the userspace port filter). */
  records: number;
  /** Events returned. */
  events: number;
  /** Events the kernel counted as lost (the buffer filled before a read; raise bufferKb or read more often). */
  lost: number;
  /** Pages that said events were lost before them (with or without a count). */
  lostPages: number;
  /** Events dropped by the userspace port filter. */
  filteredOut: number;
  /** Pages the decoder could not walk (skipped; the other pages of the read still count). */
  malformedPages: number;
  /** read(2) failures other than EAGAIN (that CPU is skipped for that read). */
  readErrors: number;
  /** The last of those problems, for a message; null when none happened. */
  lastProblem: string | null;
  skips: Readonly<DecodeSkips>;
}

/** Lifecycle of a session. */
export type TracerState = 'open' | 'closed';

/**
 * The one guarded transition of a session's state: only `open → closed`.
 * @throws Error on any other move.
 */
export function transitionTracer(from: TracerState, to: TracerState): TracerState {
  if (from === 'open' && to === 'closed') return to;
  throw new Error(`tcp tracer: illegal transition ${from} → ${to}`);
}

/** A live session. Obtain with {@link openTcpTracer}. */
export interface TcpTracer {
  readonly available: true;
  /** `tcp-teardown-<pid>-<n>`. */
  readonly instance: string;
  /** Absolute path of the instance directory. */
  readonly path: string;
  readonly clock: TraceClock;
  /** Tracepoints enabled in this session. */
  readonly events: readonly TcpTracepoint[];
  /** Tracepoints asked for that this kernel lacks. */
  readonly missingEvents: readonly TcpTracepoint[];
  /** Per enabled tracepoint, whether the kernel filters its ports (false: userspace only). */
  readonly kernelFilter: Readonly<Partial<Record<TcpTracepoint, boolean>>>;
  /** Parsed formats of the enabled tracepoints (RST reason and state names of this kernel). */
  readonly formats: Readonly<Partial<Record<TcpTracepoint, EventFormat>>>;
  readonly state: TracerState;
  readonly stats: Readonly<TcpTracerStats>;
  /**
   * Drains every CPU's buffer without blocking: the events committed so far, sorted by time
   * across CPUs (ties by CPU). Order is exact within one call; an event being written during a
   * read may come in the next call with a time a few µs before the last one returned.
   * Never throws: a page it cannot walk or a failed read(2) is counted in `stats` and skipped.
   * @returns [] once closed.
   */
  read(): TcpTraceEvent[];
  /**
   * A barrier: writes a marker to the instance's trace_marker and reads until it comes back, so
   * every event the kernel committed on this thread's CPU before the call is returned (events on
   * other CPUs are committed by then too unless they are being written at that very moment).
   * Resolves with what it read (possibly after `timeoutMs`, default 250, if the marker never
   * shows: then it is a plain read).
   */
  flush(timeoutMs?: number): Promise<TcpTraceEvent[]>;
  /** Disables the events, closes the buffers and removes the instance. Idempotent. */
  close(): Promise<void>;
  /** The same, synchronously, for `process.on('exit')` paths. Idempotent; never throws. */
  closeSync(): void;
}

const INSTANCE_PREFIX = 'tcp-teardown-';
const INSTANCE_RE = /^tcp-teardown-(\d+)-(\d+)$/;
const DEFAULT_BUFFER_KB = 512;
let instanceSeq = 0;

/** Live sessions of this process, closed on exit. */
const live = new Set<TcpTracer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const t of [...live]) t.closeSync();
  });
}

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'EIO';
}

function validateOptions(o: TcpTracerOptions): void {
  for (const e of o.events ?? []) if (!(e in TCP_TRACEPOINTS)) throw new RangeError(`unknown tracepoint ${JSON.stringify(e)}; known: ${ALL_TCP_TRACEPOINTS.join(', ')}`);
  for (const r of o.ports ?? []) {
    const [lo, hi] = r;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > 65535 || lo > hi) throw new RangeError(`port range [${lo}, ${hi}] is not within 0..65535 with lo <= hi`);
  }
  if (o.bufferKb !== undefined && (!Number.isInteger(o.bufferKb) || o.bufferKb < 4 || o.bufferKb > 1 << 20)) {
    throw new RangeError(`bufferKb ${o.bufferKb} is not an integer within 4..1048576`);
  }
  if (o.clock !== undefined && !(o.clock in CLOCK_TWIN)) throw new RangeError(`trace clock ${JSON.stringify(o.clock)} is not one of ${Object.keys(CLOCK_TWIN).join(', ')}`);
}

/** The kernel filter for a port range list, on an event with sport and dport fields. */
export function portFilterExpression(ports: ReadonlyArray<readonly [number, number]>): string {
  return ports.map(([lo, hi]) => (lo === hi ? `sport == ${lo} || dport == ${lo}` : `(sport >= ${lo} && sport <= ${hi}) || (dport >= ${lo} && dport <= ${hi})`)).join(' || ');
}

/** True when the event's local or remote port is in a range (events without ports never are). */
export function portsMatch(e: TcpTraceEvent, ports: ReadonlyArray<readonly [number, number]>): boolean {
  const p = eventPorts(e);
  if (p === null) return false;
  return ports.some(([lo, hi]) => (p[0] >= lo && p[0] <= hi) || (p[1] >= lo && p[1] <= hi));
}

/**
 * CLOCK_REALTIME − `clock`, nanoseconds: the tightest of three samples of (before, realtime,
 * after), taking realtime against the midpoint.
 */
export function measureEpochOffset(clock: ClockName, read: (c: ClockName) => bigint = clockNs): bigint {
  let best: bigint | null = null;
  let bestWidth = 0n;
  for (let i = 0; i < 3; i++) {
    const a = read(clock);
    const r = read('realtime');
    const b = read(clock);
    const width = b - a;
    if (best === null || width < bestWidth) {
      best = r - (a + b) / 2n;
      bestWidth = width;
    }
  }
  return best as bigint;
}

/**
 * Removes `tcp-teardown-<pid>-*` instances whose process is gone (a run that crashed or was
 * killed before closing). Instances of live processes, this one included, stay. Pids are checked
 * in this process's pid namespace: run it from the namespace the tracers run in.
 * @param root tracefs top level; found (and mounted if needed) when omitted.
 * @returns the names removed; [] when tracefs is not available.
 */
export function sweepStaleInstances(root?: string): string[] {
  let top = root;
  if (top === undefined) {
    const t = ensureTracefs();
    if (!t.available) return [];
    top = t.path;
  }
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(`${top}/instances`);
  } catch {
    return [];
  }
  for (const name of names) {
    const m = INSTANCE_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pidAlive(pid)) continue;
    try {
      rmdirSync(`${top}/instances/${name}`);
      removed.push(name);
    } catch {
      // Busy (someone reads it) or already gone: leave it.
    }
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

/** The print event of trace_marker (events/ftrace/print): id and where its text starts. */
interface MarkerFormat {
  id: number;
  bufOffset: number;
}

/**
 * Opens a private TCP trace session. Never throws for the environment (not root, no tracefs,
 * lockdown, events missing, instance not creatable): those return `{ available: false, reason }`.
 * @throws RangeError for bad options (unknown tracepoint, port range outside 0..65535, bufferKb
 *   outside 4..1048576, unknown clock).
 */
export function openTcpTracer(options: TcpTracerOptions = {}): TcpTracer | TracefsUnavailable {
  validateOptions(options);
  const root = ensureTracefs();
  if (!root.available) return root;
  const top = root.path;

  let layout: PageLayout;
  let headerPageSize: number;
  try {
    const ph = parsePageHeader(readFileSync(`${top}/events/header_page`, 'utf8'));
    layout = pageLayout(ph, parseEventHeader(readFileSync(`${top}/events/header_event`, 'utf8')));
    headerPageSize = ph.dataOffset + ph.dataSize;
  } catch (err) {
    if (err instanceof TraceFormatError || err instanceof RingBufferError) return { available: false, reason: 'unsupported-layout', message: `ring buffer header: ${err.message}` };
    return unavailableFromErrno(errnoOf(err), `reading ${top}/events/header_page`);
  }

  const wanted = options.events && options.events.length > 0 ? [...new Set(options.events)] : ALL_TCP_TRACEPOINTS;
  const formats: Partial<Record<TcpTracepoint, EventFormat>> = {};
  const missing: TcpTracepoint[] = [];
  for (const ev of wanted) {
    const file = `${top}/events/${TCP_TRACEPOINTS[ev]}/${ev}/format`;
    try {
      formats[ev] = parseEventFormat(readFileSync(file, 'utf8'), file);
    } catch {
      missing.push(ev);
    }
  }
  const enabled = wanted.filter((e) => formats[e] !== undefined);
  if (enabled.length === 0) {
    return { available: false, reason: 'no-events', message: `this kernel has none of the tracepoints ${wanted.map((e) => `${TCP_TRACEPOINTS[e]}/${e}`).join(', ')}` };
  }
  let marker: MarkerFormat | null = null;
  try {
    const pf = parseEventFormat(readFileSync(`${top}/events/ftrace/print/format`, 'utf8'));
    const buf = pf.field.get('buf');
    if (buf) marker = { id: pf.id, bufOffset: buf.offset };
  } catch {
    marker = null;
  }

  const clock = options.clock ?? 'mono';
  sweepStaleInstances(top);

  // The instance.
  let name = '';
  let path = '';
  for (let tries = 0; ; tries++) {
    name = `${INSTANCE_PREFIX}${process.pid}-${++instanceSeq}`;
    path = `${top}/instances/${name}`;
    try {
      mkdirSync(path);
      break;
    } catch (err) {
      const e = errnoOf(err);
      if (e === 'EEXIST' && tries < 100) continue;
      const u = unavailableFromErrno(e, `mkdir ${path}`);
      return u.reason === 'mount-failed' ? { ...u, reason: 'instance-failed' } : u;
    }
  }
  const fds: { cpu: number; fd: number }[] = [];
  const undo = (): void => {
    for (const { fd } of fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    try {
      rmdirSync(path);
    } catch {
      // sweepStaleInstances() gets it after this process ends
    }
  };
  const fail = (what: string, err: unknown, reason: TracefsUnavailable['reason'] = 'instance-failed'): TracefsUnavailable => {
    undo();
    const e = errnoOf(err);
    const u = unavailableFromErrno(e, what);
    return u.reason === 'not-root' || u.reason === 'lockdown' ? u : { available: false, reason, errno: e, message: `${what}: ${e}` };
  };

  try {
    const offered = readFileSync(`${path}/trace_clock`, 'utf8');
    if (!offered.split(/\s+/).some((c) => c.replace(/[[\]]/g, '') === clock)) {
      undo();
      return { available: false, reason: 'no-clock', message: `trace clock ${clock} is not offered by this kernel (offered: ${offered.trim()})` };
    }
    writeFileSync(`${path}/trace_clock`, clock);
  } catch (err) {
    return fail(`setting ${path}/trace_clock`, err);
  }
  try {
    writeFileSync(`${path}/buffer_size_kb`, String(options.bufferKb ?? DEFAULT_BUFFER_KB));
  } catch (err) {
    return fail(`setting ${path}/buffer_size_kb`, err);
  }
  let pageSize = headerPageSize;
  try {
    const kb = Number(readFileSync(`${path}/buffer_subbuf_size_kb`, 'utf8').trim());
    if (Number.isInteger(kb) && kb > 0) pageSize = Math.max(pageSize, kb * 1024);
  } catch {
    // older kernels: one system page per sub-buffer, as header_page says
  }

  const ports = options.ports && options.ports.length > 0 ? options.ports : null;
  const kernelFilter: Partial<Record<TcpTracepoint, boolean>> = {};
  for (const ev of enabled) {
    const fmt = formats[ev] as EventFormat;
    kernelFilter[ev] = false;
    if (ports === null || !fmt.field.has('sport') || !fmt.field.has('dport')) continue;
    kernelFilter[ev] = writeFilter(`${path}/events/${TCP_TRACEPOINTS[ev]}/${ev}/filter`, portFilterExpression(ports));
  }

  try {
    for (const entry of readdirSync(`${path}/per_cpu`)) {
      const m = /^cpu(\d+)$/.exec(entry);
      if (!m) continue;
      fds.push({ cpu: Number(m[1]), fd: openSync(`${path}/per_cpu/${entry}/trace_pipe_raw`, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK) });
    }
  } catch (err) {
    return fail(`opening ${path}/per_cpu/*/trace_pipe_raw`, err);
  }
  fds.sort((a, b) => a.cpu - b.cpu);
  try {
    for (const ev of enabled) writeFileSync(`${path}/events/${TCP_TRACEPOINTS[ev]}/${ev}/enable`, '1');
  } catch (err) {
    return fail(`enabling events in ${path}`, err);
  }

  const tracer = new Session({ top, name, path, clock, enabled, missing, kernelFilter, formats, layout, pageSize, fds, ports, marker });
  live.add(tracer);
  installExitHook();
  return tracer;
}

/** Writes a filter; false when the kernel rejects it (EINVAL: unknown field, bad syntax). */
export function writeFilter(file: string, expression: string): boolean {
  try {
    writeFileSync(file, expression);
    return true;
  } catch {
    return false;
  }
}

interface SessionInit {
  top: string;
  name: string;
  path: string;
  clock: TraceClock;
  enabled: TcpTracepoint[];
  missing: TcpTracepoint[];
  kernelFilter: Partial<Record<TcpTracepoint, boolean>>;
  formats: Partial<Record<TcpTracepoint, EventFormat>>;
  layout: PageLayout;
  pageSize: number;
  fds: { cpu: number; fd: number }[];
  ports: ReadonlyArray<readonly [number, number]> | null;
  marker: MarkerFormat | null;
}

class Session implements TcpTracer {
  readonly available = true as const;
  readonly instance: string;
  readonly path: string;
  readonly clock: TraceClock;
  readonly events: readonly TcpTracepoint[];
  readonly missingEvents: readonly TcpTracepoint[];
  readonly kernelFilter: Readonly<Partial<Record<TcpTracepoint, boolean>>>;
  readonly formats: Readonly<Partial<Record<TcpTracepoint, EventFormat>>>;
  private current: TracerState = 'open';
  private readonly decoder: TcpEventDecoder;
  private readonly page: Buffer;
  private readonly counters: Omit<TcpTracerStats, 'skips'> = {
    pages: 0,
    records: 0,
    events: 0,
    lost: 0,
    lostPages: 0,
    filteredOut: 0,
    malformedPages: 0,
    readErrors: 0,
    lastProblem: null,
  };
  private markerSeq = 0;

  constructor(private readonly init: SessionInit) {
    this.instance = init.name;
    this.path = init.path;
    this.clock = init.clock;
    this.events = init.enabled;
    this.missingEvents = init.missing;
    this.kernelFilter = init.kernelFilter;
    this.formats = init.formats;
    this.decoder = createTcpDecoder(init.formats);
    this.page = Buffer.alloc(init.pageSize);
  }

  get state(): TracerState {
    return this.current;
  }

  get stats(): TcpTracerStats {
    return { ...this.counters, skips: { ...this.decoder.skips } };
  }

  read(): TcpTraceEvent[] {
    return this.drain(null).events;
  }

  async flush(timeoutMs = 250): Promise<TcpTraceEvent[]> {
    if (this.current !== 'open') return [];
    const { marker } = this.init;
    const out: TcpTraceEvent[] = [];
    let token: string | null = null;
    if (marker !== null) {
      token = `tcp-teardown-flush-${process.pid}-${++this.markerSeq}`;
      try {
        const fd = openSync(`${this.path}/trace_marker`, fsConstants.O_WRONLY);
        try {
          writeSync(fd, token);
        } finally {
          closeSync(fd);
        }
      } catch {
        token = null;
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.drain(token);
      out.push(...r.events);
      if (token === null || r.sawToken || Date.now() >= deadline || this.current !== 'open') break;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return out.sort(byTime);
  }

  private drain(token: string | null): { events: TcpTraceEvent[]; sawToken: boolean } {
    const events: TcpTraceEvent[] = [];
    let sawToken = false;
    if (this.current !== 'open') return { events, sawToken };
    const epochOffsetNs = measureEpochOffset(CLOCK_TWIN[this.clock]);
    const { layout, ports, marker } = this.init;
    const page = this.page;
    let cpu = 0;
    const visit = (clockNs: bigint, start: number, end: number): void => {
      const rec = page.subarray(start, end);
      if (marker !== null && rec.readUInt16LE(0) === marker.id) {
        if (token !== null && rec.toString('latin1', marker.bufOffset).startsWith(token)) sawToken = true;
        return;
      }
      const e = this.decoder.decode(rec, { clockNs, cpu, epochOffsetNs });
      if (e === null) return;
      this.counters.records++;
      if (ports !== null && !portsMatch(e, ports)) {
        this.counters.filteredOut++;
        return;
      }
      events.push(e);
    };
    for (const entry of this.init.fds) {
      cpu = entry.cpu;
      for (;;) {
        let n: number;
        try {
          n = readSync(entry.fd, page, 0, page.length, null);
        } catch (err) {
          const e = errnoOf(err);
          if (e !== 'EAGAIN') {
            this.counters.readErrors++;
            this.counters.lastProblem = `read of cpu${cpu}/trace_pipe_raw: ${e}`;
          }
          break;
        }
        if (n <= 0) break;
        this.counters.pages++;
        let info: PageInfo;
        try {
          info = walkPage(page.subarray(0, n), layout, visit);
        } catch (err) {
          if (!(err instanceof RingBufferError)) throw err;
          this.counters.malformedPages++;
          this.counters.lastProblem = `cpu${cpu}: ${err.message}`;
          continue;
        }
        if (info.missedEvents) {
          this.counters.lostPages++;
          if (info.missedCount !== null) this.counters.lost += info.missedCount;
        }
      }
    }
    this.counters.events += events.length;
    return { events: events.sort(byTime), sawToken };
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  closeSync(): void {
    if (this.current === 'closed') return;
    this.current = transitionTracer(this.current, 'closed');
    live.delete(this);
    for (const ev of this.events) {
      try {
        writeFileSync(`${this.path}/events/${TCP_TRACEPOINTS[ev]}/${ev}/enable`, '0');
      } catch {
        // rmdir below removes them anyway
      }
    }
    for (const { fd } of this.init.fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    // rmdir fails with EBUSY while any file of the instance is open; ours are closed now, a
    // reader elsewhere (cat trace_pipe) keeps it: sweepStaleInstances() removes it once this
    // process is gone.
    try {
      rmdirSync(this.path);
    } catch {
      // EBUSY as above, or ENOENT: already removed
    }
  }
}

function byTime(a: TcpTraceEvent, b: TcpTraceEvent): number {
  return a.clockNs < b.clockNs ? -1 : a.clockNs > b.clockNs ? 1 : a.cpu - b.cpu;
}
