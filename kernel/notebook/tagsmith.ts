// The notebook API: `import { Tagsmith } from "tagsmith"`. A thin, typed layer over the engine's
// client that takes paths, folders and globs (relative to the notebook), reports progress, and
// shows results as tables and charts in tslab (Jupyter or the VS Code kernel).
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  TagsmithApiError,
  TagsmithClient,
  type FeaturesDocument,
  type FeaturesPrediction,
  type Keywords,
  type Prediction,
  type SampleRecord,
  type SampleType,
  type ReviewQueue,
  type ReviewView,
  type SampleView,
  type ScanPage,
  type ScanProgressView,
  type ScanQuery,
  type ScanView,
  type TagScore,
  type TagSummary,
  type TrainingTask,
  type TrainOptions,
} from '../client/tagsmith-client';
import { addImages, type AddManyResult } from '../client/add-many';
import { DEFAULT_URL } from '../rules';
import { expandImageSources, type ImageSource } from './expand-inputs';
import { display, metricsChart, predictionRow, predictionsTable, sampleGrid, type PredictionRow, type RichOutput } from './rich-display';

export { TagsmithApiError };
export type { ReviewQueue, ReviewView, SampleView, ScanPage, ScanProgressView, ScanQuery, ScanView };
export type {
  FeaturesDocument,
  FeaturesPrediction,
  ImageSource,
  Keywords,
  Prediction,
  RichOutput,
  SampleRecord,
  SampleType,
  TagScore,
  TagSummary,
  TrainingTask,
  TrainOptions,
};

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
  private constructor(
    readonly client: TagsmithClient,
    readonly baseDir: string,
  ) {}

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
  async addSamples(
    type: SampleType,
    tag: string,
    images: ImageSource | ImageSource[],
    options: { onProgress?: (p: AddProgress) => void } = {},
  ): Promise<AddSummary> {
    const files = await expandImageSources(images, this.baseDir);
    return addImages(
      this.client,
      type,
      tag,
      files.map((f) => ({ ...f, fileName: path.basename(f.name) })),
      {
        onProgress: (done, total, name) => options.onProgress?.({ done, total, name }),
      },
    );
  }

  /** Starts training; `await` the task for the finished record, `.onProgress()` to follow it, `.cancel()` to stop it. */
  train(tag: string, options: Partial<TrainOptions> = {}): TrainingTask {
    return this.client.train(tag, options);
  }

  /**
   * Base scores and every trained tag; with `keywords: true`, also the objects the image shows
   * (`base.keywords`: "person" with its confidence, count and boxes), when the engine has the
   * keywords model (`(await tagsmith.client.health()).keywords` says whether it does).
   */
  async predict(image: ImageSource, options: { keywords?: boolean } = {}): Promise<Prediction> {
    return this.client.predict(await this.read(image), options);
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

  /** Samples whose label looks wrong, the most suspicious first (see SampleSuspicion): move or remove them, then train again. */
  async suspiciousSamples(tag: string): Promise<SampleView[]> {
    const listing = await this.client.samples(tag, { order: 'suspicious' });
    return [...listing.positives, ...listing.negatives].filter((s) => s.suspicion).sort((a, b) => rank(b) - rank(a));
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

  /**
   * Applies every trained tag to images on the engine's machine — paths, folders or globs,
   * relative to the notebook — as one scan: each image is embedded once (an unchanged one
   * not even read again), and `showPredictions(scan)` or `scanResults` show what it found.
   * With `keywords: true` it also finds each image's objects (the keywords model's), for the
   * table and the exports.
   * The engine reads only under the folders it may (`tagsmith serve --scan-root`; in VS Code,
   * the workspace folders).
   */
  async scan(images: string | string[], options: { onProgress?: (progress: ScanProgressView) => void; keywords?: boolean } = {}): Promise<ScanView> {
    const paths = await this.scanPaths(Array.isArray(images) ? images : [images]);
    return this.client.scan(paths, { keywords: options.keywords }).onProgress((scan) => options.onProgress?.(scan.progress));
  }

  /** A page of a scan's images with every tag's call (see ScanQuery for order and filters). */
  scanResults(scan: ScanView | string, query: ScanQuery = {}): Promise<ScanPage> {
    return this.client.scanResults(typeof scan === 'string' ? scan : scan.scan_id, query);
  }

  /**
   * The images of the newest scan that would teach `tag` most: those its model is least sure of,
   * from both sides of its boundary in turn (its samples left out). Samples added since training
   * re-rank it at once, so label a few with addSamples and ask again; train again to change the calls.
   */
  reviewQueue(tag: string, options: { limit?: number; view?: ReviewView; scan?: ScanView } = {}): Promise<ReviewQueue> {
    return this.client.reviewQueue(tag, { limit: options.limit ?? 20, view: options.view, scanId: options.scan?.scan_id });
  }

  /**
   * Shows a table: thumbnail, custom tag scores against thresholds, base scores and the objects
   * found ("person ×2, dog"). For images (predicted one by one, keywords asked for unless
   * `keywords: false`) or for a finished scan (its first `limit` images in `order`, from the
   * scan's results: nothing is embedded again; keywords if the scan found them).
   */
  async showPredictions(
    images: ImageSource | ImageSource[] | ScanView | ScanPage | ReviewQueue,
    options: ScanQuery & { keywords?: boolean } = {},
  ): Promise<RichOutput | undefined> {
    const { keywords = true, ...query } = options;
    if (isScanShaped(images)) {
      const page = 'images' in images ? images : await this.client.scanResults(images.scan_id, { limit: 24, ...query });
      const rows: PredictionRow[] = [];
      for (const image of page.images) {
        const bytes = await fs.readFile(image.path).catch(() => undefined); // an engine on another machine: no thumbnail
        const custom = Object.fromEntries(
          Object.entries(image.tags).map(([tag, call]) => [tag, { score: call.score, threshold: call.threshold, label: call.applies }]),
        );
        rows.push({
          name: path.relative(this.baseDir, image.path),
          thumbnail: bytes && (await thumbnailDataUrl(bytes)),
          custom,
          aesthetic: image.aesthetic,
          stock: image.stock,
          keywords: image.keywords,
        });
      }
      return display(predictionsTable(rows));
    }
    const files = await expandImageSources(images, this.baseDir);
    const rows = [];
    for (const file of files) {
      const bytes = await file.read();
      rows.push(predictionRow(file.name, await thumbnailDataUrl(bytes), await this.client.predict(bytes, { keywords })));
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
      type,
      total: list.length,
      thumbnails: await Promise.all(
        list.slice(0, limit).map(async (s) => ({
          name: s.fileName ?? s.id.slice(0, 12),
          src: `data:image/webp;base64,${Buffer.from(await this.client.thumbnail(s.id, 192)).toString('base64')}`,
        })),
      ),
    });
    return display(sampleGrid(tag, [await side('positive', positives), await side('negative', negatives)]));
  }

  /** Folders and files as absolute paths; globs expanded here (the engine takes no patterns). */
  private async scanPaths(sources: string[]): Promise<string[]> {
    const paths: string[] = [];
    for (const source of sources) {
      if (/[*?[]/.test(source)) paths.push(...(await expandImageSources(source, this.baseDir)).map((f) => path.resolve(this.baseDir, f.name)));
      else paths.push(path.resolve(this.baseDir, source));
    }
    if (paths.length === 0) throw new TagsmithApiError('not_found', `No images match ${sources.join(', ')}.`, 404);
    return paths;
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

function rank(sample: SampleView): number {
  return Math.max(sample.suspicion?.disagreement ?? 0, sample.suspicion?.duplicateOf ? 1 : 0);
}

/** A scan, a page of its results or a review queue (all carry a scan_id), as opposed to images. */
function isScanShaped(value: unknown): value is ScanView | ScanPage | ReviewQueue {
  return (
    typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !Array.isArray(value) && typeof (value as ScanView).scan_id === 'string'
  );
}
