// The engine: samples, training tasks, predictions and the state archive behind one API.
// The HTTP server, the CLI and the tests call this; it never imports `vscode`.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { TagsmithError } from '../errors';
import { FeatureExtractor, type FeatureExtractorOptions } from '../features/feature-extractor';
import { NsfwHead } from '../features/nsfw-head';
import { readJson, writeFileAtomic, writeJsonAtomic, TEMP_MARKER } from '../state/atomic-file';
import { KeyedMutex, ReadWriteLock } from '../state/keyed-lock';
import { StateLayout } from '../state/state-layout';
import { createStateArchive, restoreStateArchive, snapshotState, syncTree } from '../state/state-archive';
import {
  checkEmbedding, checkSampleList, checkTask, decodeFeatures, isSampleId,
  type EmbeddingRecord, type SampleListJson, type SampleRecord, type SampleType, type TaskRecord,
} from '../state/stored-records';
import { validateTag } from '../state/tag-name';
import { TagModel, type PreparedFeatures, type TagModelJson, type TagScore } from '../training/tag-model';
import { checkEnoughSamples, type TrainingData } from '../training/train-tag';
import { validateTrainOptions, type TrainOptions } from '../training/train-options';
import type { BaseScores } from '../scores/base-scores';
import { Embedder, featuresOf, sha256 } from './embedder';
import { concurrencyLimit } from './concurrency-limit';
import { parseFeaturesDocument, type FeaturesDocument } from './features-document';
import { checkPrediction, checkTagScores } from './score-check';
import { TrainingQueue } from './training-queue';
import { makeThumbnail } from './thumbnails';

export interface EngineOptions extends FeatureExtractorOptions {
  stateDir: string;
}

export interface TagSummary {
  tag: string;
  positives: number;
  negatives: number;
  trained: boolean;
  /** Samples changed since the model was trained. */
  stale: boolean;
  trainedAt?: string;
  options?: TrainOptions;
  metrics?: TagModelJson['metrics'];
  /** Why an untrained tag with a model file is not served: it was trained on another backbone. */
  retrain?: string;
}

export interface AddSampleResult {
  tag: string;
  type: SampleType;
  sample: SampleRecord;
  /** false when the image already was a sample of that type (adding is idempotent). */
  added: boolean;
}

export interface Prediction {
  base: BaseScores;
  custom: Record<string, TagScore>;
}

export const SAMPLE_TYPES: readonly SampleType[] = ['positive', 'negative'];

export class TagsmithEngine {
  private readonly models = new Map<string, TagModel>();
  /** Tags whose model was trained on another backbone → that backbone; kept on disk, not served. */
  private readonly foreignModels = new Map<string, string>();
  private readonly tagLocks = new KeyedMutex();
  private readonly stateLock = new ReadWriteLock();
  readonly tasks: TrainingQueue;

  private constructor(
    private readonly layout: StateLayout,
    private readonly embedder: Embedder,
    private readonly head: NsfwHead | undefined,
  ) {
    this.tasks = new TrainingQueue({
      loadTrainingData: (tag, options, onProgress) => this.stateLock.read(() => this.trainingData(tag, options, onProgress)),
      saveModel: (tag, json) => this.stateLock.read(() => this.saveModel(tag, json)),
      saveTask: (task) => writeJsonAtomic(this.layout.task(task.task_id), task),
    });
  }

  static async open(options: EngineOptions): Promise<TagsmithEngine> {
    const layout = await StateLayout.open(path.resolve(options.stateDir));
    await layout.collectGarbage();
    const extractor = await FeatureExtractor.create(options);
    const engine = new TagsmithEngine(layout, new Embedder(extractor), await NsfwHead.create(options.modelsDir, options.backbone));
    await engine.loadState();
    return engine;
  }

  get stateDir(): string {
    return this.layout.root;
  }

  get backbone(): string {
    return this.embedder.backbone;
  }

  get featureLength(): number {
    return this.embedder.extractor.featureLength;
  }

  // ── samples ────────────────────────────────────────────────────────────────────────

