import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ProcParseError } from './errors.js';

/**
 * Counters by section, then name: `counters.TcpExt.ListenOverflows`, `counters.Tcp.CurrEstab`,
 * `sockstat.TCP.tw`. Values are as the kernel prints them; 64-bit counters beyond 2^53 lose
 * precision (none of the TCP ones get there in practice).
 */
export type ProcCounters = Record<string, Record<string, number>>;

/** Options of the counter readers. */
export interface ReadCountersOptions {
  /** Where procfs is mounted; a fixture tree in tests. Default `/proc`. */
  root?: string;
  /** Read `ROOT/PID/net/…`: the counters of the network namespace process `pid` is in. */
  pid?: number;
}

function netDir(opts: ReadCountersOptions | undefined): string {
  const root = opts?.root ?? '/proc';
  if (opts?.pid === undefined) return join(root, 'net');
  if (!Number.isSafeInteger(opts.pid) || opts.pid <= 0) throw new RangeError(`pid must be a positive integer, got ${String(opts.pid)}`);
  return join(root, String(opts.pid), 'net');
}

function parseInteger(token: string): number | undefined {
  if (token.length === 0 || token.length > 21) return undefined;
  let i = token.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  if (i === token.length) return undefined;
  let v = 0;
  for (; i < token.length; i++) {
    const d = token.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    v = v * 10 + d;
  }
  return token.charCodeAt(0) === 45 ? -v : v;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function words(line: string): string[] {
  return line.split(' ').filter((w) => w !== '');
}

/**
 * Parses `/proc/net/netstat` or `/proc/net/snmp`: pairs of lines, a header naming the counters
 * and a line of values, both starting with the section (`TcpExt:`, `IpExt:`, `Tcp:`, `Ip:` …),
 * as `netstat_seq_show()` (net/ipv4/proc.c) prints them. Values may be negative
 * (`Tcp: MaxConn` is -1). A section seen twice is merged.
 *
 * @param source named in error messages; default `/proc/net/netstat`.
 * @throws ProcParseError for a line without a `Section:` prefix, a header without its values
 *   line, a values line whose section or count differs from its header's, or a value that is not
 *   an integer.
 */
export function parseNetstat(text: string, source = '/proc/net/netstat'): ProcCounters {
  const lines = splitLines(text);
  const out: ProcCounters = {};
  for (let i = 0; i < lines.length; i++) {
    const header = lines[i] as string;
    if (header.trim() === '') continue;
    const names = words(header);
    const section = sectionOf(names[0], source, i + 1, header);
    const valuesLine = lines[i + 1];
    if (valuesLine === undefined || valuesLine.trim() === '') {
      throw new ProcParseError(source, i + 1, header, `the ${section} header has no line of values after it`);
    }
    const values = words(valuesLine);
    const valueSection = sectionOf(values[0], source, i + 2, valuesLine);
    if (valueSection !== section) {
      throw new ProcParseError(source, i + 2, valuesLine, `expected the values of section ${section}, found section ${valueSection}`);
    }
    if (values.length !== names.length) {
      throw new ProcParseError(source, i + 2, valuesLine, `section ${section} names ${names.length - 1} counters but this line has ${values.length - 1} values`);
    }
    const record = (out[section] ??= {});
    for (let k = 1; k < names.length; k++) {
      const v = parseInteger(values[k] as string);
      if (v === undefined) {
        throw new ProcParseError(source, i + 2, valuesLine, `the value of ${section} ${names[k] as string} is not an integer: ${JSON.stringify(values[k])}`);
      }
      record[names[k] as string] = v;
    }
    i++;
  }
  return out;
}

function sectionOf(first: string | undefined, source: string, lineNumber: number, line: string): string {
  if (first === undefined || first.length < 2 || !first.endsWith(':')) {
    throw new ProcParseError(source, lineNumber, line, 'expected a line starting with a section name and ":" (e.g. "TcpExt:")');
  }
  return first.slice(0, -1);
}

/**
 * Parses `/proc/net/sockstat` or `/proc/net/sockstat6`: one line per section, then name/value
 * pairs, as `sockstat_seq_show()` (net/ipv4/proc.c) prints them:
 * `TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1` → `{ TCP: { inuse: 5, orphan: 0, tw: 0, alloc: 7, mem: 1 } }`.
 * Units are the kernel's: counts of sockets, except `mem` (pages, of the whole protocol) and
 * `FRAG: memory` (bytes).
 *
 * @param source named in error messages; default `/proc/net/sockstat`.
 * @throws ProcParseError for a line without a `Section:` prefix, a name without a value, or a
 *   value that is not an integer.
 */
export function parseSockstat(text: string, source = '/proc/net/sockstat'): ProcCounters {
  const lines = splitLines(text);
  const out: ProcCounters = {};
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    const w = words(line);
    const section = sectionOf(w[0], source, i + 1, line);
    if (w.length % 2 === 0) {
      throw new ProcParseError(source, i + 1, line, `section ${section} has a name without a value (${JSON.stringify(w[w.length - 1])})`);
    }
    const record = (out[section] ??= {});
    for (let k = 1; k < w.length; k += 2) {
      const v = parseInteger(w[k + 1] as string);
      if (v === undefined) {
        throw new ProcParseError(source, i + 1, line, `the value of ${section} ${w[k] as string} is not an integer: ${JSON.stringify(w[k + 1])}`);
      }
      record[w[k] as string] = v;
    }
  }
  return out;
}

