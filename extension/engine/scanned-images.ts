// The scanned images the explorer badges: for each workspace folder, the engine's latest finished
// scan of it, read page by page with every trained tag's call. Read again when a scan finishes and
// when the trained tags change (the engine re-scores a scan from its features when a tag is trained
// again, drops a removed tag's calls): the owner calls `modelsChanged` on the watcher's
// onDidChangeModels. Reads run one at a time; a read asked for during one runs after it. A read
// that fails keeps what was read before. No `vscode` here.
import type { ScanView, TagsmithClient } from '../../kernel/client/tagsmith-client';
import { EventSource, type Event } from '../logic/event-source';
import { scansToShow, type LoadedScan } from '../logic/scan-badges';

/** What is read from the engine. */
export type ScanSource = Pick<TagsmithClient, 'scans' | 'scanResults'>;

export interface ScannedImagesOptions {
  /** Images per request (the engine's most is 1000). */
  pageSize?: number;
  /** A read that failed (the engine went, a scan it no longer has): for the log. */
  onError?: (message: string) => void;
}

export class ScannedImages {
  private readonly changes = new EventSource<readonly LoadedScan[]>();
  /** After each read that changed the scans (or their calls): the scans, newest first. */
  readonly onDidChange: Event<readonly LoadedScan[]>;
  private loaded = new Map<string, { scan: LoadedScan; generation: number }>();
  /** Counts changes of the trained tags: a scan read before the last one is read again. */
  private generation = 0;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  private disposed = false;

  constructor(
    private readonly source: () => Promise<ScanSource>,
    /** The folders whose scans count (the workspace folders). */
    private readonly roots: () => readonly string[],
    private readonly options: ScannedImagesOptions = {},
  ) {
    this.onDidChange = this.changes.event;
  }

  /** The scans that decide badges, newest first. */
  get scans(): readonly LoadedScan[] {
    return [...this.loaded.values()].map((l) => l.scan).sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** The trained tags changed, or another run of the engine answers: every scan's calls are read again. */
  modelsChanged(): Promise<void> {
    this.generation++;
    return this.refresh();
  }

  /**
   * Reads the engine's list of scans, the calls of each new one that decides badges (and of every
   * one after the trained tags changed), and forgets scans no longer deciding any. Resolves once a
   * read that started after this call has ended.
   */
  refresh(): Promise<void> {
    if (!this.running) {
      this.running = this.read().finally(() => (this.running = undefined));
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return this.refresh();
    });
    return this.queued;
  }

  dispose(): void {
    this.disposed = true;
    this.changes.dispose();
  }

  private async read(): Promise<void> {
    const generation = this.generation;
    let changed = false;
    try {
      const source = await this.source();
      const listed = await source.scans();
      const wanted = scansToShow(listed, this.roots());
      for (const id of [...this.loaded.keys()]) {
        if (!wanted.includes(id)) changed = this.loaded.delete(id) || changed;
      }
      for (const id of wanted) {
        if (this.loaded.get(id)?.generation === generation) continue;
        const scan = listed.find((s) => s.scan_id === id)!;
        try {
          this.loaded.set(id, { scan: await this.readScan(source, scan), generation });
        } catch (error) {
          // Gone since it was listed, or made with another backbone: it shows nothing.
          this.loaded.delete(id);
          this.options.onError?.(`the results of scan ${id} could not be read: ${(error as Error).message}`);
        }
        changed = true;
      }
    } catch (error) {
      this.options.onError?.(`the scanned images could not be read: ${(error as Error).message}`);
    }
    if (changed && !this.disposed) this.changes.fire(this.scans);
  }

  private async readScan(source: ScanSource, scan: ScanView): Promise<LoadedScan> {
    const limit = this.options.pageSize ?? 1000;
    const images: LoadedScan['images'][number][] = [];
    for (let offset = 0; ; offset += limit) {
      const page = await source.scanResults(scan.scan_id, { offset, limit });
      for (const image of page.images) images.push({ path: image.path, tags: image.tags, ...(image.keywords ? { keywords: image.keywords } : {}) });
      if (page.images.length === 0 || offset + limit >= page.total) break;
    }
    return { id: scan.scan_id, inputs: scan.inputs, createdAt: scan.createdAt, images };
  }
}
