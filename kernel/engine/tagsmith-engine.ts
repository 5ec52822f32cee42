// The engine: one coordinator over the stores of a state folder. It holds the locks and the
// order they are taken in, and is what the HTTP server, the CLI and the tests call; the work
// itself is the stores' (samples, embeddings, models, tasks). It never imports `vscode`.
//
// Locks, always taken in this order, never the other way round:
//   stateLock    shared by every request; alone only to swap in a restored state
//   tagLocks     one per tag: its samples list and model change one writer at a time
//   filesLock    sample files against their lists: an add holds it shared from storing its
//                files until its list is written (and so does anything reading listed
//                samples' files); a sweep of unlisted files holds it alone, so it never
//                deletes what an add is about to list
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  taskView, type AddSampleResult, type CleanResult, type EngineCounts, type FeaturesDocument, type FeaturesPrediction, type Prediction, type RestoreResult,
  type SampleListing, type TagSummary, type TaskView,
} from '../api/wire-types';
import { TagsmithError } from '../errors';
import { THUMBNAIL_DEFAULT, THUMBNAIL_MAX, THUMBNAIL_MIN } from '../rules';
import { FeatureExtractor, type FeatureExtractorOptions } from '../features/feature-extractor';
import { NsfwHead } from '../features/nsfw-head';
import { writeJsonAtomic } from '../state/atomic-file';
import { EngineLock } from '../state/engine-lock';
import { FeatureCache } from '../state/feature-cache';
import { loadGeneration, type GenerationContents } from '../state/generation-loader';
import { KeyedMutex, ReadWriteLock } from '../state/keyed-lock';
import { validateBackboneId, validateTag } from '../state/path-names';
import type { RunningBackbone } from '../state/read-generation';
import type { EmbeddingRecord, SampleRecord, SampleType, TagModelJson, TaskRecord } from '../state/record-schemas';
import { sweepThumbnails } from '../state/sample-files';
import { GenerationLayout, StateLayout } from '../state/state-layout';
import { createStateArchive, restoreStateArchive, snapshotState, syncTree } from '../state/state-archive';
import { checkEmbedding, checkTagModel, checkTask, decodeFeatures } from '../state/stored-records';
import { TagModel, type TagScore } from '../training/tag-model';
import { checkEnoughSamples, type TrainingData } from '../training/train-tag';
import { validateTrainOptions, type TrainOptions } from '../training/train-options';
import { EmbeddingCache } from './embedding-cache';
import { Embedder, featuresOf, sha256 } from './embedder';
import { parseFeaturesDocument } from './features-document';
import { ModelRegistry } from './model-registry';
import { checkSampleType, newSample, newSampleList, SampleStore, samplesDigest } from './sample-store';
import { checkPrediction, checkTagScores } from './score-check';
import { TrainingQueue } from './training-queue';

export type { AddSampleResult, Prediction, TagSummary };
export { samplesDigest } from './sample-store';

/** Default bound of the scans' feature cache: about 270,000 images' embeddings. */
export const DEFAULT_FEATURE_CACHE_BYTES = 2 * 1024 ** 3;

export interface EngineOptions extends FeatureExtractorOptions {
  stateDir: string;
  /** Largest size of the scans' feature cache (default DEFAULT_FEATURE_CACHE_BYTES). */
  featureCacheBytes?: number;
  /** Test seams (see EngineHooks). */
  hooks?: EngineHooks;
}

/**
 * Points where a test can watch or hold the engine, to check an order of events without
 * depending on timing. An add and a sweep of unlisted sample files meet at the sample-files
 * lock: `waiting` is called just before one asks for it (its request is queued when the call
 * returns); `holding` is awaited while it holds it: an add with the image and embedding stored
 * and its samples list not yet written, a sweep with the lists read and nothing deleted.
 * `beforeTraining` is awaited as a training task starts loading its samples.
 */
export interface EngineHooks {
  waiting?(who: 'add' | 'sweep', ids: string[]): void;
  holding?(who: 'add' | 'sweep', ids: string[]): Promise<void> | void;
  beforeTraining?(tag: string): Promise<void> | void;
}

