// Folder scans as tasks: queued, run one at a time, followed by their progress, cancelled on
// request (what was embedded stays in the feature cache), and stored when they finish. Scans of
// earlier runs of the engine are read back from the scan store.
import { asTagsmithError, TagsmithError } from '../errors';
import type { ScanView } from '../api/wire-types';
import type { ScanIndex } from '../scan/scan-index';
import { scanImages, type ScanEmbeddings, type ScanRunner } from '../scan/scanner';
import { isScanId, newScanId, type ScanRecord, type ScanStore } from '../scan/scan-store';

/** Skipped files a scan's view lists (it counts them all). */
const SKIPPED_SHOWN = 200;
/** Finished scans kept in memory; older ones are read from the store. */
const VIEWS_KEPT = 50;

export interface ScanHost {
  embeddings: ScanEmbeddings;
  index(): Promise<ScanIndex>;
  store: ScanStore;
  /** Real paths of the folders scans may read; undefined: anywhere (the CLI's own scans). */
  within: readonly string[] | undefined;
  /** Runs a scan elsewhere (an engine started with --redis: scan workers); default: here, scanImages. */
  runner?: ScanRunner;
}

type Listener = (view: ScanView) => void;

export class ScanQueue {
  private readonly views = new Map<string, ScanView>();
  private readonly inputs = new Map<string, string[]>();
  private readonly withKeywords = new Set<string>();
  private readonly pending: string[] = [];
  private running?: { id: string; controller: AbortController; finished: Promise<void> };
  private readonly listeners = new Set<Listener>();
  private stopped = false;

  constructor(private readonly host: ScanHost) {}

  /** Queues a scan of these absolute paths (finding their keywords too, if asked) and returns its view at once. */
  start(paths: string[], options: { keywords?: boolean } = {}): ScanView {
    if (this.stopped) throw new TagsmithError('shutting_down', 'The engine is stopping.');
    const id = newScanId();
    const view: ScanView = { scan_id: id, state: 'queued', inputs: paths, progress: emptyProgress(), createdAt: new Date().toISOString() };
    this.views.set(id, view);
    this.inputs.set(id, paths);
    if (options.keywords) this.withKeywords.add(id);
    this.pending.push(id);
    this.notify(view);
    this.pump();
    return copy(view);
  }

  /** A scan's view: live while it runs, from the store once an earlier engine finished it. */
  async status(id: string): Promise<ScanView> {
    const view = this.views.get(id);
    if (view) return copy(view);
    if (!isScanId(id)) throw new TagsmithError('unknown_scan', `There is no scan ${JSON.stringify(id).slice(0, 80)}.`);
    return finishedView(await this.host.store.record(id));
  }

  /** Scans queued, running and finished (stored), newest first. */
  async list(): Promise<ScanView[]> {
    const live = [...this.views.values()].map(copy);
    const known = new Set(live.map((v) => v.scan_id));
    const stored = (await this.host.store.list()).filter((r) => !known.has(r.id)).map(finishedView);
    return [...live, ...stored].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async cancel(id: string): Promise<ScanView> {
    const view = this.views.get(id);
    if (!view) return this.status(id); // finished long ago: nothing to cancel
    if (view.state === 'queued') {
      this.pending.splice(this.pending.indexOf(id), 1);
      this.update(view, { state: 'cancelled', finishedAt: new Date().toISOString() });
    } else if (view.state === 'running') {
      this.running?.controller.abort();
    }
    return copy(view);
  }

  get busy(): boolean {
    return this.running !== undefined || this.pending.length > 0;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Cancels what runs and drops what waits; resolves when the running scan has stopped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending.length = 0;
    this.running?.controller.abort();
    await this.running?.finished;
  }

  private pump(): void {
    if (this.running || this.stopped) return;
    const id = this.pending.shift();
    if (!id) return;
    const controller = new AbortController();
    this.running = { id, controller, finished: this.run(id, controller) };
  }

  private async run(id: string, controller: AbortController): Promise<void> {
    const view = this.views.get(id)!;
    const startedAt = new Date().toISOString();
    this.update(view, { state: 'running', startedAt });
    try {
      const inputs = this.inputs.get(id)!;
      // Keywords when asked for, or when a trained tag reads them.
      const keywords = this.host.embeddings.keywords !== undefined && (this.withKeywords.has(id) || (this.host.embeddings.keywordsWanted?.() ?? false));
      const outcome = await (this.host.runner ?? scanImages)(inputs, this.host.embeddings, await this.host.index(), {
        signal: controller.signal,
        within: this.host.within,
        keywords,
        onProgress: (progress) => this.update(view, { progress }),
      });
      const record = await this.host.store.save(
        id,
        {
          inputs,
          backbone: this.host.embeddings.backbone,
          featureLength: this.host.embeddings.featureLength,
          startedAt,
          ...(keywords ? { keywords: true } : {}),
        },
        outcome,
      );
      this.update(view, finishedView(record));
    } catch (error) {
      const e = asTagsmithError(error);
      this.update(view, { state: 'failed', error: { code: e.code, message: e.message }, finishedAt: new Date().toISOString() });
    } finally {
      this.running = undefined;
      this.inputs.delete(id);
      this.withKeywords.delete(id);
      this.forgetOld();
      this.pump();
    }
  }

  private update(view: ScanView, patch: Partial<ScanView>): void {
    Object.assign(view, patch);
    this.notify(view);
  }

  private notify(view: ScanView): void {
    for (const listener of this.listeners) listener(copy(view));
  }

  private forgetOld(): void {
    const finished = [...this.views.values()].filter((v) => v.state !== 'queued' && v.state !== 'running');
    for (const view of finished.slice(0, Math.max(0, finished.length - VIEWS_KEPT))) this.views.delete(view.scan_id);
  }
}

/** The view of a stored scan: applies counts are the engine's to fill in, from current models. */
export function finishedView(record: ScanRecord): ScanView {
  const seconds = (Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 1000;
  return {
    scan_id: record.id,
    state: record.cancelled ? 'cancelled' : 'done',
    inputs: record.inputs,
    progress: {
      total: record.images + record.skipped.length,
      done: record.images + record.skipped.length,
      embedded: record.embedded,
      known: record.known,
      skipped: record.skipped.length,
      imagesPerSecond: seconds > 0 ? (record.images + record.skipped.length) / seconds : 0,
    },
    createdAt: record.startedAt,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    ...(record.keywords ? { keywords: true } : {}),
    result: { images: record.images, skipped: record.skipped.slice(0, SKIPPED_SHOWN), applies: {}, changedCalls: {} },
  };
}

function emptyProgress(): ScanView['progress'] {
  return { total: 0, done: 0, embedded: 0, known: 0, skipped: 0, imagesPerSecond: 0 };
}

function copy(view: ScanView): ScanView {
  return structuredClone(view);
}
