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
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  taskView,
  type AddSampleResult,
  type CleanResult,
  type EngineCounts,
  type KeywordsStatus,
  type FeaturesDocument,
  type FeaturesPrediction,
  type Prediction,
  type ReloadResult,
  type RestoreResult,
  type SnapshotInfo,
  type ReviewQueue,
  type SampleListing,
  type SampleOrder,
  type SampleView,
  type ScanPage,
  type ScanQuery,
  type ScanView,
  type SidecarReport,
  type SimilarImages,
  type TagSummary,
  type TaskView,
} from '../api/wire-types';
import { TagsmithError } from '../errors';
import { THUMBNAIL_DEFAULT, THUMBNAIL_MAX, THUMBNAIL_MIN } from '../rules';
import { FeatureExtractor, type FeatureExtractorOptions } from '../features/feature-extractor';
import { NsfwHead } from '../features/nsfw-head';
import { unpackArchiveFile } from '../state/archive-file';
import { writeJsonAtomic } from '../state/atomic-file';
import { EngineLock } from '../state/engine-lock';
import { FeatureCache } from '../state/feature-cache';
import { loadGeneration, type GenerationContents } from '../state/generation-loader';
import { KeyedMutex, ReadWriteLock } from '../state/keyed-lock';
import { tagFolderClash, tagFolderKey, validateBackboneId, validateTag } from '../state/path-names';
import type { RunningBackbone } from '../state/read-generation';
import type { EmbeddingRecord, SampleListJson, SampleRecord, SampleType, TagModelJson, TaskRecord } from '../state/record-schemas';
import { sweepThumbnails } from '../state/sample-files';
import { GenerationLayout, StateLayout } from '../state/state-layout';
import { createStateArchive, restoreStateArchive, snapshotState, syncTree } from '../state/state-archive';
import { checkCurrentEmbedding, checkTagModel, checkTask, decodeFeatures } from '../state/stored-records';
import { ScanIndex } from '../scan/scan-index';
import { ScanStore } from '../scan/scan-store';
import type { ScanRunner } from '../scan/scanner';
import { TagModel, type ScoringInput, type TagScore } from '../training/tag-model';
import { checkEnoughSamples, type TrainingData } from '../training/train-tag';
import { validateTrainOptions, type TrainOptions } from '../training/train-options';
import { concurrencyLimit } from './concurrency-limit';
import { upgradeStoredCues } from './cue-upgrade';
import { EmbeddingCache } from './embedding-cache';
import { checkKeywordModels, keywordsModelMissing, openKeywordSource, type KeywordRecord, type KeywordSource } from './keyword-source';
import { Embedder, sha256 } from './embedder';
import { parseFeaturesDocument } from './features-document';
import { ModelRegistry } from './model-registry';
import { SampleSimilarity } from './sample-similarity';
import { DuplicateFinder, heldOutSuspicions } from './sample-suspicion';
import { ScanQueue } from './scan-queue';
import { ScanService, type ReviewQueueOptions, type ScanRows } from './scan-service';
import { checkSampleType, newSample, newSampleList, SampleStore, samplesDigest } from './sample-store';
import { checkPrediction, checkTagScores } from './score-check';
import { TrainingQueue } from './training-queue';

export type { AddSampleResult, Prediction, TagSummary };
export { samplesDigest } from './sample-store';

/** Default bound of the scans' feature cache: about 270,000 images' embeddings. */
export const DEFAULT_FEATURE_CACHE_BYTES = 2 * 1024 ** 3;

