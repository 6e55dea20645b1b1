import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEndpoint } from '../../tcp/address.js';
import { join } from 'node:path';
import { realtimeNs } from '../../sys/index.js';
import type { CapturedSegment } from '../../tcp/segment.js';
import { LabCapture, segmentsOf, writeScenarioPcap } from './capture.js';
import { LabTracer, attachResetReasons, nameTraceEvents } from './tracing.js';
import { labChildEnv, resources } from './cleanup.js';
import { NetNamespace, isRoot } from './netns.js';
import { observe, SocketNames, type ObserveContext } from './observer.js';
import { PeerProcess } from './peer-process.js';
import type { HeldSocket } from './protocol.js';
import { resolveStep, type CallResult, type Step } from '../ops.js';
import { runSysctls, type Scenario } from '../scenario.js';
import { judgeTrace, notesAndFindings } from '../judge/index.js';
import { samePicture, stepAt, type Snapshot, type StepRecord, type Trace } from '../trace.js';
import { stepFailed, stepRecord } from '../step-record.js';
import { ScenarioSkipped } from '../errors.js';

export interface KernelRunOptions {
  /** Run in a fresh network namespace (needs root). Default: when root. */
  netns?: boolean;
  /** Capture packets (an AF_PACKET socket in the scenario's namespace). Default true. */
  capture?: boolean;
  /** Trace state transitions, RSTs and socket errors (tracefs). Default true. */
  trace?: boolean;
  /** Write the scenario's packets to `<pcapDir>/<scenario>.pcap`. */
  pcapDir?: string;
  /** Called after each step, for progress output. */
  onStep?: (rec: StepRecord) => void;
  /** Pause after each call before observing, ms, so loopback packets are processed. Default 10. */
  settleMs?: number;
  /**
   * Sysctls set in the scenario's namespace over the scenario's own (`--sysctl`, by kernel name):
   * a "what if" run on the real kernel. Needs root, as every namespace sysctl.
   */
  sysctls?: Record<string, number>;
}

/**
 * Runs one scenario on the real kernel: each actor a real process, in a fresh network namespace
 * with the scenario's sysctls when root, the sockets observed after every step, the packets
 * captured, and every claim judged on the trace. Everything it starts is gone when it returns.
 * @throws ScenarioSkipped when the scenario needs what this process lacks.
 * @throws PeerError (or any Error) when the scenario itself failed.
 */
