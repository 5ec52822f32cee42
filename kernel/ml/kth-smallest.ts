// The k-th smallest value of an array in linear expected time (Hoare's selection with a
// median-of-three pivot), for medians of large arrays where a full sort would be wasted work.

/** Returns the value a sort would put at index `k`; reorders `values` in place. */
export function kthSmallest(values: Float32Array | Float64Array, k: number): number {
  if (!Number.isInteger(k) || k < 0 || k >= values.length) throw new RangeError(`k = ${k} is outside 0…${values.length - 1}`);
  let low = 0;
  let high = values.length - 1;
  while (high > low) {
    const pivot = medianOfThree(values[low], values[(low + high) >> 1], values[high]);
    let i = low;
    let j = high;
    // Afterwards [low, j] ≤ pivot ≤ [i, high], with any values between them equal to the pivot.
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) high = j;
    else if (k >= i) low = i;
    else return values[k];
  }
  return values[k];
}

function medianOfThree(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
}
