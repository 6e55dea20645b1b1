import { TCP_STATES, type TcpState } from '../tcp/state.js';
import { diagnose, exitCodeFor, worstFirst, type DoctorThresholds, type Finding } from './findings.js';
import { readKernelState, type DoctorSysctls, type KernelState, type Unreadable } from './kernel.js';
import { takeSnapshot, type DoctorSnapshot } from './snapshot.js';
import type { DoctorSocket } from './socket.js';
import { DoctorWatch, type StateEntries, type WatchView } from './watch.js';

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /** Where procfs is mounted (a fixture tree in tests). Default `/proc`. */
  root?: string;
  /** Only look at sockets whose local or remote port is one of these (counters stay machine-wide). */
  ports?: readonly number[];
  /** Scan `/proc/PID/fd` for owners (default true). */
  owners?: boolean;
  thresholds?: Partial<DoctorThresholds>;
  /** Feed this scan to a watch, for trends, ages and rates (`--watch`). */
  watch?: DoctorWatch;
  /** Every network namespace of the machine (`--all-namespaces`): each finding names its namespace. */
  allNamespaces?: boolean;
  /** Helper threads for the owner scan (proc/'s `threads`; default every lane). */
  threads?: number;
  /** With `watch`: when sockets entered their state, from a tracer (see `startAgeTracer()`): true ages. */
  entries?: StateEntries;
}

/** The JSON-friendly part of a {@link WatchView}. */
export interface WatchSummary {
  samples: number;
  spanMs: number;
  intervalMs: number | null;
  closeWaitTotal: number[];
  closeWait: WatchView['closeWait'];
  /**
   * ms each CLOSE_WAIT / FIN_WAIT2 / FIN_WAIT1 socket has been in that state, by `ageKey`
   * (`STATE local>remote[ netns]`): from the transition itself when a tracer saw it, else the
   * time since a scan first showed it (a lower bound, listed in `agesAtLeast`).
   */
  ages: Record<string, number>;
  /** Keys of `ages` that are lower bounds: the socket was already in that state when watching (or tracing) began. */
  agesAtLeast: string[];
  /** Where ages come from: `'trace'` (tracefs transitions) or `'scans'`. */
  agesFrom: 'trace' | 'scans';
  /** Kernel counters: value since boot, per second over the last interval, increase during the watch. */
  rates: { key: string; value: number; perSecond: number | null; totalDelta: number }[];
}

/** One run of the doctor: what was scanned, what could not be read, and the findings. */
export interface DoctorReport {
  /** ISO 8601 time of the scan. */
  takenAt: string;
  /** Time spent reading, ms. */
  durationMs: number;
  source: DoctorSnapshot['source'];
  /** Effective uid of the doctor (0 = root). */
  uid: number | null;
  scanned: {
    sockets: number;
    ownersScanned: boolean;
    pids: number;
    /** Processes whose descriptors could not be read: their sockets' owners are unknown. */
    unreadablePids: number;
    vanishedPids: number;
  };
  /** Sockets per state (ports filter applied). */
  states: Partial<Record<TcpState, number>>;
  /** With `allNamespaces`: the namespaces read (label, a pid in it, sockets), and those that failed. */
  namespaces?: { label: string; pid: number | null; command: string | null; sockets: number }[];
  sysctls: DoctorSysctls;
  /** Files that could not be read. */
  unreadable: Unreadable[];
  /** What the report cannot tell, in sentences (not root, files missing, backlog unknown …). */
  limits: string[];
  findings: Finding[];
  /** Present when watching. */
  watch?: WatchSummary;
  /** 0: no finding of severity warning or worse; 1: at least one. */
  exitCode: 0 | 1;
}

/**
 * Scans this machine (sockets with owners, counters, sysctls) and diagnoses it: the library form
 * of `teardown doctor`. Never throws for what it cannot read as non-root; lists it in
 * `unreadable` / `limits`.
 *
 * @throws Node's fs error when `/proc/net/tcp` itself cannot be read; ProcParseError for a
 *   malformed table.
 */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const { entries, ...rest } = opts;
  return (await scanOnce({ ...rest, ...(entries === undefined ? {} : { entries: () => entries }) })).report;
}

