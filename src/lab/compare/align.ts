/**
 * Aligns two sequences (a connection's segments, a socket's moves) by their longest common
 * subsequence, so one extra or missing element is one mismatch and not a shift of every later one.
 */

/** One row of an alignment: both have the element, or they differ at that place, or one has it. */
export type AlignRow =
  | { op: 'same'; k: number; m: number }
  | { op: 'differ'; k: number; m: number }
  | { op: 'kernelOnly'; k: number }
  | { op: 'modelOnly'; m: number };

/** Longest inputs aligned by dynamic programming (n·m cells); longer ones fall back to position. */
const MAX_CELLS = 4_000_000;

/**
 * The alignment of `kernel` and `model` by equal keys, in order. Between two common elements,
 * unmatched elements of both sides are paired place by place as `differ` (one fact each), the
 * rest are `kernelOnly` / `modelOnly`.
 */
export function align(kernel: readonly string[], model: readonly string[]): AlignRow[] {
  const n = kernel.length;
  const m = model.length;
  const pairs: [number, number][] = [];
  if (n * m <= MAX_CELLS) {
    // lcs[i][j]: LCS length of kernel[i..] and model[j..].
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      const row = lcs[i] as Uint32Array;
      const below = lcs[i + 1] as Uint32Array;
      for (let j = m - 1; j >= 0; j--) {
        row[j] = kernel[i] === model[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (kernel[i] === model[j]) {
        pairs.push([i, j]);
        i++;
        j++;
      } else if ((lcs[i + 1] as Uint32Array)[j] as number >= ((lcs[i] as Uint32Array)[j + 1] as number)) i++;
      else j++;
    }
  } else {
    for (let i = 0; i < Math.min(n, m); i++) if (kernel[i] === model[i]) pairs.push([i, i]);
  }
  const rows: AlignRow[] = [];
  let k = 0;
  let j = 0;
  const gap = (kEnd: number, mEnd: number): void => {
    while (k < kEnd && j < mEnd) rows.push({ op: 'differ', k: k++, m: j++ });
    while (k < kEnd) rows.push({ op: 'kernelOnly', k: k++ });
    while (j < mEnd) rows.push({ op: 'modelOnly', m: j++ });
  };
  for (const [pk, pm] of pairs) {
    gap(pk, pm);
    rows.push({ op: 'same', k: k++, m: j++ });
  }
  gap(n, m);
  return rows;
}
