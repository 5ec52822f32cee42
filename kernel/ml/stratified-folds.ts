// Stratified k-fold assignment: each fold gets its share of positives and of negatives.
import { seededRandom, shuffled } from './random';

/** fold[i] ∈ [0, k) for every sample; both classes spread evenly, seeded. */
export function stratifiedFolds(labels: ArrayLike<number>, k: number, seed: number): number[] {
  const random = seededRandom(seed);
  const fold = new Array<number>(labels.length).fill(0);
  for (const cls of [0, 1]) {
    const members = Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === cls);
    shuffled(members, random).forEach((sample, position) => {
      fold[sample] = position % k;
    });
  }
  return fold;
}
