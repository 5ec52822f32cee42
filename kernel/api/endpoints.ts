// Every HTTP endpoint of the engine, declared once with its types. The server registers its
// routes from this table and types its handlers by it, the typed client builds its requests
// from it, and /openapi.json is generated from it.
import type { TableFormat } from '../export/scan-table';
import { DEFAULT_TRAIN_OPTIONS, MAX_CLUSTERS, MIN_CLUSTERS, THUMBNAIL_DEFAULT, THUMBNAIL_MAX, THUMBNAIL_MIN } from '../rules';
import type {
  ReviewQueue,
  ReviewView,
  SampleOrder,
  ScanPage,
  ScanQuery,
  ScanView,
  SidecarReport,
  SimilarImages,
  AddSampleResult,
  CleanResult,
  FeaturesDocument,
  FeaturesPrediction,
  Health,
  Prediction,
  ReloadResult,
  RestoreResult,
  SampleListing,
  SampleRecord,
  SampleType,
  TagScore,
  TagSummary,
  TaskView,
  TrainOptions,
  TrainStarted,
} from './wire-types';

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/** What a request carries: an image (multipart field `data` or a raw image/* body), a tar, JSON, or nothing. */
export type RequestBody = 'image' | 'archive' | 'features' | 'json' | 'none';

/**
 * The media types a body of each kind may come as. Multipart carries it in the field `data`
 * (as curl -F and Python requests send it); the others are the raw body.
 */
export const BODY_MEDIA_TYPES = {
  image: ['multipart/form-data', 'image/*', 'application/octet-stream'],
  features: ['multipart/form-data', 'application/json', 'application/octet-stream'],
  json: ['application/json'],
  archive: ['multipart/form-data', 'application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'],
} as const satisfies Record<Exclude<RequestBody, 'none'>, readonly string[]>;

/** A reply that is not JSON: bytes the client reads as they are. */
export type BinaryReply = Uint8Array;

export interface Endpoint<Params = unknown, Query = unknown, Result = unknown> {
  methods: readonly HttpMethod[];
  /** Path with `{param}` placeholders. */
  path: string;
  summary: string;
  body: RequestBody;
  /** Each query parameter with its description (for /openapi.json). */
  query?: Record<string, string>;
  /** The media type of a successful reply. */
  produces: 'application/json' | 'application/x-tar' | 'image/webp' | 'application/octet-stream';
  /**
   * It changes the state, a scan, files beside scanned images or a cache: a read-only replica
   * (`tagsmith serve --read-only`) answers it `read_only` before reading its body. The server
   * refuses by this flag, in one place.
   */
  writes?: true;
  /** Only a read-only replica takes it (reloading its snapshot); an engine that owns its state answers `forbidden`. */
  replicaOnly?: true;
  /**
   * Types only, never a value: the path parameters, the query (as a client passes it; the
   * server receives strings) and the reply. The server's handlers and the client's calls are
   * typed from these, so an endpoint's shape is written once.
   */
  readonly types?: { params: Params; query: Query; result: Result };
}

/** Declares an endpoint with its types (see Endpoint.types). */
function endpoint<Params extends Record<string, string> = Record<never, string>, Query = Record<never, never>, Result = unknown>(
  spec: Omit<Endpoint<Params, Query, Result>, 'types'>,
): Endpoint<Params, Query, Result> {
  return spec;
}

export type ParamsOf<E> = E extends Endpoint<infer P, unknown, unknown> ? P : never;
export type QueryOf<E> = E extends Endpoint<unknown, infer Q, unknown> ? Q : never;
export type ResultOf<E> = E extends Endpoint<unknown, unknown, infer R> ? R : never;

type Tag = { tag: string };
type TaskId = { task_id: string };
type SampleId = { sample_id: string };
type ScanId = { scan_id: string };

