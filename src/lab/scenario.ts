import type { ActorOp, Step } from './ops.js';
import type { TraceView } from './trace.js';

/**
 * A verdict: what the kernel (or model) did, against what the article says. `partly`: some of
 * what the claim says happened and some did not (or happened only in some set-ups).
 * The rules are at the end of ../shared/SEEDS.md.
 */
export type VerdictKind = 'confirmed' | 'contradicted' | 'partly' | 'unverified';

export interface Verdict {
  /** Seed claim ID, e.g. `'001-c'` (../shared/SEEDS.md). */
  claim: string;
  verdict: VerdictKind;
  /** The observed fact in one line: what actually happened. */
  observed: string;
}

/** A claim check: a pure function of the recorded trace. */
export type ClaimCheck = (t: TraceView) => Omit<Verdict, 'claim'>;

/**
 * A note on a claim from a scenario that does not judge it: the same question put to another
 * runtime (Node's libuv, say) than the one the article describes. Per the SEEDS rules such a
 * finding is a note beside the claim's verdict, never a contradiction of it.
 * @returns the note, built from the trace; null when the trace shows nothing to say.
 */
export type NoteCheck = (t: TraceView) => string | null;

/**
 * A kernel fact the articles never state, shown by a scenario: a finding beyond the articles.
 * Its evidence is built from the trace, like a verdict's.
 */
export interface FindingCheck {
  /** Short kebab-case id, unique in the catalogue (`rst-reasons`). */
  id: string;
  /** The fact in one sentence, as a person would state it. */
  fact: string;
  /** Claims it bears on: it is printed beside them as a note too. */
  claims?: string[];
  /** The evidence from this run; null when the trace does not show the fact (then it is not reported). */
  check: (t: TraceView) => string | null;
}

/** A finding as reported: the fact with this run's evidence. */
export interface Finding {
  id: string;
  fact: string;
  evidence: string;
  claims: string[];
}

/** A note on a claim, as reported. */
export interface ClaimNote {
  claim: string;
  note: string;
}

/**
 * A scenario: data plus claim checks, backend-agnostic. Nothing kernel-specific lives here:
 * a step names actors and sockets, never addresses, pids or files.
 */
export interface Scenario {
  /** Short kebab-case id, unique in the catalogue (`accept-never-called`). */
  id: string;
  /** The article it comes from: `'001'` … `'004'`. */
  article: string;
  title: string;
  /** What the experiment does and why, in two or three sentences. */
  summary: string;
  /** The actors: each one is its own process. */
  actors: string[];
  /** Per-namespace sysctls the scenario needs (`net.ipv4.tcp_fin_timeout: 2`); needs root to set. */
  sysctls?: Record<string, number>;
  /**
   * Only the first `localPorts` ports of the scenario's port slot as `ip_local_port_range`, for a
   * scenario about which port the kernel picks (even: the kernel walks ports two by two).
   */
  localPorts?: number;
  /** Needs the right to duplicate another process's descriptor (pidfd_getfd). */
  needsPidfd?: boolean;
  steps: Step[];
  /** One check per claim the scenario gives a verdict for. */
  checks: Record<string, ClaimCheck>;
  /** Notes on claims the scenario does not judge (another runtime, another set-up). */
  notes?: Record<string, NoteCheck>;
  /** Kernel facts beyond the articles that this scenario shows. */
  findings?: FindingCheck[];
}

/** Declares a scenario; validates that every step names a declared actor and every label is unique. */
export function scenario(s: Scenario): Scenario {
  const labels = new Set<string>();
  for (const step of s.steps) {
    if (step.actor !== undefined && !s.actors.includes(step.actor)) {
      throw new Error(`scenario ${s.id}: step ${step.op} names unknown actor ${step.actor}`);
    }
    if (step.label !== undefined) {
      if (labels.has(step.label)) throw new Error(`scenario ${s.id}: duplicate step label ${JSON.stringify(step.label)}`);
      labels.add(step.label);
    }
  }
  return s;
}

type OpOf<K extends ActorOp['op']> = Omit<Extract<ActorOp, { op: K }>, 'op'>;

/**
 * Step builders for one actor, so scenarios read like a transcript:
 * `server.listen('L')`, `client.write('c', 'ping')`, `client.close('c').as('client closed')`.
 */
