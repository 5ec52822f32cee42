// What the host does for each request of a Tagsmith webview: mostly a call of the engine's
// client. No `vscode` here — what needs the editor (opening a file, reading a dropped
// explorer item, showing progress) comes in as PanelHostActions — so the webview tests drive
// this same code from a harness page.
import { addImages } from '../../kernel/client/add-many';
import type { SampleRecord, SampleType, TagsmithClient } from '../../kernel/client/tagsmith-client';
import { THUMBNAIL_DEFAULT } from '../../kernel/rules';
import type { PanelKind, Params, RequestMethod, Result, SimilarTarget } from '../../webview/protocol';
import type { EngineWatcher } from '../engine/engine-watcher';
import { assertImagePath, ReviewRequests, type PageContext } from './review-requests';

export type { PageContext };

export interface DroppedImages {
  files: { name: string; read: () => Promise<Uint8Array> }[];
  skipped: { name: string; reason: string }[];
}

export interface PanelHostActions {
  /** Files and folders dropped from the explorer, as URIs: the images in them (read when sent). */
  readDroppedUris(uris: string[]): Promise<DroppedImages>;
  openSample(bytes: Uint8Array, fileName: string): Promise<void>;
  openPanel(panel: PanelKind, tag?: string, similarTo?: SimilarTarget): Promise<void>;
  /** Opens an image file of a scan in the editor. */
  openFile(filePath: string): Promise<void>;
  /** A training task started from a panel (the status bar shows its progress; the host announces its end). */
  trainingStarted(tag: string, taskId: string): void;
}

type Handlers = { [M in RequestMethod]: (params: Params<M>, page: PageContext) => Promise<Result<M>> };

const THUMBNAILS_KEPT = 600;
const UNDO_KEPT = 10;

interface RemovedSamples {
  tag: string;
  samples: { type: SampleType; fileName?: string; bytes: Uint8Array }[];
}

export class PanelRequests {
  private readonly thumbnails = new Map<string, string>();
  private readonly undo = new Map<string, RemovedSamples>();
  private undoCounter = 0;
  private readonly review: ReviewRequests;

  constructor(
    private readonly client: () => Promise<TagsmithClient>,
    /** The panels' picture of the engine; poked after every change made here, so it shows at once. */
    private readonly watcher: Pick<EngineWatcher, 'read' | 'poke'>,
    private readonly actions: PanelHostActions,
  ) {
    this.review = new ReviewRequests(client, () => watcher.poke());
  }

  /** `page`: the panel that asked (where it may load scanned images from). */
  handle<M extends RequestMethod>(method: M, params: Params<M>, page: PageContext): Promise<Result<M>> {
    return (this.handlers[method] as (p: Params<M>, page: PageContext) => Promise<Result<M>>)(params, page);
  }

  private readonly handlers: Handlers = {
    'engine/snapshot': async () => {
      await this.client(); // a panel opened first starts the engine
      return this.watcher.read();
    },
    'samples/list': async ({ tag, order }) => {
      const { positives, negatives, suspicious } = await (await this.client()).samples(tag, { order });
      return { positives, negatives, suspicious };
    },
    'samples/thumbnail': async ({ sampleId }) => {
      const cached = this.thumbnails.get(sampleId);
      if (cached) return { dataUrl: cached };
      const bytes = await (await this.client()).thumbnail(sampleId, THUMBNAIL_DEFAULT);
      const dataUrl = `data:image/webp;base64,${Buffer.from(bytes).toString('base64')}`;
      this.thumbnails.set(sampleId, dataUrl);
      if (this.thumbnails.size > THUMBNAILS_KEPT) this.thumbnails.delete(this.thumbnails.keys().next().value!);
      return { dataUrl };
    },
    'samples/move': async ({ tag, sampleIds, to }) => {
      const client = await this.client();
      for (const id of sampleIds) await client.moveSample(tag, id, to);
      this.watcher.poke();
      return { moved: sampleIds.length };
    },
    'samples/remove': async ({ tag, sampleIds }) => {
      const client = await this.client();
      const { positives, negatives } = await client.samples(tag);
      const records = new Map<string, SampleRecord>([...positives, ...negatives].map((s) => [s.id, s]));
      // The image is read before it goes, so "Undo" can add it back exactly as it was.
      const removed: RemovedSamples = { tag, samples: [] };
      for (const id of sampleIds) {
        const record = records.get(id);
        if (!record) continue;
        const bytes = await client.sampleImage(id);
        await client.removeSample(tag, id);
        removed.samples.push({ type: record.type, fileName: record.fileName, bytes });
      }
      const undoToken = `undo-${++this.undoCounter}`;
      this.undo.set(undoToken, removed);
      if (this.undo.size > UNDO_KEPT) this.undo.delete(this.undo.keys().next().value!);
      this.watcher.poke();
      return { removed: removed.samples.length, undoToken };
    },
    'samples/undoRemove': async ({ undoToken }) => {
      const removed = this.undo.get(undoToken);
      if (!removed) throw Object.assign(new Error('That removal can no longer be undone.'), { code: 'undo_expired' });
      this.undo.delete(undoToken);
      const client = await this.client();
      for (const s of removed.samples) await client.addSample(s.type, removed.tag, s.bytes, s.fileName);
      this.watcher.poke();
      return { restored: removed.samples.length };
    },
    'samples/add': async ({ tag, type, files, uris }) => {
      const client = await this.client();
      const dropped = await this.actions.readDroppedUris(uris);
      const all = [...files.map((f) => ({ name: f.name, read: async () => Buffer.from(f.base64, 'base64') })), ...dropped.files];
      const result = await addImages(client, type, tag, all);
      this.watcher.poke();
      return { added: result.added, skipped: [...dropped.skipped, ...result.skipped] };
    },
    'samples/open': async ({ sampleId, fileName }) => {
      const bytes = await (await this.client()).sampleImage(sampleId);
      await this.actions.openSample(bytes, fileName || `${sampleId.slice(0, 12)}.jpg`);
      return {};
    },
    'train/start': async ({ tag, options }) => {
      const taskId = await (await this.client()).train(tag, options).taskId;
      this.watcher.poke();
      this.actions.trainingStarted(tag, taskId);
      return { taskId };
    },
    'predict/image': async ({ file }) => (await this.client()).predict(Buffer.from(file.base64, 'base64'), { keywords: true }),
    'panel/open': async ({ panel, tag, similarTo }) => {
      await this.actions.openPanel(panel, tag, similarTo);
      return {};
    },
    'review/queue': (params, page) => this.review.queue(params, page),
    'review/decide': (params) => this.review.decide(params),
    'review/undo': (params) => this.review.undo(params),
    'review/similar': (params, page) => this.review.similar(params, page),
    'review/openFile': async ({ path }) => {
      assertImagePath(path);
      await this.actions.openFile(path);
      return {};
    },
  };
}
