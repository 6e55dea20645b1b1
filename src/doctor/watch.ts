import type { ProcCounters } from '../proc/index.js';
import { tupleKey } from '../tcp/address.js';
import { counterKey, KERNEL_COUNTERS, type KernelCounter } from './counters.js';
import { holderOf, UNREADABLE, type DoctorSocket, type ProcessOrUnknown } from './socket.js';

export type { ProcessRef } from './socket.js';

/** One scan, as {@link DoctorWatch.update} takes it. */
export interface WatchSample {
  /** When the scan was taken, ms (any monotonic or wall clock, the same for every sample). */
  atMs: number;
  sockets: readonly DoctorSocket[];
  /** `/proc/net/snmp` + `netstat`, or null when unreadable. */
  counters: ProcCounters | null;
  /** When sockets entered their state, from a tracer (true ages); without it ages count from the first scan that showed them. */
  entries?: StateEntries;
}

/**
 * When sockets entered their current state, as a tracer of state transitions knows it
 * (`doctor/ages.ts` feeds one from tracefs): the same clock as {@link WatchSample.atMs}.
 */
export interface StateEntries {
  /** When the socket with this {@link ageKey} entered that state, ms; undefined when the tracer did not see it. */
  enteredAt(key: string): number | undefined;
  /** When the tracer started, ms: a socket it never saw enter its state is at least `atMs - sinceMs` old. */
  readonly sinceMs: number;
}

/** The states whose age the watch keeps: the ones that last until a process or a peer acts. */
export const AGED_STATES = ['CLOSE_WAIT', 'FIN_WAIT2', 'FIN_WAIT1'] as const;

/**
 * How many CLOSE_WAIT sockets one holder had in each sample of the window, oldest first.
 * `owner` null (`ownerless` true): sockets no file holds (never accepted); `owner`
 * `'unreadable'`: held by a process the scan could not read.
 */
export interface CloseWaitTrend {
  owner: ProcessOrUnknown;
  ownerless: boolean;
  series: number[];
  /** The count never fell over at least 3 samples and ended higher than it started: a leak (seed 002-f). */
  growing: boolean;
}

/** A kernel counter across the watch. */
export interface CounterRate {
  /** `TcpExt.ListenOverflows`. */
  key: string;
  counter: KernelCounter;
  /** The latest value (since boot). */
  value: number;
  /** Increase over the last interval, or null on the first sample or after a counter reset. */
  delta: number | null;
  /** `delta` per second, or null. */
  perSecond: number | null;
  /** Increase since the first sample (a reset in between counts from the reset). */
  totalDelta: number;
}

/** What the watch has seen so far, handed to the findings with each new scan. */
export interface WatchView {
  /** Samples in the window (at most the window size). */
  samples: number;
  /** Time from the first sample of the whole watch to the latest, ms. */
  spanMs: number;
  /** Time since the previous sample, ms; null on the first. */
  intervalMs: number | null;
  /** All CLOSE_WAIT sockets, per sample of the window. */
  closeWaitTotal: number[];
  /** The same, per holder. */
  closeWait: CloseWaitTrend[];
  /**
   * How long each CLOSE_WAIT, FIN_WAIT2 and FIN_WAIT1 socket has been in that state, ms, by
   * {@link ageKey}: from the transition when a tracer saw it (`entries`), else from the first
   * sample that showed it in that state.
   */
  ages: ReadonlyMap<string, number>;
  /** Keys of `ages` that are lower bounds: the socket was in that state before the tracer (or the watch) started. */
  agesAtLeast: ReadonlySet<string>;
  /** `'trace'` when this sample came with tracer entries, else `'scans'`. */
  agesFrom: 'trace' | 'scans';
  rates: CounterRate[];
}

/** The key of a socket in {@link WatchView.ages}: its state and 4-tuple. */
export function ageKey(s: Pick<DoctorSocket, 'state' | 'local' | 'remote' | 'netns'>): string {
  return `${s.state} ${tupleKey(s.local, s.remote)}${s.netns === undefined ? '' : ` ${s.netns}`}`;
}

/** Options of {@link DoctorWatch}. */
export interface DoctorWatchOptions {
  /** Samples kept for trends (default 30). */
  window?: number;
}

const MIN_TREND_SAMPLES = 3;

function holderKey(holder: ProcessOrUnknown): string {
  if (holder === null) return 'none';
  if (holder === UNREADABLE) return UNREADABLE;
  return `${holder.pid} ${holder.command}`;
}

/**
 * Trend state of `teardown doctor --watch` and of the exporter: feed it every scan; it answers
 * with a {@link WatchView} (CLOSE_WAIT counts per holder, socket ages, counter rates). It keeps
 * counts, first-seen times and the previous counters only, never the sockets themselves.
 */
export class DoctorWatch {
  readonly #window: number;
  #firstAtMs: number | undefined;
  #lastAtMs: number | undefined;
  #totals: number[] = [];
  /** holder key → counts aligned with #totals. */
  #holders = new Map<string, { owner: ProcessOrUnknown; ownerless: boolean; series: number[] }>();
  #firstSeen = new Map<string, number>();
  #previous: Record<string, number> | undefined;
  #totalDelta = new Map<string, number>();

