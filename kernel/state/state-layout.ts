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
//   <root>/cache/thumbnails/                derived thumbnails (not archived)
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagsmithError } from '../errors';
import { readJson, TEMP_MARKER, writeJsonAtomic } from './atomic-file';

export const STATE_NAME = 'tagsmith-state';
export const STATE_FORMAT = 1;

export interface StateManifest {
  name: typeof STATE_NAME;
  formatVersion: typeof STATE_FORMAT;
  createdAt: string;
}

export class StateLayout {
  private constructor(
    readonly root: string,
    private generationName: string,
  ) {}

  /** Opens the folder, creating an empty state the first time. */
  static async open(root: string): Promise<StateLayout> {
    await fs.mkdir(root, { recursive: true });
    await fs.mkdir(path.join(root, 'tmp'), { recursive: true });
    await fs.mkdir(path.join(root, 'cache', 'thumbnails'), { recursive: true });
    const pointer = await readJson<{ generation?: unknown }>(path.join(root, 'CURRENT'));
    if (pointer && typeof pointer.generation === 'string' && /^g-[\w-]+$/.test(pointer.generation)) {
      const layout = new StateLayout(root, pointer.generation);
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
    await writeJsonAtomic(path.join(dir, 'manifest.json'), { name: STATE_NAME, formatVersion: STATE_FORMAT, createdAt: new Date().toISOString() } satisfies StateManifest);
    return dir;
  }

  /** The folders every generation has, even when an archive carried none of their files. */
  static async ensureFolders(dir: string): Promise<void> {
    for (const sub of ['images', 'features', 'tags', 'tasks']) await fs.mkdir(path.join(dir, sub), { recursive: true });
  }

  get generation(): string {
    return path.join(this.root, this.generationName);
  }

  get tmp(): string {
    return path.join(this.root, 'tmp');
  }

  get thumbnails(): string {
    return path.join(this.root, 'cache', 'thumbnails');
  }

  image(hash: string): string {
    return path.join(this.generation, 'images', hash);
  }

  featuresDir(backbone: string): string {
    return path.join(this.generation, 'features', backbone);
  }

  features(backbone: string, hash: string): string {
    return path.join(this.featuresDir(backbone), `${hash}.json`);
  }

  tagsDir(): string {
    return path.join(this.generation, 'tags');
  }

  tagDir(tag: string): string {
    return path.join(this.tagsDir(), tag);
  }

  samples(tag: string): string {
    return path.join(this.tagDir(tag), 'samples.json');
  }

  model(tag: string): string {
    return path.join(this.tagDir(tag), 'model.json');
  }

  tasksDir(): string {
    return path.join(this.generation, 'tasks');
  }

  task(id: string): string {
    return path.join(this.tasksDir(), `${id}.json`);
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

  async checkManifest(generationDir: string): Promise<void> {
    const manifest = await readJson<Partial<StateManifest>>(path.join(generationDir, 'manifest.json')).catch(() => undefined);
    if (!manifest || manifest.name !== STATE_NAME) {
      throw new TagsmithError('invalid_archive', 'The state has no Tagsmith manifest.json.');
    }
    if (manifest.formatVersion !== STATE_FORMAT) {
      throw new TagsmithError('invalid_archive', `The state has format version ${String(manifest.formatVersion)}; this Tagsmith reads version ${STATE_FORMAT}.`);
    }
  }
}
