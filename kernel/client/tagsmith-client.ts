// The one typed client of the engine's HTTP API, used by the extension, notebooks and tests.
// Every call is typed by its entry in the endpoint table (parameters, query, reply); it imports
// no engine code, so bundling it pulls in no native code.
import { ENDPOINTS, endpointPath, type Endpoint, type HttpMethod, type ParamsOf, type QueryOf, type ResultOf } from '../api/endpoints';
import { THUMBNAIL_DEFAULT } from '../rules';
import type {
  AddSampleResult, CleanResult, FeaturesDocument, FeaturesPrediction, Health, Prediction, RestoreResult, SampleListing, SampleRecord, SampleType, TagScore,
  TagSummary, TaskView, TrainOptions,
} from '../api/wire-types';

export type {
  AddSampleResult, CleanResult, FeaturesDocument, FeaturesPrediction, Health, Prediction, RestoreResult, SampleListing, SampleRecord, SampleType, TagScore,
  TagSummary, TaskView, TrainOptions,
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
  body?: FormData;
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
    return new TrainingTask(this, started.then((s) => s.task_id));
  }

  status(taskId: string): Promise<TaskView> {
    return this.json(ENDPOINTS.status, { params: { task_id: taskId } });
  }

  predict(image: ImageInput): Promise<Prediction> {
    return this.json(ENDPOINTS.predict, { body: upload(image), long: true });
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

  samples(tag: string): Promise<SampleListing> {
    return this.json(ENDPOINTS.samples, { params: { tag } });
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
      response = await fetch(url, {
        method,
        body: call.body,
        headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
        signal: AbortSignal.timeout(this.timeoutMs * (call.long ? 10 : 1)),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new TagsmithApiError(timedOut ? 'timeout' : 'engine_unreachable',
        timedOut ? `The engine did not answer ${method} ${endpoint.path} in time.` : `Cannot reach the Tagsmith engine at ${this.url}: ${(error as Error).message}`, 0, { cause: error });
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
      throw new TagsmithApiError(body?.error?.code ?? 'internal', body?.error?.message ?? `HTTP ${response.status}`, response.status);
    }
    return response;
  }
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

/** A training run: `await task` resolves with the finished task, or rejects with its error. */
export class TrainingTask implements PromiseLike<TaskView> {
  private readonly listeners = new Set<(task: TaskView) => void>();
  private finished?: Promise<TaskView>;

  constructor(
    private readonly client: TagsmithClient,
    /** Resolves once the engine has queued the task (rejects if it refused, e.g. too few samples). */
    readonly taskId: Promise<string>,
    private readonly pollMs = 250,
  ) {
    taskId.catch(() => undefined); // the rejection surfaces where the task is awaited
  }

  onProgress(listener: (task: TaskView) => void): this {
    this.listeners.add(listener);
    return this;
  }

  async cancel(): Promise<TaskView> {
    return this.client.cancelTask(await this.taskId);
  }

  then<A = TaskView, B = never>(onDone?: ((task: TaskView) => A | PromiseLike<A>) | null, onError?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.finished ??= this.poll();
    return this.finished.then(onDone, onError);
  }

  private async poll(): Promise<TaskView> {
    const id = await this.taskId;
    let last = '';
    for (;;) {
      const task = await this.client.status(id);
      const key = `${task.state}:${task.stage}:${task.progress}`;
      if (key !== last) {
        last = key;
        for (const listener of this.listeners) listener(task);
      }
      if (task.state === 'done') return task;
      if (task.state === 'failed') throw new TagsmithApiError(task.error?.code ?? 'internal', task.error?.message ?? 'Training failed.', 200);
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }
}