/** One scan read and judged: the report, and what it was made from (the exporter's metrics read both). */
export interface DoctorScan {
  snapshot: DoctorSnapshot;
  kernel: KernelState;
  /** The watch's view after this scan; undefined without `watch`. */
  watch: WatchView | undefined;
  report: DoctorReport;
}

/**
 * What {@link runDoctor} and the exporter's scrape share: read sockets, counters and sysctls
 * (every namespace's with `allNamespaces`), feed the watch, build the report. `entries` is asked
 * for after the read, so a tracer's transitions up to the scan count.
 * @throws as {@link runDoctor}.
 */
export async function scanOnce(opts: Omit<DoctorOptions, 'entries'> & { entries?: () => StateEntries | undefined }): Promise<DoctorScan> {
  const started = performance.now();
  // The watch's clock is monotonic (performance.now() since this process's time origin), so a
  // wall-clock step between scans cannot reorder them.
  const atMs = performance.timeOrigin + started;
  const [snap, kernel] = await Promise.all([
    takeSnapshot({
      ...(opts.root === undefined ? {} : { root: opts.root }),
      ...(opts.ports === undefined ? {} : { ports: opts.ports }),
      owners: opts.owners !== false,
      allNamespaces: opts.allNamespaces === true,
      ...(opts.threads === undefined ? {} : { threads: opts.threads }),
    }),
    readKernelState(opts.root === undefined ? {} : { root: opts.root }),
  ]);
  const others = await readOtherKernels(snap, opts.root);
  const entries = opts.entries?.();
  const watch = opts.watch?.update({ atMs, sockets: snap.sockets, counters: kernel.counters, ...(entries === undefined ? {} : { entries }) });
  return { snapshot: snap, kernel, watch, report: buildReport(snap, kernel, watch, opts.thresholds, performance.now() - started, others) };
}

/** The counters of every namespace but this one (sysctls: this namespace's, see limits). */
export async function readOtherKernels(snap: DoctorSnapshot, root: string | undefined): Promise<Map<string, KernelState>> {
  const out = new Map<string, KernelState>();
  for (const ns of snap.namespaces?.read ?? []) {
    if (ns.self || ns.pid === null) continue;
    out.set(ns.label, await readKernelState({ ...(root === undefined ? {} : { root }), pid: ns.pid }));
  }
  return out;
}

/**
 * The report for a snapshot and kernel state already read (what {@link runDoctor} does after
 * reading). Pure.
 */
export function buildReport(
  snap: DoctorSnapshot,
  kernel: KernelState,
  watch: WatchView | undefined,
  thresholds: Partial<DoctorThresholds> = {},
  durationMs = snap.durationMs,
  otherKernels: ReadonlyMap<string, KernelState> = new Map(),
): DoctorReport {
  const diagnoseOne = (sockets: readonly DoctorSocket[], k: KernelState, w: WatchView | undefined): Finding[] =>
    diagnose(
      {
        sockets,
        ownersScanned: snap.ownersScanned,
        unreadablePids: snap.unreadablePids,
        counters: k.counters,
        sockstat: k.sockstat,
        sysctls: k.sysctls,
        sharedHolders: snap.sharedHolders,
        ...(w === undefined ? {} : { watch: w }),
      },
      thresholds,
    );
  let findings: Finding[];
  if (snap.namespaces === undefined) findings = diagnoseOne(snap.sockets, kernel, watch);
  else {
    // Each namespace on its own: 127.0.0.1:80 in one is not 127.0.0.1:80 in another, and its
    // counters are its own. Counter rates are watched for this namespace only.
    findings = [];
    for (const ns of snap.namespaces.read) {
      const sockets = snap.sockets.filter((s) => s.netns === ns.label);
      const k = ns.self ? kernel : otherKernels.get(ns.label);
      if (k === undefined) continue;
      const w = watch === undefined || ns.self ? watch : { ...watch, rates: [] };
      for (const f of diagnoseOne(sockets, k, w)) findings.push({ ...f, netns: ns.label, title: `[${ns.label}] ${f.title}` });
    }
    findings = worstFirst(findings);
  }
  const report: DoctorReport = {
    takenAt: new Date(snap.takenAtMs).toISOString(),
    durationMs: Math.round(durationMs * 10) / 10,
    source: snap.source,
    uid: process.geteuid?.() ?? null,
    scanned: {
      sockets: snap.sockets.length,
      ownersScanned: snap.ownersScanned,
      pids: snap.scannedPids,
      unreadablePids: snap.unreadablePids,
      vanishedPids: snap.vanishedPids,
    },
    states: stateCounts(snap.sockets),
    ...(snap.namespaces === undefined
      ? {}
      : { namespaces: snap.namespaces.read.map((n) => ({ label: n.label, pid: n.pid, command: n.command, sockets: snap.sockets.filter((s) => s.netns === n.label).length })) }),
    sysctls: kernel.sysctls,
    unreadable: kernel.unreadable,
    limits: limitsOf(snap, kernel),
    findings,
    exitCode: exitCodeFor(findings),
  };
  if (watch !== undefined) report.watch = summarizeWatch(watch);
  return report;
}

