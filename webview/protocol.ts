// Every message that crosses between a Tagsmith webview and the extension host, declared once.
// Both sides import this file (it has no DOM and no `vscode` import). A message is an envelope
// with the protocol version; requests carry an id and get exactly one response; notifications
// get none. Everything arriving is checked by the guards below before it is used.
import type {
  Prediction,
  ReviewView,
  SampleOrder,
  SampleRecord,
  SampleSuspicion,
  SampleType,
  SampleView,
  ScannedImageView,
  SimilarImages,
  TagSummary,
  TaskView,
  TrainOptions,
} from '../kernel/client/tagsmith-client';
import { isClusterCount, SAMPLE_TYPES } from '../kernel/rules';

export type {
  Prediction,
  ReviewView,
  SampleOrder,
  SampleRecord,
  SampleSuspicion,
  SampleType,
  SampleView,
  ScannedImageView,
  SimilarImages,
  TagSummary,
  TaskView,
  TrainOptions,
};

export const PROTOCOL_VERSION = 1;

export type PanelKind = 'gallery' | 'dashboard' | 'review';
export const PANEL_KINDS: readonly PanelKind[] = ['gallery', 'dashboard', 'review'];
export const REVIEW_VIEWS: readonly ReviewView[] = ['informative', 'applies', 'not-applies'];

/** A file the user dropped or picked inside the webview, read there (the host cannot see it). */
export interface DroppedFile {
  name: string;
  base64: string;
}

/** What the engine looks like now; the host pushes it whenever it changes (frozen: read, never change). */
export interface EngineSnapshot {
  readonly tags: readonly TagSummary[];
  readonly tasks: readonly TaskView[];
}

/** A scanned image as a review card: the engine's view of it, and a URL the webview may load it from. */
export type ReviewCard = ScannedImageView & {
  /** The image file itself, as a webview resource URI (the panel's localResourceRoots hold the scanned folders). */
  src: string;
};

/** One page of a tag's review queue (the engine's ReviewQueue, its images as cards). */
export interface ReviewPage {
  tag: string;
  scanId: string;
  view: ReviewView;
  reviewedSinceTraining: number;
  /** The informative view follows the decisions since training (the engine re-ranks it after each). */
  rerankedSinceTraining: boolean;
  changedCalls: number;
  total: number;
  offset: number;
  images: ReviewCard[];
}

/** An image to decide on: a scanned image (by its path) or a sample already in the engine. */
export type DecisionTarget = { path: string } | { sampleId: string };

/** What a decision did, so it can be undone exactly: nothing (it already was so), an added sample, or a moved one. */
export type DecisionEffect = { kind: 'none' } | { kind: 'added'; sampleId: string } | { kind: 'moved'; sampleId: string; from: SampleType };

/** What "more like this" starts from: a scanned image, a sample, or an image file on disk. */
export type SimilarTarget = { scanId: string; index: number; label: string } | { sampleId: string; label: string } | { path: string; label: string };

/** "More like this": the nearest scanned images (as cards) and samples. */
export interface SimilarResult {
  target: SimilarTarget;
  scanId?: string;
  images: (ReviewCard & { similarity: number })[];
  samples: SimilarImages['samples'];
}

export const SAMPLE_ORDERS: readonly SampleOrder[] = ['added', 'suspicious'];

/** Requests a webview sends to the host, with their parameters and results. */
export interface Requests {
  'engine/snapshot': { params: Record<string, never>; result: EngineSnapshot };
  'samples/list': { params: { tag: string; order?: SampleOrder }; result: { positives: SampleView[]; negatives: SampleView[]; suspicious: number } };
  'samples/thumbnail': { params: { sampleId: string }; result: { dataUrl: string } };
  'samples/move': { params: { tag: string; sampleIds: string[]; to: SampleType }; result: { moved: number } };
  'samples/remove': { params: { tag: string; sampleIds: string[] }; result: { removed: number; undoToken: string } };
  'samples/undoRemove': { params: { undoToken: string }; result: { restored: number } };
  'samples/add': {
    params: { tag: string; type: SampleType; files: DroppedFile[]; uris: string[] };
    result: { added: number; skipped: { name: string; reason: string }[] };
  };
  'samples/open': { params: { sampleId: string; fileName?: string }; result: Record<string, never> };
  'train/start': { params: { tag: string; options: TrainOptions }; result: { taskId: string } };
  'predict/image': { params: { file: DroppedFile }; result: Prediction };
  'panel/open': { params: { panel: PanelKind; tag?: string; similarTo?: SimilarTarget }; result: Record<string, never> };
  'review/queue': { params: { tag: string; view: ReviewView; offset: number; limit: number }; result: ReviewPage };
  /** Adds the image as a sample of the tag (or moves it there); saved before the reply. */
  'review/decide': { params: { tag: string; type: SampleType; target: DecisionTarget }; result: DecisionEffect };
  /** Puts the tag's samples back as they were before a decision. */
  'review/undo': { params: { tag: string; effect: DecisionEffect }; result: Record<string, never> };
  'review/similar': { params: { target: SimilarTarget; limit: number }; result: SimilarResult };
  /** Opens a scanned image in VS Code. */
  'review/openFile': { params: { path: string }; result: Record<string, never> };
}

