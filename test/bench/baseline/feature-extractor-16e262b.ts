// The pipeline as it was at commit 16e262b, frozen for bench:features' baseline row: decode
// (sharp's cover crop), the float tensor filled on the event loop, one session on the engine's
// thread with every core as intra-op threads, the mirror view a second batch of one.
// Image bytes → { features, nsfw } through one ONNX session. Concurrent callers are batched:
// while a batch runs, new images queue up and go together in the next run, so a busy server
// gets batching for free and an idle one adds no latency.
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readManifest, type ModelEntry } from '../../../models/manifest';
import { TagsmithError } from '../../../kernel/errors';
import sharp from 'sharp';
import { inspectImage, MAX_INPUT_PIXELS, type DecodedImage, type ImageInfo, type ResizePolicy } from '../../../kernel/images/image-decoder';
import { findModelsDir } from '../../../kernel/features/models-dir';

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
  /** ONNX Runtime intra-op threads; default: every core. */
  threads?: number;
  /** Images per ONNX run. From 2 up the time per image stays the same on 2 cores (probe of 1–16), while memory grows with the batch. */
  maxBatch?: number;
  /** Default `center-crop`: it scored best in bench:accuracy (at 288 pixels; squash, crop and size compared there). */
  resize?: ResizePolicy;
  /** Square input size; default the manifest's `input.size`. */
  inputSize?: number;
  /** Average the features of the image and its mirror image (one extra inference per image); default: the manifest's `input.flipAverage`. */
  flipAverage?: boolean;
}

interface Pending {
  pixels: Buffer;
  resolve: (value: { features: Float32Array; nsfw: Float32Array }) => void;
  reject: (error: unknown) => void;
}

export class BaselineFeatureExtractor {
  private readonly queue: Pending[] = [];
  private running = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly backboneId: string,
    readonly model: ModelEntry,
    private readonly options: Required<Omit<FeatureExtractorOptions, 'modelsDir' | 'threads' | 'backbone'>>,
  ) {}

  static async create(options: FeatureExtractorOptions = {}): Promise<BaselineFeatureExtractor> {
    const dir = options.modelsDir ?? findModelsDir();
    const manifest = readManifest(dir, options.backbone);
    const entry = manifest.models[manifest.backbone];
    const file = path.join(dir, entry.file);
    if (!fs.existsSync(file)) {
      throw new Error(`${file} is missing: run \`npm run convert-models\` (npm install does it once)`);
    }
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: options.threads ?? 0,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    });
    return new BaselineFeatureExtractor(session, manifest.backbone, entry, {
      maxBatch: options.maxBatch ?? 2,
      resize: options.resize ?? 'center-crop',
      inputSize: options.inputSize ?? entry.input.size,
      flipAverage: options.flipAverage ?? entry.input.flipAverage ?? false,
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

  /** Decodes as this model wants (size, resize policy); the bytes-to-pixels half of `embed`. `header`: `inspectImage`'s answer, if known. */
  decode(bytes: Uint8Array, header?: ImageInfo): Promise<DecodedImage> {
    return decodeForModel(bytes, this.options.inputSize, this.options.resize, header);
  }

  /** The pixels-to-embedding half of `embed`, for callers that also use the pixels. */
  async embedDecoded(decoded: DecodedImage): Promise<Embedding> {
    const size = decoded.size;
    const views = this.options.flipAverage ? [decoded.pixels, mirror(decoded.pixels, size)] : [decoded.pixels];
    const outputs = await Promise.all(views.map((pixels) => this.infer(pixels)));
    const features = outputs[0].features;
    for (let i = 0; i < features.length; i++) features[i] = outputs.reduce((sum, o) => sum + o.features[i], 0) / outputs.length;
    const nsfw = outputs.length === 1 ? outputs[0].nsfw : headOfMean(outputs.map((o) => o.nsfw));
    const { pixels: _pixels, size: _size, ...image } = decoded;
    return { features, nsfw: Object.fromEntries(this.labels.map((label, i) => [label, nsfw[i]])), image };
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private infer(pixels: Buffer): Promise<{ features: Float32Array; nsfw: Float32Array }> {
    if (pixels.length !== this.options.inputSize ** 2 * 3) throw new Error(`pixels are not ${this.options.inputSize}² RGB`);
    return new Promise((resolve, reject) => {
      this.queue.push({ pixels, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      try {
        const results = await this.runBatch(batch.map((p) => p.pixels));
        batch.forEach((p, i) => p.resolve(results[i]));
      } catch (error) {
        const wrapped = new TagsmithError('internal', `ONNX inference failed: ${(error as Error).message}`, { cause: error });
        for (const p of batch) p.reject(wrapped);
      }
    }
    this.running = false;
  }

  private async runBatch(images: Buffer[]): Promise<{ features: Float32Array; nsfw: Float32Array }[]> {
    const input = this.model.input;
    const size = this.options.inputSize;
    const plane = size * size;
    const tensor = new Float32Array(images.length * plane * 3);
    // Per channel: 0..255 onto the manifest's range, then (value − mean) / std.
    const [low, high] = input.range;
    const scale = [0, 1, 2].map((c) => (high - low) / 255 / (input.std?.[c] ?? 1));
    const offset = [0, 1, 2].map((c) => (low - (input.mean?.[c] ?? 0)) / (input.std?.[c] ?? 1));
    const nchw = input.layout === 'NCHW';
    images.forEach((pixels, n) => {
      const base = n * plane * 3;
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++) {
          tensor[base + (nchw ? c * plane + p : p * 3 + c)] = pixels[p * 3 + c] * scale[c] + offset[c];
        }
      }
    });
    const dims = nchw ? [images.length, 3, size, size] : [images.length, size, size, 3];
    const output = await this.session.run({ [input.name]: new ort.Tensor('float32', tensor, dims) });
    const features = output[this.model.outputs.features.name ?? 'features'].data as Float32Array;
    // A user's own encoder may have no nsfw head: its images get no nsfw scores.
    const nsfw = this.model.outputs.nsfw ? (output.nsfw.data as Float32Array) : new Float32Array(0);
    const f = this.featureLength;
    const k = this.labels.length;
    return images.map((_, n) => ({
      features: features.slice(n * f, (n + 1) * f),
      nsfw: nsfw.slice(n * k, (n + 1) * k),
    }));
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

function mirror(pixels: Buffer, size: number): Buffer {
  const out = Buffer.allocUnsafe(pixels.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const from = (y * size + x) * 3;
      const to = (y * size + (size - 1 - x)) * 3;
      out[to] = pixels[from];
      out[to + 1] = pixels[from + 1];
      out[to + 2] = pixels[from + 2];
    }
  }
  return out;
}

async function decodeForModel(bytes: Uint8Array, size: number, policy: ResizePolicy, header?: ImageInfo): Promise<DecodedImage> {
  const info = header ?? (await inspectImage(bytes));
  const pixels = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: info.format === 'png' ? 'warning' : 'truncated' })
    .autoOrient()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize(size, size, { fit: policy === 'squash' ? 'fill' : 'cover', kernel: 'lanczos3' })
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer();
  return { ...info, pixels, size };
}
