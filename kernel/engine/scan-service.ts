// Folder scans as the engine serves them: a scan's paths checked against the folders the engine
// may read, finished scans' results kept current with the models (one scan's feature matrix in
// memory at a time, the calls of the others kept), pages, exports and sidecars, the review queue
// of a tag over a scan, and "more like this" across scanned images and samples. What it reads of
// the state (sample lists, embeddings) comes through ScanServiceHost, under the engine's locks.
import fs from 'node:fs/promises';
import type { ReviewQueue, ScanPage, ScanQuery, ScanView, SidecarReport, SimilarImages } from '../api/wire-types';
import { TagsmithError } from '../errors';
import type { ImageCalls } from '../export/scan-table';
import { parseSidecarRequest, sidecarReport } from '../export/sidecar-batch';
import { isFullPath, isWithin } from '../images/image-files';
import { prepareRows } from '../ml/similarity';
import { newScanCalls, ScanResults, type InformativeRanking, type ScanCalls } from '../scan/scan-results';
import { SCANS_KEPT_MOST, type ScanRecord, type ScanStore } from '../scan/scan-store';
import { validateSampleId, validateTag } from '../state/path-names';
import type { RunningBackbone } from '../state/read-generation';
import type { EmbeddingRecord, SampleListJson, SampleType } from '../state/record-schemas';
import { decodeFeatures } from '../state/stored-records';
import { sideWithFewerLabels } from '../training/review-order';
import { refitForReview } from '../training/review-refit';
import type { ScoringInput, TagModel } from '../training/tag-model';
import { sha256 } from './embedder';
import type { ModelRegistry } from './model-registry';
import type { SampleSimilarity } from './sample-similarity';
import type { ScanQueue } from './scan-queue';
import { samplesDigest } from './sample-store';

/** Paths one scan may name. */
const MAX_SCAN_INPUTS = 20_000;

export interface ScanRows {
  tags: string[];
  nsfwLabels: string[];
  keywords: boolean;
  rows: Iterable<ImageCalls>;
}

export interface ReviewQueueOptions {
  view?: string;
  scanId?: string;
  offset?: number;
  limit?: number;
}

/** What the scans read of the engine's state; each read takes the engine's state lock. */
export interface ScanServiceHost {
  running: RunningBackbone;
  nsfwLabels: string[];
  /** Real paths of the folders scans may read; undefined: anywhere (the CLI's own engine). */
  scanRoots: readonly string[] | undefined;
  models: ModelRegistry;
  readList(tag: string): Promise<SampleListJson | undefined>;
  requireList(tag: string): Promise<SampleListJson>;
  allLists(): Promise<SampleListJson[]>;
  sampleEmbedding(id: string): Promise<EmbeddingRecord | undefined>;
  /** A tag's samples that have a stored embedding, as its models read them (keywords too if asked), positives then negatives. */
  storedSampleInputs(tag: string, withKeywords: boolean): Promise<{ list: SampleListJson; positives: ScoringInput[]; negatives: ScoringInput[] }>;
  /** An image's embedding for a query (remembered, not stored). */
  embedForQuery(bytes: Uint8Array): Promise<EmbeddingRecord>;
}

export class ScanService {
  /** The scan whose results were asked for last, kept with its scores (one at a time: a matrix of features each). */
  private loaded: ScanResults | undefined;
  /** The calls of the scans read lately, kept when another scan is loaded (see ScanCalls). */
  private readonly calls = new Map<string, ScanCalls>();
  /** Per tag, the review queue's last refit (refitForReview) and the samples it was fitted on: read again, the same queue costs nothing. */
  private readonly refits = new Map<string, { trainedAt: string; digest: string; model: TagModel }>();

  constructor(
    private readonly queue: ScanQueue,
    private readonly store: ScanStore,
    private readonly similarSamples: SampleSimilarity,
    private readonly host: ScanServiceHost,
  ) {}

