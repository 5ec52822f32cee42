// The k-th smallest of many non-negative numbers (the median of the noise estimate's 50,000
// filter responses per image), in linear time with sequential memory access.

// Counts per 16-bit digit, reused across calls (the noise estimate runs once per image).
const digitCounts = new Uint32Array(1 << 16);

/**
 * The value a sort would put at index `k`, for values that are all ≥ 0 (+0 included, no NaN),
 * in two sequential passes instead of a selection's scattered swaps: the bits of a non-negative
 * float32 sort as unsigned integers do, so the answer's upper 16 bits are found by counting
 * them, then its lower 16 bits by counting those among the values that share the upper ones.
 * Leaves `values` as it was.
 */
export function kthSmallestNonNegative(values: Float32Array, k: number): number {
  if (!Number.isInteger(k) || k < 0 || k >= values.length) throw new RangeError(`k = ${k} is outside 0…${values.length - 1}`);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  digitCounts.fill(0);
  for (let i = 0; i < bits.length; i++) digitCounts[bits[i] >>> 16]++;
  const upper = digitHolding(k);
  let below = 0;
  for (let d = 0; d < upper; d++) below += digitCounts[d];
  digitCounts.fill(0);
  for (let i = 0; i < bits.length; i++) if (bits[i] >>> 16 === upper) digitCounts[bits[i] & 0xffff]++;
  const lower = digitHolding(k - below);
  return new Float32Array(Uint32Array.of(((upper << 16) | lower) >>> 0).buffer)[0];
}

/** The digit whose run, in ascending order, holds rank `rank` of the counted values. */
function digitHolding(rank: number): number {
  let seen = 0;
  for (let d = 0; d < digitCounts.length; d++) {
    seen += digitCounts[d];
    if (seen > rank) return d;
  }
  throw new RangeError(`rank ${rank} is past the ${seen} values counted`);
}