export async function runOnKernel(sc: Scenario, opts: KernelRunOptions = {}): Promise<Trace> {
  resources.hook();
  const root = isRoot();
  const useNetns = opts.netns ?? root;
  if (useNetns && !root) throw new ScenarioSkipped(sc.id, 'a network namespace needs root');
  const sysctls = runSysctls(sc, opts.sysctls);
  if (!useNetns && Object.keys(sysctls).length > 0) {
    throw new ScenarioSkipped(sc.id, `needs sysctl ${Object.entries(sysctls).map(([k, v]) => `${k}=${v}`).join(', ')} in its own network namespace, which needs root`);
  }
  if (sc.needsPidfd && !root) throw new ScenarioSkipped(sc.id, 'needs pidfd_getfd on another process (root or CAP_SYS_PTRACE)');

  const started = performance.now();
  const peers = new Map<string, PeerProcess>();
  let ns: NetNamespace | null = null;
  let sentinel: number | null = null;
  let capture: LabCapture | null = null;
  let tracer: LabTracer | null = null;
  let captureNote: string | null = null;
  let traceNote: string | null = null;
  try {
    if (useNetns) ns = NetNamespace.create(sysctls, sc.localPorts);
    const nsEnv = ns?.env ?? {};
    if (ns) sentinel = await startSentinel(nsEnv);
    if (opts.capture === false) captureNote = 'packets not captured: capture turned off';
    else if (!ns) captureNote = 'packets not captured: outside a private namespace the capture would mix in other traffic (run as root)';
    else {
      const c = LabCapture.open(ns.path, ns.ports);
      if (c instanceof LabCapture) capture = c;
      else captureNote = `packets not captured: ${c.reason}`;
    }
    if (opts.trace === false) traceNote = 'transitions not traced: tracing turned off';
    else if (!ns) traceNote = 'transitions not traced: outside a private namespace the scenario has no port range of its own (run as root)';
    else {
      const t = LabTracer.open(ns.ports);
      if (t instanceof LabTracer) tracer = t;
      else traceNote = `transitions not traced: ${t.reason}`;
    }
    await Promise.all(sc.actors.map(async (a) => peers.set(a, await PeerProcess.start(a, nsEnv))));

    const names = new SocketNames();
    const ctx: ObserveContext = {
      netnsPid: sentinel,
      endpoints: ns ? null : new Set<string>(),
      actorsByPid: new Map([...peers].map(([a, p]) => [p.pid, a])),
      names,
      startedAt: started,
    };
    const held = new Map<string, HeldSocket[]>();
    const describeAll = async (): Promise<void> => {
      for (const [a, p] of peers) held.set(a, await p.describe());
      if (ctx.endpoints) for (const h of [...held.values()].flat()) for (const e of [h.local, h.remote]) if (e) ctx.endpoints.add(e);
    };
    const snapshot = async (): Promise<Snapshot> => {
      await describeAll();
      return observe(ctx, held);
    };

    const records: StepRecord[] = [];
    // Step boundaries on CLOCK_REALTIME with µs: the very clock of the packets' timestamps (taken
    // when the sender's call queues them) and of the tracepoints (converted), so a segment or a
    // transition caused by a step can never be counted in the next one.
    const stepStarts: number[] = [];
    // Step times count from the first step, not from the set-up (namespace, processes, capture).
    const stepsStarted = performance.now();
    ctx.startedAt = stepsStarted;
    for (const [index, step] of sc.steps.entries()) {
      // A watch sized by a sysctl is recorded with the length it had here.
      const resolved = resolveStep(step, sysctls);
      const t0 = performance.now();
      const t0Epoch = epochMsNow();
      stepStarts.push(t0Epoch);
      let outcome: Awaited<ReturnType<typeof perform>>;
      try {
        outcome = await perform(resolved, peers, held, snapshot, opts.settleMs ?? 10);
      } catch (e) {
        throw stepFailed(sc.id, resolved, e, records);
      }
      const { result, watched } = outcome;
      const after = watched?.at(-1) ?? (await snapshot());
      const timing = { startMs: Math.round(t0 - stepsStarted), startEpochMs: t0Epoch, durationMs: Math.round(performance.now() - t0) };
      const rec = stepRecord(index, resolved, result, timing, after, watched);
      records.push(rec);
      capture?.poll();
      tracer?.poll();
      opts.onStep?.(rec);
    }

    let segments: CapturedSegment[] | null = null;
    if (capture) {
      const running = capture;
      capture = null;
      const got = await running.stop();
      segments = segmentsOf(got.packets, stepStarts[0] ?? epochMsNow());
      assignSegments(records, stepStarts, segments);
      if (got.note || got.drops > 0) captureNote = [got.note, got.drops > 0 ? `the kernel dropped ${got.drops} frame(s) for a full capture buffer` : null].filter(Boolean).join('; ');
      if (opts.pcapDir !== undefined) writeScenarioPcap(join(opts.pcapDir, `${sc.id}.pcap`), got.packets);
    }
    let traced: ReturnType<typeof nameTraceEvents> | null = null;
    if (tracer) {
      const running = tracer;
      tracer = null;
      const got = await running.stop();
      traced = nameTraceEvents(got.events, { addresses: names.addresses, remotes: names.remotes, stepStarts });
      if (segments) attachResetReasons(segments, got.events);
      if (got.lost > 0) traceNote = `the kernel lost ${got.lost} trace event(s) (buffer full): transitions may be incomplete`;
    }
    const trace: Trace = {
      scenario: sc.id,
      title: sc.title,
      summary: sc.summary,
      article: sc.article,
      env: {
        backend: 'kernel',
        netns: ns?.name ?? null,
        kernel: release(),
        sysctls,
        captureNote,
        traceNote,
        ports: ns ? [ns.ports[0], ns.ports[1]] : null,
        actors: Object.fromEntries([...peers].map(([a, p]) => [a, { pid: p.pid }])),
      },
      steps: records,
      segments,
      transitions: traced?.transitions ?? null,
      resets: traced?.resets ?? null,
      errors: traced?.errors ?? null,
      addresses: { ...names.addresses },
      remotes: { ...names.remotes },
      verdicts: [],
      notes: [],
      findings: [],
      durationMs: Math.round(performance.now() - started),
    };
    trace.verdicts = judgeTrace(sc, trace);
    Object.assign(trace, notesAndFindings(sc, trace));
    return trace;
  } finally {
    for (const p of peers.values()) p.dispose();
    (capture as LabCapture | null)?.close();
    await (tracer as LabTracer | null)?.close();
    if (sentinel !== null) resources.killPid(sentinel);
    ns?.dispose();
  }
}

