/** A source of uniform numbers in [0, 1): injected so that loss, reorder and ISNs are reproducible. */
export interface Random {
  next(): number;
}

/**
 * A seeded PRNG (mulberry32): the same seed gives the same sequence on every run and machine.
 * Not for cryptography.
 */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return {
    next(): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
