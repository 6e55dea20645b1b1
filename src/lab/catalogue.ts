import type { Scenario } from './scenario.js';
import acceptNeverCalled from './scenarios/accept-never-called.js';
import acceptEmfile from './scenarios/accept-emfile.js';
import nodeAcceptEmfile from './scenarios/node-accept-emfile.js';
import fullBacklog from './scenarios/full-backlog.js';

/** Every scenario of the lab, in the order `teardown lab` runs them. */
export const CATALOGUE: readonly Scenario[] = [
  acceptNeverCalled,
  acceptEmfile,
  nodeAcceptEmfile,
  fullBacklog,
];

/** Scenario by id. */
export function findScenario(id: string): Scenario | undefined {
  return CATALOGUE.find((s) => s.id === id);
}
