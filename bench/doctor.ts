/**
 * doctor: how fast readSocketSnapshot() (src/proc/snapshot.ts) answers the doctor's two
 * questions on a busy machine, against `ss` measured in the same run, interleaved:
 *
 *   (a) every TCP socket with its owning process   vs `ss -tanp`   (goal: ≤ 0.5 × ss)
 *   (b) only the CLOSE_WAIT sockets                 vs `ss -tan state close-wait`   (goal: ≤ 2 × ss)
 *
 * with 10 000 and 50 000 loopback connections (20 000 and 100 000 sockets) held open by several
 * holder processes (bench/loopback-holder.ts, started by bench/lib-holders.ts), 1 % of them
 * half-closed by the client so that the server end sits in CLOSE_WAIT (and the client end in
 * FIN_WAIT2). Side rows: the same queries without owners against ss without -p, with owners
 * against `ss -tanp state close-wait`, and the /proc text path (readSocketObservations:
 * /proc/net/tcp{,6}, then the same owner scan; the lab's observer reads the same way).
 *
 * `ss` times include starting the process and printing (drained through a pipe); ours run in
 * this process with the helper threads already started (the warm-up starts them), which is how
 * a doctor that watches a machine runs.
 *
 * Whole-process figures (issue 13), in the same run: before any connection is opened, `teardown
 * ss` against `node -e 0` on the idle machine (goal ≤ 2 ×); at each scale, `teardown ss -a -p`
 * and `teardown doctor --json` against `ss -tanp` (goals ≤ 1.5 × at 5 000 connections, ≤ 0.5 × at
 * 50 000), each a fresh process started, run and drained through a pipe, as a user runs them:
 * `teardown` is bin/teardown.cjs, the command npm installs (it runs the one-file build
 * dist/src/cli/teardown.cjs, see scripts/bundle-cli.ts).
 *
 * When this environment sets NODE_EXTRA_CA_CERTS, every Node process parses the certificates it
 * names at start-up (nodejs/node#40524: OpenSSL 3 makes it slow); ss pays nothing of the kind and
 * bin/teardown.cjs starts Node without it (teardown makes no TLS connection). `node -e 0` is then
 * measured both ways, both labelled; the idle goal is judged against `node -e 0` without it (like
 * for like), the other row is for information; rows
 * "node dist/src/cli/main.js" (tsc's ES modules, the environment as it is) show what the command's
 * build and launcher save.
 *
 * Environment knobs: DOCTOR_BENCH_CONNECTIONS (comma-separated, default "5000,50000"),
 * DOCTOR_BENCH_REPS (repetitions of the CLOSE_WAIT query without owners, default 30; whatever
 * scans every /proc/PID/fd gets 15 at ≤ 20 000 connections and 5 above, because `ss -tanp` alone
 * takes seconds there).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { fileURLToPath } from 'node:url';

import { readSocketObservations, readSocketSnapshot, readTcpSockDiag } from '../src/proc/index.js';
import { envInt, measureInterleaved, spawnDrain, type BenchOptions, type BenchResult, type BenchRow, type BenchTable, type Ratio } from './lib.js';
import { fdSoftLimit, holdPairs, readSysctl, split, stopHolders, stopHoldersOnSigint, type Holder } from './lib-holders.js';

const SETUP_TIMEOUT_MS = 90_000;
/** Connections per holder process: well under the 20 000-descriptor hard limit seen here. */
const PER_HOLDER = 12_500;
const HALF_CLOSED_SHARE = 0.01;

function envList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const list = raw.split(',').map((x) => Number(x.trim()));
  if (list.some((n) => !Number.isSafeInteger(n) || n <= 0)) throw new RangeError(`${name} must be positive integers separated by commas, got ${JSON.stringify(raw)}`);
  return list;
}

interface Held {
  pairs: number;
  halfClosed: number;
  /** `host:port` of each server holder's listener: other processes on this machine use 127.0.0.x too. */
  listeners: Set<string>;
  serverPids: Set<number>;
  holderPids: Set<number>;
}

