// A finished scan as the engine serves it: every trained tag's scores, kept current with the
// models (a tag trained again is re-scored from the feature matrix, and the calls that changed
// are remembered), pages of images in the order a user asked for, and rows to export.
import { TagsmithError } from '../errors';
import type { ScanPage, ScannedImageView, ScanQuery, SampleType } from '../api/wire-types';
import type { ImageCalls } from '../export/scan-table';
import type { FeatureTransform, TagModel } from '../training/tag-model';
import { appliesLeastSureFirst, doesNotApplyLeastSureFirst, mostInformativeFirst, type Side } from '../training/review-order';
import { nearestRows, prepareRows, row, type Neighbour } from '../ml/similarity';
import { applies, changedCalls, scoreScan, type TagColumn } from './scan-scores';
import type { StoredScan } from './scan-store';

export const MAX_PAGE = 1000;

/**
 * A scan's calls as last scored, per tag, and the calls that changed at each tag's last
 * re-scoring. Small (a score per image and tag), so the engine keeps it for each kept scan
 * while it holds only one scan's feature matrix: reading another scan in between (the
 * explorer's badges read every folder's) must not forget what a retrain changed.
 */
export interface ScanCalls {
  readonly columns: Map<string, TagColumn>;
  /** Per tag, the images whose call changed when it was last re-scored. */
  readonly changed: Map<string, Set<number>>;
}

export const newScanCalls = (): ScanCalls => ({ columns: new Map(), changed: new Map() });

/** What the "most informative" order ranks by instead of the tag's column (kernel/engine/scan-service.ts). */
export interface InformativeRanking {
  /** Each image's score under a refit of the tag on its samples now (shown as reviewScore); default the trained model's. */
  scores?: ArrayLike<number>;
  firstSide: Side;
}

export class ScanResults {
  private readonly columns: Map<string, TagColumn>;
  private readonly changed: Map<string, Set<number>>;
  /** The feature matrix prepared for cosine search, made on the first search. */
  private prepared: Float32Array | undefined;
  /** The feature matrix transformed for the tag models, by transform, made on the first scoring. */
  private readonly transformed = new Map<FeatureTransform, Float32Array>();
  /** Scores under models that are not the tags' own (scoresBy), while each model is in use. */
  private readonly otherScores = new WeakMap<TagModel, Float32Array>();

  constructor(
    readonly scan: StoredScan,
    calls: ScanCalls = newScanCalls(),
  ) {
    this.columns = calls.columns;
    this.changed = calls.changed;
  }

  get id(): string {
    return this.scan.record.id;
  }

  /**
   * Brings the scores up to date with `models`: a new or retrained tag is scored (its change
   * of calls remembered), a removed one dropped. Cheap when nothing changed.
   */
  refresh(all: readonly TagModel[]): void {
    const { images, features, record } = this.scan;
    // A tag trained with keywords cannot score a scan made without them: it is left out of it.
    const models = record.keywords ? all : all.filter((m) => !m.needs.keywords);
    const stale = models.filter((m) => this.columns.get(m.tag)?.trainedAt !== m.json.trainedAt);
    if (stale.length > 0) {
      const fresh = scoreScan(images, features, record.featureLength, stale, this.transformed);
      for (const [tag, column] of fresh) {
        const before = this.columns.get(tag);
        if (before) this.changed.set(tag, new Set(changedCalls(before, column)));
        this.columns.set(tag, column);
      }
    }
    const current = new Set(models.map((m) => m.tag));
    for (const tag of [...this.columns.keys()]) {
      if (!current.has(tag)) {
        this.columns.delete(tag);
        this.changed.delete(tag);
      }
    }
  }

  /** Images each tag applies to. */
  appliesCounts(): Record<string, number> {
    return Object.fromEntries(
      [...this.columns].sort(([a], [b]) => a.localeCompare(b)).map(([tag, column]) => [tag, column.scores.filter((s) => s >= column.threshold).length]),
    );
  }

  /** Calls that changed at each tag's last re-scoring (tags never re-scored are left out). */
  changedCounts(): Record<string, number> {
    return Object.fromEntries([...this.changed].map(([tag, set]) => [tag, set.size]));
  }

  /** A page of images; `samples` says which images are already samples of `query.tag`. */
  page(query: ScanQuery, samples: ReadonlyMap<string, SampleType> = new Map(), ranking?: InformativeRanking): ScanPage {
    const limit = Math.min(MAX_PAGE, Math.max(1, Math.floor(query.limit ?? 100)));
    const offset = Math.max(0, Math.floor(query.offset ?? 0));
    const order = this.order(query, samples, ranking);
    return {
      scan_id: this.id,
      total: order.length,
      offset,
      images: order.slice(offset, offset + limit).map((i) => ({
        ...this.view(i, query.tag, samples),
        ...(ranking?.scores ? { reviewScore: ranking.scores[i] } : {}),
      })),
    };
  }

