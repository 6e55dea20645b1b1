/**
 * The differential check for people: a table of agreement per scenario and per kind of fact, the
 * overall figure, then every mismatch with its step and reason, fitted to `width` columns.
 */
import Table from 'cli-table3';
import { pc } from '../report/colour.js';
import { wrap } from '../report/text.js';
import { agreement } from './compare.js';
import { FACT_KINDS, KIND_HEAD, type Comparison, type Tally } from './types.js';


/** `97.3 %`, coloured: green when everything agreed, yellow from 95 %, red below. */
function percent(t: Tally): string {
  const a = agreement(t);
  const text = `${(100 * a).toFixed(1)} %`;
  return t.agreed === t.compared ? pc.green(text) : a >= 0.95 ? pc.yellow(text) : pc.red(text);
}

/** `12/12`, or `-` when none was compared; red when some disagreed. */
function cell(t: Tally): string {
  if (t.compared === 0) return pc.dim('-');
  const text = `${t.agreed}/${t.compared}`;
  return t.agreed === t.compared ? text : pc.red(text);
}

export interface CompareTextOptions {
  /** Columns (default 120). */
  width?: number;
  /** Where the kernel's traces came from: `this run`, `recorded in DIR`. */
  source: string;
}

/** The comparison as terminal text. */
export function renderComparison(c: Comparison, opts: CompareTextOptions): string {
  const width = opts.width ?? 120;
  const out: string[] = [];
  out.push(pc.bold(`━━ the model against the kernel (kernel traces: ${opts.source})`));
  const table = new Table({
    head: ['scenario', 'agreed', ...FACT_KINDS.map((k) => KIND_HEAD[k])],
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1, compact: true },
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '' },
    colAligns: ['left', 'right', ...FACT_KINDS.map(() => 'right' as const)],
  });
  for (const s of c.scenarios) table.push([s.scenario, percent(s), ...FACT_KINDS.map((k) => cell(s.kinds[k]))]);
  table.push([pc.bold('overall'), percent(c), ...FACT_KINDS.map((k) => cell(c.kinds[k]))]);
  out.push(table.toString());
  const n = c.compared - c.agreed;
  const explained = n - (c.reasons['unexplained'] ?? 0);
  const byReason = Object.entries(c.reasons)
    .sort((a, b) => b[1] - a[1])
    .map(([g, k]) => `${g} ${k}`)
    .join(', ');
  const summary =
    `${c.scenarios.length} scenario${c.scenarios.length === 1 ? '' : 's'} compared, ${c.skipped.length} skipped: ${c.agreed} of ${c.compared} facts agree (${(100 * agreement(c)).toFixed(1)} %); ` +
    `${n} mismatch${n === 1 ? '' : 'es'}${n > 0 ? `, ${explained} put down to a known gap of the model (${byReason})` : ''}`;
  out.push(...wrap(summary, width, 2, 2).map((l, i) => (i === 0 ? `  ${l}` : l)));
  for (const s of c.skipped) out.push(...wrap(`${s.scenario}: ${s.reason}`, width, 6, 10).map((l, i) => (i === 0 ? pc.yellow(`  skipped ${l}`) : l)));
  for (const s of c.scenarios) {
    for (const note of s.notes) out.push(...wrap(`${s.scenario}: ${note}`, width, 6, 8).map((l, i) => (i === 0 ? pc.dim(`  note ${l}`) : pc.dim(l))));
  }
  const withMismatches = c.scenarios.filter((s) => s.mismatches.length > 0);
  if (withMismatches.length > 0) out.push('', pc.bold('━━ mismatches (step, kind, socket: kernel · model; why)'));
  for (const s of withMismatches) {
    out.push(pc.bold(`  ${s.scenario}`));
    for (const m of s.mismatches) {
      const where = `${m.step === null ? 'run' : `step ${m.step}`} ${m.kind}${m.socket ? ` ${m.socket}` : ''}: `;
      const line = `${where}kernel ${m.kernel} · model ${m.model}`;
      out.push(...wrap(line, width, 8, 4).map((l, i) => (i === 0 ? `    ${l}` : l)));
      const why = wrap(m.reason.text, width, 10, 12);
      const paint = m.reason.gap === 'unexplained' ? pc.red : pc.dim;
      out.push(...why.map((l, i) => paint(i === 0 ? `        why ${l}` : l)));
    }
  }
  return `${out.join('\n')}\n`;
}
