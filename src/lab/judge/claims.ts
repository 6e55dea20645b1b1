/**
 * One verdict per claim, by the rules at the end of ../shared/SEEDS.md: a claim's verdict
 * combines the findings of every scenario that judged it; notes (another runtime, a fact beyond
 * the articles) stand beside it and never change it.
 */
import type { VerdictKind } from '../scenario.js';

/** What one scenario found about one claim. */
export interface ScenarioFinding {
  scenario: string;
  verdict: VerdictKind;
  observed: string;
}

/** A claim's one verdict, with what each scenario found and the notes beside it. */
export interface ClaimJudgement {
  /** Seed claim ID (`001-a`). */
  claim: string;
  verdict: VerdictKind;
  /** The verdict's evidence in one line. */
  observed: string;
  findings: ScenarioFinding[];
  notes: string[];
}

/**
 * Combines the findings on one claim (pure):
 * - findings that could not judge (`unverified`) add nothing while another finding judged;
 * - all that judged agree → that verdict;
 * - some confirm and some contradict, or any says `partly` → `partly` (the claim holds in some
 *   set-ups, not in others: the evidence names which);
 * - none judged → `unverified`.
 */
export function combineFindings(findings: readonly ScenarioFinding[]): { verdict: VerdictKind; observed: string } {
  if (findings.length === 0) return { verdict: 'unverified', observed: 'no scenario judged it' };
  const judged = findings.filter((f) => f.verdict !== 'unverified');
  if (judged.length === 0) {
    return { verdict: 'unverified', observed: findings.length === 1 ? (findings[0] as ScenarioFinding).observed : findings.map((f) => `${f.scenario}: ${f.observed}`).join(' | ') };
  }
  const kinds = new Set(judged.map((f) => f.verdict));
  const verdict: VerdictKind = kinds.size === 1 ? (judged[0] as ScenarioFinding).verdict : 'partly';
  if (judged.length === 1) return { verdict, observed: (judged[0] as ScenarioFinding).observed };
  const by = (k: VerdictKind): string[] => judged.filter((f) => f.verdict === k).map((f) => f.scenario);
  if (kinds.size === 1) return { verdict, observed: `by ${by(verdict).join(', ')} (each scenario's finding below)` };
  const parts = (['confirmed', 'partly', 'contradicted'] as const).filter((k) => by(k).length > 0).map((k) => `${k} by ${by(k).join(', ')}`);
  return { verdict, observed: `${parts.join('; ')} (each scenario's finding below)` };
}

/**
 * The judgement of every claim in `claims` (in that order): one entry per claim, whether or not a
 * scenario judged it.
 * @param why an explanation for claims no finding reached (their scenario skipped or failed).
 */
export function judgeClaims(
  claims: readonly string[],
  findings: readonly (ScenarioFinding & { claim: string })[],
  notes: readonly { claim: string; note: string }[],
  why: (claim: string) => string = () => 'no scenario judged it',
): ClaimJudgement[] {
  return claims.map((claim) => {
    const mine = findings.filter((f) => f.claim === claim).map(({ scenario, verdict, observed }) => ({ scenario, verdict, observed }));
    const combined = mine.length > 0 ? combineFindings(mine) : { verdict: 'unverified' as const, observed: why(claim) };
    return { claim, ...combined, findings: mine, notes: notes.filter((n) => n.claim === claim).map((n) => n.note) };
  });
}
