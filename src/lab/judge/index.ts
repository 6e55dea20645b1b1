export { judgeTrace, notesAndFindings } from './trace.js';
export { combineFindings, judgeClaims, type ClaimJudgement, type ScenarioFinding } from './claims.js';
export { judgeLab, type LabJudgement, type ScenarioOutcome } from './lab.js';
