// A state archive on disk (`--state-archive backup.tar`, what /get_state made), as replicas,
// scan workers and scan coordinators read it: named by the sha256 of its bytes (what
// `sha256sum` prints), unpacked with every check /set_state makes into a private folder.
import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TagsmithError } from '../errors';
import { readGeneration, type GenerationContents, type RunningBackbone } from './read-generation';
import type { TagModelJson } from './record-schemas';
import { restoreStateArchive } from './state-archive';
import { GenerationLayout, StateLayout } from './state-layout';

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface UnpackedArchive {
  /** The archive file's sha256. */
  sha256: string;
  /** A new generation folder in `parent`, holding the archive's files (not yet checked record by record). */
  generation: string;
}

/**
 * Unpacks `file` into a new generation folder in `parent` (tar or tar.gz; refused as /set_state
 * refuses an upload: `invalid_archive`, nothing left behind). The hash is of the bytes unpacked:
 * a file replaced meanwhile (size or mtime changed) is refused, so a name never goes with
 * other contents.
 */
export async function unpackArchiveFile(file: string, parent: string): Promise<UnpackedArchive> {
  const before = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new TagsmithError('not_found', `The state archive ${file} cannot be read (${error.code ?? error.message}).`);
  });
  if (!before.isFile()) throw new TagsmithError('invalid_archive', `The state archive ${file} is not a file.`);
  const sha256 = await sha256File(file);
  const generation = await StateLayout.createGeneration(parent, true);
  try {
    await restoreStateArchive(createReadStream(file), generation, `${generation}.spool.tar`);
    await StateLayout.ensureFolders(generation);
    const after = await fs.stat(file);
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      throw new TagsmithError(
        'invalid_archive',
        `The state archive ${file} changed while it was read; replace it in one step (write it beside, then mv) and try again.`,
      );
    }
    return { sha256, generation };
  } catch (error) {
    await fs.rm(generation, { recursive: true, force: true });
    throw error;
  }
}

export interface ArchiveModels {
  sha256: string;
  /** The tags trained on the running backbone, in tag order: what a worker scores with. */
  models: TagModelJson[];
  /** Tags whose model fits another backbone (not served, as an engine would not serve them). */
  otherBackbone: string[];
}

export interface ReadArchiveOptions {
  verifyImages?: boolean;
  /**
   * Brings the unpacked copy up to date before its models are read, as a writable engine does
   * its state (the engine's cue upgrade: an archive made before the measure changed).
   */
  upgrade?: (gen: GenerationLayout, contents: GenerationContents) => Promise<void>;
}

/**
 * The trained tags of an archive file, every file checked as /set_state checks it (images
 * against their sha256 too); nothing of it is kept on disk afterwards.
 */
export async function readArchiveModels(file: string, running: RunningBackbone, options: ReadArchiveOptions = {}): Promise<ArchiveModels> {
  const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'tagsmith-archive-'));
  try {
    const { sha256, generation } = await unpackArchiveFile(file, parent);
    const gen = new GenerationLayout(generation);
    const contents = await readGeneration(gen, running, { verifyImages: options.verifyImages ?? true });
    await options.upgrade?.(gen, contents);
    return {
      sha256,
      models: contents.models.filter((m) => m.backbone === running.backbone),
      otherBackbone: contents.models.filter((m) => m.backbone !== running.backbone).map((m) => m.tag),
    };
  } finally {
    await fs.rm(parent, { recursive: true, force: true });
  }
}
