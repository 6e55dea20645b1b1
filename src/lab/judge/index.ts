export { judgeTrace, notesAndFindings } from './trace.js';
export { combineFindings, judgeClaims, type ClaimJudgement, type ScenarioFinding } from './claims.js';