function merge(into: ProcCounters, from: ProcCounters): ProcCounters {
  for (const [section, values] of Object.entries(from)) into[section] = { ...into[section], ...values };
  return into;
}

function isMissing(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

/**
 * Reads `/proc/net/snmp` (sections `Ip`, `Icmp`, `IcmpMsg`, `Tcp`, `Udp`, `UdpLite`) and
 * `/proc/net/netstat` (`TcpExt`, `IpExt`, `MPTcpExt`, …) into one record, e.g.
 * `c.Tcp.CurrEstab`, `c.TcpExt.ListenOverflows`, `c.TcpExt.TCPAbortOnClose`.
 *
 * @throws ProcParseError for malformed text; Node's fs error when a file cannot be read.
 */
export async function readNetCounters(opts?: ReadCountersOptions): Promise<ProcCounters> {
  const dir = netDir(opts);
  const [snmp, netstat] = await Promise.all([readFile(join(dir, 'snmp'), 'latin1'), readFile(join(dir, 'netstat'), 'latin1')]);
  return merge(parseNetstat(snmp, join(dir, 'snmp')), parseNetstat(netstat, join(dir, 'netstat')));
}

/** Synchronous {@link readNetCounters}. */
export function readNetCountersSync(opts?: ReadCountersOptions): ProcCounters {
  const dir = netDir(opts);
  const snmp = readFileSync(join(dir, 'snmp'), 'latin1');
  const netstat = readFileSync(join(dir, 'netstat'), 'latin1');
  return merge(parseNetstat(snmp, join(dir, 'snmp')), parseNetstat(netstat, join(dir, 'netstat')));
}

/**
 * Reads `/proc/net/sockstat` and, when present, `/proc/net/sockstat6` (sections `TCP6`, `UDP6`,
 * …) into one record: `s.TCP.inuse`, `s.TCP.orphan`, `s.TCP.tw`, `s.TCP6.inuse`.
 *
 * @throws ProcParseError for malformed text; Node's fs error when `sockstat` cannot be read.
 */
export async function readSockstat(opts?: ReadCountersOptions): Promise<ProcCounters> {
  const dir = netDir(opts);
  const [v4, v6] = await Promise.all([
    readFile(join(dir, 'sockstat'), 'latin1'),
    readFile(join(dir, 'sockstat6'), 'latin1').catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    }),
  ]);
  const out = parseSockstat(v4, join(dir, 'sockstat'));
  return v6 === undefined ? out : merge(out, parseSockstat(v6, join(dir, 'sockstat6')));
}

/** Synchronous {@link readSockstat}. */
export function readSockstatSync(opts?: ReadCountersOptions): ProcCounters {
  const dir = netDir(opts);
  const out = parseSockstat(readFileSync(join(dir, 'sockstat'), 'latin1'), join(dir, 'sockstat'));
  let v6: string;
  try {
    v6 = readFileSync(join(dir, 'sockstat6'), 'latin1');
  } catch (err) {
    if (isMissing(err)) return out;
    throw err;
  }
  return merge(out, parseSockstat(v6, join(dir, 'sockstat6')));
}
