import type { Scenario } from './scenario.js';
import acceptNeverCalled from './scenarios/accept-never-called.js';

/** Every scenario of the lab, in the order `teardown lab` runs them. */
export const CATALOGUE: readonly Scenario[] = [acceptNeverCalled];

/** Scenario by id. */
export function findScenario(id: string): Scenario | undefined {
  return CATALOGUE.find((s) => s.id === id);
}