  async addSample(type: SampleType, tag: string, bytes: Uint8Array, options: { fileName?: string } = {}): Promise<AddSampleResult> {
    checkSampleType(type);
    validateTag(tag);
    const id = sha256(bytes);
    // Embed outside the locks: it is the slow part and needs no state.
    const embedding = await this.embedSample(id, bytes);
    return this.stateLock.read(() =>
      this.tagLocks.run(tag, async () => {
        const list = (await this.readSamples(tag)) ?? newSampleList(tag);
        const existing = list.samples.find((s) => s.id === id);
        if (existing && existing.type !== type) {
          throw new TagsmithError('conflicting_sample', `This image is already a ${existing.type} sample of "${tag}"; move it instead of adding it as ${type}.`);
        }
        if (existing) return { tag, type, sample: existing, added: false };
        // Image and embedding first, the list last: a crash never lists a sample without them.
        await this.storeImage(id, bytes);
        await this.storeEmbedding(id, embedding);
        const sample: SampleRecord = { id, type, addedAt: new Date().toISOString(), ...(options.fileName ? { fileName: cleanFileName(options.fileName) } : {}) };
        list.samples.push(sample);
        await fs.mkdir(this.layout.tagDir(tag), { recursive: true });
        await writeJsonAtomic(this.layout.samples(tag), list);
        return { tag, type, sample, added: true };
      }),
    );
  }

  async removeSample(tag: string, id: string): Promise<void> {
    await this.changeSample(tag, id, (list, index) => list.samples.splice(index, 1));
  }

  async moveSample(tag: string, id: string, to: SampleType): Promise<SampleRecord> {
    checkSampleType(to);
    let moved: SampleRecord | undefined;
    await this.changeSample(tag, id, (list, index) => {
      moved = { ...list.samples[index], type: to };
      list.samples[index] = moved;
    });
    return moved!;
  }

  async listTags(): Promise<TagSummary[]> {
    return this.stateLock.read(async () => {
      const tags = await this.tagNames();
      return Promise.all(tags.map((tag) => this.summarise(tag)));
    });
  }

  async listSamples(tag: string): Promise<{ tag: string; positives: SampleRecord[]; negatives: SampleRecord[] }> {
    validateTag(tag);
    return this.stateLock.read(async () => {
      const list = await this.requireSamples(tag);
      return {
        tag,
        positives: list.samples.filter((s) => s.type === 'positive'),
        negatives: list.samples.filter((s) => s.type === 'negative'),
      };
    });
  }

  /** The original bytes of a sample image. */
  async sampleImage(id: string): Promise<Buffer> {
    if (!isSampleId(id)) throw new TagsmithError('unknown_sample', `There is no sample ${JSON.stringify(id)}.`);
    return this.stateLock.read(async () => {
      try {
        return await fs.readFile(this.layout.image(id));
      } catch {
        throw new TagsmithError('unknown_sample', `There is no sample ${id}.`);
      }
    });
  }

  /** A small WebP of a sample (cached; derived data, not part of the archive). */
  async thumbnail(id: string, size = 256): Promise<Buffer> {
    const side = Math.min(1024, Math.max(32, Math.round(size)));
    const file = path.join(this.layout.thumbnails, `${id}-${side}.webp`);
    const cached = await fs.readFile(file).catch(() => undefined);
    if (cached) return cached;
    const thumbnail = await makeThumbnail(await this.sampleImage(id), side);
    await writeFileAtomic(file, thumbnail);
    return thumbnail;
  }

  // ── training ───────────────────────────────────────────────────────────────────────

  /** Queues a training run and returns its task at once; `status` follows it. */
  async train(tag: string, partial: Partial<TrainOptions> = {}): Promise<TaskRecord> {
    validateTag(tag);
    const options = validateTrainOptions(partial);
    return this.stateLock.read(async () => {
      const list = await this.requireSamples(tag);
      const positives = list.samples.filter((s) => s.type === 'positive').length;
      checkEnoughSamples(positives, list.samples.length - positives, options.num_clusters);
      return this.tasks.enqueue(tag, options);
    });
  }

  status(taskId: string): TaskRecord {
    return this.tasks.status(taskId);
  }

  // ── prediction ─────────────────────────────────────────────────────────────────────

  async predict(bytes: Uint8Array): Promise<Prediction> {
    const embedding = await this.embedder.embed(bytes);
    return checkPrediction({ base: baseScores(embedding), custom: this.scoreTags(embedding, [...this.models.keys()]) });
  }

