// The rules a user meets, each written once: how many clusters a tag may have and which the
// dialogs offer, how many samples training needs, the training defaults, when a task is
// active, the sample types, thumbnail sizes, the default upload limit, which files count as
// images and where the engine listens by default. The engine enforces them; the extension and
// the webviews offer and explain them from here, so they cannot disagree.
//
// A leaf like errors.ts: it imports nothing, so every layer of the kernel may import it, and so
// may the extension and the webviews' browser bundles (no Node here). Name rules (tags, ids)
// are kernel/state/path-names.ts's.

// ── training ────────────────────────────────────────────────────────────────────────

/** The options of a training run, as the SDK names them. */
export interface TrainOptions {
  num_clusters: number;
  apply_aesthetic_score: boolean;
  apply_stock_score: boolean;
  /**
   * Append the keywords model's confidences (80 COCO classes) to the features; needs the
   * keywords model (`npm run models:keywords`). Absent in models trained before it existed.
   * Off by default: in bench:accuracy it lowered ants/bees (no COCO class) from ROC AUC 0.959
   * to 0.904 with all data, and from 0.83 to 0.73 at 10 shots.
   */
  apply_keywords?: boolean;
}

/** What a training run uses for an option it is not given. */
export const DEFAULT_TRAIN_OPTIONS: Readonly<Required<TrainOptions>> = Object.freeze({
  num_clusters: 1,
  apply_aesthetic_score: false,
  apply_stock_score: false,
  apply_keywords: false,
});

/** `num_clusters`: how many k-means clusters the positives are split into. */
export const MIN_CLUSTERS = 1;
export const MAX_CLUSTERS = 32;

/** The cluster counts the Train dialogs offer (the palette's and the panels'). */
export const CLUSTER_CHOICES: readonly number[] = Object.freeze([1, 2, 3, 4, 5, 8]);

export function isClusterCount(k: unknown): k is number {
  return typeof k === 'number' && Number.isInteger(k) && k >= MIN_CLUSTERS && k <= MAX_CLUSTERS;
}

/** Training needs this many positives (and one per cluster) and this many negatives. */
export const MIN_POSITIVES = 2;
export const MIN_NEGATIVES = 2;

export function positivesNeeded(clusters: number = DEFAULT_TRAIN_OPTIONS.num_clusters): number {
  return Math.max(MIN_POSITIVES, clusters);
}

export function hasEnoughSamples(counts: { positives: number; negatives: number }, clusters: number = DEFAULT_TRAIN_OPTIONS.num_clusters): boolean {
  return counts.positives >= positivesNeeded(clusters) && counts.negatives >= MIN_NEGATIVES;
}

/** "at least 2 positive and 2 negative samples": what training needs, in words. */
export function samplesNeeded(clusters: number = DEFAULT_TRAIN_OPTIONS.num_clusters): string {
  return `at least ${positivesNeeded(clusters)} positive and ${MIN_NEGATIVES} negative samples`;
}

/** The cluster choices a tag with this many positives can train with (the smallest always, so a dialog is never empty). */
export function clusterChoicesFor(positives: number): number[] {
  return CLUSTER_CHOICES.filter((k) => k === MIN_CLUSTERS || positivesNeeded(k) <= positives);
}

// ── tasks ───────────────────────────────────────────────────────────────────────────

export const TASK_STATES = ['queued', 'running', 'done', 'failed'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/**
 * A task is active while it is queued or running: its tag's Train button waits, the status bar
 * spins, and a task the engine stopped in this state is settled as interrupted.
 */
export function isActiveTask(task: { state: TaskState }): boolean {
  return task.state === 'queued' || task.state === 'running';
}

// ── samples ─────────────────────────────────────────────────────────────────────────

export const SAMPLE_TYPES = ['positive', 'negative'] as const;
export type SampleType = (typeof SAMPLE_TYPES)[number];

/** A sample thumbnail's longest side, pixels: what /samples/<id>/thumbnail makes and its default. */
export const THUMBNAIL_MIN = 32;
export const THUMBNAIL_MAX = 1024;
export const THUMBNAIL_DEFAULT = 256;

// ── files ───────────────────────────────────────────────────────────────────────────

/**
 * The largest image or features document an engine takes unless `--max-upload-mb` says
 * otherwise; the explorer and the webviews skip larger files before sending them.
 */
export const DEFAULT_MAX_UPLOAD_MB = 50;
export const DEFAULT_MAX_UPLOAD = DEFAULT_MAX_UPLOAD_MB * 2 ** 20;

/** The extensions of the files taken as images when a folder is walked or a file picked. */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);
/** The same kinds, as a user reads them. */
export const IMAGE_KINDS = 'jpg, png, webp, gif, tiff or avif';

// ── where the engine listens ────────────────────────────────────────────────────────

/** `tagsmith serve`'s address when it is given none, and where the notebook API looks first. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 5000;
export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