/** Notifications the host sends to a webview. */
export interface HostNotifications {
  'engine/changed': EngineSnapshot;
  /** Select this tag (e.g. "Open dashboard" after training it). */
  'panel/showTag': { tag: string };
  /** Show the images most like this one (the review panel's "similar to…" mode). */
  'review/showSimilar': { target: SimilarTarget };
}

/** Notifications a webview sends to the host. */
export interface WebviewNotifications {
  /** The webview's script runs and listens; the host holds its messages until this arrives. */
  ready: { panel: PanelKind };
}

export type RequestMethod = keyof Requests;
export type Params<M extends RequestMethod> = Requests[M]['params'];
export type Result<M extends RequestMethod> = Requests[M]['result'];

export interface RequestMessage<M extends RequestMethod = RequestMethod> {
  v: typeof PROTOCOL_VERSION;
  kind: 'request';
  id: number;
  method: M;
  params: Params<M>;
}

export interface ErrorBody {
  code: string;
  message: string;
}

export type ResponseMessage =
  | { v: typeof PROTOCOL_VERSION; kind: 'response'; id: number; ok: true; result: unknown }
  | { v: typeof PROTOCOL_VERSION; kind: 'response'; id: number; ok: false; error: ErrorBody };

export interface NotificationMessage<N extends string = string, P = unknown> {
  v: typeof PROTOCOL_VERSION;
  kind: 'notification';
  method: N;
  params: P;
}

/** How long a webview waits for each reply before giving up with a `timeout` error. */
export const REPLY_TIMEOUT_MS: Record<RequestMethod, number> = {
  'engine/snapshot': 15_000,
  'samples/list': 15_000,
  'samples/thumbnail': 30_000,
  'samples/move': 60_000,
  'samples/remove': 60_000,
  'samples/undoRemove': 120_000,
  'samples/add': 600_000,
  'samples/open': 30_000,
  'train/start': 30_000,
  'predict/image': 60_000,
  'panel/open': 15_000,
  'review/queue': 30_000,
  'review/decide': 60_000,
  'review/undo': 60_000,
  'review/similar': 60_000,
  'review/openFile': 30_000,
};

// ---- guards: a message is used only after one of these accepted it ----

type Check = (value: unknown) => boolean;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString: Check = (v) => typeof v === 'string';
const isNonEmptyString: Check = (v) => typeof v === 'string' && v.length > 0 && v.length <= 4096;
const isOptional =
  (check: Check): Check =>
  (v) =>
    v === undefined || check(v);
const isArrayOf =
  (check: Check, max = 100_000): Check =>
  (v) =>
    Array.isArray(v) && v.length <= max && v.every(check);
const isOneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);
const isShape =
  (shape: Record<string, Check>): Check =>
  (v) =>
    isObject(v) && Object.entries(shape).every(([key, check]) => check(v[key]));

const isSampleType = isOneOf(...SAMPLE_TYPES);
const isDroppedFile = isShape({ name: isNonEmptyString, base64: isString });
const isCount =
  (max: number): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;
const isReviewView = isOneOf(...REVIEW_VIEWS);
const isPanelKind = isOneOf(...PANEL_KINDS);
const isDecisionTarget: Check = (v) => isShape({ path: isNonEmptyString })(v) || isShape({ sampleId: isNonEmptyString })(v);
const isDecisionEffect: Check = (v) =>
  isShape({ kind: isOneOf('none') })(v) ||
  isShape({ kind: isOneOf('added'), sampleId: isNonEmptyString })(v) ||
  isShape({ kind: isOneOf('moved'), sampleId: isNonEmptyString, from: isSampleType })(v);
const isSimilarTarget: Check = (v) =>
  isShape({ scanId: isNonEmptyString, index: isCount(10_000_000), label: isString })(v) ||
  isShape({ sampleId: isNonEmptyString, label: isString })(v) ||
  isShape({ path: isNonEmptyString, label: isString })(v);
const isTrainOptions = isShape({
  num_clusters: isClusterCount,
  apply_aesthetic_score: (v) => typeof v === 'boolean',
  apply_stock_score: (v) => typeof v === 'boolean',
});

