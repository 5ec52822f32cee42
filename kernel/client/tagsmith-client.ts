// The one typed client of the engine's HTTP API, used by the extension, notebooks and tests.
// Every call is typed by its entry in the endpoint table (parameters, query, reply); it imports
// no engine code, so bundling it pulls in no native code.
import { ENDPOINTS, endpointPath, type Endpoint, type HttpMethod, type ParamsOf, type QueryOf, type ResultOf } from '../api/endpoints';
import type { TableFormat } from '../export/scan-table';
import { THUMBNAIL_DEFAULT } from '../rules';
import type {
  AddSampleResult,
  CleanResult,
  FeaturesDocument,
  FeaturesPrediction,
  Health,
  KeywordHit,
  Keywords,
  KeywordsStatus,
  Prediction,
  ReloadResult,
  RestoreResult,
  SampleListing,
  SampleRecord,
  SampleType,
  ScannedImageView,
  ReviewQueue,
  ReviewView,
  SampleOrder,
  SampleSuspicion,
  SampleView,
  ScanPage,
  ScanProgressView,
  ScanQuery,
  ScanView,
  SidecarReport,
  SidecarRequest,
  SimilarImages,
  TagScore,
  TagSummary,
  TaskView,
  TrainOptions,
} from '../api/wire-types';

export type {
  AddSampleResult,
  CleanResult,
  FeaturesDocument,
  FeaturesPrediction,
  Health,
  KeywordHit,
  Keywords,
  KeywordsStatus,
  Prediction,
  ReloadResult,
  RestoreResult,
  SampleListing,
  SampleRecord,
  SampleType,
  ScannedImageView,
  ReviewQueue,
  ReviewView,
  SampleOrder,
  SampleSuspicion,
  SampleView,
  ScanPage,
  ScanProgressView,
  ScanQuery,
  ScanView,
  SidecarReport,
  SidecarRequest,
  SimilarImages,
  TableFormat,
  TagScore,
  TagSummary,
  TaskView,
  TrainOptions,
};

export interface ClientOptions {
  url: string;
  token?: string;
  /** Per-request timeout (ms); uploads and archives get ten times as long. */
  timeoutMs?: number;
}

/** An error reply of the engine, with its code (`not_an_image`, `unknown_tag`, …). */
export class TagsmithApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TagsmithApiError';
  }
}

export type ImageInput = Uint8Array | Blob;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any endpoint's types
type AnyEndpoint = Endpoint<any, any, any>;

interface Call<E extends AnyEndpoint> {
  params?: ParamsOf<E>;
  query?: QueryOf<E>;
  body?: FormData | JsonBody;
  method?: HttpMethod;
  /** An upload or a download: ten times the timeout. */
  long?: boolean;
}

export class TagsmithClient {
  readonly url: string;
  private readonly token?: string;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  health(): Promise<Health> {
    return this.json(ENDPOINTS.health);
  }

  addSample(type: SampleType, tag: string, image: ImageInput, fileName?: string): Promise<AddSampleResult> {
    return this.json(ENDPOINTS.addSample, { params: { type, tag }, body: upload(image, fileName ?? 'image'), long: true });
  }

  /**
   * Starts training. The task is returned at once (not a promise: awaiting it waits for the
   * end of training), so `client.train(tag).onProgress(show)` reads naturally.
   */
  train(tag: string, options: Partial<TrainOptions> = {}): TrainingTask {
    const started = this.json(ENDPOINTS.train, { params: { tag }, query: { ...options }, method: 'POST' });
    return new TrainingTask(
      this,
      started.then((s) => s.task_id),
    );
  }

  status(taskId: string): Promise<TaskView> {
    return this.json(ENDPOINTS.status, { params: { task_id: taskId } });
  }

  /** With `keywords`, also the COCO objects in the image (when the engine has the keywords model). */
  predict(image: ImageInput, options: { keywords?: boolean } = {}): Promise<Prediction> {
    return this.json(ENDPOINTS.predict, { body: upload(image), query: options.keywords ? { keywords: true } : {}, long: true });
  }