  async predictCustom(bytes: Uint8Array, tag?: string): Promise<Record<string, TagScore>> {
    const tags = tag === undefined ? [...this.models.keys()] : [this.requireModel(tag).tag];
    return checkTagScores(this.scoreTags(await this.embedder.embed(bytes), tags));
  }

  async getFeatures(bytes: Uint8Array): Promise<FeaturesDocument> {
    const embedding = await this.embedder.embed(bytes);
    return {
      name: 'tagsmith-features',
      formatVersion: 1,
      backbone: embedding.backbone,
      features: Array.from(featuresOf(embedding)),
      aesthetic: embedding.aesthetic,
      stock: embedding.stock,
    };
  }

  async predictByFeatures(value: unknown): Promise<Prediction> {
    const doc = parseFeaturesDocument(value, { backbone: this.backbone, featureLength: this.featureLength });
    const custom: Record<string, TagScore> = {};
    const prepared: PreparedFeatures = new Map();
    for (const [tag, model] of [...this.models].sort(([a], [b]) => a.localeCompare(b))) {
      if ((model.needs.aesthetic && !doc.aesthetic) || (model.needs.stock && !doc.stock)) {
        throw new TagsmithError('invalid_features', `Tag "${tag}" was trained with base scores the document lacks; save the full output of /get_features.`);
      }
      custom[tag] = model.score({ features: doc.features, aesthetic: doc.aesthetic?.score, stock: doc.stock?.score }, prepared);
    }
    const nsfw = this.head ? await this.head.score(doc.features) : {};
    // Float32 values large enough to overflow the head's arithmetic: no image gives such a vector.
    if (!Object.values(nsfw).every(Number.isFinite)) {
      throw new TagsmithError('invalid_features', 'The features document has values far beyond any the backbone gives (the nsfw head overflows); send what /get_features returned.');
    }
    return checkPrediction({ base: { nsfw, aesthetic: doc.aesthetic, stock: doc.stock } as BaseScores, custom });
  }

  // ── removal ────────────────────────────────────────────────────────────────────────

  /** Removes a tag's model and samples (or only the model with keepSamples). */
  async clean(tag: string, options: { keepSamples?: boolean } = {}): Promise<{ tag: string; removedSamples: number; removedModel: boolean }> {
    validateTag(tag);
    return this.stateLock.read(() =>
      this.tagLocks.run(tag, async () => {
        const list = await this.readSamples(tag);
        const hadModel = this.models.has(tag) || this.foreignModels.has(tag);
        if (!list && !hadModel) throw new TagsmithError('unknown_tag', `There is no tag "${tag}".`);
        this.models.delete(tag);
        this.foreignModels.delete(tag);
        if (options.keepSamples) {
          await fs.rm(this.layout.model(tag), { force: true });
          return { tag, removedSamples: 0, removedModel: hadModel };
        }
        // One rename takes the whole tag away atomically; the folder is deleted afterwards.
        const trash = path.join(this.layout.tmp, `trash-${tag}-${Date.now()}`);
        await fs.rename(this.layout.tagDir(tag), trash).catch(() => undefined);
        await fs.rm(trash, { recursive: true, force: true });
        return { tag, removedSamples: list?.samples.length ?? 0, removedModel: hadModel };
      }),
    );
  }

  // ── state archive ──────────────────────────────────────────────────────────────────