  /** Every image's calls, in scan order, for CSV, JSON Lines and sidecars. */
  *rows(): Generator<ImageCalls> {
    for (let i = 0; i < this.scan.images.length; i++) {
      const { path, sha256, aesthetic, stock, nsfw, keywords } = this.scan.images[i];
      yield { path, sha256, tags: this.calls(i), aesthetic, stock, nsfw, ...(keywords ? { keywords } : {}) };
    }
  }

  /** A scanned image's prepared feature row (for "more like this"). */
  preparedRow(index: number): Float32Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.scan.images.length)
      throw new TagsmithError('unknown_scan', `Scan ${this.id} has no image ${index}.`);
    return row(this.preparedMatrix(), this.scan.record.featureLength, index);
  }

  /** The `k` scanned images most like a prepared row, best first (leaving out `exclude`). */
  similar(query: Float32Array, k: number, exclude?: number): (Neighbour & { image: ScannedImageView })[] {
    const dim = this.scan.record.featureLength;
    return nearestRows(query, this.preparedMatrix(), dim, k, (i) => i === exclude).map((n) => ({ ...n, image: this.view(n.index, undefined, new Map()) }));
  }

  get tags(): string[] {
    return [...this.columns.keys()].sort((a, b) => a.localeCompare(b));
  }

  private preparedMatrix(): Float32Array {
    this.prepared ??= prepareRows(this.scan.features, this.scan.record.featureLength);
    return this.prepared;
  }

  /** Every image scored by a model that is not one of the tags' (the review queue's refit), from the transformed matrix the tags share. */
  scoresBy(model: TagModel): Float32Array {
    let scores = this.otherScores.get(model);
    if (!scores) {
      const { images, features, record } = this.scan;
      scores = scoreScan(images, features, record.featureLength, [model], this.transformed).get(model.tag)!.scores;
      this.otherScores.set(model, scores);
    }
    return scores;
  }

  private order(query: ScanQuery, samples: ReadonlyMap<string, SampleType>, ranking?: InformativeRanking): number[] {
    const all = this.scan.images.map((_, i) => i);
    const column = query.tag === undefined ? undefined : this.column(query.tag);
    if (!column) {
      if (query.applies !== undefined || (query.order ?? 'path') !== 'path') throw new TagsmithError('invalid_option', 'applies and order need a tag.');
      return all;
    }
    let order: number[];
    switch (query.order ?? 'path') {
      case 'informative': {
        // What is already a sample of the tag teaches it nothing new. The whole queue is what
        // would teach the model most; one side of it is the tag's calls, least sure first.
        const labelled = new Set(all.filter((i) => samples.has(this.scan.images[i].sha256)));
        if (query.applies === undefined) return mostInformativeFirst(ranking?.scores ?? column.scores, labelled, ranking?.firstSide);
        return (query.applies ? appliesLeastSureFirst : doesNotApplyLeastSureFirst)(column.scores, column.threshold, labelled);
      }
      case 'score':
        order = all.sort((a, b) => column.scores[b] - column.scores[a] || a - b);
        break;
      default:
        order = all;
    }
    return query.applies === undefined ? order : order.filter((i) => applies(column, i) === query.applies);
  }

  private column(tag: string): TagColumn {
    const column = this.columns.get(tag);
    if (!column) throw new TagsmithError('unknown_tag', `There is no trained tag "${tag}" to sort this scan by.`);
    return column;
  }

  private calls(i: number): ImageCalls['tags'] {
    return Object.fromEntries(
      this.tags.map((tag) => {
        const column = this.columns.get(tag)!;
        return [tag, { score: column.scores[i], threshold: column.threshold, applies: applies(column, i) }];
      }),
    );
  }

  private view(i: number, tag: string | undefined, samples: ReadonlyMap<string, SampleType>): ScannedImageView {
    const { keywordVector: _vector, ...image } = this.scan.images[i];
    const sample = tag === undefined ? undefined : samples.get(image.sha256);
    return {
      index: i,
      ...image,
      tags: this.calls(i),
      ...(sample ? { sample } : {}),
      ...(tag !== undefined && this.changed.get(tag)?.has(i) ? { changed: true } : {}),
    };
  }
}