export interface EngineOptions extends FeatureExtractorOptions {
  /** The state folder (ignored with `stateArchive`). */
  stateDir: string;
  /**
   * A read-only replica: it serves a snapshot and changes nothing in it: no lock, no clean-up,
   * tasks settled in memory only, caches and temporary files in a private folder; every write
   * is refused (`read_only`). The snapshot is `stateArchive`, else the state folder read in place.
   */
  readOnly?: boolean;
  /** With `readOnly`: serve this archive (a /get_state tar), unpacked and checked into a private folder. */
  stateArchive?: string;
  /** Largest size of the scans' feature cache (default DEFAULT_FEATURE_CACHE_BYTES). */
  featureCacheBytes?: number;
  /** Largest size of the keyword cache (default DEFAULT_KEYWORD_CACHE_BYTES). */
  keywordCacheBytes?: number;
  /**
   * Folders scans may read (a server's --scan-root): paths outside them, and links inside them
   * that lead out, are refused. Undefined: anywhere (the engine of a local CLI run).
   */
  scanRoots?: readonly string[];
  /**
   * Runs folder scans elsewhere instead of in this process: `tagsmith serve --redis` hands them to
   * scan workers (cluster/distributed-scan.ts) with the same task, progress, cancel and results.
   */
  scanRunner?: ScanRunner;
  /** Test seams (see EngineHooks). */
  hooks?: EngineHooks;
}

/**
 * Points where a test can watch or hold the engine, to check an order of events without
 * depending on timing. An add and a sweep of unlisted sample files meet at the sample-files
 * lock: `waiting` is called just before one asks for it (its request is queued when the call
 * returns); `holding` is awaited while it holds it: an add with the image and embedding stored
 * and its samples list not yet written, a sweep with the lists read and nothing deleted.
 * `beforeTraining` is awaited as a training task starts loading its samples. `beforeScanEmbed` is
 * awaited before a scan hands an image's bytes to the network (files already known skip it).
 */
export interface EngineHooks {
  waiting?(who: 'add' | 'sweep', ids: string[]): void;
  holding?(who: 'add' | 'sweep', ids: string[]): Promise<void> | void;
  beforeTraining?(tag: string): Promise<void> | void;
  beforeScanEmbed?(sha256: string): Promise<void> | void;
}

export class TagsmithEngine {
  private readonly stateLock = new ReadWriteLock();
  /** Keyed by the tag's folder on a case-insensitive file system: `Bees` and `bees` wait for each other. */
  private readonly tagLocks = new KeyedMutex(tagFolderKey);
  private readonly filesLock = new ReadWriteLock();
  private readonly samples: SampleStore;
  private readonly embeddings: EmbeddingCache;
  private readonly models: ModelRegistry;
  private readonly tasks: TrainingQueue;
  private readonly scans: ScanQueue;
  private readonly scanning: ScanService;
  private readonly duplicates: DuplicateFinder;
  private scanIndex: Promise<ScanIndex> | undefined;
  /** A read-only replica's private folder and what it serves; undefined for an engine that owns its state. */
  private replica: { scratch: string; snapshot: SnapshotInfo } | undefined;
  /** Reloads of a replica, one at a time. */
  private readonly reloads = new KeyedMutex();

  private constructor(
    private readonly layout: StateLayout,
    private readonly lock: EngineLock | undefined,
    private readonly embedder: Embedder,
    private readonly head: NsfwHead | undefined,
    featureCache: FeatureCache<EmbeddingRecord>,
    private readonly scanRoots: readonly string[] | undefined,
    /** The keywords base model; undefined when it is not installed (`keywordsStatus` says how to get it). */
    private readonly keywords: KeywordSource | undefined,
    readonly keywordsStatus: KeywordsStatus,
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
    const scanStore = new ScanStore(layout.scans);
    this.duplicates = new DuplicateFinder(async (id) => {
      const record = await this.samples.readEmbedding(id, this.running).catch(() => undefined);
      return record && decodeFeatures(record.features);
    }, embedder.extractor.featureLength);
    this.scans = new ScanQueue({
      embeddings: {
        backbone: embedder.backbone,
        featureLength: embedder.extractor.featureLength,
        known: (id) => this.embeddings.known(id),
        embed: async (bytes, id, signal) => {
          await this.hooks.beforeScanEmbed?.(id);
          return this.embeddings.embedForScan(bytes, id, signal);
        },
        flush: () => {
          this.embeddings.flushCache();
          this.keywords?.flushCache();
        },
        keywords: this.keywords && ((id, bytes) => this.keywords!.of(bytes, id)),
        ...(this.keywords ? { keywordModel: this.keywords.model } : {}),
        keywordsWanted: () => this.models.all().some((m) => m.needs.keywords),
      },
      index: () => (this.scanIndex ??= ScanIndex.open(layout.scanIndex)),
      store: scanStore,
      within: scanRoots,
      runner: options.scanRunner,
    });
    this.scanning = new ScanService(this.scans, scanStore, new SampleSimilarity(this.samples), {
      running: this.embeddings.running,
      nsfwLabels: embedder.extractor.labels,
      scanRoots,
      models: this.models,
      readList: (tag) => this.stateLock.read(() => this.samples.readList(tag)),
      requireList: (tag) => this.stateLock.read(() => this.samples.requireList(tag)),
      allLists: () => this.stateLock.read(() => this.samples.allLists()),
      sampleEmbedding: (id) => this.stateLock.read(() => this.samples.readEmbedding(id, this.running)),
      storedSampleInputs: (tag, withKeywords) => this.stateLock.read(() => this.sampleInputs(tag, withKeywords, { embedMissing: false })),
      embedForQuery: (bytes) => this.embeddings.forPrediction(bytes),
    });
  }

