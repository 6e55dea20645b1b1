import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { readNetCounters, readSockstat, type ProcCounters } from '../proc/index.js';
import { nodeErrorCode } from '../tcp/errno.js';

/**
 * The sysctls the doctor weighs sockets against, as numbers; `null` when the file could not be
 * read (see {@link KernelState.unreadable}).
 */
export interface DoctorSysctls {
  /** `net.ipv4.ip_local_port_range`: the ephemeral ports connect() picks from, inclusive. Applies to IPv6 too. */
  ipLocalPortRange: readonly [low: number, high: number] | null;
  /** `net.ipv4.tcp_max_orphans`: orphaned sockets (no file holds them) beyond this are reset. */
  tcpMaxOrphans: number | null;
  /** `net.ipv4.tcp_fin_timeout`, seconds: how long an orphaned FIN_WAIT2 lives (seed 004-j). */
  tcpFinTimeoutS: number | null;
  /** `net.core.somaxconn`: the cap on every listen() backlog. */
  somaxconn: number | null;
  /** `net.ipv4.tcp_max_syn_backlog`: the SYN (request) queue limit per listener. */
  tcpMaxSynBacklog: number | null;
  /** `net.ipv4.tcp_syncookies`: 0 off, 1 when the SYN queue overflows, 2 always. */
  tcpSyncookies: number | null;
  /** `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only: whether connect() may reuse a TIME_WAIT port. */
  tcpTwReuse: number | null;
  /** `net.ipv4.tcp_orphan_retries`: probes/retransmits before an orphan is killed (0 means 8). */
  tcpOrphanRetries: number | null;
}

/** A file the doctor wanted and could not read, with the errno name. */
export interface Unreadable {
  path: string;
  /** `EACCES`, `ENOENT`, … or `EPROCPARSE` for a file of an unexpected shape. */
  code: string;
}

/** Counters and sysctls of the kernel at one moment. */
export interface KernelState {
  /** `/proc/net/snmp` + `/proc/net/netstat` (`Tcp.*`, `TcpExt.*`); `null` when unreadable. */
  counters: ProcCounters | null;
  /** `/proc/net/sockstat{,6}` (`TCP.orphan`, `TCP.tw`, …); `null` when unreadable. */
  sockstat: ProcCounters | null;
  sysctls: DoctorSysctls;
  /** What could not be read. */
  unreadable: Unreadable[];
}

/** Options of {@link readKernelState}. */
export interface ReadKernelStateOptions {
  /** Where procfs is mounted (a fixture tree in tests). Default `/proc`. */
  root?: string;
  /** Read the counters of the network namespace this process is in (`/proc/PID/net/…`); sysctls stay this namespace's. */
  pid?: number;
}

const SYSCTLS: Record<Exclude<keyof DoctorSysctls, 'ipLocalPortRange'>, string> = {
  tcpMaxOrphans: 'sys/net/ipv4/tcp_max_orphans',
  tcpFinTimeoutS: 'sys/net/ipv4/tcp_fin_timeout',
  somaxconn: 'sys/net/core/somaxconn',
  tcpMaxSynBacklog: 'sys/net/ipv4/tcp_max_syn_backlog',
  tcpSyncookies: 'sys/net/ipv4/tcp_syncookies',
  tcpTwReuse: 'sys/net/ipv4/tcp_tw_reuse',
  tcpOrphanRetries: 'sys/net/ipv4/tcp_orphan_retries',
};

/**
 * Reads the TCP counters (`/proc/net/snmp`, `/proc/net/netstat`, `/proc/net/sockstat`) and the
 * sysctls of {@link DoctorSysctls}. Never throws for a file it cannot read: each such file is
 * listed in `unreadable` and its values are `null`.
 */
export async function readKernelState(opts: ReadKernelStateOptions = {}): Promise<KernelState> {
  const root = opts.root ?? '/proc';
  const unreadable: Unreadable[] = [];
  const note = (path: string) => (err: unknown): null => {
    unreadable.push({ path, code: nodeErrorCode(err) ?? (err instanceof Error ? err.name : 'EUNKNOWN') });
    return null;
  };
  const readNumbers = async (rel: string): Promise<number[] | null> => {
    const path = join(root, rel);
    try {
      const text = await readFile(path, 'latin1');
      const nums = text.trim().split(/\s+/).map(Number);
      if (nums.length === 0 || nums.some((n) => !Number.isFinite(n))) return note(path)(Object.assign(new Error('not numbers'), { code: 'EPROCPARSE' }));
      return nums;
    } catch (err) {
      return note(path)(err);
    }
  };
  const procOpts = { ...(opts.root === undefined ? {} : { root: opts.root }), ...(opts.pid === undefined ? {} : { pid: opts.pid }) };
  const [counters, sockstat, range, ...rest] = await Promise.all([
    readNetCounters(procOpts).catch(note(join(root, 'net/{snmp,netstat}'))),
    readSockstat(procOpts).catch(note(join(root, 'net/sockstat'))),
    readNumbers('sys/net/ipv4/ip_local_port_range'),
    ...Object.values(SYSCTLS).map(readNumbers),
  ]);
  const sysctls: DoctorSysctls = {
    ipLocalPortRange: range !== null && range.length === 2 ? [range[0] as number, range[1] as number] : null,
    tcpMaxOrphans: null,
    tcpFinTimeoutS: null,
    somaxconn: null,
    tcpMaxSynBacklog: null,
    tcpSyncookies: null,
    tcpTwReuse: null,
    tcpOrphanRetries: null,
  };
  Object.keys(SYSCTLS).forEach((key, i) => {
    const v = rest[i];
    sysctls[key as keyof typeof SYSCTLS] = v === null || v === undefined ? null : (v[0] ?? null);
  });
  return { counters, sockstat, sysctls, unreadable };
}
