import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Counter, Gauge, Registry } from 'prom-client';

import { TCP_STATES } from '../tcp/state.js';
import { KERNEL_COUNTERS } from './counters.js';
import { scanOnce, type DoctorScan } from './doctor.js';
import { type DoctorThresholds } from './findings.js';
import { canonical, Listeners, sideOf, split } from './rules/context.js';
import { holderOf, isUnheld, UNREADABLE, type DoctorSocket } from './socket.js';
import { DoctorWatch, type StateEntries, type WatchView } from './watch.js';

/** The prefix of every metric the exporter serves. */
export const METRIC_PREFIX = 'tcp_teardown_';

/** The port `teardown exporter` listens on unless told otherwise. */
export const DEFAULT_EXPORTER_PORT = 9473;

/** The label value of the bucket that gathers everything beyond the top N. */
export const OTHER = 'other';

/** Options of {@link createExporter}. */
export interface ExporterOptions {
  /** Where procfs is mounted (a fixture tree in tests). Default `/proc`. */
  root?: string;
  /** Label sets kept per labelled metric, the largest first; the rest are summed under `other` (default 10). */
  topN?: number;
  /** A scrape within this many ms after a scan finished reuses it (default 1000). A scan in flight is always shared: one scan per scrape, not per metric. */
  cacheMs?: number;
  /** Scan owners (default true): CLOSE_WAIT by command needs them. */
  owners?: boolean;
  thresholds?: Partial<DoctorThresholds>;
  /** Every network namespace (`--all-namespaces`): socket metrics get a `netns` label. */
  allNamespaces?: boolean;
  /**
   * State entry times from a tracer (true ages for `close_wait_oldest_seconds`), read at each
   * scan; see `doctor/ages.ts`. Without it ages count from the exporter's first scan.
   */
  entries?: () => StateEntries | undefined;
}

/** One scan, as the metrics read it: the exporter always scans with a watch. */
export type ExporterScan = DoctorScan & { watch: WatchView };

/** A labelled value. */
export interface LabelledValue<L extends string> {
  labels: Record<L, string>;
  value: number;
}

/**
 * Keeps the `n` largest values and sums the rest into one entry whose every label is
 * {@link OTHER}, so a metric's label sets stay bounded whatever the machine holds. Ties are
 * broken by label text, so the cut is stable from scrape to scrape.
 */
export function topN<L extends string>(values: readonly LabelledValue<L>[], n: number, labelNames: readonly L[]): LabelledValue<L>[] {
  const key = (v: LabelledValue<L>): string => labelNames.map((l) => v.labels[l]).join('\u0000');
  const sorted = [...values].sort((a, b) => b.value - a.value || key(a).localeCompare(key(b)));
  const kept = sorted.slice(0, n);
  const rest = sorted.slice(n);
  if (rest.length > 0) {
    const labels = Object.fromEntries(labelNames.map((l) => [l, OTHER])) as Record<L, string>;
    kept.push({ labels, value: rest.reduce((a, v) => a + v.value, 0) });
  }
  return kept;
}

function countBy<L extends string>(sockets: readonly DoctorSocket[], labels: (s: DoctorSocket) => Record<L, string> | undefined): LabelledValue<L>[] {
  const m = new Map<string, LabelledValue<L>>();
  for (const s of sockets) {
    const l = labels(s);
    if (l === undefined) continue;
    const k = JSON.stringify(l);
    const e = m.get(k);
    if (e) e.value++;
    else m.set(k, { labels: l, value: 1 });
  }
  return [...m.values()];
}

