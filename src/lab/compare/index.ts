/** The differential check: a scenario's kernel trace against the model's (issue 11). Pure, no I/O. */
export { compareTraces, summarize, agreement, resultFact, emptyTallies } from './compare.js';
export { align, type AlignRow } from './align.js';
export { MODEL_GAPS, reasonFor, type ModelGap, type MismatchFacts, type GapContext } from './reasons.js';
export { toleranceMs, withinTolerance, TOLERANCE_MS, TOLERANCE_SHARE } from './tolerance.js';
export * from './types.js';
export { renderComparison, type CompareTextOptions } from './text.js';
export { compareWithModel, pacedModel, type ModelRunner } from './against.js';
export { renderCompareHtml, type ComparedPair } from './html.js';
