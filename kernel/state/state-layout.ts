// The state folder. A pointer file, CURRENT, names the active generation folder; restoring
// an archive builds a new generation beside it and swaps the pointer in one atomic rename,
// so a crash at any moment leaves either the old state or the new one.
//
//   <root>/CURRENT                          {"generation": "g-…"}
//   <root>/<generation>/manifest.json       {"name": "tagsmith-state", "formatVersion": 1}
//   <root>/<generation>/images/<sha256>     sample images, stored once by content hash
//   <root>/<generation>/features/<backbone>/<sha256>.json   cached embeddings and base scores
//   <root>/<generation>/tags/<tag>/samples.json             the tag's samples
//   <root>/<generation>/tags/<tag>/model.json               the trained tag model
//   <root>/<generation>/tasks/<task id>.json                training task history
//   <root>/tmp/                             uploads and folders being built
//   <root>/cache/thumbnails/<sha256>-<side>.webp            derived thumbnails (not archived)
//   <root>/cache/features/<backbone>/…      embeddings of scanned images (not archived; feature-cache.ts)
//   <root>/cache/scan-index.json            scanned files' size, mtime and sha256 (not archived)
//   <root>/scans/<scan id>/                 finished scans (not archived; scan-store.ts)
//   <root>/engine.lock                      the engine writing this folder (engine-lock.ts)
//
// Every path method checks the names it is given (path-names.ts) and throws for one that
// breaks its rule, so no caller, whatever the name's source, can build a path out of the state.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TEMP_MARKER, writeJsonAtomic } from './atomic-file';
import {
  isBackboneId,
  isSampleId,
  isTaskId,
  isValidTag,
  shownName,
  validateBackboneId,
  validateSampleId,
  validateTag,
  validateTaskId,
  validateThumbnailSide,
} from './path-names';
import { STATE_FORMAT, STATE_NAME, type StateManifest } from './record-schemas';
import { checkCurrentPointer, checkManifest, invalidRecord, readRecordFile } from './stored-records';

export { STATE_FORMAT, STATE_NAME, type StateManifest };

/** The paths inside one generation folder (the current one, or one being built in tmp/). */
export class GenerationLayout {
  constructor(readonly dir: string) {}

  get manifest(): string {
    return path.join(this.dir, 'manifest.json');
  }

  get imagesDir(): string {
    return path.join(this.dir, 'images');
  }

  image(id: string): string {
    return path.join(this.imagesDir, validateSampleId(id));
  }

  get featuresRoot(): string {
    return path.join(this.dir, 'features');
  }

  featuresDir(backbone: string): string {
    return path.join(this.featuresRoot, validateBackboneId(backbone));
  }

  features(backbone: string, id: string): string {
    return path.join(this.featuresDir(backbone), `${validateSampleId(id)}.json`);
  }

  get tagsDir(): string {
    return path.join(this.dir, 'tags');
  }

  tagDir(tag: string): string {
    return path.join(this.tagsDir, validateTag(tag));
  }

  samples(tag: string): string {
    return path.join(this.tagDir(tag), 'samples.json');
  }

  model(tag: string): string {
    return path.join(this.tagDir(tag), 'model.json');
  }

  get tasksDir(): string {
    return path.join(this.dir, 'tasks');
  }

  task(id: string): string {
    return path.join(this.tasksDir, `${validateTaskId(id)}.json`);
  }

  /** How messages name a file of this generation: relative, with forward slashes. */
  relative(file: string): string {
    return path.relative(this.dir, file).split(path.sep).join('/');
  }
}

export class StateLayout {
  private constructor(
    readonly root: string,
    private generationName: string,
    /** Where derived data and temporary folders go: the root, or a read-only replica's private folder. */
    private readonly derivedRoot = root,
  ) {}

  /**
   * A state folder read in place, changing nothing in it (a read-only replica's): no folder is
   * created, no pointer written; its tmp/, caches and scans live in `derivedRoot` instead.
   * A folder that is not a state (no CURRENT) refuses to open.
   */
  static async openReadOnly(root: string, derivedRoot: string): Promise<StateLayout> {
    const layout = new StateLayout(root, await StateLayout.readPointer(root), derivedRoot);
    await layout.checkManifest(layout.generation);
    await fs.mkdir(path.join(derivedRoot, 'tmp'), { recursive: true });
    await fs.mkdir(path.join(derivedRoot, 'cache', 'thumbnails'), { recursive: true });
    return layout;
  }

  /** The generation CURRENT names now (another engine may have swapped it since this one opened). */
  static async readPointer(root: string): Promise<string> {
    const pointer = await readRecordFile(path.join(root, 'CURRENT'), 'CURRENT');
    if (pointer === undefined) throw invalidRecord('CURRENT', `missing: ${root} is not a Tagsmith state folder`);
    return checkCurrentPointer(pointer).generation;
  }

