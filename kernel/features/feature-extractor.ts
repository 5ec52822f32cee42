// Image bytes → { features, nsfw } through one ONNX session. Concurrent callers are batched:
// while a batch runs, new images queue up and go together in the next run, so a busy server
// gets batching for free and an idle one adds no latency.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readManifest, type ModelEntry } from '../../models/manifest';
import { concurrencyLimit } from '../engine/concurrency-limit';
import { TagsmithError } from '../errors';
import { decodeImage, type ColourProfilePolicy, type DecodedImage, type ImageInfo, type ResizePolicy, type RgbImage } from '../images/image-decoder';
import { InferencePool, type InferOptions } from './inference-pool';
import type { View } from './input-tensor';
import { findModelsDir } from './models-dir';

export interface Embedding {
  /** L2-normalisable pooled backbone vector (1792 floats for MobileNetV2-1.4). */
  features: Float32Array;
  /** The backbone's head, label → probability. */
  nsfw: Record<string, number>;
  image: ImageInfo;
}

export interface FeatureExtractorOptions {
  modelsDir?: string;
  /** Id of one of the manifest's models; default the manifest's `backbone`. */
  backbone?: string;
  /** Cores inference may use; default (or 0): every core. */
  threads?: number;
  /**
   * Inference runners, each a worker thread with its own session (0: one session on this
   * thread, which it blocks while it runs); default one per thread, each with one intra-op
   * thread: bench:features measured that ahead of one session with every thread.
   */
  workers?: number;
  /** ONNX Runtime intra-op threads per runner; default `threads / workers`. */
  intraOpThreads?: number;
  /** Let ONNX Runtime's idle pool threads spin (default off: they would spin on the core sharp decodes on). */
  spinning?: boolean;
  /** Most views per ONNX run (bench:features: batches past 2 gain nothing on these cores and hold more memory). */
  maxBatch?: number;
  /** Default `center-crop`: it scored best in bench:accuracy (at 288 pixels; squash, crop and size compared there). */
  resize?: ResizePolicy;
  /** Square input size; default the manifest's `input.size`. */
  inputSize?: number;
  /** Average the features of the image and its mirror image (one extra inference per image); default: the manifest's `input.flipAverage`. */
  flipAverage?: boolean;
  /** `convert-all`: convert sRGB profiles too, as sharp does by default (bench:features' comparison); default `skip-srgb` (kernel/images/colour-profile.ts). */
  colourProfiles?: ColourProfilePolicy;
}

/**
 * A scan's decodes under way at once: libuv's default thread pool. Enough to keep the inference
 * runners fed (a decode costs a fifth of an inference), few enough that an interactive decode
 * waits behind at most these.
 */
const BULK_DECODES_AT_ONCE = 4;

/**
 * The network's side of an image: bytes decoded and resized as the backbone expects, run
 * through it on the inference threads, one feature vector out (and the nsfw head's scores
 * where the backbone has one). It keeps nothing; the Embedder (kernel/engine) builds the
 * stored record around its vector.
 */
export class FeatureExtractor {
  private readonly bulkDecodes = concurrencyLimit(BULK_DECODES_AT_ONCE);

  private constructor(
    private readonly pool: InferencePool,
    readonly backboneId: string,
    readonly model: ModelEntry,
    private readonly options: { resize: ResizePolicy; inputSize: number; flipAverage: boolean; colourProfiles: ColourProfilePolicy },
  ) {}

  static async create(options: FeatureExtractorOptions = {}): Promise<FeatureExtractor> {
    const dir = options.modelsDir ?? findModelsDir();
    const manifest = readManifest(dir, options.backbone);
    const entry = manifest.models[manifest.backbone];
    const file = path.join(dir, entry.file);
    if (!fs.existsSync(file)) {
      throw new Error(`${file} is missing: run \`npm run convert-models\` (npm install does it once)`);
    }
    const threads = options.threads || os.availableParallelism();
    const workers = options.workers ?? threads;
    const inputSize = options.inputSize ?? entry.input.size;
    const pool = await InferencePool.create(
      {
        file,
        input: entry.input,
        featuresOutput: entry.outputs.features.name ?? 'features',
        featureLength: entry.outputs.features.length,
        labels: entry.outputs.nsfw?.labels.length ?? 0,
        size: inputSize,
        intraOpThreads: options.intraOpThreads ?? Math.max(1, Math.floor(threads / Math.max(1, workers))),
        spinning: options.spinning ?? false,
      },
      { workers, maxBatch: options.maxBatch ?? 2 },
    );
    return new FeatureExtractor(pool, manifest.backbone, entry, {
      resize: options.resize ?? 'center-crop',
      inputSize,
      flipAverage: options.flipAverage ?? entry.input.flipAverage ?? false,
      colourProfiles: options.colourProfiles ?? 'skip-srgb',
    });
  }

