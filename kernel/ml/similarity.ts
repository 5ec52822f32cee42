// Cosine similarity over rows of feature matrices: "more like this", and near-duplicates
// between a tag's positives and negatives. Rows are prepared once (power-normalised and
// L2-normalised, as tag models see them), after which a search is one dot product per row.

/** Each row's signed square root, scaled to unit length; the copy that searches use. */
export function prepareRows(matrix: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let start = 0; start < matrix.length; start += dim) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = matrix[start + j];
      const r = Math.sign(v) * Math.sqrt(Math.abs(v));
      out[start + j] = r;
      norm += r * r;
    }
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < dim; j++) out[start + j] *= scale;
  }
  return out;
}

export interface Neighbour {
  index: number;
  similarity: number;
}

/** The `k` rows of `prepared` most similar to `query` (a prepared row), best first. */
export function nearestRows(
  query: Float32Array,
  prepared: Float32Array,
  dim: number,
  k: number,
  exclude: (index: number) => boolean = () => false,
): Neighbour[] {
  const rows = prepared.length / dim;
  // A min-heap of the best k so far: its root is the one to beat.
  const heap: Neighbour[] = [];
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && heap[l].similarity < heap[m].similarity) m = l;
      if (r < heap.length && heap[r].similarity < heap[m].similarity) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let row = 0; row < rows; row++) {
    if (exclude(row)) continue;
    const start = row * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += query[j] * prepared[start + j];
    if (heap.length < k) {
      heap.push({ index: row, similarity: s });
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (heap[p].similarity <= heap[i].similarity) break;
        [heap[p], heap[i]] = [heap[i], heap[p]];
        i = p;
      }
    } else if (s > heap[0].similarity) {
      heap[0] = { index: row, similarity: s };
      down(0);
    }
  }
  return heap.sort((a, b) => b.similarity - a.similarity || a.index - b.index);
}

/** One prepared row of a prepared matrix, as a view (no copy). */
export function row(prepared: Float32Array, dim: number, index: number): Float32Array {
  return prepared.subarray(index * dim, (index + 1) * dim);
}

/** Pairs (a row of `a`, a row of `b`) whose similarity is at least `threshold`, most similar first. */
export function crossPairsAbove(a: Float32Array, b: Float32Array, dim: number, threshold: number): { a: number; b: number; similarity: number }[] {
  const pairs: { a: number; b: number; similarity: number }[] = [];
  for (let i = 0; i < a.length / dim; i++) {
    const q = row(a, dim, i);
    for (let j = 0; j < b.length / dim; j++) {
      let s = 0;
      const start = j * dim;
      for (let t = 0; t < dim; t++) s += q[t] * b[start + t];
      if (s >= threshold) pairs.push({ a: i, b: j, similarity: s });
    }
  }
  return pairs.sort((x, y) => y.similarity - x.similarity);
}
