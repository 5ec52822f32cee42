// Samples whose label looks wrong, found two ways (as Cleanlab's confident learning and
// FiftyOne's mistakenness do): the tag, trained without the sample, confidently gave it the
// other label (its out-of-fold score, kept by training); or its nearest sample is of the other
// kind and nearly the same picture. Flags only: the user moves or removes.
import type { SampleSuspicion } from '../api/wire-types';
import { nearestRows, prepareRows, row } from '../ml/similarity';
import type { SampleListJson, TagModelJson } from '../state/record-schemas';
import { suspiciousSamples } from '../training/review-order';

/**
 * Cosine (of prepared features) from which a positive and a negative count as the same
 * picture. Chosen by bench:active's near-duplicate table: re-encoded, halved, slightly
 * cropped or brightened copies of a photo mostly lie above it, two different photos never.
 */
export const DUPLICATE_SIMILARITY = 0.9;

/**
 * How much nearer the other kind's nearest sample must be than the sample's own kind's: a
 * picture among many alike of its own kind is not the one out of place (nine blobs near one
 * mislabelled blob are not suspect; it is).
 */
const OUT_OF_PLACE_MARGIN = 0.05;

/** Tags with more samples than this are not searched for duplicates (the search costs samples²). */
const DUPLICATE_SEARCH_LIMIT = 1500;

/**
 * Held-out scores that contradict the samples' labels now, confidently: a positive scored as
 * low as the negatives score on average, or a negative as high as the positives (confident
 * learning's per-class thresholds). A small tag's noisy held-out scores near its threshold
 * are not flagged.
 */
export function heldOutSuspicions(list: SampleListJson, model: TagModelJson | undefined): Map<string, SampleSuspicion> {
  const out = new Map<string, SampleSuspicion>();
  if (!model?.outOfFold) return out;
  const heldOut = new Map(model.outOfFold.map((o) => [o.id, o.score]));
  const known = list.samples.filter((s) => heldOut.has(s.id));
  const scores = known.map((s) => heldOut.get(s.id)!);
  const positive = known.map((s) => s.type === 'positive');
  const mean = (want: boolean) => {
    const of = scores.filter((_, i) => positive[i] === want);
    return of.length > 0 ? of.reduce((a, b) => a + b, 0) / of.length : want ? 1 : 0;
  };
  const [positiveMean, negativeMean] = [mean(true), mean(false)];
  for (const f of suspiciousSamples(scores, positive, model.threshold)) {
    const score = scores[f.index];
    if (positive[f.index] ? score <= negativeMean : score >= positiveMean) out.set(known[f.index].id, { heldOutScore: score, disagreement: f.disagreement });
  }
  return out;
}

/**
 * Samples nearly the same picture as a sample of the other kind, and clearly nearer to it than
 * to any of their own kind: each points at that neighbour.
 */
export class DuplicateFinder {
  private readonly cache = new Map<string, { key: string; pairs: Map<string, string> }>();

  constructor(
    private readonly features: (id: string) => Promise<Float32Array | undefined>,
    private readonly featureLength: number,
  ) {}

  async pairs(list: SampleListJson): Promise<Map<string, string>> {
    const key = list.samples.map((s) => `${s.type[0]}${s.id}`).join();
    const cached = this.cache.get(list.tag);
    if (cached?.key === key) return cached.pairs;
    const pairs = new Map<string, string>();
    if (list.samples.length <= DUPLICATE_SEARCH_LIMIT) {
      const ids: string[] = [];
      const rows: Float32Array[] = [];
      for (const s of list.samples) {
        const features = await this.features(s.id);
        if (!features) continue;
        ids.push(s.id);
        rows.push(features);
      }
      const matrix = new Float32Array(rows.length * this.featureLength);
      rows.forEach((r, i) => matrix.set(r, i * this.featureLength));
      const prepared = prepareRows(matrix, this.featureLength);
      const kind = new Map(list.samples.map((s) => [s.id, s.type]));
      for (let i = 0; i < ids.length; i++) {
        const query = row(prepared, this.featureLength, i);
        const own = kind.get(ids[i]);
        const [across] = nearestRows(query, prepared, this.featureLength, 1, (j) => kind.get(ids[j]) === own);
        if (!across || across.similarity < DUPLICATE_SIMILARITY) continue;
        const [alike] = nearestRows(query, prepared, this.featureLength, 1, (j) => j === i || kind.get(ids[j]) !== own);
        if (!alike || across.similarity - alike.similarity >= OUT_OF_PLACE_MARGIN) pairs.set(ids[i], ids[across.index]);
      }
    }
    this.cache.set(list.tag, { key, pairs });
    return pairs;
  }
}
