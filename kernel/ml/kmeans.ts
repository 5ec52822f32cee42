// Seeded k-means++ with Lloyd iterations over Float64Array rows. Written here rather than
// taken from ml-kmeans because training clusters every cross-validation fold: on 1,000
// positives × 1,792 features ml-kmeans took ~530 ms a call, this takes a few tens
// (bench:engine prints both).
import { seededRandom } from './random';

export interface KMeansOptions {
  k: number;
  seed?: number;
  maxIterations?: number;
}

export interface KMeansResult {
  /** Cluster of each point, 0..k-1. */
  assignment: Int32Array;
  centroids: Float64Array[];
  iterations: number;
  /** false when maxIterations ran out before the assignment settled. */
  converged: boolean;
}

const DEFAULTS = { seed: 42, maxIterations: 100 };

export function kmeans(points: Float64Array[], options: KMeansOptions): KMeansResult {
  const { k, seed, maxIterations } = { ...DEFAULTS, ...options };
  const n = points.length;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new RangeError(`k must be an integer from 1 to ${n}, got ${k}`);
  const d = points[0].length;
  const random = seededRandom(seed);
  const norms = Float64Array.from(points, (p) => dot(p, p));

  // k-means++: each next centre is drawn with probability proportional to its squared distance to the nearest chosen one.
  const centroids: Float64Array[] = [Float64Array.from(points[Math.floor(random() * n)])];
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  while (centroids.length < k) {
    const c = centroids[centroids.length - 1];
    const cNorm = dot(c, c);
    let total = 0;
    for (let i = 0; i < n; i++) {
      nearest[i] = Math.min(nearest[i], Math.max(0, norms[i] - 2 * dot(points[i], c) + cNorm));
      total += nearest[i];
    }
    let target = random() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      target -= nearest[i];
      if (target <= 0) {
        pick = i;
        break;
      }
    }
    centroids.push(Float64Array.from(points[pick]));
  }

  const assignment = new Int32Array(n).fill(-1);
  const counts = new Float64Array(k);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    let changed = 0;
    const centroidNorms = centroids.map((c) => dot(c, c));
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (let c = 0; c < k; c++) {
        const distance = centroidNorms[c] - 2 * dot(points[i], centroids[c]);
        if (distance < bestDistance) {
          bestDistance = distance;
          best = c;
        }
      }
      if (assignment[i] !== best) {
        assignment[i] = best;
        changed++;
      }
    }
    if (changed === 0) {
      converged = true;
      break;
    }
    // New centres: the means of their points; a centre that lost every point stays where it was.
    counts.fill(0);
    const sums = Array.from({ length: k }, () => new Float64Array(d));
    for (let i = 0; i < n; i++) {
      const sum = sums[assignment[i]];
      const p = points[i];
      for (let j = 0; j < d; j++) sum[j] += p[j];
      counts[assignment[i]]++;
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      for (let j = 0; j < d; j++) centroids[c][j] = sums[c][j] / counts[c];
    }
  }
  return { assignment, centroids, iterations, converged };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}
