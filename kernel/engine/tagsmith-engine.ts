// The engine: samples, training tasks, predictions and the state archive behind one API.
// The HTTP server, the CLI and the tests call this; it never imports `vscode`.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { TagsmithError } from '../errors';
import { FeatureExtractor, type FeatureExtractorOptions } from '../features/feature-extractor';
import { NsfwHead } from '../features/nsfw-head';
import { readJson, syncDirectory, writeFileAtomic, writeJsonAtomic } from '../state/atomic-file';
import { KeyedMutex, ReadWriteLock } from '../state/keyed-lock';
import { isValidTag, shownName, THUMBNAIL_MAX, THUMBNAIL_MIN, validateBackboneId, validateTag } from '../state/path-names';
import { readGeneration, type GenerationContents } from '../state/read-generation';
import type { EmbeddingRecord, SampleListJson, SampleRecord, SampleType, TagModelJson, TaskRecord } from '../state/record-schemas';
import { deleteSampleFiles, sweepGeneration, sweepThumbnails } from '../state/sample-files';
import { GenerationLayout, StateLayout } from '../state/state-layout';
import { createStateArchive, restoreStateArchive, snapshotState, syncTree } from '../state/state-archive';
import { checkEmbedding, checkSampleList, checkTagModel, checkTask, decodeFeatures, readRecordFile } from '../state/stored-records';
import { TagModel, type PreparedFeatures, type TagScore } from '../training/tag-model';
import { checkEnoughSamples, type TrainingData } from '../training/train-tag';
import { validateTrainOptions, type TrainOptions } from '../training/train-options';
import type { BaseScores } from '../scores/base-scores';
import { Embedder, featuresOf, sha256 } from './embedder';
import { concurrencyLimit } from './concurrency-limit';
import { parseFeaturesDocument, type FeaturesDocument } from './features-document';
import { checkPrediction, checkTagScores } from './score-check';
import { interruptedTask, TrainingQueue } from './training-queue';
import { makeThumbnail } from './thumbnails';

export interface EngineOptions extends FeatureExtractorOptions {
  stateDir: string;
  /** Test seams (see SampleFilesHooks). */
  hooks?: SampleFilesHooks;
}

/**
 * Where an add and a sweep of unlisted sample files meet; both take the sample-files lock.
 * `waiting` is called just before one asks for the lock (its request is queued when the call
 * returns); `holding` is awaited while it holds the lock: an add with the image and embedding
 * stored and its samples list not yet written, a sweep with the lists read and nothing deleted.
 */
export interface SampleFilesHooks {
  waiting?(who: 'add' | 'sweep', ids: string[]): void;
  holding?(who: 'add' | 'sweep', ids: string[]): Promise<void> | void;
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
  /**
   * Sample files (images, embeddings) against their lists. An add holds it shared from storing
   * its files until its list is written, and so does anything that reads listed samples' files;
   * a sweep of unlisted files holds it alone, so it never deletes what an add is about to list.
   * Taken inside the state lock and a tag's lock, never the other way round.
   */
  private readonly filesLock = new ReadWriteLock();
  readonly tasks: TrainingQueue;

  private constructor(
    private readonly layout: StateLayout,
    private readonly embedder: Embedder,
    private readonly head: NsfwHead | undefined,
    private readonly hooks: SampleFilesHooks = {},
  ) {
    this.tasks = new TrainingQueue({
      loadTrainingData: (tag, options, onProgress) => this.stateLock.read(() => this.trainingData(tag, options, onProgress)),
      saveModel: (tag, json) => this.stateLock.read(() => this.saveModel(tag, json)),
      saveTask: (task) => this.saveTask(task),
    });
  }