/**
 * A prom-client registry of the doctor's metrics, collected on scrape (one scan per scrape,
 * shared by all metrics), and the scan function behind it.
 *
 * Metrics (prefix `tcp_teardown_`):
 * - `sockets{state}`: TCP sockets by state (kernel names);
 * - `close_wait_sockets{command,local_port,remote}`: CLOSE_WAIT by owning command (`-` when no
 *   file holds it, `?` when the owner could not be read) and local port (accepted connections) or
 *   remote endpoint (connections this host opened: never the ephemeral port); top N, then
 *   `other` (002-f, 001-c);
 * - `close_wait_oldest_seconds`: age of the oldest CLOSE_WAIT, from the traced transition when
 *   `entries` is given and tracing is permitted, else since this exporter first saw it;
 *   `ages_from_trace` says which;
 * - with `allNamespaces`, the socket metrics get a `netns` label;
 * - `never_accepted_sockets{listener,state}`: connections in a listener's accept queue that no
 *   process has accepted, ESTABLISHED or already CLOSE_WAIT (001-c); top N, then `other`;
 * - `fin_wait2_sockets{held}`: FIN_WAIT2 held by a process (`true`, a half-close that can last
 *   for ever) or orphaned (`false`, bounded by tcp_fin_timeout) (004-j);
 * - `time_wait_sockets{remote}`: TIME_WAIT by remote endpoint, top N, then `other`;
 *   `ephemeral_ports`: the size of ip_local_port_range, to compare against;
 * - `orphan_sockets`, `max_orphans`: sockstat's orphans and tcp_max_orphans;
 * - `findings{id,severity}`: the doctor's findings on this scan;
 * - the kernel counters of `KERNEL_COUNTERS` as counters (`listen_overflows_total`,
 *   `abort_on_close_total`, …), values since boot;
 * - `scan_duration_seconds`, `scan_unreadable_processes`: the scan itself.
 */