  constructor(opts: DoctorWatchOptions = {}) {
    const w = opts.window ?? 30;
    if (!Number.isInteger(w) || w < MIN_TREND_SAMPLES) throw new RangeError(`window must be an integer >= ${MIN_TREND_SAMPLES}, got ${String(opts.window)}`);
    this.#window = w;
  }

  /**
   * Adds one scan and returns the view after it.
   * @throws RangeError when `sample.atMs` is earlier than the previous sample's.
   */
  update(sample: WatchSample): WatchView {
    if (this.#lastAtMs !== undefined && sample.atMs < this.#lastAtMs) {
      throw new RangeError(`samples must come in time order: ${sample.atMs} ms after ${this.#lastAtMs} ms`);
    }
    const intervalMs = this.#lastAtMs === undefined ? null : sample.atMs - this.#lastAtMs;
    this.#firstAtMs ??= sample.atMs;
    this.#lastAtMs = sample.atMs;

    // CLOSE_WAIT counts per holder.
    const counts = new Map<string, { owner: ProcessOrUnknown; ownerless: boolean; n: number }>();
    let total = 0;
    const seenNow = new Set<string>();
    for (const s of sample.sockets) {
      if (s.state === 'CLOSE_WAIT') {
        total++;
        const owner = holderOf(s);
        const k = holderKey(owner);
        const c = counts.get(k);
        if (c) c.n++;
        else counts.set(k, { owner, ownerless: owner === null, n: 1 });
      }
      if (s.state === 'CLOSE_WAIT' || s.state === 'FIN_WAIT2' || s.state === 'FIN_WAIT1') {
        const k = ageKey(s);
        seenNow.add(k);
        if (!this.#firstSeen.has(k)) this.#firstSeen.set(k, sample.atMs);
      }
    }
    for (const k of this.#firstSeen.keys()) if (!seenNow.has(k)) this.#firstSeen.delete(k);

    const before = this.#totals.length;
    this.#totals.push(total);
    for (const [k, c] of counts) {
      if (!this.#holders.has(k)) this.#holders.set(k, { owner: c.owner, ownerless: c.ownerless, series: new Array<number>(before).fill(0) });
    }
    for (const [k, h] of this.#holders) h.series.push(counts.get(k)?.n ?? 0);
    if (this.#totals.length > this.#window) {
      this.#totals.shift();
      for (const h of this.#holders.values()) h.series.shift();
    }
    for (const [k, h] of this.#holders) if (h.series.every((n) => n === 0)) this.#holders.delete(k);

    // Counter rates.
    const values: Record<string, number> = {};
    const rates: CounterRate[] = [];
    for (const c of KERNEL_COUNTERS) {
      const v = sample.counters?.[c.section]?.[c.name];
      if (v === undefined) continue;
      const key = counterKey(c);
      values[key] = v;
      const prev = this.#previous?.[key];
      const delta = prev === undefined || v < prev ? null : v - prev;
      const total = (this.#totalDelta.get(key) ?? 0) + (delta ?? (prev !== undefined && v < prev ? v : 0));
      this.#totalDelta.set(key, total);
      rates.push({
        key,
        counter: c,
        value: v,
        delta,
        perSecond: delta === null || intervalMs === null || intervalMs <= 0 ? null : (delta * 1000) / intervalMs,
        totalDelta: total,
      });
    }
    this.#previous = values;

    const ages = new Map<string, number>();
    const agesAtLeast = new Set<string>();
    const entries = sample.entries;
    for (const [k, t] of this.#firstSeen) {
      const entered = entries?.enteredAt(k);
      if (entered !== undefined) ages.set(k, Math.max(0, sample.atMs - entered));
      else if (entries !== undefined) {
        // The tracer never saw it enter: it was there before the tracer started.
        ages.set(k, Math.max(sample.atMs - entries.sinceMs, sample.atMs - t));
        agesAtLeast.add(k);
      } else {
        ages.set(k, sample.atMs - t);
        if (t === this.#firstAtMs) agesAtLeast.add(k);
      }
    }
    return {
      samples: this.#totals.length,
      spanMs: sample.atMs - this.#firstAtMs,
      intervalMs,
      closeWaitTotal: [...this.#totals],
      closeWait: [...this.#holders.values()].map((h) => ({ owner: h.owner, ownerless: h.ownerless, series: [...h.series], growing: isGrowing(h.series) })),
      ages,
      agesAtLeast,
      agesFrom: entries === undefined ? 'scans' : 'trace',
      rates,
    };
  }
}

/** At least 3 samples, never falling, ending above the start: what "only grows" means here. */
export function isGrowing(series: readonly number[]): boolean {
  if (series.length < MIN_TREND_SAMPLES) return false;
  for (let i = 1; i < series.length; i++) if ((series[i] as number) < (series[i - 1] as number)) return false;
  return (series[series.length - 1] as number) > (series[0] as number);
}