/**
 * Starts `pairs` server/client holder pairs, each pair on its own loopback address (127.0.0.1,
 * .2, …) and listener port, so no client needs more than PER_HOLDER ephemeral ports towards one
 * destination; waits until every connection is accepted and the half-closed ones are in CLOSE_WAIT.
 */
async function hold(connections: number, holders: Holder[], progress: (m: string) => void, notes: string[]): Promise<Held> {
  const fdLimit = fdSoftLimit();
  const perHolder = Math.min(PER_HOLDER, fdLimit - 200);
  if (perHolder < 100) throw new Error(`the fd limit (${fdLimit}) leaves no room for connections`);
  const pairs = Math.max(2, Math.ceil(connections / perHolder));
  const [portLo = 32768, portHi = 60999] = readSysctl('/proc/sys/net/ipv4/ip_local_port_range');
  if (Math.ceil(connections / pairs) > portHi - portLo - 500) {
    throw new Error(`ip_local_port_range ${portLo}-${portHi} is too small for ${Math.ceil(connections / pairs)} connections to one listener`);
  }
  const [somaxconn = 4096] = readSysctl('/proc/sys/net/core/somaxconn');
  const backlog = Math.min(somaxconn, 4096);
  const batch = Math.max(1, Math.min(500, backlog));
  const halfClosed = Math.max(1, Math.round(connections * HALF_CLOSED_SHARE));
  const counts = split(connections, pairs);
  const halves = split(halfClosed, pairs);
  notes.push(
    `${connections} connections: ${pairs} server + ${pairs} client holders on 127.0.0.1…127.0.0.${pairs}, ≤ ${Math.max(...counts)} descriptors each ` +
      `(fd limit ${fdLimit}), ${halfClosed} half-closed by the client (server end CLOSE_WAIT)`,
  );
  const started = await holdPairs(
    holders,
    counts.map((count, i) => ({ host: `127.0.0.${i + 1}`, count, halfClose: halves[i] ?? 0 })),
    { backlog, batch, timeoutMs: SETUP_TIMEOUT_MS, reportEvery: 5000, progress },
  );
  const listeners = new Set(started.map((p) => `${p.host}:${p.port}`));
  const serverPids = new Set(started.map((p) => p.server.child.pid as number));
  // The FINs cross loopback at once, but let the kernel catch up before asserting.
  let closeWait = 0;
  for (let i = 0; i < 100; i++) {
    closeWait = readTcpSockDiag({ states: ['CLOSE_WAIT'], families: [4] }).filter((r) => listeners.has(r.local)).length;
    if (closeWait >= halfClosed) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (closeWait < halfClosed) throw new Error(`expected ${halfClosed} CLOSE_WAIT sockets, found ${closeWait}`);
  return { pairs, halfClosed, listeners, serverPids, holderPids: new Set(holders.map((h) => h.child.pid as number)) };
}

/** Checks that the measured calls answer what ss answers before timing them. */
async function sanityCheck(connections: number, held: Held): Promise<void> {
  const all = await readSocketSnapshot();
  const owned = all.sockets.filter((s) => s.owner !== null && held.holderPids.has(s.owner.pid)).length;
  // Every connection's two ends plus the listeners are held by a holder.
  if (owned < 2 * connections + held.pairs) throw new Error(`readSocketSnapshot found holders for ${owned} sockets, expected ≥ ${2 * connections + held.pairs}`);
  const cw = await readSocketSnapshot({ states: ['CLOSE_WAIT'] });
  const ours = cw.sockets.filter((s) => held.listeners.has(s.local));
  if (ours.length !== held.halfClosed || ours.some((s) => s.state !== 'CLOSE_WAIT' || s.owner === null || !held.serverPids.has(s.owner.pid))) {
    throw new Error(`the CLOSE_WAIT query did not return the ${held.halfClosed} server ends held by the server holders`);
  }
  const ss = await spawnDrain('ss', ['-tan', 'state', 'close-wait']);
  if (ss.lines - 1 < held.halfClosed) throw new Error(`ss -tan state close-wait listed ${ss.lines - 1} sockets, expected ≥ ${held.halfClosed}`);
}

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/teardown.cjs', import.meta.url));

/**
 * Runs a command to its end, draining stdout through a pipe (stderr ignored); resolves with the
 * lines printed. Exit codes in `ok` count as success (`teardown doctor` exits 1 on a warning).
 */
function runDrained(cmd: string, args: readonly string[], ok: readonly number[] = [0], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], env: { ...env, NO_COLOR: '1' } });
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.once('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.once('close', (code, signal) => (code !== null && ok.includes(code) ? resolve(lines) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${signal ?? `code ${code}`}`))));
  });
}