  predictCustom(image: ImageInput, tag?: string): Promise<Record<string, TagScore>> {
    return tag === undefined
      ? this.json(ENDPOINTS.predictCustom, { body: upload(image), long: true })
      : this.json(ENDPOINTS.predictCustomTag, { params: { tag }, body: upload(image), long: true });
  }

  getFeatures(image: ImageInput): Promise<FeaturesDocument> {
    return this.json(ENDPOINTS.getFeatures, { body: upload(image), long: true });
  }

  predictByFeatures(doc: FeaturesDocument): Promise<FeaturesPrediction> {
    const body = new FormData();
    body.append('data', new Blob([JSON.stringify(doc)], { type: 'application/json' }), 'features.json');
    return this.json(ENDPOINTS.predictByFeatures, { body });
  }

  clean(tag: string, options: { keepSamples?: boolean } = {}): Promise<CleanResult> {
    return this.json(ENDPOINTS.clean, { params: { tag }, query: { keep_samples: options.keepSamples }, method: 'POST' });
  }

  async tags(): Promise<TagSummary[]> {
    return (await this.json(ENDPOINTS.tags)).tags;
  }

  samples(tag: string, options: { order?: SampleOrder } = {}): Promise<SampleListing> {
    return this.json(ENDPOINTS.samples, { params: { tag }, query: { order: options.order } });
  }

  async removeSample(tag: string, sampleId: string): Promise<void> {
    await this.json(ENDPOINTS.removeSample, { params: { tag, sample_id: sampleId } });
  }

  moveSample(tag: string, sampleId: string, to: SampleType): Promise<SampleRecord> {
    return this.json(ENDPOINTS.moveSample, { params: { tag, sample_id: sampleId }, query: { to } });
  }