  /** A tar of the whole state, taken from a snapshot so work can go on while it downloads. */
  async getState(): Promise<Readable> {
    const snapshot = path.join(this.layout.tmp, `snapshot-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await this.stateLock.read(() => snapshotState(this.layout.generation, snapshot));
    // Removed once the archive has closed every file it opened: downloaded, aborted or failed.
    return createStateArchive(snapshot, () => void fs.rm(snapshot, { recursive: true, force: true }));
  }

  /**
   * Validates a tar (or tar.gz) into a fresh folder, then swaps it in; a rejected one changes
   * nothing. Receiving, unpacking and checking the upload touch only that private folder, so
   * they run without the state lock (a slow upload holds up nobody); the lock is taken for the
   * swap alone.
   */
  async setState(archive: Readable): Promise<{ tags: number; samples: number }> {
    const busy = () => new TagsmithError('busy', 'A training task is running; restore the state when it has finished.');
    if (this.tasks.busy) throw busy();
    const generation = await StateLayout.createGeneration(this.layout.tmp, true);
    try {
      await restoreStateArchive(archive, generation, `${generation}.upload.tar`);
      await this.layout.checkManifest(generation);
      await StateLayout.ensureFolders(generation);
      const loaded = await this.readGeneration(generation);
      await syncTree(generation);
      return await this.stateLock.write(async () => {
        // A task may have started while the upload came in.
        if (this.tasks.busy) throw busy();
        await this.layout.activate(generation);
        await this.installState(loaded);
        const samples = loaded.lists.reduce((n, l) => n + l.samples.length, 0);
        return { tags: loaded.lists.length, samples };
      });
    } catch (error) {
      await fs.rm(generation, { recursive: true, force: true });
      throw error;
    }
  }

  // ── health ─────────────────────────────────────────────────────────────────────────

  async health(): Promise<{ tags: number; trainedTags: number; samples: number; images: number; tasksRunning: boolean }> {
    return this.stateLock.read(async () => {
      const tags = await Promise.all((await this.tagNames()).map((t) => this.readSamples(t)));
      const ids = new Set(tags.flatMap((l) => l?.samples.map((s) => s.id) ?? []));
      return {
        tags: tags.length,
        trainedTags: this.models.size,
        samples: tags.reduce((n, l) => n + (l?.samples.length ?? 0), 0),
        images: ids.size,
        tasksRunning: this.tasks.busy,
      };
    });
  }

  async close(): Promise<void> {
    await this.tasks.stop();
    await this.embedder.extractor.release();
    await this.head?.release();
  }

  // ── internals ──────────────────────────────────────────────────────────────────────

  private async embedSample(id: string, bytes: Uint8Array): Promise<EmbeddingRecord> {
    const stored = await readJson<unknown>(this.layout.features(this.backbone, id)).catch(() => undefined);
    if (stored) {
      try {
        return checkEmbedding(stored, id, this.featureLength);
      } catch {
        // A damaged cache entry is recomputed below.
      }
    }
    return this.embedder.embed(bytes, id);
  }

  /**
   * The samples' embeddings for this engine's backbone. Features are a cache of the stored
   * images: a state made with another backbone (or restored from one) gets its samples
   * embedded again here, the first time their tag trains, two at a time (a thousand at once
   * would hold a thousand decoded images in memory).
   */
  private async storedEmbeddings(ids: string[], onEmbedded: (done: number, total: number) => void = () => {}): Promise<EmbeddingRecord[]> {
    const read = async (id: string) => {
      const stored = await readJson<unknown>(this.layout.features(this.backbone, id));
      return stored === undefined ? undefined : checkEmbedding(stored, id, this.featureLength);
    };
    const records = await Promise.all(ids.map(read));
    const missing = ids.flatMap((id, i) => (records[i] ? [] : [i]));
    let done = 0;
    let failure: unknown;
    const limit = concurrencyLimit(2);
    await Promise.all(missing.map((i) => limit(async () => {
      if (failure) return; // an image failed, or the task was cancelled: start no more
      try {
        const record = await this.embedder.embed(await fs.readFile(this.layout.image(ids[i])), ids[i]);
        await this.storeEmbedding(ids[i], record);
        records[i] = record;
        onEmbedded(++done, missing.length);
      } catch (error) {
        failure ??= error;
      }
    })));
    if (failure) throw failure;
    return records as EmbeddingRecord[];
  }

  private async storeImage(id: string, bytes: Uint8Array): Promise<void> {
    const file = this.layout.image(id);
    if (await exists(file)) return;
    await writeFileAtomic(file, bytes);
  }

  private async storeEmbedding(id: string, record: EmbeddingRecord): Promise<void> {
    const file = this.layout.features(this.backbone, id);
    if (await exists(file)) return;
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeJsonAtomic(file, record);
  }

  private async changeSample(tag: string, id: string, change: (list: SampleListJson, index: number) => void): Promise<void> {
    validateTag(tag);
    await this.stateLock.read(() =>
      this.tagLocks.run(tag, async () => {
        const list = await this.requireSamples(tag);
        const index = list.samples.findIndex((s) => s.id === id);
        if (index < 0) throw new TagsmithError('unknown_sample', `Tag "${tag}" has no sample ${JSON.stringify(id)}.`);
        change(list, index);
        await writeJsonAtomic(this.layout.samples(tag), list);
      }),
    );
  }

  private async readSamples(tag: string, layout = this.layout): Promise<SampleListJson | undefined> {
    const value = await readJson<unknown>(layout.samples(tag));
    return value === undefined ? undefined : checkSampleList(value, `tags/${tag}/samples.json`);
  }

  private async requireSamples(tag: string): Promise<SampleListJson> {
    const list = await this.readSamples(tag);
    if (!list) throw new TagsmithError('unknown_tag', `There is no tag "${tag}"; add samples to create it.`);
    return list;
  }

  private requireModel(tag: string): TagModel {
    validateTag(tag);
    const model = this.models.get(tag);
    if (!model) throw new TagsmithError('unknown_tag', `There is no trained tag "${tag}".`);
    return model;
  }

  private async tagNames(): Promise<string[]> {
    const entries = await fs.readdir(this.layout.tagsDir(), { withFileTypes: true });
    const names = [];
    for (const e of entries) if (e.isDirectory() && (await exists(this.layout.samples(e.name)))) names.push(e.name);
    return names.sort((a, b) => a.localeCompare(b));
  }

  private async summarise(tag: string): Promise<TagSummary> {
    const list = await this.readSamples(tag);
    const samples = list?.samples ?? [];
    const positives = samples.filter((s) => s.type === 'positive').length;
    const model = this.models.get(tag)?.json;
    return {
      tag,
      positives,
      negatives: samples.length - positives,
      trained: model !== undefined,
      stale: model !== undefined && model.samplesDigest !== samplesDigest(samples),
      ...(model ? { trainedAt: model.trainedAt, options: model.options, metrics: model.metrics } : {}),
      ...(this.foreignModels.has(tag) ? { retrain: retrainReason(this.foreignModels.get(tag)!, this.backbone) } : {}),
    };
  }

  private async trainingData(tag: string, options: TrainOptions, onProgress: (stage: string, progress: number) => void = () => {}): Promise<TrainingData> {
    const list = await this.requireSamples(tag);
    const records = await this.storedEmbeddings(list.samples.map((s) => s.id), (done, total) => onProgress(`embedding samples for ${this.backbone}`, done / total));
    const inputs = records.map((record) => ({ features: decodeFeatures(record.features), aesthetic: record.aesthetic.score, stock: record.stock.score }));
    const positives = inputs.filter((_, i) => list.samples[i].type === 'positive');
    const negatives = inputs.filter((_, i) => list.samples[i].type === 'negative');
    checkEnoughSamples(positives.length, negatives.length, options.num_clusters);
    return { tag, backbone: this.backbone, featureLength: this.featureLength, positives, negatives, samplesDigest: samplesDigest(list.samples) };
  }

  private async saveModel(tag: string, json: TagModelJson): Promise<void> {
    const model = TagModel.fromJSON(json);
    await this.tagLocks.run(tag, async () => {
      if (!(await this.readSamples(tag))) throw new TagsmithError('unknown_tag', `Tag "${tag}" was removed while it trained.`);
      await writeJsonAtomic(this.layout.model(tag), json);
      this.models.set(tag, model);
      this.foreignModels.delete(tag);
    });
  }

  private scoreTags(embedding: EmbeddingRecord, tags: string[]): Record<string, TagScore> {
    const features = featuresOf(embedding);
    const input = { features, aesthetic: embedding.aesthetic.score, stock: embedding.stock.score };
    const prepared: PreparedFeatures = new Map();
    return Object.fromEntries(tags.sort((a, b) => a.localeCompare(b)).map((tag) => [tag, this.models.get(tag)!.score(input, prepared)]));
  }

  private async loadState(): Promise<void> {
    const loaded = await this.readGeneration(this.layout.generation);
    await this.installState(loaded);
  }

  /** Reads and checks every record of a generation folder (a restored archive is untrusted). */
  private async readGeneration(dir: string): Promise<LoadedState> {
    const tagsDir = path.join(dir, 'tags');
    const lists: SampleListJson[] = [];
    const models: TagModel[] = [];
    const foreignModels = new Map<string, string>();
    for (const entry of await fs.readdir(tagsDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) throw new TagsmithError('invalid_archive', `tags/${entry.name} is not a folder.`);
      validateTag(entry.name);
      const list = await readJson<unknown>(path.join(tagsDir, entry.name, 'samples.json')).catch(() => {
        throw new TagsmithError('invalid_archive', `tags/${entry.name}/samples.json does not parse.`);
      });
      if (list !== undefined) {
        const checked = checkSampleList(list, `tags/${entry.name}/samples.json`);
        if (checked.tag !== entry.name) throw new TagsmithError('invalid_archive', `tags/${entry.name}/samples.json names tag ${checked.tag}.`);
        for (const sample of checked.samples) {
          if (!(await exists(path.join(dir, 'images', sample.id)))) throw new TagsmithError('invalid_archive', `Sample ${sample.id} of ${entry.name} has no image.`);
          const features = path.join(dir, 'features', this.backbone, `${sample.id}.json`);
          const record = await readJson<unknown>(features).catch(() => {
            throw new TagsmithError('invalid_archive', `The features of sample ${sample.id} do not parse.`);
          });
          // Missing features (a state made with another backbone) are computed again from the image.
          if (record !== undefined) checkEmbedding(record, `features/${this.backbone}/${sample.id}.json`, this.featureLength);
        }
        lists.push(checked);
      }
      const modelJson = await readJson<unknown>(path.join(tagsDir, entry.name, 'model.json')).catch(() => {
        throw new TagsmithError('invalid_archive', `tags/${entry.name}/model.json does not parse.`);
      });
      if (modelJson !== undefined) {
        const model = TagModel.fromJSON(modelJson, `tags/${entry.name}/model.json`);
        // Its weights fit another backbone's vectors: not served until the tag is trained again.
        if (model.backbone !== this.backbone) foreignModels.set(model.tag, model.backbone);
        else models.push(model);
      }
    }
    const tasks: TaskRecord[] = [];
    for (const file of await fs.readdir(path.join(dir, 'tasks'))) {
      if (file.includes(TEMP_MARKER)) continue;
      const value = await readJson<unknown>(path.join(dir, 'tasks', file)).catch(() => undefined);
      if (value !== undefined) tasks.push(checkTask(value, `tasks/${file}`));
    }
    return { lists, models, foreignModels, tasks };
  }

  private async installState(loaded: LoadedState): Promise<void> {
    this.models.clear();
    for (const model of loaded.models) this.models.set(model.tag, model);
    this.foreignModels.clear();
    for (const [tag, backbone] of loaded.foreignModels) this.foreignModels.set(tag, backbone);
    await this.tasks.restore(loaded.tasks);
  }
}

interface LoadedState {
  lists: SampleListJson[];
  models: TagModel[];
  foreignModels: Map<string, string>;
  tasks: TaskRecord[];
}

function retrainReason(trainedOn: string, runs: string): string {
  return `Trained on backbone ${trainedOn}; this engine runs ${runs}: train again to use it.`;
}

function newSampleList(tag: string): SampleListJson {
  return { name: 'tagsmith-samples', formatVersion: 1, tag, samples: [] };
}

function checkSampleType(type: string): asserts type is SampleType {
  if (!SAMPLE_TYPES.includes(type as SampleType)) {
    throw new TagsmithError('bad_request', `Sample type must be "positive" or "negative"; got ${JSON.stringify(type)}.`);
  }
}

/** Keeps only the base name, without control characters, at most 255 characters. */
function cleanFileName(name: string): string {
  return path.basename(name.replace(/\\/g, '/')).replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
}

export function samplesDigest(samples: SampleRecord[]): string {
  return sha256(Buffer.from(samples.map((s) => `${s.type}:${s.id}`).sort().join('\n')));
}

function baseScores(embedding: EmbeddingRecord): BaseScores {
  return { nsfw: embedding.nsfw, aesthetic: embedding.aesthetic, stock: embedding.stock };
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}
