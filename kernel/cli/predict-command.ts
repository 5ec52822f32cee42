// `tagsmith predict [--state DIR] <files|folders…> [--tag T]… [--format jsonl|csv] [--applies-only]`:
// every trained tag (or the named ones) applied to images on this machine, one record per image
// on stdout as each is done, one line per unreadable file on stderr. It reads the state folder
// without locking it (it writes nothing there but the shared feature cache and scan index,
// both safe beside a running engine), so it works next to `tagsmith serve` on the same folder.
import path from 'node:path';
import { TagsmithError, asTagsmithError } from '../errors';
import { csvHeader, csvRow, jsonLine, type TableFormat } from '../export/scan-table';
import { Embedder } from '../engine/embedder';
import { FeatureExtractor } from '../features/feature-extractor';
import { ScanIndex } from '../scan/scan-index';
import { imageCalls } from '../scan/image-calls';
import { scanImages } from '../scan/scanner';
import { FeatureCache } from '../state/feature-cache';
import type { EmbeddingRecord } from '../state/record-schemas';
import { derivedPaths } from '../state/state-layout';
import { readServedModels } from '../state/served-models';
import { checkCurrentEmbedding } from '../state/stored-records';
import { DEFAULT_FEATURE_CACHE_BYTES } from '../engine/tagsmith-engine';
import { keywordSourceFor, type KeywordSource } from '../engine/keyword-source';
import { TagModel } from '../training/tag-model';

export interface PredictOptions {
  stateDir: string;
  tags: string[];
  format: TableFormat;
  appliesOnly: boolean;
  threads?: number;
  backbone?: string;
}

export async function runPredictCommand(inputs: string[], options: PredictOptions): Promise<number> {
  if (inputs.length === 0) {
    process.stderr.write('tagsmith predict: give at least one image file or folder\n');
    return 2;
  }
  const extractor = await FeatureExtractor.create({ threads: options.threads, backbone: options.backbone });
  let keywords: KeywordSource | undefined;
  try {
    const running = { backbone: extractor.backboneId, featureLength: extractor.featureLength };
    const models = await chooseModels(
      (await readServedModels(options.stateDir, running)).map((json) => TagModel.fromJSON(json)),
      options.tags,
      options.stateDir,
    );
    const layout = derivedPaths(options.stateDir);
    // Tags trained with apply_keywords read each image's keywords: found as the engine finds them, in the cache it shares.
    keywords = await keywordSourceFor(models, layout.keywordCache, { threads: options.threads });
    const cache = await FeatureCache.open<EmbeddingRecord>(layout.featureCache, {
      maxBytes: DEFAULT_FEATURE_CACHE_BYTES,
      check: (value) => checkCurrentEmbedding(value, 'feature cache entry', running),
    });
    const embedder = new Embedder(extractor);
    const tags = models.map((m) => m.tag);
    if (options.format === 'csv') process.stdout.write(csvHeader(tags, extractor.labels));

    let failures = 0;
    const outcome = await scanImages(
      inputs.map((input) => path.resolve(input)),
      {
        ...running,
        known: (id) => cache.get(running.backbone, id),
        embed: async (bytes, id) => {
          const record = await embedder.embed(bytes, id);
          await cache.put(running.backbone, id, record);
          return record;
        },
        flush: () => {
          cache.flush();
          keywords?.flushCache();
        },
        ...(keywords ? { keywords: (id: string, bytes: () => Promise<Uint8Array>) => keywords!.of(bytes, id) } : {}),
      },
      await ScanIndex.open(layout.scanIndex),
      {
        keepFeatures: false,
        keywords: keywords !== undefined,
        onImage: (image, features) => {
          const row = imageCalls(image, features, models, path.relative(process.cwd(), image.path) || image.path);
          if (options.appliesOnly && !Object.values(row.tags).some((call) => call.applies)) return;
          process.stdout.write(options.format === 'csv' ? csvRow(row, tags, extractor.labels) : jsonLine(row));
        },
        onSkipped: (skipped) => {
          failures++;
          process.stderr.write(`tagsmith: ${path.relative(process.cwd(), skipped.path) || skipped.path}: ${skipped.reason}\n`);
        },
      },
    );
    process.stderr.write(`tagsmith: ${outcome.images.length} images (${outcome.embedded} embedded, ${outcome.known} from the cache), ${failures} skipped\n`);
    return failures === 0 ? 0 : 1;
  } catch (error) {
    const e = asTagsmithError(error);
    process.stderr.write(`tagsmith predict: ${e.message}\n`);
    return 1;
  } finally {
    await extractor.release();
    await keywords?.detector.release();
  }
}

async function chooseModels(models: TagModel[], wanted: string[], stateDir: string): Promise<TagModel[]> {
  if (models.length === 0) throw new TagsmithError('unknown_tag', `${stateDir} has no tag trained on this backbone: train one first.`);
  if (wanted.length === 0) return models;
  return wanted.map((tag) => {
    const model = models.find((m) => m.tag === tag);
    if (!model) throw new TagsmithError('unknown_tag', `There is no trained tag "${tag}" in ${stateDir} (trained: ${models.map((m) => m.tag).join(', ')}).`);
    return model;
  });
}