  async thumbnail(sampleId: string, size = THUMBNAIL_DEFAULT): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request(ENDPOINTS.thumbnail, { params: { sample_id: sampleId }, query: { size } })).arrayBuffer());
  }

  async sampleImage(sampleId: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request(ENDPOINTS.sampleImage, { params: { sample_id: sampleId }, long: true })).arrayBuffer());
  }

  async tasks(tag?: string): Promise<TaskView[]> {
    return (await this.json(ENDPOINTS.tasks, { query: { tag } })).tasks;
  }

  cancelTask(taskId: string): Promise<TaskView> {
    return this.json(ENDPOINTS.cancelTask, { params: { task_id: taskId } });
  }

  // ── scans ──────────────────────────────────────────────────────────────────────────

  /**
   * Starts a scan of image files and folders on the engine's machine (absolute paths; a
   * server reads only under its --scan-root folders). The scan is returned at once (not a
   * promise: awaiting it waits for its end), so `client.scan(paths).onProgress(show)` reads naturally.
   */
  scan(paths: string[], options: { keywords?: boolean } = {}): ScanTask {
    const started = this.json(ENDPOINTS.startScan, { body: jsonBody(options.keywords ? { paths, keywords: true } : { paths }) });
    return new ScanTask(
      this,
      started.then((s) => s.scan_id),
    );
  }

  scanStatus(scanId: string): Promise<ScanView> {
    return this.json(ENDPOINTS.scan, { params: { scan_id: scanId } });
  }

  async scans(): Promise<ScanView[]> {
    return (await this.json(ENDPOINTS.scans)).scans;
  }

  cancelScan(scanId: string): Promise<ScanView> {
    return this.json(ENDPOINTS.cancelScan, { params: { scan_id: scanId } });
  }

  scanResults(scanId: string, query: ScanQuery = {}): Promise<ScanPage> {
    return this.json(ENDPOINTS.scanResults, { params: { scan_id: scanId }, query });
  }

  /** A finished scan as CSV or JSON Lines text. */
  async exportScan(scanId: string, format: TableFormat = 'jsonl', options: { appliesOnly?: boolean } = {}): Promise<string> {
    return (await this.request(ENDPOINTS.exportScan, { params: { scan_id: scanId }, query: { format, applies_only: options.appliesOnly }, long: true })).text();
  }

  /** XMP sidecar keywords for a finished scan's images: preview, write, or remove what Tagsmith added. */
  scanSidecars(scanId: string, request: SidecarRequest): Promise<SidecarReport> {
    return this.json(ENDPOINTS.scanSidecars, { params: { scan_id: scanId }, body: jsonBody(request), long: true });
  }

  /** A tag's review queue over a scan (default the newest): the images that would teach it most first. */
  reviewQueue(tag: string, options: { view?: ReviewView; scanId?: string; offset?: number; limit?: number } = {}): Promise<ReviewQueue> {
    return this.json(ENDPOINTS.reviewQueue, {
      params: { tag },
      query: { view: options.view, scan_id: options.scanId, offset: options.offset, limit: options.limit },
    });
  }

  /** More like this: for one of a scan's images, a sample, or any image's bytes. */
  similar(target: { scanId: string; index: number } | { sampleId: string } | { image: ImageInput }, limit?: number): Promise<SimilarImages> {
    if ('scanId' in target) return this.json(ENDPOINTS.similarToScanned, { params: { scan_id: target.scanId, index: String(target.index) }, query: { limit } });
    if ('sampleId' in target) return this.json(ENDPOINTS.similarToSample, { params: { sample_id: target.sampleId }, query: { limit } });
    return this.json(ENDPOINTS.similarToImage, { body: upload(target.image), query: { limit }, long: true });
  }

  clearFeatureCache(): Promise<{ entries: number; bytes: number }> {
    return this.json(ENDPOINTS.clearFeatureCache, { method: 'POST' });
  }

  /** The state as tar bytes (see getStateStream for large states). */
  async getState(): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request(ENDPOINTS.getState, { long: true })).arrayBuffer());
  }

  async getStateStream(): Promise<ReadableStream<Uint8Array>> {
    const response = await this.request(ENDPOINTS.getState, { long: true });
    if (!response.body) throw new TagsmithApiError('internal', 'The engine sent no archive.', response.status);
    return response.body;
  }

  setState(archive: Uint8Array | Blob): Promise<RestoreResult> {
    const body = new FormData();
    body.append('data', archive instanceof Blob ? archive : new Blob([blobPart(archive)], { type: 'application/x-tar' }), 'state.tar');
    return this.json(ENDPOINTS.setState, { body, long: true });
  }

  /** A read-only replica reads its archive (or state folder) again and serves it once checked. */
  reload(): Promise<ReloadResult> {
    return this.json(ENDPOINTS.reload, { long: true });
  }

  /** The JSON reply of an endpoint, of the type its table entry declares. */
  private async json<E extends AnyEndpoint>(endpoint: E, call: Call<E> = {}): Promise<ResultOf<E>> {
    // The one place a reply is taken to be what the endpoint declares: the engine's handlers
    // are typed by the same entry.
    return (await (await this.request(endpoint, call)).json()) as ResultOf<E>;
  }

  private async request<E extends AnyEndpoint>(endpoint: E, call: Call<E> = {}): Promise<Response> {
    const url = new URL(this.url + endpointPath(endpoint.path, call.params as Record<string, string> | undefined));
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const method = call.method ?? (call.body ? 'POST' : endpoint.methods[0]);
    let response: Response;
    try {
      const json = call.body instanceof JsonBody;
      response = await fetch(url, {
        method,
        body: json ? (call.body as JsonBody).text : (call.body as FormData | undefined),
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(json ? { 'content-type': 'application/json' } : {}) },
        signal: AbortSignal.timeout(this.timeoutMs * (call.long ? 10 : 1)),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new TagsmithApiError(
        timedOut ? 'timeout' : 'engine_unreachable',
        timedOut
          ? `The engine did not answer ${method} ${endpoint.path} in time.`
          : `Cannot reach the Tagsmith engine at ${this.url}: ${(error as Error).message}`,
        0,
        { cause: error },
      );
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
      throw new TagsmithApiError(body?.error?.code ?? 'internal', body?.error?.message ?? `HTTP ${response.status}`, response.status);
    }
    return response;
  }
}

