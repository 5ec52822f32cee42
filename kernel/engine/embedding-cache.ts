// Where the engine gets an image's embedding, so that no image is embedded twice: recent
// predictions in memory, samples' stored embeddings (part of the state), scanned images in the
// bounded feature cache (beside the state, never archived), and the network for the rest. A
// sample's embedding comes from the scan cache when the image was scanned, and a scan takes a
// sample's stored one, so samples and scans share what was embedded.
import { TagsmithError } from '../errors';
import type { RunningBackbone } from '../state/read-generation';
import type { FeatureCache } from '../state/feature-cache';
import type { EmbeddingRecord, SampleListJson } from '../state/record-schemas';
import { concurrencyLimit } from './concurrency-limit';
import type { Embedder } from './embedder';
import type { SampleStore } from './sample-store';

/** Runs `work` holding the sample-files lock shared (the engine's), so no sweep deletes what it reads. */
export type FilesRead = <T>(work: () => Promise<T>) => Promise<T>;

/** Samples embedded again at once when a state comes from another backbone: each holds a decoded image. */
const REEMBED_AT_ONCE = 2;

export class EmbeddingCache {
  constructor(
    private readonly embedder: Embedder,
    private readonly samples: SampleStore,
    private readonly features: FeatureCache<EmbeddingRecord>,
    private readonly filesRead: FilesRead,
  ) {}

  get running(): RunningBackbone {
    return { backbone: this.embedder.backbone, featureLength: this.embedder.extractor.featureLength };
  }

  /** An image to predict: remembered in memory for a while (a client often asks twice). */
  forPrediction(bytes: Uint8Array): Promise<EmbeddingRecord> {
    return this.embedder.embed(bytes);
  }

  /** An image about to become a sample: its stored or scanned embedding if it has one, else embedded now. */
  async forNewSample(id: string, bytes: Uint8Array): Promise<EmbeddingRecord> {
    const stored = await this.samples.readEmbedding(id, this.running).catch(() => undefined); // a damaged one is recomputed
    return stored ?? (await this.features.get(this.running.backbone, id)) ?? this.embedder.embed(bytes, id);
  }

  /**
   * The embeddings of a tag's samples, in list order. A state made with another backbone (or
   * restored from one) has none for this one: they are embedded again from the stored images,
   * a few at a time, with progress; a sample removed meanwhile fails the whole call.
   */
  async forSamples(list: SampleListJson, onEmbedded: (done: number, total: number) => void = () => {}): Promise<EmbeddingRecord[]> {
    const ids = list.samples.map((s) => s.id);
    const records = await this.stored(list);
    const missing = ids.flatMap((id, i) => (records[i] ? [] : [i]));
    let done = 0;
    let failure: unknown;
    const limit = concurrencyLimit(REEMBED_AT_ONCE);
    await Promise.all(
      missing.map((i) =>
        limit(async () => {
          if (failure) return; // an image failed, or the task was cancelled: start no more
          try {
            records[i] = await this.reembed(list.tag, ids[i]);
            onEmbedded(++done, missing.length);
          } catch (error) {
            failure ??= error;
          }
        }),
      ),
    );
    if (failure) throw failure;
    return records as EmbeddingRecord[];
  }

  /** Each sample's stored embedding for the running backbone, undefined where there is none (nothing is embedded). */
  stored(list: SampleListJson): Promise<(EmbeddingRecord | undefined)[]> {
    return this.filesRead(() => Promise.all(list.samples.map((s) => this.samples.readEmbedding(s.id, this.running))));
  }

  /** For a scan: the embedding of these bytes if a sample or the cache has it. */
  async known(id: string): Promise<EmbeddingRecord | undefined> {
    const stored = await this.filesRead(() => this.samples.readEmbedding(id, this.running)).catch(() => undefined);
    return stored ?? this.features.get(this.running.backbone, id);
  }

  /** For a scan: embeds new bytes (behind any image someone is waiting for; dropped from the queue on `signal`) and keeps the result in the feature cache. */
  async embedForScan(bytes: Uint8Array, id: string, signal?: AbortSignal): Promise<EmbeddingRecord> {
    const record = await this.embedder.embed(bytes, id, { lane: 'bulk', signal });
    await this.features.put(this.running.backbone, id, record);
    return record;
  }

  /** Writes the scanned images' embeddings not yet on disk (the engine closing). */
  flushCache(): void {
    this.features.flush();
  }

  clearCache(): Promise<{ entries: number; bytes: number }> {
    return this.features.clear();
  }

  get cacheStats(): { entries: number; bytes: number; maxBytes: number } {
    return this.features.stats;
  }

  private async reembed(tag: string, id: string): Promise<EmbeddingRecord> {
    const bytes = await this.filesRead(() => this.samples.readImage(id).catch(() => undefined));
    if (!bytes) throw new TagsmithError('conflicting_sample', `Sample ${id} was removed while "${tag}" was being trained; train again.`);
    const record = (await this.features.get(this.running.backbone, id)) ?? (await this.embedder.embed(bytes, id));
    // Stored only while the sample still has its image (not removed meanwhile).
    await this.filesRead(async () => {
      if (await this.samples.hasImage(id)) await this.samples.storeEmbedding(id, record);
    });
    return record;
  }
}