  /** Queues a scan of image files and folders on this machine (absolute paths; their keywords too, if asked) and returns it at once. */
  async start(paths: unknown, options: { keywords?: unknown } = {}): Promise<ScanView> {
    if (options.keywords !== undefined && typeof options.keywords !== 'boolean') throw new TagsmithError('invalid_option', 'keywords must be true or false.');
    if (
      !Array.isArray(paths) ||
      paths.length === 0 ||
      paths.length > MAX_SCAN_INPUTS ||
      !paths.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 4096)
    ) {
      throw new TagsmithError('invalid_option', `paths must be a list of 1 to ${MAX_SCAN_INPUTS} file or folder paths.`);
    }
    for (const p of paths as string[]) {
      if (!isFullPath(p))
        throw new TagsmithError('invalid_option', `${JSON.stringify(p.slice(0, 200))} is not an absolute path; the engine reads paths on its own machine.`);
    }
    if (this.host.scanRoots) {
      if (this.host.scanRoots.length === 0) {
        throw new TagsmithError(
          'forbidden',
          'This engine reads no folders: it was started without --scan-root. Start it with --scan-root <folder> for each folder it may scan.',
        );
      }
      for (const p of paths as string[]) {
        const real = await fs.realpath(p).catch(() => undefined);
        if (real !== undefined && !isWithin(real, this.host.scanRoots)) {
          throw new TagsmithError(
            'forbidden',
            `${p} is outside the folders this engine may read (${this.host.scanRoots.join(', ')}); start it with --scan-root for that folder.`,
          );
        }
      }
    }
    return this.queue.start(paths as string[], { keywords: options.keywords === true });
  }

  /** A scan's state and progress; once finished, how many images each tag applies to, as scored now. */
  async status(id: string): Promise<ScanView> {
    const view = await this.queue.status(id);
    if (view.result && (view.state === 'done' || view.state === 'cancelled')) {
      const results = await this.results(id);
      view.result.applies = results.appliesCounts();
      view.result.changedCalls = results.changedCounts();
    }
    return view;
  }

  list(): Promise<ScanView[]> {
    return this.queue.list();
  }

  cancel(id: string): Promise<ScanView> {
    return this.queue.cancel(id);
  }

  /** A page of a finished scan's images with every tag's call, in the order asked for. */
  async page(id: string, query: ScanQuery): Promise<ScanPage> {
    return (await this.rankedPage(id, query)).page;
  }

  /** A page, and whether the informative order was re-ranked by a refit on the tag's samples. */
  private async rankedPage(id: string, query: ScanQuery): Promise<{ page: ScanPage; reranked: boolean }> {
    const results = await this.results(id);
    const samples = new Map<string, SampleType>();
    let ranking: InformativeRanking | undefined;
    if (query.tag !== undefined) {
      validateTag(query.tag);
      const list = await this.host.readList(query.tag!);
      for (const s of list?.samples ?? []) samples.set(s.id, s.type);
      if (list && query.order === 'informative' && query.applies === undefined) ranking = await this.informativeRanking(results, query.tag, list);
    }
    return { page: results.page(query, samples, ranking), reranked: ranking?.scores !== undefined };
  }

  /**
   * What the "most informative" order ranks a scan by: the trained model's scores until the tag's
   * samples change, then a refit on the samples as they are (each decision re-ranks the queue;
   * kernel/training/review-refit.ts says why); and the side of the boundary it starts on. The
   * refit only orders the queue, so whatever keeps it from being made (no samples left, a sample
   * removed meanwhile, the keywords model gone) leaves the trained model's order.
   */
  private async informativeRanking(results: ScanResults, tag: string, list: SampleListJson): Promise<InformativeRanking> {
    const positives = list.samples.filter((s) => s.type === 'positive').length;
    const firstSide = sideWithFewerLabels(positives, list.samples.length - positives);
    const model = this.host.models.get(tag);
    const digest = samplesDigest(list.samples);
    if (!model || list.samples.length === 0 || model.json.samplesDigest === digest) return { firstSide };
    // A tag trained with keywords is not in a scan made without them (its page says so).
    if (model.needs.keywords && !results.scan.record.keywords) return { firstSide };
    let refit = this.refits.get(tag);
    if (refit?.trainedAt !== model.json.trainedAt || refit.digest !== digest) {
      try {
        const inputs = await this.host.storedSampleInputs(tag, model.needs.keywords);
        refit = {
          trainedAt: model.json.trainedAt,
          digest: samplesDigest(inputs.list.samples),
          model: refitForReview(model, inputs.positives, inputs.negatives),
        };
      } catch (error) {
        if (!(error instanceof TagsmithError)) throw error;
        return { firstSide };
      }
      this.refits.set(tag, refit);
    }
    return { firstSide, scores: results.scoresBy(refit.model) };
  }

  /** Every image of a finished scan with its calls, for export; the tags and nsfw labels name the columns. */
  async rows(id: string): Promise<ScanRows> {
    const results = await this.results(id);
    return { tags: results.tags, nsfwLabels: this.host.nsfwLabels, keywords: results.scan.record.keywords ?? false, rows: results.rows() };
  }

  /** Keywords in XMP sidecars beside a finished scan's images: a preview, writing, or taking out what Tagsmith added. */
  async sidecars(id: string, request: unknown): Promise<SidecarReport> {
    const parsed = parseSidecarRequest(request);
    const results = await this.results(id);
    return sidecarReport(results.rows(), parsed);
  }

  /**
   * The review queue of a tag over a scan (default: the newest finished one): the images that
   * would teach it most first, or its calls either way, least sure first.
   */
  async reviewQueue(tag: string, options: ReviewQueueOptions = {}): Promise<ReviewQueue> {
    validateTag(tag);
    const view = options.view ?? 'informative';
    if (view !== 'informative' && view !== 'applies' && view !== 'not-applies')
      throw new TagsmithError('invalid_option', `view must be informative, applies or not-applies; got ${JSON.stringify(view.slice(0, 40))}.`);
    const scanId = options.scanId ?? (await this.newest())?.id;
    if (!scanId) throw new TagsmithError('unknown_scan', 'There is no finished scan to review: tag a folder first (POST /scans).');
    const model = this.host.models.require(tag);
    const list = await this.host.requireList(tag);
    // Each view leaves out the tag's samples (labelled already) and shows the least sure first.
    const { page, reranked } = await this.rankedPage(scanId, {
      tag,
      order: 'informative',
      applies: view === 'informative' ? undefined : view === 'applies',
      offset: options.offset,
      limit: options.limit,
    });
    const results = await this.results(scanId);
    return {
      tag,
      scan_id: scanId,
      view,
      reviewedSinceTraining: list.samples.filter((s) => s.addedAt > model.json.trainedAt).length,
      rerankedSinceTraining: reranked,
      changedCalls: results.changedCounts()[tag] ?? 0,
      total: page.total,
      offset: page.offset,
      images: page.images,
    };
  }

  /** "More like this": the scanned images (of `scanId`, default the newest scan) and samples most like one of a scan's images. */
  async similarToScanned(scanId: string, index: number, limit?: number): Promise<SimilarImages> {
    const results = await this.results(scanId);
    return this.similar(results.preparedRow(index), limit, { scan: results, excludeIndex: index });
  }

  /** "More like this" for a sample (the gallery's). */
  async similarToSample(id: string, limit?: number): Promise<SimilarImages> {
    validateSampleId(id);
    const record = await this.host.sampleEmbedding(id);
    if (!record) throw new TagsmithError('unknown_sample', `There is no sample ${id} embedded for ${this.host.running.backbone}; train its tag first.`);
    const newest = await this.newest();
    return this.similar(preparedQuery(record, this.host.running.featureLength), limit, { scan: newest && (await this.results(newest.id)), excludeSample: id });
  }

  /** "More like this" for any image (the explorer's): it is embedded, then searched for. */
  async similarToImage(bytes: Uint8Array, limit?: number): Promise<SimilarImages> {
    const record = await this.host.embedForQuery(bytes);
    const newest = await this.newest();
    return this.similar(preparedQuery(record, this.host.running.featureLength), limit, {
      scan: newest && (await this.results(newest.id)),
      excludeSample: sha256(bytes),
    });
  }

  private async similar(query: Float32Array, limit = 24, where: { scan?: ScanResults; excludeIndex?: number; excludeSample?: string }): Promise<SimilarImages> {
    const k = Math.min(200, Math.max(1, Math.floor(limit)));
    const lists = await this.host.allLists();
    const samples = await this.similarSamples.nearest(query, k, lists, this.host.running, where.excludeSample);
    const images = where.scan ? where.scan.similar(query, k, where.excludeIndex).map((n) => ({ ...n.image, similarity: n.similarity })) : [];
    return { ...(where.scan ? { scan_id: where.scan.id } : {}), images, samples };
  }

  /** The newest finished scan made with this engine's backbone, if any. */
  private async newest(): Promise<ScanRecord | undefined> {
    return (await this.store.list()).find((r) => r.backbone === this.host.running.backbone);
  }

  private async results(id: string): Promise<ScanResults> {
    if (this.loaded?.id !== id) {
      const stored = await this.store.load(id);
      if (stored.record.backbone !== this.host.running.backbone) {
        throw new TagsmithError(
          'unknown_scan',
          `Scan ${id} was made with backbone ${stored.record.backbone}; this engine runs ${this.host.running.backbone}: scan the folder again.`,
        );
      }
      let calls = this.calls.get(id);
      if (!calls) {
        calls = newScanCalls();
        this.calls.set(id, calls);
        // As many as the scan store keeps at most; the one read longest ago goes first.
        if (this.calls.size > SCANS_KEPT_MOST) this.calls.delete(this.calls.keys().next().value!);
      }
      this.loaded = new ScanResults(stored, calls);
    }
    this.loaded.refresh(this.host.models.all());
    return this.loaded;
  }
}

/** An embedding's features prepared for cosine search (as scans' and samples' rows are). */
function preparedQuery(record: EmbeddingRecord, featureLength: number): Float32Array {
  return prepareRows(decodeFeatures(record.features), featureLength);
}