/** A JSON request body (sent as application/json). */
class JsonBody {
  constructor(readonly text: string) {}
}

function jsonBody(value: unknown): JsonBody {
  return new JsonBody(JSON.stringify(value));
}

function upload(image: ImageInput, fileName = 'image'): FormData {
  const body = new FormData();
  body.append('data', image instanceof Blob ? image : new Blob([blobPart(image)]), fileName);
  return body;
}

/** Bytes read from files or sockets never sit on a SharedArrayBuffer, which is all the DOM typing rules out. */
function blobPart(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

/**
 * Something the engine runs in the background, followed by polling its status: `await task`
 * resolves with its final view, or rejects with its error; listeners hear each change of progress.
 */
abstract class PolledTask<View extends { state: string; error?: { code: string; message: string } }> implements PromiseLike<View> {
  private readonly listeners = new Set<(view: View) => void>();
  private finished?: Promise<View>;

  constructor(
    protected readonly client: TagsmithClient,
    /** Resolves once the engine has queued it (rejects if it refused); the rejection surfaces where it is awaited. */
    readonly id: Promise<string>,
    private readonly pollMs = 250,
  ) {
    id.catch(() => undefined);
  }

  onProgress(listener: (view: View) => void): this {
    this.listeners.add(listener);
    return this;
  }

  then<A = View, B = never>(onDone?: ((view: View) => A | PromiseLike<A>) | null, onError?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.finished ??= this.poll();
    return this.finished.then(onDone, onError);
  }

  protected abstract status(id: string): Promise<View>;
  /** What a listener would see change; an unchanged key is not reported again. */
  protected abstract progressKey(view: View): string;
  /** Whether the view is final and a success (a failed one throws its error). */
  protected abstract isFinished(view: View): boolean;
  protected abstract readonly failure: string;

  private async poll(): Promise<View> {
    const id = await this.id;
    let last = '';
    for (;;) {
      const view = await this.status(id);
      const key = this.progressKey(view);
      if (key !== last) {
        last = key;
        for (const listener of this.listeners) listener(view);
      }
      if (this.isFinished(view)) return view;
      if (view.state === 'failed') throw new TagsmithApiError(view.error?.code ?? 'internal', view.error?.message ?? this.failure, 200);
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }
}

/** A scan: `await scan` resolves with the finished scan (cancelled ones too), or rejects if it failed. */
export class ScanTask extends PolledTask<ScanView> {
  protected readonly failure = 'The scan failed.';

  /** Resolves once the engine has queued the scan (rejects if it refused, e.g. a path outside its roots). */
  get scanId(): Promise<string> {
    return this.id;
  }

  async cancel(): Promise<ScanView> {
    return this.client.cancelScan(await this.id);
  }

  protected status(id: string): Promise<ScanView> {
    return this.client.scanStatus(id);
  }

  protected progressKey(scan: ScanView): string {
    return `${scan.state}:${scan.progress.done}/${scan.progress.total}`;
  }

  protected isFinished(scan: ScanView): boolean {
    return scan.state === 'done' || scan.state === 'cancelled';
  }
}

/** A training run: `await task` resolves with the finished task, or rejects with its error. */
export class TrainingTask extends PolledTask<TaskView> {
  protected readonly failure = 'Training failed.';

  /** Resolves once the engine has queued the task (rejects if it refused, e.g. too few samples). */
  get taskId(): Promise<string> {
    return this.id;
  }

  async cancel(): Promise<TaskView> {
    return this.client.cancelTask(await this.id);
  }

  protected status(id: string): Promise<TaskView> {
    return this.client.status(id);
  }

  protected progressKey(task: TaskView): string {
    return `${task.state}:${task.stage}:${task.progress}`;
  }

  protected isFinished(task: TaskView): boolean {
    return task.state === 'done';
  }
}