  static async open(options: EngineOptions): Promise<TagsmithEngine> {
    const layout = await StateLayout.open(path.resolve(options.stateDir));
    await layout.collectGarbage();
    const extractor = await FeatureExtractor.create(options);
    validateBackboneId(extractor.backboneId);
    const engine = new TagsmithEngine(layout, new Embedder(extractor), await NsfwHead.create(options.modelsDir, options.backbone), options.hooks);
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
        this.hooks.waiting?.('add', [id]);
        return this.filesLock.read(async () => {
          const list = (await this.readSamples(tag)) ?? newSampleList(tag);
          const existing = list.samples.find((s) => s.id === id);
          if (existing && existing.type !== type) {
            throw new TagsmithError('conflicting_sample', `This image is already a ${existing.type} sample of "${tag}"; move it instead of adding it as ${type}.`);
          }
          if (existing) return { tag, type, sample: existing, added: false };
          // Image and embedding first, the list last: a crash never lists a sample without them.
          await this.storeImage(id, bytes);
          await this.storeEmbedding(id, embedding);
          await this.hooks.holding?.('add', [id]);
          const sample: SampleRecord = { id, type, addedAt: new Date().toISOString(), ...(options.fileName ? { fileName: cleanFileName(options.fileName) } : {}) };
          list.samples.push(sample);
          await fs.mkdir(this.layout.tagDir(tag), { recursive: true });
          await writeJsonAtomic(this.layout.samples(tag), list);
          return { tag, type, sample, added: true };
        });
      }),
    );
  }

  /** Removes a sample from a tag; its files go too once no tag lists it. */
  async removeSample(tag: string, id: string): Promise<void> {
    validateTag(tag);
    await this.stateLock.read(async () => {
      await this.tagLocks.run(tag, () => this.changeSampleLocked(tag, id, (list, index) => list.samples.splice(index, 1)));
      await this.deleteUnlisted([id]);
    });
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
    this.layout.image(id); // refuses a malformed id before any file is touched
    return this.stateLock.read(() => readSampleImage(this.layout.image(id), id));
  }

  /** A small WebP of a sample (cached; derived data, not part of the archive). */
  async thumbnail(id: string, size = 256): Promise<Buffer> {
    const side = Math.min(THUMBNAIL_MAX, Math.max(THUMBNAIL_MIN, Math.round(size)));
    const file = this.layout.thumbnail(id, side); // refuses a malformed id or size before any file is touched
    return this.stateLock.read(async () => {
      const image = this.layout.image(id);
      // The cache outlives samples and restores: serve it only for a sample of this state.
      if (!(await exists(image))) throw new TagsmithError('unknown_sample', `There is no sample ${id}.`);
      const cached = await fs.readFile(file).catch(() => undefined);
      if (cached) return cached;
      const thumbnail = await makeThumbnail(await readSampleImage(image, id), side);
      await writeFileAtomic(file, thumbnail);
      return thumbnail;
    });
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

  /** Removes a tag's model and samples (or only the model with keepSamples); sample files no tag lists go too. */
  async clean(tag: string, options: { keepSamples?: boolean } = {}): Promise<{ tag: string; removedSamples: number; removedModel: boolean }> {
    validateTag(tag);
    return this.stateLock.read(async () => {
      const { result, dropped } = await this.tagLocks.run(tag, async () => {
        const list = await this.readSamples(tag);
        const hadModel = this.models.has(tag) || this.foreignModels.has(tag);
        if (!list && !hadModel) throw new TagsmithError('unknown_tag', `There is no tag "${tag}".`);
        this.models.delete(tag);
        this.foreignModels.delete(tag);
        if (options.keepSamples) {
          await fs.rm(this.layout.model(tag), { force: true });
          return { result: { tag, removedSamples: 0, removedModel: hadModel }, dropped: [] };
        }
        // One rename takes the whole tag away atomically, made durable before any of its
        // samples' files may go; the folder is deleted afterwards.
        const trash = this.layout.trash(tag);
        await fs.rename(this.layout.tagDir(tag), trash).catch(() => undefined);
        await syncDirectory(this.layout.tagsDir());
        await fs.rm(trash, { recursive: true, force: true });
        return { result: { tag, removedSamples: list?.samples.length ?? 0, removedModel: hadModel }, dropped: list?.samples.map((s) => s.id) ?? [] };
      });
      await this.deleteUnlisted(dropped);
      return result;
    });
  }

  // ── state archive ──────────────────────────────────────────────────────────────────

  /** A tar of the whole state, taken from a snapshot so work can go on while it downloads. */
  async getState(): Promise<Readable> {
    const snapshot = path.join(this.layout.tmp, `snapshot-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    // With the files lock, no sweep deletes an image between its list and itself being linked.
    await this.stateLock.read(() => this.filesLock.read(() => snapshotState(this.layout.generation, snapshot)));
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
      await StateLayout.ensureFolders(generation);
      // Every file is checked, and the new folder settled, before it may become the state.
      const loaded = await this.prepareGeneration(new GenerationLayout(generation), { verifyImages: true });
      await syncTree(generation);
      return await this.stateLock.write(async () => {
        // A task may have started while the upload came in.
        if (this.tasks.busy) throw busy();
        await this.layout.activate(generation);
        this.installState(loaded);
        // The swap is done; the cache is only tidied (thumbnails are served only for samples anyway).
        await sweepThumbnails(this.layout.thumbnails, (id) => loaded.listed.has(id)).catch(() => undefined);
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
    const file = this.layout.features(this.backbone, id);
    const stored = await readJson<unknown>(file).catch(() => undefined);
    if (stored) {
      try {
        return checkEmbedding(stored, this.layout.current.relative(file), this.running);
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
  private async storedEmbeddings(tag: string, onEmbedded: (done: number, total: number) => void = () => {}): Promise<{ list: SampleListJson; records: EmbeddingRecord[] }> {
    const read = async (id: string) => {
      const file = this.layout.features(this.backbone, id);
      const stored = await readRecordFile(file, this.layout.current.relative(file));
      return stored === undefined ? undefined : checkEmbedding(stored, this.layout.current.relative(file), this.running);
    };
    // The list and the stored embeddings as one moment of the state (no sweep in between).
    const { list, records } = await this.filesLock.read(async () => {
      const current = await this.requireSamples(tag);
      return { list: current, records: await Promise.all(current.samples.map((s) => read(s.id))) };
    });
    const ids = list.samples.map((s) => s.id);
    const missing = ids.flatMap((id, i) => (records[i] ? [] : [i]));
    let done = 0;
    let failure: unknown;
    const limit = concurrencyLimit(2);
    await Promise.all(missing.map((i) => limit(async () => {
      if (failure) return; // an image failed, or the task was cancelled: start no more
      try {
        const image = this.layout.image(ids[i]);
        const bytes = await this.filesLock.read(() => fs.readFile(image).catch(() => undefined));
        if (!bytes) throw new TagsmithError('conflicting_sample', `Sample ${ids[i]} was removed while "${tag}" was being trained; train again.`);
        const record = await this.embedder.embed(bytes, ids[i]);
        // Stored only while the sample still has its image (not removed meanwhile).
        await this.filesLock.read(async () => {
          if (await exists(image)) await this.storeEmbedding(ids[i], record);
        });
        records[i] = record;
        onEmbedded(++done, missing.length);
      } catch (error) {
        failure ??= error;
      }
    })));
    if (failure) throw failure;
    return { list, records: records as EmbeddingRecord[] };
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
    await this.stateLock.read(() => this.tagLocks.run(tag, () => this.changeSampleLocked(tag, id, change)));
  }

  /** Rewrites a tag's list; the caller holds the state lock (read) and the tag's lock. */
  private async changeSampleLocked(tag: string, id: string, change: (list: SampleListJson, index: number) => void): Promise<void> {
    const list = await this.requireSamples(tag);
    const index = list.samples.findIndex((s) => s.id === id);
    if (index < 0) throw new TagsmithError('unknown_sample', `Tag "${tag}" has no sample ${shownName(id)}.`);
    change(list, index);
    await writeJsonAtomic(this.layout.samples(tag), list);
  }

  /**
   * Deletes the files of samples no list names any more (their lists are on disk already).
   * The caller holds the state lock (read) and no tag lock.
   */
  private async deleteUnlisted(candidates: string[]): Promise<void> {
    if (candidates.length === 0) return;
    this.hooks.waiting?.('sweep', candidates);
    await this.filesLock.write(async () => {
      const listed = new Set<string>();
      for (const tag of await this.tagNames()) for (const s of (await this.readSamples(tag))?.samples ?? []) listed.add(s.id);
      const unlisted = candidates.filter((id) => !listed.has(id));
      await this.hooks.holding?.('sweep', unlisted);
      await deleteSampleFiles(this.layout.current, this.layout.thumbnails, unlisted);
    });
  }

  private async readSamples(tag: string): Promise<SampleListJson | undefined> {
    const file = this.layout.samples(tag);
    const value = await readRecordFile(file, this.layout.current.relative(file));
    return value === undefined ? undefined : checkSampleList(value, this.layout.current.relative(file), tag);
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
    for (const e of entries) if (e.isDirectory() && isValidTag(e.name) && (await exists(this.layout.samples(e.name)))) names.push(e.name);
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
    const { list, records } = await this.storedEmbeddings(tag, (done, total) => onProgress(`embedding samples for ${this.backbone}`, done / total));
    const inputs = records.map((record) => ({ features: decodeFeatures(record.features), aesthetic: record.aesthetic.score, stock: record.stock.score }));
    const positives = inputs.filter((_, i) => list.samples[i].type === 'positive');
    const negatives = inputs.filter((_, i) => list.samples[i].type === 'negative');
    checkEnoughSamples(positives.length, negatives.length, options.num_clusters);
    return { tag, backbone: this.backbone, featureLength: this.featureLength, positives, negatives, samplesDigest: samplesDigest(list.samples) };
  }

  private async saveModel(tag: string, json: TagModelJson): Promise<void> {
    // The worker's output is checked with the schema every reader of model.json uses.
    const model = TagModel.fromJSON(asWritable(() => checkTagModel(json, `tags/${tag}/model.json`, { tag, ...this.running })));
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

  private get running(): { backbone: string; featureLength: number } {
    return { backbone: this.backbone, featureLength: this.featureLength };
  }

  private async saveTask(task: TaskRecord): Promise<void> {
    const file = this.layout.task(task.task_id);
    // What is checked is what gets written: the record as JSON.
    await writeJsonAtomic(file, asWritable(() => checkTask(JSON.parse(JSON.stringify(task)), this.layout.current.relative(file), { taskId: task.task_id })));
  }

  /** At start-up: the current generation, checked and settled like a restored one. */
  private async loadState(): Promise<void> {
    const loaded = await this.prepareGeneration(this.layout.current);
    this.installState(loaded);
    await sweepThumbnails(this.layout.thumbnails, (id) => loaded.listed.has(id));
  }

  /**
   * Checks every file of a generation folder, then settles it in place: tasks a stopped
   * engine left queued or running are saved as failed (interrupted), and files of samples no
   * list names (what a crash between a list's write and the sweep leaves) are deleted.
   */
  private async prepareGeneration(gen: GenerationLayout, options: { verifyImages?: boolean } = {}): Promise<GenerationContents> {
    const contents = await readGeneration(gen, this.running, options);
    contents.tasks = await Promise.all(contents.tasks.map(async (task) => {
      const settled = interruptedTask(task);
      if (settled !== task) await writeJsonAtomic(gen.task(settled.task_id), settled);
      return settled;
    }));
    await sweepGeneration(gen, contents);
    return contents;
  }

  /** Makes checked contents the engine's: models served (or kept for another backbone), task history. */
  private installState(loaded: GenerationContents): void {
    this.models.clear();
    this.foreignModels.clear();
    for (const json of loaded.models) {
      // Its weights fit another backbone's vectors: not served until the tag is trained again.
      if (json.backbone !== this.backbone) this.foreignModels.set(json.tag, json.backbone);
      else this.models.set(json.tag, TagModel.fromJSON(json));
    }
    this.tasks.restore(loaded.tasks);
  }
}

/** A record the engine itself is about to write failed its schema: a bug, not the user's input. */
function asWritable<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw new TagsmithError('internal', `Refusing to write an invalid record: ${(error as Error).message}`, { cause: error });
  }
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

async function readSampleImage(file: string, id: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch {
    throw new TagsmithError('unknown_sample', `There is no sample ${id}.`);
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}