const PARAM_CHECKS: Record<RequestMethod, Check> = {
  'engine/snapshot': isObject,
  'samples/list': isShape({ tag: isNonEmptyString, order: isOptional(isOneOf(...SAMPLE_ORDERS)) }),
  'samples/thumbnail': isShape({ sampleId: isNonEmptyString }),
  'samples/move': isShape({ tag: isNonEmptyString, sampleIds: isArrayOf(isNonEmptyString), to: isSampleType }),
  'samples/remove': isShape({ tag: isNonEmptyString, sampleIds: isArrayOf(isNonEmptyString) }),
  'samples/undoRemove': isShape({ undoToken: isNonEmptyString }),
  'samples/add': isShape({ tag: isNonEmptyString, type: isSampleType, files: isArrayOf(isDroppedFile, 10_000), uris: isArrayOf(isNonEmptyString, 100_000) }),
  'samples/open': isShape({ sampleId: isNonEmptyString, fileName: isOptional(isString) }),
  'train/start': isShape({ tag: isNonEmptyString, options: isTrainOptions }),
  'predict/image': isShape({ file: isDroppedFile }),
  'panel/open': isShape({ panel: isPanelKind, tag: isOptional(isNonEmptyString), similarTo: isOptional(isSimilarTarget) }),
  'review/queue': isShape({ tag: isNonEmptyString, view: isReviewView, offset: isCount(10_000_000), limit: isCount(1000) }),
  'review/decide': isShape({ tag: isNonEmptyString, type: isSampleType, target: isDecisionTarget }),
  'review/undo': isShape({ tag: isNonEmptyString, effect: isDecisionEffect }),
  'review/similar': isShape({ target: isSimilarTarget, limit: isCount(200) }),
  'review/openFile': isShape({ path: isNonEmptyString }),
};

const isEnvelope = (v: unknown): v is Record<string, unknown> => isObject(v) && v.v === PROTOCOL_VERSION;

export function isRequestMessage(v: unknown): v is RequestMessage {
  return (
    isEnvelope(v) &&
    v.kind === 'request' &&
    Number.isSafeInteger(v.id) &&
    typeof v.method === 'string' &&
    Object.hasOwn(PARAM_CHECKS, v.method) &&
    PARAM_CHECKS[v.method as RequestMethod](v.params)
  );
}

export function isResponseMessage(v: unknown): v is ResponseMessage {
  if (!isEnvelope(v) || v.kind !== 'response' || !Number.isSafeInteger(v.id)) return false;
  return v.ok === true ? 'result' in v : v.ok === false && isShape({ code: isString, message: isString })(v.error);
}

const isSnapshot = isShape({ tags: isArrayOf(isObject), tasks: isArrayOf(isObject) });
const HOST_NOTIFICATION_CHECKS: Record<keyof HostNotifications, Check> = {
  'engine/changed': isSnapshot,
  'panel/showTag': isShape({ tag: isNonEmptyString }),
  'review/showSimilar': isShape({ target: isSimilarTarget }),
};

export type HostNotification = { [N in keyof HostNotifications]: NotificationMessage<N, HostNotifications[N]> }[keyof HostNotifications];

export function isHostNotification(v: unknown): v is HostNotification {
  return (
    isEnvelope(v) &&
    v.kind === 'notification' &&
    typeof v.method === 'string' &&
    Object.hasOwn(HOST_NOTIFICATION_CHECKS, v.method) &&
    HOST_NOTIFICATION_CHECKS[v.method as keyof HostNotifications](v.params)
  );
}

export function isReadyNotification(v: unknown): v is NotificationMessage<'ready', WebviewNotifications['ready']> {
  return isEnvelope(v) && v.kind === 'notification' && v.method === 'ready' && isShape({ panel: isPanelKind })(v.params);
}

// ---- constructors, so neither side spells an envelope by hand ----

export function request<M extends RequestMethod>(id: number, method: M, params: Params<M>): RequestMessage<M> {
  return { v: PROTOCOL_VERSION, kind: 'request', id, method, params };
}

export function response(id: number, outcome: { result: unknown } | { error: ErrorBody }): ResponseMessage {
  return 'error' in outcome
    ? { v: PROTOCOL_VERSION, kind: 'response', id, ok: false, error: outcome.error }
    : { v: PROTOCOL_VERSION, kind: 'response', id, ok: true, result: outcome.result };
}

export function notification<N extends keyof HostNotifications>(method: N, params: HostNotifications[N]): NotificationMessage<N, HostNotifications[N]>;
export function notification<N extends keyof WebviewNotifications>(method: N, params: WebviewNotifications[N]): NotificationMessage<N, WebviewNotifications[N]>;
export function notification(method: string, params: unknown): NotificationMessage {
  return { v: PROTOCOL_VERSION, kind: 'notification', method, params };
}