export function createExporter(opts: ExporterOptions = {}): { registry: Registry; scan: () => Promise<ExporterScan> } {
  const p = METRIC_PREFIX;
  const n = opts.topN ?? 10;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`topN must be a positive integer, got ${String(opts.topN)}`);
  const cacheMs = opts.cacheMs ?? 1000;
  const watch = new DoctorWatch();
  const registry = new Registry();

  // One scan at a time: a scan in flight is shared by every metric of the scrape (and by a
  // concurrent scrape), so the watch sees scans in order; a finished one is reused for cacheMs.
  let last: { doneAt: number | undefined; scan: Promise<ExporterScan> } | undefined;
  const scan = (): Promise<ExporterScan> => {
    const now = performance.now();
    if (last !== undefined && (last.doneAt === undefined || now - last.doneAt < cacheMs)) return last.scan;
    const pending = (async (): Promise<ExporterScan> => {
      const r = await scanOnce({
        ...(opts.root === undefined ? {} : { root: opts.root }),
        owners: opts.owners !== false,
        allNamespaces: opts.allNamespaces === true,
        ...(opts.thresholds === undefined ? {} : { thresholds: opts.thresholds }),
        watch,
        ...(opts.entries === undefined ? {} : { entries: opts.entries }),
      });
      return { ...r, watch: r.watch as WatchView }; // defined: a watch was given
    })();
    const entry: { doneAt: number | undefined; scan: Promise<ExporterScan> } = { doneAt: undefined, scan: pending };
    last = entry;
    pending.then(
      () => {
        entry.doneAt = performance.now();
      },
      () => {
        if (last === entry) last = undefined; // a failed scan is not cached
      },
    );
    return pending;
  };

  const ns = opts.allNamespaces === true;
  /** The `netns` label, with `allNamespaces` only (label sets stay what they were otherwise). */
  const nsLabel = (x: DoctorSocket): Record<string, string> => (ns ? { netns: x.netns ?? '' } : {});
  const withNs = <L extends string>(names: readonly L[]): L[] => (ns ? [...names, 'netns' as L] : [...names]);
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (g: Gauge<L>, s: ExporterScan) => void): void => {
    const g: Gauge<L> = new Gauge<L>({
      name: p + name,
      help,
      labelNames,
      registers: [registry],
      collect: async () => {
        const s = await scan();
        g.reset();
        if (labelNames.length === 0) g.remove(); // an unknown value is left out, not exported as 0
        fill(g, s);
      },
    });
  };

  gauge('sockets', 'TCP sockets by state (kernel state names), in this network namespace (every one, by netns, with --all-namespaces).', withNs(['state']), (g, s) => {
    const labelsets = ns ? [...new Set(s.snapshot.sockets.map((x) => x.netns ?? ''))] : [''];
    for (const nsName of labelsets) {
      const counts = new Map<string, number>();
      for (const x of s.snapshot.sockets) if (!ns || x.netns === nsName) counts.set(x.state, (counts.get(x.state) ?? 0) + 1);
      for (const st of TCP_STATES) g.set(ns ? { state: st, netns: nsName } : { state: st }, counts.get(st) ?? 0);
    }
  });

  gauge(
    'close_wait_sockets',
    'CLOSE_WAIT sockets by owning command ("-": no file holds it, never accepted; "?": owner unreadable), by local port for accepted connections (remote ""), by remote endpoint for connections this host opened (local_port ""); the top N, the rest under "other".',
    withNs(['command', 'local_port', 'remote']),
    (g, s) => {
      const listeners = new Listeners(s.snapshot.sockets);
      const range = s.kernel.sysctls.ipLocalPortRange;
      const values = countBy(s.snapshot.sockets, (x) => {
        if (x.state !== 'CLOSE_WAIT') return undefined;
        const holder = holderOf(x);
        const command = holder === null ? '-' : holder === UNREADABLE ? '?' : holder.command;
        // An ephemeral port would make a new series per connection: a client end is labelled by the service it points at.
        const client = sideOf(x, listeners, range) === 'client';
        return { command, local_port: client ? '' : String(split(x.local).port), remote: client ? canonical(x.remote) : '', ...nsLabel(x) };
      });
      for (const v of topN(values, n, withNs(['command', 'local_port', 'remote']))) g.set(v.labels, v.value);
    },
  );

  gauge(
    'close_wait_oldest_seconds',
    'Age of the oldest CLOSE_WAIT socket, seconds (0 when there is none): since it entered CLOSE_WAIT when tracing is permitted (ages_from_trace 1), else since this exporter first saw it, a lower bound.',
    [],
    (g, s) => {
      let max = 0;
      for (const [k, ms] of s.watch.ages) if (k.startsWith('CLOSE_WAIT ') && ms > max) max = ms;
      g.set(max / 1000);
    },
  );

  gauge('ages_from_trace', '1 when socket ages come from traced state transitions (tracefs), 0 when from scans (lower bounds since the exporter started).', [], (g, s) =>
    g.set(s.watch.agesFrom === 'trace' ? 1 : 0),
  );

  gauge(
    'never_accepted_sockets',
    "Connections in a listener's accept queue that no process has accepted yet, by listener and state (CLOSE_WAIT: the peer already closed); the top N, the rest under \"other\".",
    withNs(['listener', 'state']),
    (g, s) => {
      const listeners = new Listeners(s.snapshot.sockets);
      const values = countBy(s.snapshot.sockets, (x) => {
        if (x.inode !== 0 || (x.state !== 'ESTABLISHED' && x.state !== 'CLOSE_WAIT')) return undefined;
        const l = listeners.find(x.local)?.local;
        return l === undefined ? undefined : { listener: l, state: x.state, ...nsLabel(x) };
      });
      for (const v of topN(values, n, withNs(['listener', 'state']))) g.set(v.labels, v.value);
    },
  );

  gauge('fin_wait2_sockets', 'FIN_WAIT2 sockets: held="true" by a process (a half-close, lasts until the peer closes), held="false" orphaned (lasts tcp_fin_timeout).', ['held'], (g, s) => {
    let held = 0;
    let orphan = 0;
    for (const x of s.snapshot.sockets) if (x.state === 'FIN_WAIT2') (isUnheld(x) ? orphan++ : held++);
    g.set({ held: 'true' }, held);
    g.set({ held: 'false' }, orphan);
  });

  gauge('time_wait_sockets', 'TIME_WAIT sockets by remote endpoint; the top N, the rest under "other".', withNs(['remote']), (g, s) => {
    for (const v of topN(countBy(s.snapshot.sockets, (x) => (x.state === 'TIME_WAIT' ? ({ remote: x.remote, ...nsLabel(x) } as Record<'remote', string>) : undefined)), n, withNs<'remote'>(['remote']))) g.set(v.labels, v.value);
  });

  gauge('ephemeral_ports', 'Ports in net.ipv4.ip_local_port_range: how many connections to one remote endpoint can exist (or sit in TIME_WAIT) at once.', [], (g, s) => {
    const r = s.kernel.sysctls.ipLocalPortRange;
    if (r !== null) g.set(r[1] - r[0] + 1);
  });

  gauge('orphan_sockets', 'Orphaned TCP sockets (closed, no process holds them), from /proc/net/sockstat.', [], (g, s) => {
    const v = s.kernel.sockstat?.TCP?.orphan;
    if (v !== undefined) g.set(v);
  });

  gauge('max_orphans', 'net.ipv4.tcp_max_orphans: orphans beyond it are reset.', [], (g, s) => {
    const v = s.kernel.sysctls.tcpMaxOrphans;
    if (v !== null) g.set(v);
  });

  gauge('findings', "The doctor's findings on the latest scan, by finding id and severity.", ['id', 'severity'], (g, s) => {
    const m = new Map<string, { id: string; severity: string; n: number }>();
    for (const f of s.report.findings) {
      const k = `${f.id} ${f.severity}`;
      const e = m.get(k);
      if (e) e.n++;
      else m.set(k, { id: f.id, severity: f.severity, n: 1 });
    }
    for (const e of m.values()) g.set({ id: e.id, severity: e.severity }, e.n);
  });

  gauge('scan_duration_seconds', 'Time the latest scan took, seconds.', [], (g, s) => g.set(Math.round(s.report.durationMs) / 1000));

  gauge('scan_unreadable_processes', 'Processes whose /proc/PID/fd could not be read (not root): the owners of their sockets are unknown.', [], (g, s) =>
    g.set(s.snapshot.unreadablePids),
  );

  for (const c of KERNEL_COUNTERS) {
    const counter: Counter = new Counter({
      name: p + c.metric,
      help: `${c.help} (${c.section}.${c.name} in /proc/net/${c.section === 'Tcp' ? 'snmp' : 'netstat'}, since boot)`,
      registers: [registry],
      collect: async () => {
        const s = await scan();
        const v = s.kernel.counters?.[c.section]?.[c.name];
        counter.reset();
        counter.remove(); // a counter this kernel does not print (or an unreadable file) is left out
        if (v !== undefined) counter.inc(v);
      },
    });
  }

  return { registry, scan };
}