  /** Opens a state folder (creating it), taking its lock: a second engine on the same folder is refused. */
  static async open(options: EngineOptions): Promise<TagsmithEngine> {
    if (options.readOnly) return TagsmithEngine.openReadOnly(options);
    if (options.stateArchive)
      throw new TagsmithError(
        'invalid_option',
        'A state archive is served read-only: add --read-only (or restore it into a state folder with POST /set_state).',
      );
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
        check: (value) => checkCurrentEmbedding(value, 'feature cache entry', running),
      });
      const head = await NsfwHead.create(options.modelsDir, options.backbone);
      const scanRoots = options.scanRoots && (await Promise.all(options.scanRoots.map(realFolder)));
      const { keywords, keywordsStatus } = await openKeywords(layout, options);
      const engine = new TagsmithEngine(layout, lock, new Embedder(extractor), head, featureCache, scanRoots, keywords, keywordsStatus, options);
      await engine.loadState();
      return engine;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /**
   * A read-only replica: the snapshot (an archive unpacked into a private folder, or a state
   * folder read in place) is checked as a restore checks it, nothing is written to a state
   * folder, and no lock is taken (any number of replicas may read one folder or archive).
   */
  private static async openReadOnly(options: EngineOptions): Promise<TagsmithEngine> {
    const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'tagsmith-replica-'));
    let extractor: FeatureExtractor | undefined;
    try {
      extractor = await FeatureExtractor.create(options);
      validateBackboneId(extractor.backboneId);
      const running = { backbone: extractor.backboneId, featureLength: extractor.featureLength };
      let layout: StateLayout;
      let snapshot: SnapshotInfo;
      let loaded: GenerationContents;
      const loadedAt = new Date().toISOString();
      if (options.stateArchive) {
        const file = path.resolve(options.stateArchive);
        const root = path.join(scratch, 'state');
        await fs.mkdir(root);
        const { sha256, generation } = await unpackArchiveFile(file, root);
        await writeJsonAtomic(path.join(root, 'CURRENT'), { generation: path.basename(generation) });
        layout = await StateLayout.openReadOnly(root, scratch);
        loaded = await loadGeneration(layout.current, running, { verifyImages: true, readOnly: true });
        // The unpacked copy is this replica's own: an archive made before the cue measure changed is brought up to date in it.
        await upgradeStoredCues(layout.current, loaded);
        snapshot = { source: 'archive', path: file, sha256, generation: path.basename(generation), loadedAt };
      } else {
        const root = path.resolve(options.stateDir);
        layout = await StateLayout.openReadOnly(root, scratch);
        loaded = await loadGeneration(layout.current, running, { readOnly: true });
        snapshot = { source: 'state', path: root, generation: path.basename(layout.generation), loadedAt };
      }
      const featureCache = await FeatureCache.open<EmbeddingRecord>(layout.featureCache, {
        maxBytes: options.featureCacheBytes ?? DEFAULT_FEATURE_CACHE_BYTES,
        check: (value) => checkCurrentEmbedding(value, 'feature cache entry', running),
      });
      const head = await NsfwHead.create(options.modelsDir, options.backbone);
      // Keywords as the owning engine finds them (tags trained with apply_keywords need them); the cache is the replica's own.
      const { keywords, keywordsStatus } = await openKeywords(layout, options);
      const engine = new TagsmithEngine(layout, undefined, new Embedder(extractor), head, featureCache, [], keywords, keywordsStatus, options);
      engine.replica = { scratch, snapshot };
      engine.install(loaded);
      return engine;
    } catch (error) {
      await extractor?.release();
      await fs.rm(scratch, { recursive: true, force: true });
      throw error;
    }
  }

  get stateDir(): string {
    return this.layout.root;
  }

  /** A read-only replica: every write is refused. */
  get readOnly(): boolean {
    return this.replica !== undefined;
  }

  /** What a replica serves (undefined for an engine that owns its state). */
  get snapshot(): SnapshotInfo | undefined {
    return this.replica && { ...this.replica.snapshot };
  }

  /**
   * A replica reads its archive (or its folder's current generation) again. The new state is
   * unpacked and checked aside while requests go on; then, once the requests holding the state
   * have finished, it is swapped in at once (new requests wait for the swap, none is dropped).
   * A bad archive throws and changes nothing.
   */
  async reload(): Promise<ReloadResult> {
    const replica = this.replica;
    if (!replica)
      throw new TagsmithError(
        'forbidden',
        'Only a read-only replica reloads its snapshot; this engine owns its state folder (restore an archive with POST /set_state).',
      );
    return this.reloads.run('reload', async () => {
      const before = replica.snapshot;
      const loadedAt = new Date().toISOString();
      if (before.source === 'archive') {
        const { sha256, generation } = await unpackArchiveFile(before.path, this.layout.tmp);
        try {
          const loaded = await loadGeneration(new GenerationLayout(generation), this.running, { verifyImages: true, readOnly: true });
          await this.stateLock.write(async () => {
            await this.layout.activate(generation);
            this.install(loaded);
            replica.snapshot = { ...before, sha256, generation: path.basename(generation), loadedAt };
          });
          return { ...countsOf(loaded), snapshot: { ...replica.snapshot }, changed: sha256 !== before.sha256 };
        } catch (error) {
          await fs.rm(generation, { recursive: true, force: true });
          throw error;
        }
      }
      const name = await StateLayout.readPointer(this.layout.root);
      const gen = new GenerationLayout(path.join(this.layout.root, name));
      await this.layout.checkManifest(gen.dir);
      const loaded = await loadGeneration(gen, this.running, { readOnly: true });
      await this.stateLock.write(async () => {
        this.layout.follow(name);
        this.install(loaded);
        replica.snapshot = { ...before, generation: name, loadedAt };
      });
      return { ...countsOf(loaded), snapshot: { ...replica.snapshot }, changed: name !== before.generation };
    });
  }

  /** Refuses a write on a replica (the HTTP server refuses first, by the endpoint table; this is for every other caller). */
  private writable(): void {
    if (this.replica) throw new TagsmithError('read_only', 'This engine is a read-only replica: it changes nothing in the state it serves.');
  }

  get backbone(): string {
    return this.embedder.backbone;
  }

  get featureLength(): number {
    return this.embedder.extractor.featureLength;
  }

  /** Tells a second engine that would open this folder where this one answers (a replica holds no lock: nothing to tell). */
  async announceUrl(url: string): Promise<void> {
    await this.lock?.setUrl(url);
  }

  // ── samples ────────────────────────────────────────────────────────────────────────

  async addSample(type: SampleType | string, tag: string, bytes: Uint8Array, options: { fileName?: string } = {}): Promise<AddSampleResult> {
    this.writable();
    checkSampleType(type);
    validateTag(tag);
    const id = sha256(bytes);
    // Embed outside the locks: it is the slow part and needs no state.
    const embedding = await this.embeddings.forNewSample(id, bytes);
    return this.stateLock.read(() =>
      this.tagLocks.run(tag, async () => {
        this.hooks.waiting?.('add', [id]);
        return this.filesLock.read(async () => {
          await this.refuseCaseTwin(tag);
          const list = (await this.samples.readList(tag)) ?? newSampleList(tag);
          const existing = list.samples.find((s) => s.id === id);
          if (existing && existing.type !== type) {
            throw new TagsmithError(
              'conflicting_sample',
              `This image is already a ${existing.type} sample of "${tag}"; move it instead of adding it as ${type}.`,
            );
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
    this.writable();
    validateTag(tag);
    await this.stateLock.read(async () => {
      await this.tagLocks.run(tag, () => this.samples.changeSample(tag, id, (list, index) => list.samples.splice(index, 1)));
      await this.deleteUnlisted([id]);
    });
  }

  async moveSample(tag: string, id: string, to: SampleType | string | undefined): Promise<SampleRecord> {
    this.writable();
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

  /**
   * A tag's samples, each flagged if its label looks wrong (see sample-suspicion.ts); with
   * order `suspicious`, the most suspicious first.
   */
  async listSamples(tag: string, order: SampleOrder | string = 'added'): Promise<SampleListing> {
    validateTag(tag);
    if (order !== 'added' && order !== 'suspicious')
      throw new TagsmithError('invalid_option', `order must be added or suspicious; got ${JSON.stringify(order.slice(0, 40))}.`);
    return this.stateLock.read(async () => {
      const list = await this.samples.requireList(tag);
      const heldOut = heldOutSuspicions(list, this.models.get(tag)?.json);
      const duplicates = await this.duplicates.pairs(list);
      const views: SampleView[] = list.samples.map((s) => {
        const suspicion = { ...heldOut.get(s.id), ...(duplicates.has(s.id) ? { duplicateOf: duplicates.get(s.id) } : {}) };
        return Object.keys(suspicion).length > 0 ? { ...s, suspicion } : s;
      });
      if (order === 'suspicious') views.sort((a, b) => suspicionRank(b) - suspicionRank(a));
      return {
        tag,
        positives: views.filter((s) => s.type === 'positive'),
        negatives: views.filter((s) => s.type === 'negative'),
        suspicious: views.filter((s) => s.suspicion).length,
      };
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
    this.writable();
    validateTag(tag);
    const options = validateTrainOptions(partial);
    if (options.apply_keywords && !this.keywords)
      throw new TagsmithError(
        'invalid_option',
        `apply_keywords needs the keywords model, which is not installed (${this.keywordsStatus.reason ?? 'missing'}): run \`${this.keywordsStatus.install ?? 'npm run models:keywords'}\` and restart the engine.`,
      );
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
    this.writable();
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

  /**
   * Base scores and every tag. Keywords (the object detector, about as much CPU again as the
   * rest: bench:features) only when asked for, or when a tag trained with them needs them.
   */
  async predict(bytes: Uint8Array, options: { keywords?: boolean } = {}): Promise<Prediction> {
    const [embedding, keywords] = await Promise.all([this.embeddings.forPrediction(bytes), this.keywordsFor(bytes, options.keywords ?? false)]);
    const base = { ...baseScores(embedding), ...(keywords && options.keywords ? { keywords: keywords.keywords } : {}) };
    return checkPrediction({ base, custom: this.models.score(scoringInput(embedding, keywords)) });
  }

  async predictCustom(bytes: Uint8Array, tag?: string): Promise<Record<string, TagScore>> {
    const tags = tag === undefined ? undefined : [this.models.require(validateTag(tag)).tag];
    const [embedding, keywords] = await Promise.all([this.embeddings.forPrediction(bytes), this.keywordsFor(bytes, false, tags)]);
    return checkTagScores(this.models.score(scoringInput(embedding, keywords), tags));
  }

  /** An image's keywords if they are asked for or a tag to score needs them; undefined without the keywords model. */
  private async keywordsFor(bytes: Uint8Array, asked: boolean, tags?: string[]): Promise<KeywordRecord | undefined> {
    const needed = this.models.all().some((m) => m.needs.keywords && (!tags || tags.includes(m.tag)));
    if (!asked && !needed) return undefined;
    if (!this.keywords) {
      if (needed)
        throw keywordsModelMissing(
          this.keywordsStatus,
          this.models
            .all()
            .filter((m) => m.needs.keywords && (!tags || tags.includes(m.tag)))
            .map((m) => m.tag),
          ' and restart the engine',
        );
      return undefined;
    }
    if (needed) checkKeywordModels(tags ? tags.map((t) => this.models.require(t)) : this.models.all(), this.keywords);
    return this.keywords.of(bytes);
  }

  async getFeatures(bytes: Uint8Array): Promise<FeaturesDocument> {
    const [embedding, keywords] = await Promise.all([this.embeddings.forPrediction(bytes), this.keywordsFor(bytes, false)]);
    return {
      name: 'tagsmith-features',
      formatVersion: 1,
      backbone: embedding.backbone,
      features: Array.from(decodeFeatures(embedding.features)),
      aesthetic: embedding.aesthetic,
      stock: embedding.stock,
      ...(keywords ? { keywords: { model: keywords.model, vector: keywords.vector } } : {}),
    };
  }

  async predictByFeatures(value: unknown): Promise<FeaturesPrediction> {
    const doc = parseFeaturesDocument(value, this.running);
    const custom = this.models.scoreDocument(doc);
    const nsfw = this.head ? await this.head.score(doc.features) : {};
    // Float32 values large enough to overflow the head's arithmetic: no image gives such a vector.
    if (!Object.values(nsfw).every(Number.isFinite)) {
      throw new TagsmithError(
        'invalid_features',
        'The features document has values far beyond any the backbone gives (the nsfw head overflows); send what /get_features returned.',
      );
    }
    return checkPrediction({ base: { nsfw, aesthetic: doc.aesthetic, stock: doc.stock }, custom });
  }

  // ── removal ────────────────────────────────────────────────────────────────────────

  /** Removes a tag's model and samples (or only the model with keepSamples); sample files no tag lists go too. */
  async clean(tag: string, options: { keepSamples?: boolean } = {}): Promise<CleanResult> {
    this.writable();
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
    this.writable();
    const busy = () => new TagsmithError('busy', 'A training task is running; restore the state when it has finished.');
    if (this.tasks.busy) throw busy();
    const generation = await StateLayout.createGeneration(this.layout.tmp, true);
    try {
      await restoreStateArchive(archive, generation, `${generation}.upload.tar`);
      await StateLayout.ensureFolders(generation);
      // Every file is checked, and the new folder settled, before it may become the state.
      const loaded = await loadGeneration(new GenerationLayout(generation), this.running, { verifyImages: true, portableTags: true });
      await upgradeStoredCues(new GenerationLayout(generation), loaded);
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

  // ── scans ──────────────────────────────────────────────────────────────────────────
  // Served by ScanService; the engine adds only what it owns: refusing writes on a replica.

  /** Queues a scan of image files and folders on this machine (absolute paths; their keywords too, if asked) and returns it at once. */
  async startScan(paths: unknown, options: { keywords?: unknown } = {}): Promise<ScanView> {
    this.writable();
    if (this.keywords) checkKeywordModels(this.models.all(), this.keywords);
    return this.scanning.start(paths, options);
  }

  /** A scan's state and progress; once finished, how many images each tag applies to, as scored now. */
  scanStatus(id: string): Promise<ScanView> {
    return this.scanning.status(id);
  }

  listScans(): Promise<ScanView[]> {
    return this.scanning.list();
  }

  async cancelScan(id: string): Promise<ScanView> {
    this.writable();
    return this.scanning.cancel(id);
  }

  /** A page of a finished scan's images with every tag's call, in the order asked for. */
  scanPage(id: string, query: ScanQuery): Promise<ScanPage> {
    return this.scanning.page(id, query);
  }

  /** Every image of a finished scan with its calls, for export; the tags and nsfw labels name the columns. */
  scanRows(id: string): Promise<ScanRows> {
    return this.scanning.rows(id);
  }

  /** Keywords in XMP sidecars beside a finished scan's images: a preview, writing, or taking out what Tagsmith added. */
  async scanSidecars(id: string, request: unknown): Promise<SidecarReport> {
    this.writable();
    return this.scanning.sidecars(id, request);
  }

  /** The review queue of a tag over a scan (default: the newest finished one). */
  reviewQueue(tag: string, options: ReviewQueueOptions = {}): Promise<ReviewQueue> {
    return this.scanning.reviewQueue(tag, options);
  }

  /** "More like this" for one of a scan's images, a sample (the gallery's), or any image (the explorer's). */
  similarToScanned(scanId: string, index: number, limit?: number): Promise<SimilarImages> {
    return this.scanning.similarToScanned(scanId, index, limit);
  }

  similarToSample(id: string, limit?: number): Promise<SimilarImages> {
    return this.scanning.similarToSample(id, limit);
  }

  similarToImage(bytes: Uint8Array, limit?: number): Promise<SimilarImages> {
    return this.scanning.similarToImage(bytes, limit);
  }

  /** Empties the scans' feature cache (it fills again as folders are scanned). */
  async clearFeatureCache(): Promise<{ entries: number; bytes: number }> {
    this.writable();
    return this.embeddings.clearCache();
  }

  /**
   * A new tag may not differ only in case from an existing one: on Windows and macOS both would
   * be one folder (there, reading `Bees` would find the list of `bees`). Caller: the tag's lock,
   * which both names share.
   */
  private async refuseCaseTwin(tag: string): Promise<void> {
    const existing = await this.samples.tagNames();
    if (existing.includes(tag)) return;
    const clash = tagFolderClash([...existing, tag]);
    if (clash) {
      throw new TagsmithError(
        'invalid_tag',
        `There is a tag "${clash[0]}" already; "${tag}" differs from it only in case, and on Windows and macOS the two would be one folder. Use "${clash[0]}", or another name.`,
      );
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
      await this.scans.stop();
      await this.tasks.stop();
      // Embeddings and keywords found since the last second: written now, not at process exit.
      this.embeddings.flushCache();
      this.keywords?.flushCache();
      await this.embedder.extractor.release();
      await this.keywords?.detector.release();
      await this.head?.release();
    } finally {
      await this.lock?.release();
      if (this.replica) await fs.rm(this.replica.scratch, { recursive: true, force: true });
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
    const { list, positives, negatives } = await this.sampleInputs(tag, options.apply_keywords === true, { onProgress });
    checkEnoughSamples(positives.length, negatives.length, options.num_clusters);
    const sampleIds = [...list.samples.filter((s) => s.type === 'positive'), ...list.samples.filter((s) => s.type === 'negative')].map((s) => s.id);
    return {
      tag,
      ...this.running,
      positives,
      negatives,
      samplesDigest: samplesDigest(list.samples),
      sampleIds,
      ...(this.keywords ? { keywordModel: this.keywords.model } : {}),
    };
  }

  /**
   * A tag's samples as its models read them (embeddings, and keywords if asked), positives then
   * negatives, each in list order. `embedMissing` false (the review queue, answered within a
   * read): samples without a stored embedding for the running backbone are left out rather than
   * embedded again.
   */
  private async sampleInputs(
    tag: string,
    withKeywords: boolean,
    { embedMissing = true, onProgress = () => {} }: { embedMissing?: boolean; onProgress?: (stage: string, progress: number) => void } = {},
  ): Promise<{ list: SampleListJson; positives: ScoringInput[]; negatives: ScoringInput[] }> {
    // The list, then its samples' embeddings: a sample removed in between fails forSamples
    // (conflicting_sample), and is missing from what `stored` finds.
    const read = await this.filesLock.read(() => this.samples.requireList(tag));
    let list = read;
    let records: EmbeddingRecord[];
    if (embedMissing) {
      records = await this.embeddings.forSamples(list, (done, total) => onProgress(`embedding samples for ${this.backbone}`, done / total));
    } else {
      const stored = await this.embeddings.stored(list);
      list = { ...read, samples: read.samples.filter((_, i) => stored[i]) };
      records = stored.filter((r) => r !== undefined);
    }
    const keywords = withKeywords
      ? await this.sampleKeywords(
          list.samples.map((s) => s.id),
          (done, total) => onProgress('finding keywords in samples', done / total),
        )
      : [];
    const inputs = records.map((record, i) => scoringInput(record, keywords[i]));
    const isPositive = (i: number) => list.samples[i].type === 'positive';
    return { list, positives: inputs.filter((_, i) => isPositive(i)), negatives: inputs.filter((_, i) => !isPositive(i)) };
  }

  /** Samples' keywords, from the keyword cache or detected in their stored images (two at a time), in order. */
  private async sampleKeywords(ids: string[], onProgress: (done: number, total: number) => void): Promise<KeywordRecord[]> {
    const source = this.keywords;
    if (!source) throw new TagsmithError('invalid_option', 'apply_keywords needs the keywords model, which is not installed: run `npm run models:keywords`.');
    let done = 0;
    const limit = concurrencyLimit(2);
    return Promise.all(
      ids.map((id) =>
        limit(async () => {
          const record = await source.of(() => this.filesLock.read(() => this.samples.readImage(id)), id);
          onProgress(++done, ids.length);
          return record;
        }),
      ),
    );
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
    await writeJsonAtomic(
      file,
      asWritable(() => checkTask(JSON.parse(JSON.stringify(task)), this.layout.current.relative(file), { taskId: task.task_id })),
    );
  }

  /** At start-up: the current generation, checked and settled like a restored one. */
  private async loadState(): Promise<void> {
    const loaded = await loadGeneration(this.layout.current, this.running);
    await upgradeStoredCues(this.layout.current, loaded);
    this.install(loaded);
    await sweepThumbnails(this.layout.thumbnails, (id) => loaded.listed.has(id));
  }

  /** Makes checked contents the engine's: models served (or kept for another backbone), task history. */
  private install(loaded: GenerationContents): void {
    this.models.install(loaded.models);
    this.tasks.restore(loaded.tasks);
  }
}

/** The keywords model is an opt-in install: without it the engine answers without keywords. */
function openKeywords(layout: StateLayout, options: EngineOptions): ReturnType<typeof openKeywordSource> {
  return openKeywordSource(layout.keywordCache, { modelsDir: options.modelsDir, threads: options.threads, cacheBytes: options.keywordCacheBytes });
}

function countsOf(loaded: GenerationContents): RestoreResult {
  return { tags: loaded.lists.length, samples: loaded.lists.reduce((n, l) => n + l.samples.length, 0) };
}

/** A record the engine itself is about to write failed its schema: a bug, not the user's input. */
function asWritable<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw new TagsmithError('internal', `Refusing to write an invalid record: ${(error as Error).message}`, { cause: error });
  }
}

/** Paths one scan request may name (each may be a folder of any size; a notebook's glob sends its files). */

/** A scan root as its real path; a root that is not a folder refuses the engine's start. */
async function realFolder(root: string): Promise<string> {
  const real = await fs.realpath(path.resolve(root)).catch(() => undefined);
  if (!real || !(await fs.stat(real)).isDirectory()) throw new TagsmithError('invalid_option', `--scan-root ${root} is not a folder.`);
  return real;
}

/** A duplicate of the other kind is as suspect as a confident contradiction; then by disagreement. */
function suspicionRank(sample: SampleView): number {
  if (!sample.suspicion) return -1;
  return Math.max(sample.suspicion.disagreement ?? 0, sample.suspicion.duplicateOf ? 1 : 0);
}

function scoringInput(record: EmbeddingRecord, keywords?: KeywordRecord): { features: Float32Array; aesthetic: number; stock: number; keywords?: number[] } {
  return {
    features: decodeFeatures(record.features),
    aesthetic: record.aesthetic.score,
    stock: record.stock.score,
    ...(keywords ? { keywords: keywords.vector } : {}),
  };
}

function baseScores(embedding: EmbeddingRecord): Prediction['base'] {
  return { nsfw: embedding.nsfw, aesthetic: embedding.aesthetic, stock: embedding.stock };
}