  get labels(): string[] {
    return this.model.outputs.nsfw?.labels ?? [];
  }

  get inputSize(): number {
    return this.options.inputSize;
  }

  get featureLength(): number {
    return this.model.outputs.features.length;
  }

  /** Decodes and embeds one image; throws `not_an_image` / `image_too_large` for bad bytes. */
  async embed(bytes: Uint8Array, header?: ImageInfo): Promise<Embedding> {
    return this.embedDecoded(await this.decode(bytes, header));
  }

  /**
   * `embed`, plus the image the photographic cues are measured on (decodeCueImage's), from the
   * same decode where it can. `queueing`: the lane and cancel, for the decode as for inference.
   */
  async embedWithCueImage(bytes: Uint8Array, queueing?: InferOptions): Promise<{ embedding: Embedding; cueImage: RgbImage }> {
    const { model, cues } = await this.inLane(queueing, () =>
      decodeImage(bytes, { size: this.options.inputSize, policy: this.options.resize, profiles: this.options.colourProfiles, cues: true }),
    );
    return { embedding: await this.embedDecoded(model, queueing), cueImage: cues! };
  }

  /**
   * Runs a decode, a bulk one only once fewer than BULK_DECODES_AT_ONCE others are under way
   * (and not at all if its cancel came while it waited). sharp decodes on libuv's thread pool,
   * which serves requests in the order they come: a scan that handed it all of its files in
   * flight at once would stand every /predict's decode behind them.
   */
  private inLane<T>(queueing: InferOptions | undefined, decode: () => Promise<T>): Promise<T> {
    if (queueing?.lane !== 'bulk') return decode();
    return this.bulkDecodes(() => {
      queueing.signal?.throwIfAborted();
      return decode();
    });
  }

  /** Decodes as this model wants (size, resize policy); the bytes-to-pixels half of `embed`. `header`: `inspectImage`'s answer, if known. */
  async decode(bytes: Uint8Array, header?: ImageInfo): Promise<DecodedImage> {
    return (await decodeImage(bytes, { size: this.options.inputSize, policy: this.options.resize, profiles: this.options.colourProfiles }, header)).model;
  }

  /** The pixels-to-embedding half of `embed`, for callers that also use the pixels. `queueing`: the inference pool's lane and cancel. */
  async embedDecoded(decoded: DecodedImage, queueing?: InferOptions): Promise<Embedding> {
    if (decoded.pixels.length !== this.options.inputSize ** 2 * 3) throw new Error(`pixels are not ${this.options.inputSize}² RGB`);
    // The mirror image is the same pixels read right to left, flipped while the tensor is filled.
    const views: View[] = this.options.flipAverage
      ? [
          { pixels: decoded.pixels, mirror: false },
          { pixels: decoded.pixels, mirror: true },
        ]
      : [{ pixels: decoded.pixels, mirror: false }];
    let outputs;
    try {
      outputs = await Promise.all(views.map((view) => this.pool.infer(view, queueing)));
    } catch (error) {
      throw new TagsmithError('internal', `ONNX inference failed: ${(error as Error).message}`, { cause: error });
    }
    const features = outputs[0].features;
    if (outputs.length === 2) {
      const other = outputs[1].features;
      for (let i = 0; i < features.length; i++) features[i] = (features[i] + other[i]) / 2;
    }
    const nsfw = outputs.length === 1 ? outputs[0].nsfw : headOfMean(outputs.map((o) => o.nsfw));
    const { pixels: _pixels, size: _size, ...image } = decoded;
    return { features, nsfw: Object.fromEntries(this.labels.map((label, i) => [label, nsfw[i]])), image };
  }

  async release(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * The head's probabilities for the averaged features, from each view's probabilities: the
 * head is softmax(W·f + b), linear up to the softmax, so the mean of the views' log
 * probabilities differs from the logits of the mean features only by a constant, which the
 * softmax cancels. So /predict and /predict_by_features (the head on a saved vector) agree.
 */
function headOfMean(views: Float32Array[]): Float32Array {
  const logits = views[0].map((_, i) => views.reduce((sum, p) => sum + Math.log(Math.max(p[i], 1e-38)), 0) / views.length);
  const top = Math.max(...logits);
  const exp = logits.map((z) => Math.exp(z - top));
  const total = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / total);
}
