export * from './scenario.js';
export * from './ops.js';
export * from './trace.js';
export { CATALOGUE, findScenario } from './catalogue.js';
export { CLAIMS, claimsOf } from './claims.js';
export { runOnKernel, ScenarioFailed, ScenarioSkipped, type KernelRunOptions } from './kernel/run.js';
export { runLab, uncoveredClaims, type LabResult, type ScenarioOutcome } from './run-lab.js';
export { renderTrace, timeline, verdictLine, resultText } from './report/text.js';
export { judgeTrace } from './judge/index.js';
