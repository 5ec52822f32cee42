// Image bytes → embedding and base scores, computed once per image: sample embeddings are
// stored by sha256 in the state folder, recent predictions are remembered in memory.
import crypto from 'node:crypto';
import { FeatureExtractor } from '../features/feature-extractor';
import type { InferOptions } from '../features/inference-pool';
import { aestheticScore, stockScore } from '../scores/base-scores';
import { measureCues } from '../scores/image-cues';
import { EMBEDDING_FORMAT, type EmbeddingRecord } from '../state/record-schemas';
import { encodeFeatures } from '../state/stored-records';

const MEMORY_ENTRIES = 256;

export function sha256(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/**
 * What the engine keeps of an image: the FeatureExtractor's vector (the network's job: decode,
 * resize, infer) plus the base scores and the image's size and cues, as one EmbeddingRecord,
 * with the last few remembered by sha256 so an image predicted twice is embedded once.
 */
export class Embedder {
  private readonly recent = new Map<string, EmbeddingRecord>();

  constructor(readonly extractor: FeatureExtractor) {}

  get backbone(): string {
    return this.extractor.backboneId;
  }

  /**
   * Embeds and scores; throws `not_an_image` / `image_too_large` for bad bytes. `queueing`: lane
   * 'bulk' for a scan's images, so an image someone waits for goes first, and the scan's cancel.
   */
  async embed(bytes: Uint8Array, hash = sha256(bytes), queueing?: InferOptions): Promise<EmbeddingRecord> {
    const remembered = this.recent.get(hash);
    if (remembered) return remembered;
    // One decode gives the model's pixels and the cue image (for the default backbone).
    const { embedding, cueImage } = await this.extractor.embedWithCueImage(bytes, queueing);
    const aesthetic = aestheticScore(measureCues(cueImage.pixels, cueImage.width, cueImage.height));
    const record: EmbeddingRecord = {
      name: 'tagsmith-embedding',
      formatVersion: EMBEDDING_FORMAT,
      backbone: this.backbone,
      features: encodeFeatures(embedding.features),
      nsfw: embedding.nsfw,
      aesthetic,
      stock: stockScore(aesthetic.score, embedding.image, embedding.nsfw),
      image: embedding.image,
    };
    this.remember(hash, record);
    return record;
  }

  /** Forgets recent images (a benchmark measuring embedding, not remembering). */
  forget(): void {
    this.recent.clear();
  }

  remember(hash: string, record: EmbeddingRecord): void {
    this.recent.delete(hash);
    this.recent.set(hash, record);
    if (this.recent.size > MEMORY_ENTRIES) this.recent.delete(this.recent.keys().next().value!);
  }
}