export class TagsmithEngine {
  private readonly stateLock = new ReadWriteLock();
  private readonly tagLocks = new KeyedMutex();
  private readonly filesLock = new ReadWriteLock();
  private readonly samples: SampleStore;
  private readonly embeddings: EmbeddingCache;
  private readonly models: ModelRegistry;
  private readonly tasks: TrainingQueue;

  private constructor(
    private readonly layout: StateLayout,
    private readonly lock: EngineLock,
    private readonly embedder: Embedder,
    private readonly head: NsfwHead | undefined,
    featureCache: FeatureCache<EmbeddingRecord>,
    options: EngineOptions,
    private readonly hooks: EngineHooks = options.hooks ?? {},
  ) {
    this.samples = new SampleStore(layout);
    this.embeddings = new EmbeddingCache(embedder, this.samples, featureCache, (work) => this.filesLock.read(work));
    this.models = new ModelRegistry(embedder.backbone);
    this.tasks = new TrainingQueue(
      {
        loadTrainingData: (tag, trainOptions, onProgress) => this.stateLock.read(() => this.trainingData(tag, trainOptions, onProgress)),
        saveModel: (tag, json) => this.stateLock.read(() => this.saveModel(tag, json)),
        saveTask: (task) => this.saveTask(task),
      },
      { threads: options.threads },
    );
  }

