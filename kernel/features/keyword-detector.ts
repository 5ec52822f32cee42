// Image bytes → keywords (COCO objects with their confidence and count) through the object
// detector models.json's `keywords` names. The detector is an opt-in install
// (`npm run models:keywords`): without its file the engine runs, answers without keywords and
// says how to get them. Its inference workers start on the first image, not with the engine,
// so an engine that is never asked for keywords pays nothing for them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readManifest, type KeywordModelEntry } from '../../models/manifest';
import { TagsmithError } from '../errors';
import { decodeLetterboxed, type ImageInfo, type LetterboxedImage } from '../images/image-decoder';
import { decodeKeywords, keywordVector, type Keywords } from '../scores/keywords';
import { InferencePool } from './inference-pool';
import { findModelsDir } from './models-dir';

export interface KeywordResult {
  keywords: Keywords;
  /** Each class's best confidence (80 numbers for COCO), thresholded or not: what training appends. */
  vector: Float32Array;
}

/** Whether keywords can be had, and if not, why and how. */
export interface KeywordAvailability {
  installed: boolean;
  /** The detector's id (also when it is not installed). */
  model?: string;
  /** Why there are none: the file is missing, or damaged. */
  reason?: string;
  /** The command that installs it. */
  install?: string;
}

export interface KeywordDetectorOptions {
  modelsDir?: string;
  /** Cores inference may use; default (or 0): every core. */
  threads?: number;
  /** Check the file's sha256 against models.json before loading it (default true). */
  verify?: boolean;
}

export class KeywordDetector {
  private pool: Promise<InferencePool> | undefined;

  private constructor(
    readonly entry: KeywordModelEntry,
    private readonly file: string,
    private readonly threads: number,
  ) {}

  /** Whether the models folder has the keywords model installed (the file present and its sha256 right). */
  static availability(modelsDir = findModelsDir(), verify = true): KeywordAvailability {
    const entry = readManifest(modelsDir).keywords;
    if (!entry) return { installed: false, reason: 'models.json names no keywords model' };
    const file = path.join(modelsDir, entry.file);
    const missing = { installed: false, model: entry.id, install: entry.install };
    if (!fs.existsSync(file)) return { ...missing, reason: `${entry.file} is not installed` };
    if (verify && crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') !== entry.sha256) {
      return { ...missing, reason: `${entry.file} does not match the sha256 in models.json` };
    }
    return { installed: true, model: entry.id };
  }

  /** The detector, or undefined when it is not installed (see `availability`). */
  static create(options: KeywordDetectorOptions = {}): KeywordDetector | undefined {
    const dir = options.modelsDir ?? findModelsDir();
    if (!KeywordDetector.availability(dir, options.verify ?? true).installed) return undefined;
    const entry = readManifest(dir).keywords!;
    return new KeywordDetector(entry, path.join(dir, entry.file), options.threads || os.availableParallelism());
  }

  get id(): string {
    return this.entry.id;
  }

  get labels(): readonly string[] {
    return this.entry.labels;
  }

  /** Decodes (letterboxed into the detector's square) and detects; throws `not_an_image` / `image_too_large` for bad bytes. */
  async detect(bytes: Uint8Array, header?: ImageInfo): Promise<KeywordResult> {
    return this.detectDecoded(await decodeLetterboxed(bytes, this.entry.input.size, header));
  }

  async detectDecoded(image: LetterboxedImage): Promise<KeywordResult> {
    const pool = await (this.pool ??= this.startPool());
    let rows: Float32Array;
    try {
      rows = (await pool.infer({ pixels: image.pixels, mirror: false })).features;
    } catch (error) {
      throw new TagsmithError('internal', `ONNX inference of the keywords model failed: ${(error as Error).message}`, { cause: error });
    }
    return { keywords: decodeKeywords(rows, this.entry.labels, this.entry.decode, image), vector: keywordVector(rows, this.entry.labels.length) };
  }

  async release(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await (await pool?.catch(() => undefined))?.close();
  }

  private startPool(): Promise<InferencePool> {
    const { input, outputs } = this.entry;
    // The pool runs any model that takes a square image: the detections come back as its "features".
    return InferencePool.create(
      {
        file: this.file,
        input: { name: input.name, size: input.size, trainedSize: input.size, layout: 'NHWC', channels: 'RGB', range: [0, 255], type: 'uint8' },
        featuresOutput: outputs.detections.name,
        featureLength: outputs.detections.count * 6,
        labels: 0,
        size: input.size,
        intraOpThreads: 1,
        spinning: false,
      },
      // One runner a core, one image a run (the graph's reshapes are for one image).
      { workers: this.threads, maxBatch: 1 },
    );
  }
}