/** The command as a user starts it: bin/teardown.cjs, as npm installs it. */
const teardown = (...args: string[]): Promise<number> => runDrained(BIN, args, [0, 1]);

/** tsc's ES modules started by node in this environment as it is (for comparison only). */
const esmCli = (...args: string[]): Promise<number> => runDrained(process.execPath, [CLI, ...args], [0, 1]);

/** This environment without NODE_EXTRA_CA_CERTS (see the module comment). */
function withoutExtraCaCerts(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** How many certificates NODE_EXTRA_CA_CERTS names, or undefined when it is unset. */
function extraCaCerts(): number | undefined {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (file === undefined || file === '') return undefined;
  try {
    return readFileSync(file, 'latin1').split('-----BEGIN CERTIFICATE-----').length - 1;
  } catch {
    return 0;
  }
}

const NO_CA = ', NODE_EXTRA_CA_CERTS unset';
const ESM = 'node dist/src/cli/main.js';

function row(rows: readonly BenchRow[], label: string): BenchRow {
  const r = rows.find((x) => x.label === label);
  if (r === undefined) throw new Error(`no bench row ${label}`);
  return r;
}

function ratio(rows: readonly BenchRow[], of: string, to: string): Ratio {
  return { of, to, value: row(rows, of).stats.medianMs / row(rows, to).stats.medianMs };
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const scales = envList('DOCTOR_BENCH_CONNECTIONS', [5_000, 50_000]);
  const filteredReps = envInt('DOCTOR_BENCH_REPS', 30);
  const notes: string[] = [];
  const rows: BenchRow[] = [];
  const ratios: Ratio[] = [];
  const goals: BenchTable = { title: 'goals of issues 4 and 13 (medians)', head: ['connections', 'query', 'ours ms', 'ss ms', 'ratio', 'goal', 'met'], rows: [] };
  const params: BenchResult['params'] = {
    connections: scales.join(','),
    filteredReps,
    kernel: release(),
    cores: availableParallelism(),
    node: process.version,
  };
  const extraCa = extraCaCerts();
  params.nodeExtraCaCerts = extraCa === undefined ? 'unset' : `set (${extraCa} certificates)`;

  // Start-up on the idle machine, before any connection is opened.
  const W = { node: 'idle: node -e 0', ss: 'idle: teardown ss', help: 'idle: teardown --help', ssp: 'idle: teardown ss -a -p', tanp: 'idle: ss -tanp', esm: `idle: ${ESM} ss` };
  opts.progress('idle: whole-process start-up, 20 repetitions');
  const idle = await measureInterleaved(
    [
      { label: W.node, anchor: true, fn: () => runDrained(process.execPath, ['-e', '0']) },
      { label: W.ss, fn: () => teardown('ss') },
      { label: W.help, fn: () => teardown('--help') },
      { label: W.ssp, fn: () => teardown('ss', '-a', '-p') },
      { label: W.tanp, anchor: true, fn: () => runDrained('ss', ['-tanp']) },
      { label: W.esm, fn: () => esmCli('ss') },
      ...(extraCa === undefined ? [] : [{ label: W.node + NO_CA, anchor: true, fn: () => runDrained(process.execPath, ['-e', '0'], [0], withoutExtraCaCerts()) }]),
    ],
    { reps: 20, warmup: 2, progress: opts.progress },
  );
  rows.push(...idle);
  ratios.push(ratio(idle, W.ss, W.node), ratio(idle, W.help, W.node), ratio(idle, W.ssp, W.tanp), ratio(idle, W.esm, W.node));
  // The goal compares like with like: bin/teardown.cjs starts Node without NODE_EXTRA_CA_CERTS, so
  // its anchor is node -e 0 without it; against node -e 0 as the environment is, for information.
  const goalAnchor = extraCa === undefined ? W.node : W.node + NO_CA;
  for (const anchor of extraCa === undefined ? [W.node] : [W.node + NO_CA, W.node]) {
    const r = ratio(idle, W.ss, anchor);
    if (anchor !== W.node) ratios.push(r);
    const judged = anchor === goalAnchor;
    goals.rows.push([0, `teardown ss vs ${anchor.slice('idle: '.length)} (idle)`, round(row(idle, W.ss).stats.medianMs), round(row(idle, anchor).stats.medianMs), Math.round(r.value * 1000) / 1000, judged ? '≤ 2' : 'info', judged ? (r.value <= 2 ? 'yes' : 'NO') : '—']);
  }
  if (extraCa !== undefined) {
    notes.push(
      `NODE_EXTRA_CA_CERTS is set here (${extraCa} certificates): every Node process parses them at start-up (nodejs/node#40524), ` +
        `${round(row(idle, W.node).stats.medianMs - row(idle, W.node + NO_CA).stats.medianMs)} ms of node -e 0 in this run; bin/teardown.cjs starts Node without it (no TLS), ` +
        `"${ESM}" rows keep it, "${NO_CA.slice(2)}" rows run node -e 0 without it`,
    );
  }

  const holders: Holder[] = [];
  const releaseSigint = stopHoldersOnSigint(holders);
  try {
    for (const n of scales) {
      const k = n >= 1000 ? `${n / 1000}k` : String(n);
      const fullReps = n > 20_000 ? 5 : 15;
      params[`fullReps@${k}`] = fullReps;
      try {
        opts.progress(`${k}: opening ${n} loopback connections`);
        const held = await hold(n, holders, opts.progress, notes);
        await sanityCheck(n, held);

        const L = {
          snap: `${k}: readSnapshot all + owners`,
          snapNoOwners: `${k}: readSnapshot all, no owners`,
          procPath: `${k}: readSocketObservations (/proc)`,
          ssp: `${k}: ss -tanp`,
          ss: `${k}: ss -tan`,
          cw: `${k}: readSnapshot CLOSE_WAIT`,
          cwOwners: `${k}: readSnapshot CLOSE_WAIT + owners`,
          sscw: `${k}: ss -tan state close-wait`,
          sspcw: `${k}: ss -tanp state close-wait`,
        };
        // Everything that reads every /proc/PID/fd (or the whole table) is slow at 50k, ss -tanp
        // most of all, so it gets the small repetition count; the filtered queries the large one.
        opts.progress(`${k}: (a) full snapshot with owners vs ss -tanp, ${fullReps} repetitions`);
        const full = await measureInterleaved(
          [
            { label: L.snap, fn: async () => (await readSocketSnapshot()).sockets.length },
            { label: L.ssp, anchor: true, fn: async () => (await spawnDrain('ss', ['-tanp'])).lines - 1 },
            { label: L.snapNoOwners, fn: async () => (await readSocketSnapshot({ owners: false })).sockets.length },
            { label: L.ss, fn: async () => (await spawnDrain('ss', ['-tan'])).lines - 1 },
            { label: L.procPath, fn: async () => (await readSocketObservations()).observations.length },
            { label: L.cwOwners, fn: async () => (await readSocketSnapshot({ states: ['CLOSE_WAIT'] })).sockets.length },
            { label: L.sspcw, fn: async () => (await spawnDrain('ss', ['-tanp', 'state', 'close-wait'])).lines - 1 },
          ],
          { reps: fullReps, warmup: 1, progress: opts.progress },
        );
        opts.progress(`${k}: (c) whole processes: teardown ss -a -p, teardown doctor --json vs ss -tanp, ${fullReps} repetitions`);
        const P = { ssp: `${k}: process teardown ss -a -p`, doc: `${k}: process teardown doctor --json`, tanp: `${k}: process ss -tanp`, esm: `${k}: process ${ESM} ss -a -p` };
        const procs = await measureInterleaved(
          [
            { label: P.tanp, anchor: true, fn: () => runDrained('ss', ['-tanp']) },
            { label: P.ssp, fn: () => teardown('ss', '-a', '-p') },
            { label: P.doc, fn: () => teardown('doctor', '--json') },
            { label: P.esm, fn: () => esmCli('ss', '-a', '-p') },
          ],
          { reps: fullReps, warmup: 1, progress: opts.progress },
        );
        rows.push(...procs);
        const procLimit = n >= 50_000 ? 0.5 : 1.5;
        for (const label of [P.ssp, P.doc]) {
          const r = ratio(procs, label, P.tanp);
          ratios.push(r);
          goals.rows.push([n, `(c) ${label.split(': process ')[1] as string} vs ss -tanp (whole processes)`, round(row(procs, label).stats.medianMs), round(row(procs, P.tanp).stats.medianMs), Math.round(r.value * 1000) / 1000, `≤ ${procLimit}`, r.value <= procLimit ? 'yes' : 'NO']);
        }
        ratios.push(ratio(procs, P.esm, P.tanp));

        opts.progress(`${k}: (b) CLOSE_WAIT only vs ss -tan state close-wait, ${filteredReps} repetitions`);
        const filtered = await measureInterleaved(
          [
            { label: L.cw, fn: async () => (await readSocketSnapshot({ states: ['CLOSE_WAIT'], owners: false })).sockets.length },
            { label: L.sscw, anchor: true, fn: async () => (await spawnDrain('ss', ['-tan', 'state', 'close-wait'])).lines - 1 },
          ],
          { reps: filteredReps, warmup: 2, progress: opts.progress },
        );
        rows.push(...full, ...filtered);
        const all = [...full, ...filtered];
        const goal = (query: string, ours: string, anchor: string, limit: number): void => {
          const r = ratio(all, ours, anchor);
          goals.rows.push([n, query, round(row(all, ours).stats.medianMs), round(row(all, anchor).stats.medianMs), Math.round(r.value * 1000) / 1000, `≤ ${limit}`, r.value <= limit ? 'yes' : 'NO']);
        };
        goal('(a) all sockets + owners vs ss -tanp', L.snap, L.ssp, 0.5);
        goal('(b) CLOSE_WAIT vs ss -tan state close-wait', L.cw, L.sscw, 2);
        ratios.push(
          ratio(all, L.snap, L.ssp),
          ratio(all, L.snapNoOwners, L.ss),
          ratio(all, L.procPath, L.ssp),
          ratio(all, L.cw, L.sscw),
          ratio(all, L.cwOwners, L.sspcw),
          ratio(all, L.cwOwners, L.sscw),
        );
      } finally {
        opts.progress(`${k}: stopping holders`);
        await stopHolders(holders);
        holders.length = 0;
      }
    }
  } finally {
    await stopHolders(holders);
    releaseSigint();
  }

  notes.push(
    'goals of issue 13: teardown ss ≤ 2 × node -e 0 on the idle machine; (c) teardown ss -a -p and teardown doctor --json ≤ 1.5 × ss -tanp at 5 000 connections, ≤ 0.5 × at 50 000 (fresh processes, drained through a pipe)',
    'goals: (a) readSnapshot all + owners ≤ 0.5 × ss -tanp; (b) readSnapshot CLOSE_WAIT ≤ 2 × ss -tan state close-wait (both without owners, like for like)',
    'ss times include its process start and printing, drained through a pipe; ours run in this process with the helper threads warm',
    'the owner scan reads every /proc/PID/fd link whatever the filter, so "CLOSE_WAIT + owners" costs about a full scan; ss -tanp state close-wait pays the same',
  );
  return {
    bench: 'doctor',
    title: `readSocketSnapshot vs ss with ${scales.join(' and ')} loopback connections`,
    params,
    rows,
    ratios,
    notes,
    tables: [goals],
  };
}

function round(ms: number): number {
  return ms >= 100 ? Math.round(ms) : Math.round(ms * 10) / 10;
}