export const ENDPOINTS = {
  addSample: endpoint<{ type: SampleType } & Tag, Record<never, never>, AddSampleResult>({
    writes: true,
    methods: ['POST'],
    path: '/add/{type}/{tag}',
    body: 'image',
    produces: 'application/json',
    summary: 'Add an image as a positive or negative sample of a tag (creates the tag).',
  }),
  train: endpoint<Tag, Partial<TrainOptions>, TrainStarted>({
    writes: true,
    methods: ['GET', 'POST'],
    path: '/train/{tag}',
    body: 'none',
    produces: 'application/json',
    summary: 'Start training a tag; returns {"task_id"} at once.',
    query: {
      num_clusters: `Number of k-means clusters of the positives (${MIN_CLUSTERS}–${MAX_CLUSTERS}, ${DEFAULT_TRAIN_OPTIONS.num_clusters} by default).`,
      apply_aesthetic_score: 'true/false/1/0: use the aesthetic score as an input.',
      apply_stock_score: 'true/false/1/0: use the stock score as an input.',
      apply_keywords: "true/false/1/0: use the keywords model's 80 object confidences as inputs (needs `npm run models:keywords`).",
    },
  }),
  status: endpoint<TaskId, Record<never, never>, TaskView>({
    methods: ['GET'],
    path: '/status/{task_id}',
    body: 'none',
    produces: 'application/json',
    summary: 'State, stage, progress and (when done) metrics of a training task.',
  }),
  predict: endpoint<Record<never, string>, { keywords?: boolean }, Prediction>({
    methods: ['POST'],
    path: '/predict',
    body: 'image',
    produces: 'application/json',
    summary: 'Base scores (nsfw, aesthetic, stock, and keywords when asked) and every custom tag for an image.',
    query: {
      keywords:
        'true/false/1/0: also the COCO objects the image shows, each with its confidence and count (needs `npm run models:keywords`; /health says whether it is installed).',
    },
  }),
  predictCustom: endpoint<Record<never, string>, Record<never, never>, Record<string, TagScore>>({
    methods: ['POST'],
    path: '/predict/custom',
    body: 'image',
    produces: 'application/json',
    summary: 'Every custom tag for an image.',
  }),
  predictCustomTag: endpoint<Tag, Record<never, never>, Record<string, TagScore>>({
    methods: ['POST'],
    path: '/predict/custom/{tag}',
    body: 'image',
    produces: 'application/json',
    summary: 'One custom tag for an image.',
  }),
  getFeatures: endpoint<Record<never, string>, Record<never, never>, FeaturesDocument>({
    methods: ['POST'],
    path: '/get_features',
    body: 'image',
    produces: 'application/json',
    summary: 'The feature document of an image, to save and score later without the image.',
  }),
  predictByFeatures: endpoint<Record<never, string>, Record<never, never>, FeaturesPrediction>({
    methods: ['POST'],
    path: '/predict_by_features',
    body: 'features',
    produces: 'application/json',
    summary: 'Scores a saved feature document (multipart field `data` or a JSON body).',
  }),
  clean: endpoint<Tag, { keep_samples?: boolean }, CleanResult>({
    writes: true,
    methods: ['GET', 'POST'],
    path: '/clean/{tag}',
    body: 'none',
    produces: 'application/json',
    summary: 'Remove a tag: its model and its samples.',
    query: { keep_samples: 'true/false/1/0: remove only the trained model.' },
  }),
  getState: endpoint<Record<never, string>, Record<never, never>, BinaryReply>({
    methods: ['GET'],
    path: '/get_state',
    body: 'none',
    produces: 'application/x-tar',
    summary: 'The whole state as a tar archive.',
  }),
  setState: endpoint<Record<never, string>, Record<never, never>, RestoreResult>({
    writes: true,
    methods: ['POST'],
    path: '/set_state',
    body: 'archive',
    produces: 'application/json',
    summary: 'Replace the whole state with an archive from /get_state (tar or tar.gz); a rejected archive changes nothing.',
  }),
  tags: endpoint<Record<never, string>, Record<never, never>, { tags: TagSummary[] }>({
    methods: ['GET'],
    path: '/tags',
    body: 'none',
    produces: 'application/json',
    summary: 'Every tag with its sample counts, training state and last metrics.',
  }),
  samples: endpoint<Tag, { order?: SampleOrder }, SampleListing>({
    methods: ['GET'],
    path: '/tags/{tag}/samples',
    body: 'none',
    produces: 'application/json',
    summary:
      'The positive and negative samples of a tag, each flagged when its label looks wrong (its held-out score contradicts it, or a sample of the other kind is nearly the same picture).',
    query: { order: 'added (default) or suspicious (the most suspicious first).' },
  }),
  removeSample: endpoint<Tag & SampleId, Record<never, never>, { removed: string }>({
    writes: true,
    methods: ['DELETE'],
    path: '/tags/{tag}/samples/{sample_id}',
    body: 'none',
    produces: 'application/json',
    summary: 'Remove one sample from a tag.',
  }),
  moveSample: endpoint<Tag & SampleId, { to: SampleType }, SampleRecord>({
    writes: true,
    methods: ['POST'],
    path: '/tags/{tag}/samples/{sample_id}/move',
    body: 'none',
    produces: 'application/json',
    summary: 'Move a sample to the other side.',
    query: { to: 'positive or negative' },
  }),
  sampleImage: endpoint<SampleId, Record<never, never>, BinaryReply>({
    methods: ['GET'],
    path: '/samples/{sample_id}/image',
    body: 'none',
    produces: 'application/octet-stream',
    summary: 'The original image of a sample.',
  }),
  thumbnail: endpoint<SampleId, { size?: number }, BinaryReply>({
    methods: ['GET'],
    path: '/samples/{sample_id}/thumbnail',
    body: 'none',
    produces: 'image/webp',
    summary: 'A small WebP of a sample.',
    query: { size: `Longest side in pixels (${THUMBNAIL_MIN}–${THUMBNAIL_MAX}, default ${THUMBNAIL_DEFAULT}).` },
  }),
  tasks: endpoint<Record<never, string>, { tag?: string }, { tasks: TaskView[] }>({
    methods: ['GET'],
    path: '/tasks',
    body: 'none',
    produces: 'application/json',
    summary: 'Training tasks, oldest first.',
    query: { tag: 'Only the tasks of this tag.' },
  }),
  cancelTask: endpoint<TaskId, Record<never, never>, TaskView>({
    writes: true,
    methods: ['POST'],
    path: '/tasks/{task_id}/cancel',
    body: 'none',
    produces: 'application/json',
    summary: 'Cancel a queued or running task.',
  }),
  health: endpoint<Record<never, string>, Record<never, never>, Health>({
    methods: ['GET'],
    path: '/health',
    body: 'none',
    produces: 'application/json',
    summary: 'Version, models, state folder and counts.',
  }),
  startScan: endpoint<Record<never, string>, Record<never, never>, ScanView>({
    writes: true,
    methods: ['POST'],
    path: '/scans',
    body: 'json',
    produces: 'application/json',
    summary:
      'Scan image files and folders on the engine\'s machine (JSON {"paths": [absolute paths], "keywords"?: true}, under its --scan-root folders): a task that embeds each new image once and scores every trained tag (and finds its keywords, when asked and the keywords model is installed).',
  }),
  scans: endpoint<Record<never, string>, Record<never, never>, { scans: ScanView[] }>({
    methods: ['GET'],
    path: '/scans',
    body: 'none',
    produces: 'application/json',
    summary: 'Scans running and finished, newest first.',
  }),
  scan: endpoint<ScanId, Record<never, never>, ScanView>({
    methods: ['GET'],
    path: '/scans/{scan_id}',
    body: 'none',
    produces: 'application/json',
    summary: "A scan's state and progress; once finished, how many images each tag applies to and the files skipped.",
  }),
  cancelScan: endpoint<ScanId, Record<never, never>, ScanView>({
    writes: true,
    methods: ['POST'],
    path: '/scans/{scan_id}/cancel',
    body: 'none',
    produces: 'application/json',
    summary: 'Stop a scan; what it embedded stays in the feature cache.',
  }),
  scanResults: endpoint<ScanId, ScanQuery, ScanPage>({
    methods: ['GET'],
    path: '/scans/{scan_id}/results',
    body: 'none',
    produces: 'application/json',
    summary: "A page of a finished scan's images with every tag's score and call.",
    query: {
      offset: 'First image of the page (default 0).',
      limit: 'Images per page (1–1000, default 100).',
      tag: 'Sort and filter by this tag.',
      applies: 'true/false: only images the tag applies to, or does not.',
      order:
        "path (default), score (highest first) or informative (the model's least sure first, re-ranked by a refit once its samples changed since training, the two sides of its boundary in turn, its samples left out).",
    },
  }),
  exportScan: endpoint<ScanId, { format?: TableFormat; applies_only?: boolean }, BinaryReply>({
    methods: ['GET'],
    path: '/scans/{scan_id}/export',
    body: 'none',
    produces: 'application/octet-stream',
    summary: "A finished scan as CSV or JSON Lines: one record per image with every tag's score, threshold and call.",
    query: { format: 'jsonl (default) or csv.', applies_only: 'true: only images some tag applies to.' },
  }),
  scanSidecars: endpoint<ScanId, Record<never, never>, SidecarReport>({
    writes: true,
    methods: ['POST'],
    path: '/scans/{scan_id}/sidecars',
    body: 'json',
    produces: 'application/json',
    summary:
      'Keywords in XMP sidecars beside a finished scan\'s images (dc:subject; images are never touched): JSON {"action": "preview"|"write"|"remove", "tags"?: [...], "naming"?: "image-name.ext.xmp"|"image-name.xmp", "includeKeywords"?: true}.',
  }),
  reviewQueue: endpoint<Tag, { view?: ReviewView; scan_id?: string; offset?: number; limit?: number }, ReviewQueue>({
    methods: ['GET'],
    path: '/tags/{tag}/review',
    body: 'none',
    produces: 'application/json',
    summary:
      "A tag's review queue over a scan (default the newest): the images that would teach it most first (once samples changed since training, ranked by a refit on them, so each decision re-ranks it), or its calls either way, least sure first; its samples left out.",
    query: {
      view: 'informative (default), applies or not-applies.',
      scan_id: 'The scan to review (default: the newest finished one).',
      offset: 'First image of the page.',
      limit: 'Images per page (1–1000, default 100).',
    },
  }),
  similarToScanned: endpoint<ScanId & { index: string }, { limit?: number }, SimilarImages>({
    methods: ['GET'],
    path: '/scans/{scan_id}/images/{index}/similar',
    body: 'none',
    produces: 'application/json',
    summary: "More like this: the scanned images and samples most like one of a scan's images.",
    query: { limit: 'How many of each (1–200, default 24).' },
  }),
  similarToSample: endpoint<SampleId, { limit?: number }, SimilarImages>({
    methods: ['GET'],
    path: '/samples/{sample_id}/similar',
    body: 'none',
    produces: 'application/json',
    summary: 'More like this: the scanned images (newest scan) and samples most like a sample.',
    query: { limit: 'How many of each (1–200, default 24).' },
  }),
  similarToImage: endpoint<Record<never, string>, { limit?: number }, SimilarImages>({
    methods: ['POST'],
    path: '/similar',
    body: 'image',
    produces: 'application/json',
    summary: 'More like this: the scanned images (newest scan) and samples most like an uploaded image.',
    query: { limit: 'How many of each (1–200, default 24).' },
  }),
  clearFeatureCache: endpoint<Record<never, string>, Record<never, never>, { entries: number; bytes: number }>({
    writes: true,
    methods: ['POST'],
    path: '/cache/clear',
    body: 'none',
    produces: 'application/json',
    summary: "Empty the scans' feature cache (it is rebuilt as folders are scanned again).",
  }),
  reload: endpoint<Record<never, string>, Record<never, never>, ReloadResult>({
    replicaOnly: true,
    methods: ['POST'],
    path: '/reload',
    body: 'none',
    produces: 'application/json',
    summary:
      'A read-only replica reads its --state-archive (or --state folder) again and swaps the served state in once it is checked; requests in flight finish on the old one. A bad archive changes nothing.',
  }),
  openapi: endpoint<Record<never, string>, Record<never, never>, object>({
    methods: ['GET'],
    path: '/openapi.json',
    body: 'none',
    produces: 'application/json',
    summary: 'This API as an OpenAPI 3.1 document.',
  }),
} as const;

export type EndpointName = keyof typeof ENDPOINTS;

/** Fills `{param}` placeholders, each URL-encoded. */
export function endpointPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
}

/** `/add/{type}/{tag}` → `/add/:type/:tag` (the router's syntax). */
export function routerPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
