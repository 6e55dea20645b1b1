/** Bench tables as plain text that fits a terminal. */
import Table from 'cli-table3';

const NO_BORDERS = { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '' };

function renderTable(head: string[], rows: string[][], aligns: ('left' | 'right')[]): string {
  const table = new Table({ head, colAligns: aligns, chars: NO_BORDERS, style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1, compact: true } });
  for (const r of rows) table.push(r);
  return table.toString();
}

/**
 * A borderless table no wider than `width`: when all columns do not fit, the columns after the
 * first are dealt into several tables, each repeating the first (the row's name). A table of the
 * first column and one other that is still too wide is printed as it is (cells are not cut).
 */
export function fittedTable(head: string[], rows: string[][], aligns: ('left' | 'right')[], width: number): string {
  const whole = renderTable(head, rows, aligns);
  if (Math.max(...whole.split('\n').map((l) => l.length)) <= width) return whole;
  const colWidth = (i: number): number => 2 + Math.max(...[head[i] ?? '', ...rows.map((r) => r[i] ?? '')].map((c) => c.length));
  const parts: string[] = [];
  let group: number[] = [];
  let used = colWidth(0);
  const flush = (): void => {
    if (group.length === 0) return;
    const cols = [0, ...group];
    parts.push(renderTable(cols.map((i) => head[i] ?? ''), rows.map((r) => cols.map((i) => r[i] ?? '')), cols.map((i) => aligns[i] ?? 'right')));
    group = [];
    used = colWidth(0);
  };
  for (let i = 1; i < head.length; i++) {
    if (group.length > 0 && used + colWidth(i) > width) flush();
    group.push(i);
    used += colWidth(i);
  }
  flush();
  return parts.join('\n\n');
}
