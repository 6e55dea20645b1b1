/** The differential check: a scenario's kernel trace against the model's (issue 11). Pure, no I/O. */
export { compareTraces, summarize, agreement } from './compare.js';
export { align, type AlignRow } from './align.js';
export { MODEL_GAPS, reasonFor, type ModelGap, type MismatchFacts, type GapContext } from './reasons.js';
export { toleranceMs, withinTolerance } from './tolerance.js';
export * from './types.js';
export { renderComparison, type CompareTextOptions } from './text.js';
export { compareWithModel } from './against.js';
export { renderCompareHtml, type ComparedPair } from './html.js';