/** Options of {@link startExporter}. */
export interface StartExporterOptions extends ExporterOptions {
  /** Address to bind (default `127.0.0.1`: the metrics name processes, keep them local unless told). */
  host?: string;
  /** Port (default {@link DEFAULT_EXPORTER_PORT}; 0 picks a free one). */
  port?: number;
}

/** A running exporter. */
export interface RunningExporter {
  /** `http://127.0.0.1:9473/metrics`. */
  url: string;
  server: Server;
  registry: Registry;
  close(): Promise<void>;
}

/**
 * Serves the doctor's metrics over HTTP at `/metrics` (Prometheus text format 0.0.4), scanning on
 * each scrape.
 * @throws (through the promise) RangeError for an empty `host`; the listen error (`EADDRINUSE`, `EACCES`).
 */
export async function startExporter(opts: StartExporterOptions = {}): Promise<RunningExporter> {
  const { registry } = createExporter(opts);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`scan failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('tcp-teardown exporter: metrics at /metrics\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n');
  });
  const host = opts.host ?? '127.0.0.1';
  // Node binds every interface for an empty host: never do that by accident (say 0.0.0.0 or ::).
  if (host.trim() === '') throw new RangeError('host is empty, which would bind every interface; pass 0.0.0.0 or :: to mean that');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_EXPORTER_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}/metrics`,
    server,
    registry,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
