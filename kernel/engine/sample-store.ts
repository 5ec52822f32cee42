// The samples on disk: each tag's list, the images (stored once by sha256), their stored
// embeddings, cached thumbnails, and the deletion of files no list names. It holds no locks:
// the engine (the coordinator) takes them, and each method says what its caller must hold.
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagsmithError } from '../errors';
import { SAMPLE_TYPES } from '../rules';
import { syncDirectory, writeFileAtomic, writeJsonAtomic } from '../state/atomic-file';
import { isValidTag, shownName } from '../state/path-names';
import type { RunningBackbone } from '../state/read-generation';
import type { EmbeddingRecord, SampleListJson, SampleRecord, SampleType } from '../state/record-schemas';
import { deleteSampleFiles } from '../state/sample-files';
import type { StateLayout } from '../state/state-layout';
import { checkEmbedding, checkSampleList, readRecordFile } from '../state/stored-records';
import { sha256 } from './embedder';
import { makeThumbnail } from './thumbnails';

export class SampleStore {
  constructor(private readonly layout: StateLayout) {}

  // ── lists ──────────────────────────────────────────────────────────────────────────

  async readList(tag: string): Promise<SampleListJson | undefined> {
    const file = this.layout.samples(tag);
    const value = await readRecordFile(file, this.layout.current.relative(file));
    return value === undefined ? undefined : checkSampleList(value, this.layout.current.relative(file), tag);
  }

  async requireList(tag: string): Promise<SampleListJson> {
    const list = await this.readList(tag);
    if (!list) throw new TagsmithError('unknown_tag', `There is no tag "${tag}"; add samples to create it.`);
    return list;
  }

  /** Writes a tag's list (creating its folder). Caller: the tag's lock. */
  async writeList(list: SampleListJson): Promise<void> {
    await fs.mkdir(this.layout.tagDir(list.tag), { recursive: true });
    await writeJsonAtomic(this.layout.samples(list.tag), list);
  }

  /** Replaces one sample of a tag's list; `unknown_sample` if the tag has none of that id. Caller: the tag's lock. */
  async changeSample(tag: string, id: string, change: (list: SampleListJson, index: number) => void): Promise<void> {
    const list = await this.requireList(tag);
    const index = list.samples.findIndex((s) => s.id === id);
    if (index < 0) throw new TagsmithError('unknown_sample', `Tag "${tag}" has no sample ${shownName(id)}.`);
    change(list, index);
    await writeJsonAtomic(this.layout.samples(tag), list);
  }

  /** Tags with a samples list, in name order. */
  async tagNames(): Promise<string[]> {
    const entries = await fs.readdir(this.layout.tagsDir(), { withFileTypes: true });
    const names = [];
    for (const e of entries) if (e.isDirectory() && isValidTag(e.name) && (await exists(this.layout.samples(e.name)))) names.push(e.name);
    return names.sort((a, b) => a.localeCompare(b));
  }

  async allLists(): Promise<SampleListJson[]> {
    const lists = await Promise.all((await this.tagNames()).map((tag) => this.readList(tag)));
    return lists.filter((l): l is SampleListJson => l !== undefined);
  }

  /**
   * Takes a tag's folder away: one rename, made durable before any of its samples' files may
   * go, then the folder deleted. Caller: the tag's lock.
   */
  async removeTagFolder(tag: string): Promise<void> {
    const trash = this.layout.trash(tag);
    await fs.rename(this.layout.tagDir(tag), trash).catch(() => undefined);
    await syncDirectory(this.layout.tagsDir());
    await fs.rm(trash, { recursive: true, force: true });
  }

  // ── files ──────────────────────────────────────────────────────────────────────────

  /** Caller: the sample-files lock (shared). */
  async storeImage(id: string, bytes: Uint8Array): Promise<void> {
    const file = this.layout.image(id);
    if (await exists(file)) return;
    await writeFileAtomic(file, bytes);
  }

  hasImage(id: string): Promise<boolean> {
    return exists(this.layout.image(id));
  }

  /** The original bytes; `unknown_sample` if this state has no such image. */
  async readImage(id: string): Promise<Buffer> {
    const file = this.layout.image(id); // refuses a malformed id before any file is touched
    try {
      return await fs.readFile(file);
    } catch {
      throw new TagsmithError('unknown_sample', `There is no sample ${id}.`);
    }
  }

  /** A sample's stored embedding for the running backbone; undefined if there is none (it throws for a damaged one). */
  async readEmbedding(id: string, running: RunningBackbone): Promise<EmbeddingRecord | undefined> {
    const file = this.layout.features(running.backbone, id);
    const relative = this.layout.current.relative(file);
    const stored = await readRecordFile(file, relative);
    return stored === undefined ? undefined : checkEmbedding(stored, relative, running);
  }

  /** Caller: the sample-files lock (shared). */
  async storeEmbedding(id: string, record: EmbeddingRecord): Promise<void> {
    const file = this.layout.features(record.backbone, id);
    if (await exists(file)) return;
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeJsonAtomic(file, record);
  }

  /** Deletes the image, embeddings and thumbnails of each of `ids`. Caller: the sample-files lock (alone), after the lists that dropped them are on disk. */
  deleteFiles(ids: string[]): Promise<void> {
    return deleteSampleFiles(this.layout.current, this.layout.thumbnails, ids);
  }

  /** A small WebP of a sample (cached: derived data, not part of the archive). */
  async thumbnail(id: string, side: number): Promise<Buffer> {
    const file = this.layout.thumbnail(id, side); // refuses a malformed id or size before any file is touched
    // The cache outlives samples and restores: serve it only for a sample of this state.
    if (!(await this.hasImage(id))) throw new TagsmithError('unknown_sample', `There is no sample ${id}.`);
    const cached = await fs.readFile(file).catch(() => undefined);
    if (cached) return cached;
    const thumbnail = await makeThumbnail(await this.readImage(id), side);
    await writeFileAtomic(file, thumbnail);
    return thumbnail;
  }
}

export function newSampleList(tag: string): SampleListJson {
  return { name: 'tagsmith-samples', formatVersion: 1, tag, samples: [] };
}

export function newSample(id: string, type: SampleType, fileName?: string): SampleRecord {
  return { id, type, addedAt: new Date().toISOString(), ...(fileName ? { fileName: cleanFileName(fileName) } : {}) };
}

export function checkSampleType(type: string | undefined): asserts type is SampleType {
  if (!(SAMPLE_TYPES as readonly string[]).includes(type as string)) {
    throw new TagsmithError('bad_request', `Sample type must be "positive" or "negative"; got ${JSON.stringify(type)}.`);
  }
}

/** Which samples a model was trained on: it is stale once this changes. */
export function samplesDigest(samples: SampleRecord[]): string {
  const lines = samples.map((s) => `${s.type}:${s.id}`).sort();
  return sha256(Buffer.from(lines.join('\n')));
}

/** Keeps only the base name, without control characters, at most 255 characters. */
function cleanFileName(name: string): string {
  const base = path.basename(name.replace(/\\/g, '/'));
  // eslint-disable-next-line no-control-regex -- control characters are what is taken out
  return base.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