/** CLOCK_REALTIME now, ms since the epoch with a µs fraction. */
function epochMsNow(): number {
  return Number(realtimeNs() / 1000n) / 1000;
}

const SENTINEL_SCRIPT = fileURLToPath(new URL('./sentinel.js', import.meta.url));

/**
 * Starts the namespace sentinel (sentinel.ts): a process inside the namespace, so its tables stay
 * readable at /proc/PID/net when every actor has exited. It exits by itself when this process
 * goes (its IPC channel closes), and is killed by pid at the end of the scenario.
 */
async function startSentinel(env: Record<string, string>): Promise<number> {
  const child = spawn(process.execPath, [SENTINEL_SCRIPT], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...labChildEnv(), ...env }, detached: true });
  if (child.pid === undefined) throw new Error('could not start the namespace sentinel');
  resources.pids.add(child.pid);
  child.on('error', () => {});
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the namespace sentinel exited (${code}): ${stderr.trim()}`)));
  });
  child.unref();
  child.channel?.unref();
  return child.pid;
}

async function perform(
  step: Step,
  peers: Map<string, PeerProcess>,
  held: Map<string, HeldSocket[]>,
  snapshot: () => Promise<Snapshot>,
  settleMs: number,
): Promise<{ result: CallResult; watched?: Snapshot[] }> {
  if (step.actor === undefined) {
    if (step.op === 'wait') {
      await sleep(step.ms);
      return { result: { ok: true } };
    }
    const pics: Snapshot[] = [];
    const end = performance.now() + step.ms;
    while (performance.now() < end) {
      const pic = await snapshot();
      const last = pics.at(-1);
      if (!last || !samePicture(last, pic)) pics.push(pic);
      await sleep(step.everyMs);
    }
    const pic = await snapshot();
    if (!pics.at(-1) || !samePicture(pics.at(-1) as Snapshot, pic)) pics.push(pic);
    return { result: { ok: true }, watched: pics };
  }
  const peer = peers.get(step.actor);
  if (!peer) throw new Error(`no actor ${step.actor}`);
  const { actor: _actor, label: _label, ...op } = step as Step & { actor: string };
  let result: CallResult;
  switch (op.op) {
    case 'exit': {
      const r = await peer.exit();
      result = { ok: true, value: { code: r.code, signal: r.signal } };
      break;
    }
    case 'kill': {
      const r = await peer.kill(op.signal);
      result = { ok: true, value: { code: r.code, signal: r.signal } };
      break;
    }
    case 'connect':
    case 'rpcCalls': {
      const target = findHeld(held, op.to);
      if (!target?.local) throw new Error(`${step.actor}: ${op.op} to ${op.to}, which no actor holds`);
      result = await peer.call(op, { address: parseEndpoint(target.local) });
      break;
    }
    case 'share': {
      const src = peers.get(op.from);
      const h = held.get(op.from)?.find((x) => x.name === op.sock);
      if (!src || !h) throw new Error(`${step.actor}: share ${op.sock} from ${op.from}, which does not hold it`);
      result = await peer.call(op, { source: { pid: src.pid, fd: h.fd } });
      break;
    }
    default:
      result = await peer.call(op);
  }
  if (settleMs > 0) await sleep(settleMs);
  return { result };
}

function findHeld(held: Map<string, HeldSocket[]>, name: string): HeldSocket | undefined {
  for (const list of held.values()) {
    const h = list.find((x) => x.name === name);
    if (h) return h;
  }
  return undefined;
}


/** Each packet belongs to the step during which it was sent (from its start to the next's). */
function assignSegments(records: StepRecord[], starts: number[], segments: CapturedSegment[]): void {
  segments.forEach((seg, i) => records[stepAt(starts, seg.epochMs)]?.segments.push(i));
}