  /** Serves another generation of the same root, already checked, without writing the pointer (a read-only replica following its folder). */
  follow(generationName: string): void {
    this.generationName = generationName;
  }

  /** Opens the folder, creating an empty state the first time; a damaged pointer or manifest refuses to open. */
  static async open(root: string): Promise<StateLayout> {
    await fs.mkdir(root, { recursive: true });
    await fs.mkdir(path.join(root, 'tmp'), { recursive: true });
    await fs.mkdir(path.join(root, 'cache', 'thumbnails'), { recursive: true });
    const pointer = await readRecordFile(path.join(root, 'CURRENT'), 'CURRENT');
    if (pointer !== undefined) {
      const layout = new StateLayout(root, checkCurrentPointer(pointer).generation);
      await layout.checkManifest(layout.generation);
      return layout;
    }
    const generation = await StateLayout.createGeneration(root);
    await writeJsonAtomic(path.join(root, 'CURRENT'), { generation: path.basename(generation) });
    return new StateLayout(root, path.basename(generation));
  }

  /**
   * A new generation folder in `parent` (the root, or tmp/ until `activate` moves it): with
   * an empty state, or with nothing at all for an archive to fill (`forArchive`).
   */
  static async createGeneration(parent: string, forArchive = false): Promise<string> {
    const name = `g-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
    const dir = path.join(parent, name);
    await fs.mkdir(dir);
    if (forArchive) return dir;
    await StateLayout.ensureFolders(dir);
    await writeJsonAtomic(path.join(dir, 'manifest.json'), {
      name: STATE_NAME,
      formatVersion: STATE_FORMAT,
      createdAt: new Date().toISOString(),
    } satisfies StateManifest);
    return dir;
  }

  /** The folders every generation has, even when an archive carried none of their files. */
  static async ensureFolders(dir: string): Promise<void> {
    for (const sub of ['images', 'features', 'tags', 'tasks']) await fs.mkdir(path.join(dir, sub), { recursive: true });
  }

  get generation(): string {
    return path.join(this.root, this.generationName);
  }

  /** The current generation's paths. */
  get current(): GenerationLayout {
    return new GenerationLayout(this.generation);
  }

  get tmp(): string {
    return path.join(this.derivedRoot, 'tmp');
  }

  get thumbnails(): string {
    return path.join(this.derivedRoot, 'cache', 'thumbnails');
  }

  get featureCache(): string {
    return derivedPaths(this.derivedRoot).featureCache;
  }

  /** Keywords of images by sha256 (derived, bounded, never archived, like the feature cache). */
  get keywordCache(): string {
    return derivedPaths(this.derivedRoot).keywordCache;
  }

  get scanIndex(): string {
    return derivedPaths(this.derivedRoot).scanIndex;
  }

  get scans(): string {
    return derivedPaths(this.derivedRoot).scans;
  }

  /** Where a cleaned tag's folder is moved (one atomic rename) before it is deleted. */
  trash(tag: string): string {
    return path.join(this.tmp, `trash-${validateTag(tag)}-${Date.now()}-${crypto.randomBytes(2).toString('hex')}`);
  }

  thumbnail(id: string, side: number): string {
    return path.join(this.thumbnails, `${validateSampleId(id)}-${validateThumbnailSide(side)}.webp`);
  }

  image(hash: string): string {
    return this.current.image(hash);
  }

  featuresDir(backbone: string): string {
    return this.current.featuresDir(backbone);
  }

  features(backbone: string, hash: string): string {
    return this.current.features(backbone, hash);
  }

  tagsDir(): string {
    return this.current.tagsDir;
  }

  tagDir(tag: string): string {
    return this.current.tagDir(tag);
  }

  samples(tag: string): string {
    return this.current.samples(tag);
  }

  model(tag: string): string {
    return this.current.model(tag);
  }

  tasksDir(): string {
    return this.current.tasksDir;
  }

  task(id: string): string {
    return this.current.task(id);
  }

  /** Makes a fully built generation folder the current state: one atomic pointer rewrite. */
  async activate(generationDir: string): Promise<void> {
    await this.checkManifest(generationDir);
    const name = path.basename(generationDir);
    if (path.dirname(generationDir) !== this.root) {
      await fs.rename(generationDir, path.join(this.root, name));
    }
    await writeJsonAtomic(path.join(this.root, 'CURRENT'), { generation: name });
    const previous = this.generation;
    this.generationName = name;
    await fs.rm(previous, { recursive: true, force: true });
  }

  /**
   * Removes what a crash can leave: generations not pointed at, everything in tmp/, and
   * half-written temporary files next to their targets in the current generation.
   */
  async collectGarbage(): Promise<void> {
    for (const entry of await fs.readdir(this.root)) {
      if (entry.startsWith('g-') && entry !== this.generationName) await fs.rm(path.join(this.root, entry), { recursive: true, force: true });
    }
    for (const entry of await fs.readdir(this.tmp)) await fs.rm(path.join(this.tmp, entry), { recursive: true, force: true });
    const entries = await fs.readdir(this.generation, { recursive: true, withFileTypes: true });
    for (const entry of entries) {
      if (entry.isFile() && entry.name.includes(TEMP_MARKER)) await fs.rm(path.join(entry.parentPath, entry.name), { force: true });
    }
  }

  async checkManifest(generationDir: string): Promise<StateManifest> {
    const manifest = await readRecordFile(path.join(generationDir, 'manifest.json'), 'manifest.json');
    if (manifest === undefined) throw invalidRecord('manifest.json', 'missing: the state has no Tagsmith manifest.json');
    return checkManifest(manifest);
  }
}

/**
 * The state's derived data beside its generations: rebuildable, never archived, and safe to
 * share with another process that only predicts (see feature-cache.ts, scan-index.ts).
 */
export function derivedPaths(root: string): { featureCache: string; keywordCache: string; scanIndex: string; scans: string; scanRuns: string } {
  return {
    // The ledger of the scan an engine started with --redis has under way on scan workers.
    scanRuns: path.join(root, 'cache', 'scan-runs'),
    featureCache: path.join(root, 'cache', 'features'),
    keywordCache: path.join(root, 'cache', 'keywords'),
    scanIndex: path.join(root, 'cache', 'scan-index.json'),
    scans: path.join(root, 'scans'),
  };
}

/** What a path inside a generation folder is, by the layout above; anything else has no place in a state. */
export type StatePath =
  | { kind: 'folder' }
  | { kind: 'manifest' }
  | { kind: 'image'; id: string }
  | { kind: 'embedding'; backbone: string; id: string }
  | { kind: 'samples' | 'model'; tag: string }
  | { kind: 'task'; id: string };

/**
 * Classifies a relative path inside a generation (its parts, no `.` or `..`), or says why it
 * has no place there. Archive entries are held to this before anything is written.
 */
export function classifyStatePath(parts: string[], isFolder: boolean): StatePath | { why: string } {
  const shown = parts.join('/');
  const misplaced = { why: `${shown} ${isFolder ? 'is a folder where a Tagsmith state has a file' : 'is not a file a Tagsmith state has'}` };
  const misnamed = (value: string, what: string) => ({ why: `${shown}: ${shownName(value)} is not ${what}` });
  const [top, second, third, ...deeper] = parts;
  if (top === undefined) return { kind: 'folder' };
  if (!STATE_ROOTS.includes(top)) return { why: `${shown} is not part of a Tagsmith state (${STATE_ROOTS.join(', ')})` };
  if (deeper.length > 0) return { why: `${shown} is nested deeper than a Tagsmith state's files` };
  if (top === 'manifest.json') return second === undefined && !isFolder ? { kind: 'manifest' } : misplaced;
  if (second === undefined) return isFolder ? { kind: 'folder' } : misplaced;
  switch (top) {
    case 'images':
      if (third !== undefined || isFolder) return misplaced;
      return isSampleId(second) ? { kind: 'image', id: second } : misnamed(second, 'a sample id (the sha256 of its image)');
    case 'tasks': {
      if (third !== undefined || isFolder) return misplaced;
      const id = second.endsWith('.json') ? second.slice(0, -5) : '';
      return isTaskId(id) ? { kind: 'task', id } : misnamed(second, 'a task record file (<task id>.json)');
    }
    case 'features': {
      if (!isBackboneId(second)) return misnamed(second, 'a backbone id');
      if (third === undefined) return isFolder ? { kind: 'folder' } : misplaced;
      if (isFolder) return misplaced;
      const id = third.endsWith('.json') ? third.slice(0, -5) : '';
      return isSampleId(id) ? { kind: 'embedding', backbone: second, id } : misnamed(third, 'an embedding file (<sample id>.json)');
    }
    default: {
      // tags/
      if (!isValidTag(second)) return misnamed(second, 'a tag name');
      if (third === undefined) return isFolder ? { kind: 'folder' } : misplaced;
      if (!isFolder && (third === 'samples.json' || third === 'model.json')) return { kind: third === 'samples.json' ? 'samples' : 'model', tag: second };
      return misplaced;
    }
  }
}

/** The top-level names of a generation folder, as archives carry them. */
export const STATE_ROOTS = ['manifest.json', 'images', 'features', 'tags', 'tasks'];