/** Sockets per state, in the kernel's state order, zero counts left out. */
export function stateCounts(sockets: readonly Pick<DoctorSocket, 'state'>[]): Partial<Record<TcpState, number>> {
  const counts = new Map<TcpState, number>();
  for (const s of sockets) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  const out: Partial<Record<TcpState, number>> = {};
  for (const st of TCP_STATES) {
    const n = counts.get(st);
    if (n !== undefined) out[st] = n;
  }
  return out;
}

function limitsOf(snap: DoctorSnapshot, kernel: KernelState): string[] {
  const out: string[] = [];
  if (!snap.ownersScanned) out.push('owners not scanned (--no-owners): sockets a descriptor holds show "?", owner unknown');
  if (snap.unreadablePids > 0) {
    out.push(
      `could not read /proc/PID/fd of ${snap.unreadablePids} process${snap.unreadablePids === 1 ? '' : 'es'} ` +
        (process.geteuid?.() === 0
          ? '(EACCES/EPERM even as root: shielded by ptrace checks, or changing credentials mid-scan): the sockets they hold have owner "unreadable" (? in tables)'
          : '(EACCES/EPERM: not root): the sockets they hold have owner "unreadable" (? in tables); run as root to name them'),
    );
  }
  for (const u of kernel.unreadable) out.push(`could not read ${u.path} (${u.code}): the findings that need it are skipped`);
  const ns = snap.namespaces;
  if (ns !== undefined) {
    if (ns.read.length > 1) out.push("other namespaces are judged against this namespace's sysctls (net.* sysctls are per namespace and cannot be read from outside); their counters are their own");
    for (const f of ns.failed) out.push(`could not read namespace ${f.label}: ${f.reason}`);
    if (ns.withoutProcess.length > 0) out.push(`named namespaces with no process in them were not read: ${ns.withoutProcess.join(', ')}`);
    if (ns.unreadablePids > 0) out.push(`could not read the namespace of ${ns.unreadablePids} processes (not root): namespaces only they are in are missing`);
  }
  if (snap.source === 'proc' && snap.sockets.some((s) => s.state === 'LISTEN')) {
    out.push("listen backlogs unknown: /proc/net/tcp does not show them, so an accept queue's fullness cannot be judged");
  }
  return out;
}

function summarizeWatch(w: WatchView): WatchSummary {
  return {
    samples: w.samples,
    spanMs: w.spanMs,
    intervalMs: w.intervalMs,
    closeWaitTotal: w.closeWaitTotal,
    closeWait: w.closeWait,
    ages: Object.fromEntries(w.ages),
    agesAtLeast: [...w.agesAtLeast],
    agesFrom: w.agesFrom,
    rates: w.rates.map((r) => ({ key: r.key, value: r.value, perSecond: r.perSecond, totalDelta: r.totalDelta })),
  };
}

