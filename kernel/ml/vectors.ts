// Dense vector helpers on typed arrays, the hot loops of training and prediction.
export type Vector = Float32Array | Float64Array;

/**
 * Four running sums instead of one: the additions no longer wait on each other, which is
 * what bounds a JavaScript dot product (V8 does not vectorise). The order of the additions
 * changes, so the result may differ from a single sum in its last bits.
 */
export function dot(a: Vector, b: Vector): number {
  return dotFrom(a, b, 0, a.length);
}

/** Σ w[i]·x[offset + i] over i in [0, length): a weight vector against one row of a matrix. */
export function dotAt(w: Vector, x: Vector, offset: number, length: number): number {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0;
  let i = 0;
  for (const last = length - 3; i < last; i += 4) {
    const j = offset + i;
    s0 += w[i] * x[j];
    s1 += w[i + 1] * x[j + 1];
    s2 += w[i + 2] * x[j + 2];
    s3 += w[i + 3] * x[j + 3];
  }
  for (; i < length; i++) s0 += w[i] * x[offset + i];
  return s0 + s1 + (s2 + s3);
}

/** Σ a[i]·b[i] over i in [start, end). */
export function dotFrom(a: Vector, b: Vector, start: number, end: number): number {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0;
  let i = start;
  for (const last = end - 3; i < last; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < end; i++) s0 += a[i] * b[i];
  return s0 + s1 + (s2 + s3);
}

export function l2Normalised(v: Vector): Float32Array {
  const norm = Math.sqrt(dot(v, v));
  const out = new Float32Array(v.length);
  if (norm === 0) return out;
  for (let i = 0; i < v.length; i++) out[i] = v[i] / norm;
  return out;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}
