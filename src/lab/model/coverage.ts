/**
 * What the model covers of the catalogue: every claim of a scenario it runs, except those listed
 * here, where the model is known to judge differently from the kernel (the model is wrong there,
 * not the claim). The differential test (test/lab/model-verdicts.test.ts) fails on any difference
 * between the model's verdict and the kernel's recorded one that is not in this list.
 */
import type { ActorOp } from '../ops.js';
import { runSysctls, type Scenario } from '../scenario.js';
import { modelSysctls } from './sysctls.js';

/**
 * Claim ID → why the model's verdict on it is not to be trusted. Empty: on every scenario the
 * model runs, its verdicts equal the kernel's (Linux 6.18 fixtures).
 */
export const MODEL_UNCOVERED_CLAIMS: Readonly<Record<string, string>> = {};

/** A claim the model does not judge, and why. */
export interface UncoveredClaim {
  claim: string;
  reason: string;
}

/**
 * The claims of `catalogue` the model judges, and those it does not with the reason: every
 * scenario judging it is skipped on the model (each scenario's reason), or it is listed in
 * {@link MODEL_UNCOVERED_CLAIMS}. Pure.
 */
export function modelCoverage(catalogue: readonly Scenario[], sysctls: Readonly<Record<string, number>> = {}): { covered: string[]; uncovered: UncoveredClaim[] } {
  const covered = new Set<string>();
  const skippedBy = new Map<string, string[]>();
  for (const sc of catalogue) {
    const why = modelSkipReason(sc, sysctls);
    for (const claim of Object.keys(sc.checks)) {
      if (why === null) covered.add(claim);
      else skippedBy.set(claim, [...(skippedBy.get(claim) ?? []), `${sc.id} ${why}`]);
    }
  }
  const uncovered: UncoveredClaim[] = [];
  for (const [claim, reason] of Object.entries(MODEL_UNCOVERED_CLAIMS)) {
    covered.delete(claim);
    uncovered.push({ claim, reason });
  }
  for (const [claim, reasons] of skippedBy) if (!covered.has(claim) && !(claim in MODEL_UNCOVERED_CLAIMS)) uncovered.push({ claim, reason: `skipped: ${reasons.join('; ')}` });
  uncovered.sort((a, b) => (a.claim < b.claim ? -1 : a.claim > b.claim ? 1 : 0));
  return { covered: [...covered].sort(), uncovered };
}

/**
 * Why the model cannot run `sc` (a pure function of the scenario and the sysctls asked for), or
 * null when it can: a scenario that depends on Node's runtime, on descriptor tables, or on what
 * the model lacks (a blocking MSG_PEEK, IPv6) is skipped with this reason.
 */
export function modelSkipReason(sc: Scenario, sysctls: Readonly<Record<string, number>> = {}): string | null {
  const all = runSysctls(sc, sysctls);
  const known = modelSysctls(all);
  if (!known.ok) return `needs sysctl ${known.unknown}, which the model does not honour`;
  for (const step of sc.steps) {
    if (step.actor === undefined) continue;
    const why = opSkipReason(step);
    if (why !== null) return why;
  }
  return null;
}

function opSkipReason(op: ActorOp): string | null {
  switch (op.op) {
    case 'nodeServe':
    case 'nodeEvents':
      return "runs a node:net server: Node's runtime (libuv, its events) is not modelled";
    case 'rpcServe':
    case 'rpcCalls':
      return "runs the rpc client and server on node:net: Node's runtime is not modelled";
    case 'limitFds':
    case 'unlimitFds':
    case 'acceptLoop':
      return "needs a process's descriptor table and RLIMIT_NOFILE (EMFILE), which the model does not have";
    case 'read':
      return op.peek && op.blocking ? 'a blocking MSG_PEEK is not modelled' : null;
    case 'listen':
      return op.family === 6 ? 'IPv6 is not modelled' : null;
    default:
      return null;
  }
}