export function actor(name: string) {
  const step = <K extends ActorOp['op']>(op: K, args: OpOf<K>): LabeledStep => labeled({ actor: name, op, ...args } as Step);
  return {
    name,
    listen: (sock: string, o: Omit<OpOf<'listen'>, 'sock'> = {}) => step('listen', { sock, ...o }),
    connect: (sock: string, to: string, o: Omit<OpOf<'connect'>, 'sock' | 'to'> = {}) => step('connect', { sock, to, ...o }),
    selfConnect: (sock: string) => step('selfConnect', { sock }),
    accept: (sock: string, into: string, waitMs = 200) => step('accept', { sock, into, waitMs }),
    write: (sock: string, data: string) => step('write', { sock, data }),
    writeBytes: (sock: string, bytes: number) => step('write', { sock, bytes }),
    fill: (sock: string) => step('write', { sock, fill: true }),
    blockingWrite: (sock: string, data: string) => step('write', { sock, data, blocking: true }),
    read: (sock: string, o: Omit<OpOf<'read'>, 'sock'> = {}) => step('read', { sock, ...o }),
    drain: (sock: string, waitMs = 200) => step('drain', { sock, waitMs }),
    shutdown: (sock: string, how: OpOf<'shutdown'>['how']) => step('shutdown', { sock, how }),
    closeOnEof: (sock: string, o: Omit<OpOf<'closeOnEof'>, 'sock'> = {}) => step('closeOnEof', { sock, ...o }),
    close: (sock: string) => step('close', { sock }),
    linger: (sock: string, seconds: number) => step('linger', { sock, seconds }),
    quickack: (sock: string, on: boolean) => step('quickack', { sock, on }),
    epoll: (sock: string, waitMs = 0) => step('epoll', { sock, waitMs }),
    info: (sock: string) => step('info', { sock }),
    soError: (sock: string) => step('soError', { sock }),
    counters: (...names: string[]) => step('counters', { names }),
    acceptLoop: (sock: string, ms: number) => step('acceptLoop', { sock, ms }),
    connectScan: (sock: string, offset: number, tries: number) => step('connectScan', { sock, offset, tries }),
    defaultSigpipeWrite: (sock: string, data: string) => step('write', { sock, data, defaultSigpipe: true }),
    limitFds: (spare: number) => step('limitFds', { spare }),
    unlimitFds: () => step('unlimitFds', {}),
    share: (sock: string, from: string) => step('share', { sock, from }),
    exit: () => step('exit', {}),
    kill: (signal: OpOf<'kill'>['signal'] = 'SIGKILL') => step('kill', { signal }),
    nodeServe: (sock: string, behaviour: OpOf<'nodeServe'>['behaviour'], o: Omit<OpOf<'nodeServe'>, 'sock' | 'behaviour'> = {}) =>
      step('nodeServe', { sock, behaviour, ...o }),
    nodeEvents: (sock: string) => step('nodeEvents', { sock }),
    rpcServe: (sock: string) => step('rpcServe', { sock }),
    rpcCalls: (to: string, methods: string[], until: OpOf<'rpcCalls'>['until'], o: { afterEarlier?: boolean } = {}) =>
      step('rpcCalls', { to, methods, until, ...o }),
  };
}

/** A step with `.as(label)` to name it for the checks and the report. */
export type LabeledStep = Step & { as(label: string): Step };

function labeled(s: Step): LabeledStep {
  return Object.assign(s, { as: (label: string): Step => ({ ...s, label }) }) as LabeledStep;
}

/** A pause of `ms` milliseconds (timers run, packets flow). */
export function wait(ms: number, label?: string): Step {
  return { op: 'wait', ms, ...(label ? { label } : {}) };
}

/**
 * Observes every `everyMs` for `ms`, keeping each distinct picture (catches passing states);
 * with `atLeast`, for at least that sysctl's seconds plus `plusMs` ({@link resolveStep}).
 */
export function watch(ms: number, everyMs: number, label?: string, atLeast?: { sysctl: string; plusMs: number }): Step {
  return { op: 'watch', ms, everyMs, ...(label ? { label } : {}), ...(atLeast ? { atLeast } : {}) };
}

export const confirmed = (observed: string): Omit<Verdict, 'claim'> => ({ verdict: 'confirmed', observed });
export const contradicted = (observed: string): Omit<Verdict, 'claim'> => ({ verdict: 'contradicted', observed });
export const unverified = (observed: string): Omit<Verdict, 'claim'> => ({ verdict: 'unverified', observed });
export const partly = (observed: string): Omit<Verdict, 'claim'> => ({ verdict: 'partly', observed });
/** `unverified`: packets were not captured, so `unseen` cannot be seen; the run's capture note says why. */
export const notCaptured = (t: TraceView, unseen: string): Omit<Verdict, 'claim'> =>
  unverified(`${unseen} (${t.trace.env.captureNote ?? 'packets not captured'})`);
/** `confirmed(observed)` when `holds`, else `contradicted(observed)`: the same fact either way. */
export const judge = (holds: boolean, observed: string): Omit<Verdict, 'claim'> => (holds ? confirmed(observed) : contradicted(observed));

/** The sysctls a run of `sc` sets, by kernel name: the scenario's own, then `overrides` (`--sysctl`), which win. */
export function runSysctls(sc: Scenario, overrides: Readonly<Record<string, number>> = {}): Record<string, number> {
  return { ...(sc.sysctls ?? {}), ...overrides };
}