  /** Opens a state folder (creating it), taking its lock: a second engine on the same folder is refused. */
  static async open(options: EngineOptions): Promise<TagsmithEngine> {
    const root = path.resolve(options.stateDir);
    await fs.mkdir(root, { recursive: true });
    const lock = await EngineLock.acquire(root);
    try {
      const layout = await StateLayout.open(root);
      await layout.collectGarbage();
      const extractor = await FeatureExtractor.create(options);
      validateBackboneId(extractor.backboneId);
      const running = { backbone: extractor.backboneId, featureLength: extractor.featureLength };
      const featureCache = await FeatureCache.open<EmbeddingRecord>(layout.featureCache, {
        maxBytes: options.featureCacheBytes ?? DEFAULT_FEATURE_CACHE_BYTES,
        check: (value) => checkEmbedding(value, 'feature cache entry', running),
      });
      const head = await NsfwHead.create(options.modelsDir, options.backbone);
      const engine = new TagsmithEngine(layout, lock, new Embedder(extractor), head, featureCache, options);
      await engine.loadState();
      return engine;
    } catch (error) {
      await lock.release();
      throw error;
    }
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

  /** Tells a second engine that would open this folder where this one answers. */
  announceUrl(url: string): Promise<void> {
    return this.lock.setUrl(url);
  }

  // ── samples ────────────────────────────────────────────────────────────────────────

  async addSample(type: SampleType | string, tag: string, bytes: Uint8Array, options: { fileName?: string } = {}): Promise<AddSampleResult> {
    checkSampleType(type);
    validateTag(tag);
    const id = sha256(bytes);
    // Embed outside the locks: it is the slow part and needs no state.
    const embedding = await this.embeddings.forNewSample(id, bytes);
    return this.stateLock.read(() =>
      this.tagLocks.run(tag, async () => {
        this.hooks.waiting?.('add', [id]);
        return this.filesLock.read(async () => {
          const list = (await this.samples.readList(tag)) ?? newSampleList(tag);
          const existing = list.samples.find((s) => s.id === id);
          if (existing && existing.type !== type) {
            throw new TagsmithError('conflicting_sample', `This image is already a ${existing.type} sample of "${tag}"; move it instead of adding it as ${type}.`);
          }
          if (existing) return { tag, type, sample: existing, added: false };
          // Image and embedding first, the list last: a crash never lists a sample without them.
          await this.samples.storeImage(id, bytes);
          await this.samples.storeEmbedding(id, embedding);
          await this.hooks.holding?.('add', [id]);
          const sample = newSample(id, type, options.fileName);
          list.samples.push(sample);
          await this.samples.writeList(list);
          return { tag, type, sample, added: true };
        });
      }),
    );
  }

  /** Removes a sample from a tag; its files go too once no tag lists it. */
  async removeSample(tag: string, id: string): Promise<void> {
    validateTag(tag);
    await this.stateLock.read(async () => {
      await this.tagLocks.run(tag, () => this.samples.changeSample(tag, id, (list, index) => list.samples.splice(index, 1)));
      await this.deleteUnlisted([id]);
    });
  }

  async moveSample(tag: string, id: string, to: SampleType | string | undefined): Promise<SampleRecord> {
    checkSampleType(to);
    validateTag(tag);
    const type = to;
    let moved: SampleRecord | undefined;
    await this.stateLock.read(() =>
      this.tagLocks.run(tag, () =>
        this.samples.changeSample(tag, id, (list, index) => {
          moved = { ...list.samples[index], type };
          list.samples[index] = moved;
        }),
      ),
    );
    return moved!;
  }

  async listTags(): Promise<TagSummary[]> {
    return this.stateLock.read(async () =>
      (await this.samples.allLists()).map((list) => {
        const positives = list.samples.filter((s) => s.type === 'positive').length;
        return { tag: list.tag, positives, negatives: list.samples.length - positives, ...this.models.describe(list.tag, list.samples) };
      }),
    );
  }

  async listSamples(tag: string): Promise<SampleListing> {
    validateTag(tag);
    return this.stateLock.read(async () => {
      const list = await this.samples.requireList(tag);
      return { tag, positives: list.samples.filter((s) => s.type === 'positive'), negatives: list.samples.filter((s) => s.type === 'negative') };
    });
  }

  /** The original bytes of a sample image. */
  async sampleImage(id: string): Promise<Buffer> {
    this.layout.image(id); // refuses a malformed id before any lock or file
    return this.stateLock.read(() => this.samples.readImage(id));
  }

  /** A small WebP of a sample, its longest side `size` pixels (clamped to THUMBNAIL_MIN–THUMBNAIL_MAX). */
  async thumbnail(id: string, size = THUMBNAIL_DEFAULT): Promise<Buffer> {
    const side = Math.min(THUMBNAIL_MAX, Math.max(THUMBNAIL_MIN, Math.round(size)));
    this.layout.thumbnail(id, side); // refuses a malformed id or size before any lock or file
    return this.stateLock.read(() => this.samples.thumbnail(id, side));
  }

  // ── training ───────────────────────────────────────────────────────────────────────

  /** Queues a training run and returns its task at once; `status` follows it. */
  async train(tag: string, partial: Partial<TrainOptions> = {}): Promise<TaskView> {
    validateTag(tag);
    const options = validateTrainOptions(partial);
    return this.stateLock.read(async () => {
      const list = await this.samples.requireList(tag);
      const positives = list.samples.filter((s) => s.type === 'positive').length;
      checkEnoughSamples(positives, list.samples.length - positives, options.num_clusters);
      return taskView(await this.tasks.enqueue(tag, options));
    });
  }

  status(taskId: string): TaskView {
    return taskView(this.tasks.status(taskId));
  }

  /** Tasks, oldest first (only a tag's, if given). */
  listTasks(tag?: string): TaskView[] {
    return this.tasks.list(tag).map(taskView);
  }

  async cancelTask(taskId: string): Promise<TaskView> {
    return taskView(await this.tasks.cancel(taskId));
  }

  /** Calls `listener` with every change of a task; returns the function that stops it. */
  onTaskChange(listener: (task: TaskView) => void): () => void {
    return this.tasks.onChange((task) => listener(taskView(task)));
  }

  /** Resolves once no task is queued or running. */
  whenIdle(): Promise<void> {
    return this.tasks.whenIdle();
  }

  /** Threads a training task's fits use (0: every core); read as each task starts. */
  set trainingThreads(threads: number | undefined) {
    this.tasks.threads = threads;
  }

  // ── prediction ─────────────────────────────────────────────────────────────────────

  async predict(bytes: Uint8Array): Promise<Prediction> {
    const embedding = await this.embeddings.forPrediction(bytes);
    return checkPrediction({ base: baseScores(embedding), custom: this.models.score(scoringInput(embedding)) });
  }

  async predictCustom(bytes: Uint8Array, tag?: string): Promise<Record<string, TagScore>> {
    const tags = tag === undefined ? undefined : [this.models.require(validateTag(tag)).tag];
    return checkTagScores(this.models.score(scoringInput(await this.embeddings.forPrediction(bytes)), tags));
  }

  async getFeatures(bytes: Uint8Array): Promise<FeaturesDocument> {
    const embedding = await this.embeddings.forPrediction(bytes);
    return {
      name: 'tagsmith-features',
      formatVersion: 1,
      backbone: embedding.backbone,
      features: Array.from(featuresOf(embedding)),
      aesthetic: embedding.aesthetic,
      stock: embedding.stock,
    };
  }

  async predictByFeatures(value: unknown): Promise<FeaturesPrediction> {
    const doc = parseFeaturesDocument(value, this.running);
    const custom = this.models.scoreDocument(doc);
    const nsfw = this.head ? await this.head.score(doc.features) : {};
    // Float32 values large enough to overflow the head's arithmetic: no image gives such a vector.
    if (!Object.values(nsfw).every(Number.isFinite)) {
      throw new TagsmithError('invalid_features', 'The features document has values far beyond any the backbone gives (the nsfw head overflows); send what /get_features returned.');
    }
    return checkPrediction({ base: { nsfw, aesthetic: doc.aesthetic, stock: doc.stock }, custom });
  }

  // ── removal ────────────────────────────────────────────────────────────────────────

  /** Removes a tag's model and samples (or only the model with keepSamples); sample files no tag lists go too. */
  async clean(tag: string, options: { keepSamples?: boolean } = {}): Promise<CleanResult> {
    validateTag(tag);
    return this.stateLock.read(async () => {
      const { result, dropped } = await this.tagLocks.run(tag, async () => {
        const list = await this.samples.readList(tag);
        const hadModel = this.models.delete(tag);
        if (!list && !hadModel) throw new TagsmithError('unknown_tag', `There is no tag "${tag}".`);
        if (options.keepSamples) {
          await fs.rm(this.layout.model(tag), { force: true });
          return { result: { tag, removedSamples: 0, removedModel: hadModel }, dropped: [] };
        }
        await this.samples.removeTagFolder(tag);
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
  async setState(archive: Readable): Promise<RestoreResult> {
    const busy = () => new TagsmithError('busy', 'A training task is running; restore the state when it has finished.');
    if (this.tasks.busy) throw busy();
    const generation = await StateLayout.createGeneration(this.layout.tmp, true);
    try {
      await restoreStateArchive(archive, generation, `${generation}.upload.tar`);
      await StateLayout.ensureFolders(generation);
      // Every file is checked, and the new folder settled, before it may become the state.
      const loaded = await loadGeneration(new GenerationLayout(generation), this.running, { verifyImages: true });
      await syncTree(generation);
      return await this.stateLock.write(async () => {
        // A task may have started while the upload came in.
        if (this.tasks.busy) throw busy();
        await this.layout.activate(generation);
        this.install(loaded);
        // The swap is done; the cache is only tidied (thumbnails are served only for samples anyway).
        await sweepThumbnails(this.layout.thumbnails, (id) => loaded.listed.has(id)).catch(() => undefined);
        return { tags: loaded.lists.length, samples: loaded.lists.reduce((n, l) => n + l.samples.length, 0) };
      });
    } catch (error) {
      await fs.rm(generation, { recursive: true, force: true });
      throw error;
    }
  }

  // ── health ─────────────────────────────────────────────────────────────────────────

  async counts(): Promise<EngineCounts> {
    return this.stateLock.read(async () => {
      const lists = await this.samples.allLists();
      return {
        tags: lists.length,
        trainedTags: this.models.size,
        samples: lists.reduce((n, l) => n + l.samples.length, 0),
        images: new Set(lists.flatMap((l) => l.samples.map((s) => s.id))).size,
        tasksRunning: this.tasks.busy,
      };
    });
  }

  async close(): Promise<void> {
    try {
      await this.tasks.stop();
      await this.embedder.extractor.release();
      await this.head?.release();
    } finally {
      await this.lock.release();
    }
  }

  // ── internals ──────────────────────────────────────────────────────────────────────

  private get running(): RunningBackbone {
    return this.embeddings.running;
  }

  /**
   * Deletes the files of samples no list names any more (their lists are on disk already).
   * The caller holds the state lock (shared) and no tag lock.
   */
  private async deleteUnlisted(candidates: string[]): Promise<void> {
    if (candidates.length === 0) return;
    this.hooks.waiting?.('sweep', candidates);
    await this.filesLock.write(async () => {
      const listed = new Set((await this.samples.allLists()).flatMap((l) => l.samples.map((s) => s.id)));
      const unlisted = candidates.filter((id) => !listed.has(id));
      await this.hooks.holding?.('sweep', unlisted);
      await this.samples.deleteFiles(unlisted);
    });
  }

  private async trainingData(tag: string, options: TrainOptions, onProgress: (stage: string, progress: number) => void = () => {}): Promise<TrainingData> {
    await this.hooks.beforeTraining?.(tag);
    // The list and the stored embeddings as one moment of the state (no sweep in between).
    const list = await this.filesLock.read(() => this.samples.requireList(tag));
    const records = await this.embeddings.forSamples(list, (done, total) => onProgress(`embedding samples for ${this.backbone}`, done / total));
    const inputs = records.map(scoringInput);
    const positives = inputs.filter((_, i) => list.samples[i].type === 'positive');
    const negatives = inputs.filter((_, i) => list.samples[i].type === 'negative');
    checkEnoughSamples(positives.length, negatives.length, options.num_clusters);
    return { tag, ...this.running, positives, negatives, samplesDigest: samplesDigest(list.samples) };
  }

  private async saveModel(tag: string, json: TagModelJson): Promise<void> {
    // The worker's output is checked with the schema every reader of model.json uses.
    const model = TagModel.fromJSON(asWritable(() => checkTagModel(json, `tags/${tag}/model.json`, { tag, ...this.running })));
    await this.tagLocks.run(tag, async () => {
      if (!(await this.samples.readList(tag))) throw new TagsmithError('unknown_tag', `Tag "${tag}" was removed while it trained.`);
      await writeJsonAtomic(this.layout.model(tag), json);
      this.models.set(model);
    });
  }

  private async saveTask(task: TaskRecord): Promise<void> {
    const file = this.layout.task(task.task_id);
    // What is checked is what gets written: the record as JSON.
    await writeJsonAtomic(file, asWritable(() => checkTask(JSON.parse(JSON.stringify(task)), this.layout.current.relative(file), { taskId: task.task_id })));
  }

  /** At start-up: the current generation, checked and settled like a restored one. */
  private async loadState(): Promise<void> {
    const loaded = await loadGeneration(this.layout.current, this.running);
    this.install(loaded);
    await sweepThumbnails(this.layout.thumbnails, (id) => loaded.listed.has(id));
  }

  /** Makes checked contents the engine's: models served (or kept for another backbone), task history. */
  private install(loaded: GenerationContents): void {
    this.models.install(loaded.models);
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

function scoringInput(record: EmbeddingRecord): { features: Float32Array; aesthetic: number; stock: number } {
  return { features: decodeFeatures(record.features), aesthetic: record.aesthetic.score, stock: record.stock.score };
}

function baseScores(embedding: EmbeddingRecord): Prediction['base'] {
  return { nsfw: embedding.nsfw, aesthetic: embedding.aesthetic, stock: embedding.stock };
}
