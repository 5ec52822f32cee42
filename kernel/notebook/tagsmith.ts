// The notebook API: `import { Tagsmith } from "tagsmith"`. A thin, typed layer over the engine's
// client that takes paths, folders and globs (relative to the notebook), reports progress, and
// shows results as tables and charts in tslab (Jupyter or the VS Code kernel).
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  TagsmithApiError, TagsmithClient, type FeaturesDocument, type FeaturesPrediction, type Prediction, type SampleRecord, type SampleType,
  type TagScore, type TagSummary, type TrainingTask, type TrainOptions,
} from '../client/tagsmith-client';
import { addImages, type AddManyResult } from '../client/add-many';
import { DEFAULT_URL } from '../rules';
import { expandImageSources, type ImageSource } from './expand-inputs';
import { display, metricsChart, predictionsTable, sampleGrid, type RichOutput } from './rich-display';

export { TagsmithApiError };
export type { FeaturesDocument, FeaturesPrediction, ImageSource, Prediction, RichOutput, SampleRecord, SampleType, TagScore, TagSummary, TrainingTask, TrainOptions };

export interface ConnectOptions {
  /** The engine's URL. Default: `$TAGSMITH_URL` (set for the VS Code kernel), else http://127.0.0.1:5000. */
  url?: string;
  /** Bearer token. Default: `$TAGSMITH_TOKEN`. */
  token?: string;
  /** Folder that relative paths start from. Default: the notebook's folder (the kernel's working folder). */
  baseDir?: string;
}

export interface AddProgress {
  done: number;
  total: number;
  name: string;
}

export type AddSummary = AddManyResult;

export class Tagsmith {
  private constructor(readonly client: TagsmithClient, readonly baseDir: string) {}

  /** Connects and checks that the engine answers, so a wrong URL fails here with a clear message. */
  static async connect(options: ConnectOptions = {}): Promise<Tagsmith> {
    const url = options.url ?? process.env.TAGSMITH_URL ?? DEFAULT_URL;
    const client = new TagsmithClient({ url, token: options.token ?? process.env.TAGSMITH_TOKEN });
    const tagsmith = new Tagsmith(client, path.resolve(options.baseDir ?? process.cwd()));
    await client.health();
    return tagsmith;
  }

  get url(): string {
    return this.client.url;
  }

  /** Adds images (paths, folders, globs or bytes) as samples; files that are not usable images are skipped with a reason. */
  async addSamples(type: SampleType, tag: string, images: ImageSource | ImageSource[], options: { onProgress?: (p: AddProgress) => void } = {}): Promise<AddSummary> {
    const files = await expandImageSources(images, this.baseDir);
    return addImages(this.client, type, tag, files.map((f) => ({ ...f, fileName: path.basename(f.name) })), {
      onProgress: (done, total, name) => options.onProgress?.({ done, total, name }),
    });
  }

  /** Starts training; `await` the task for the finished record, `.onProgress()` to follow it, `.cancel()` to stop it. */
  train(tag: string, options: Partial<TrainOptions> = {}): TrainingTask {
    return this.client.train(tag, options);
  }

  async predict(image: ImageSource): Promise<Prediction> {
    return this.client.predict(await this.read(image));
  }

  async predictCustom(image: ImageSource, tag?: string): Promise<Record<string, TagScore>> {
    return this.client.predictCustom(await this.read(image), tag);
  }

  async features(image: ImageSource): Promise<FeaturesDocument> {
    return this.client.getFeatures(await this.read(image));
  }

  predictByFeatures(doc: FeaturesDocument): Promise<FeaturesPrediction> {
    return this.client.predictByFeatures(doc);
  }

  tags(): Promise<TagSummary[]> {
    return this.client.tags();
  }

  samples(tag: string): Promise<{ tag: string; positives: SampleRecord[]; negatives: SampleRecord[] }> {
    return this.client.samples(tag);
  }

  clean(tag: string): Promise<{ tag: string; removedSamples: number; removedModel: boolean }> {
    return this.client.clean(tag);
  }

  /** Saves the whole state as a tar file; returns its size in bytes. */
  async backup(file: string): Promise<number> {
    const bytes = await this.client.getState();
    const target = path.resolve(this.baseDir, file);
    await fs.writeFile(target, bytes);
    return bytes.length;
  }

  /** Replaces the whole state with a backup (a rejected archive changes nothing). */
  async restore(file: string): Promise<{ tags: number; samples: number }> {
    return this.client.setState(await fs.readFile(path.resolve(this.baseDir, file)));
  }

  // ---- rich displays: shown in the notebook (and undefined returned), or returned outside one ----

  /** Predicts each image and shows a table: thumbnail, custom tag scores against thresholds, base scores. */
  async showPredictions(images: ImageSource | ImageSource[]): Promise<RichOutput | undefined> {
    const files = await expandImageSources(images, this.baseDir);
    const rows = [];
    for (const file of files) {
      const bytes = await file.read();
      rows.push({ name: file.name, thumbnail: await thumbnailDataUrl(bytes), prediction: await this.client.predict(bytes) });
    }
    return display(predictionsTable(rows));
  }

  /** Shows a trained tag's cross-validated quality: score distributions with the threshold, ROC curve, outcome in words. */
  async showMetrics(tag: string): Promise<RichOutput | undefined> {
    const summary = (await this.client.tags()).find((t) => t.tag === tag);
    if (!summary) throw new TagsmithApiError('unknown_tag', `There is no tag "${tag}".`, 404);
    if (!summary.metrics) throw new TagsmithApiError('unknown_tag', `"${tag}" is not trained yet: train it first.`, 404);
    return display(metricsChart(tag, summary.metrics));
  }

  /** Shows a tag's samples as thumbnails (up to `limit` per side). */
  async showSamples(tag: string, limit = 24): Promise<RichOutput | undefined> {
    const { positives, negatives } = await this.client.samples(tag);
    const side = async (type: 'positive' | 'negative', list: SampleRecord[]) => ({
      type, total: list.length,
      thumbnails: await Promise.all(list.slice(0, limit).map(async (s) => ({
        name: s.fileName ?? s.id.slice(0, 12),
        src: `data:image/webp;base64,${Buffer.from(await this.client.thumbnail(s.id, 192)).toString('base64')}`,
      }))),
    });
    return display(sampleGrid(tag, [await side('positive', positives), await side('negative', negatives)]));
  }

  private async read(image: ImageSource): Promise<Uint8Array> {
    return typeof image === 'string' ? fs.readFile(path.resolve(this.baseDir, image)) : image;
  }
}

/** A small JPEG of an image for a table cell, so a notebook does not carry full-size photos. */
async function thumbnailDataUrl(bytes: Uint8Array): Promise<string | undefined> {
  try {
    const { default: sharp } = await import('sharp');
    const small = await sharp(bytes, { limitInputPixels: 100_000_000 }).rotate().resize(192, 192, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();
    return `data:image/jpeg;base64,${small.toString('base64')}`;
  } catch {
    return undefined; // the engine will say why the image is unusable
  }
}
