// A sample's files: its image, its embeddings (one per backbone) and its cached thumbnails.
// They are deleted once no samples list names the sample, and only after the list that
// dropped it is on disk, so a crash never leaves a listed sample without its image; what a
// crash leaves unlisted is swept at the next start. The caller excludes adds in flight (an add
// stores its files before it lists them): see TagsmithEngine's sample-files lock.
import fs from 'node:fs/promises';
import path from 'node:path';
import { isBackboneId, isSampleId } from './path-names';
import type { GenerationContents } from './read-generation';
import type { GenerationLayout } from './state-layout';

/** Deletes the image, every backbone's embedding and every thumbnail of each of `ids`. */
export async function deleteSampleFiles(gen: GenerationLayout, thumbnailsDir: string, ids: Iterable<string>): Promise<void> {
  const doomed = new Set(ids);
  if (doomed.size === 0) return;
  const backbones = (await fs.readdir(gen.featuresRoot).catch(() => [])).filter(isBackboneId);
  for (const id of doomed) {
    for (const backbone of backbones) await fs.rm(gen.features(backbone, id), { force: true });
    await fs.rm(gen.image(id), { force: true });
  }
  // Only these samples' thumbnails: another request may be writing a thumbnail meanwhile.
  for (const name of await fs.readdir(thumbnailsDir).catch(() => [])) {
    if (doomed.has(thumbnailId(name) ?? '')) await fs.rm(path.join(thumbnailsDir, name), { force: true });
  }
}

/** Deletes the images and embeddings of a generation that no samples list names. */
export async function sweepGeneration(gen: GenerationLayout, contents: GenerationContents): Promise<void> {
  for (const id of contents.images) if (!contents.listed.has(id)) await fs.rm(gen.image(id), { force: true });
  for (const [backbone, ids] of contents.embeddings) {
    for (const id of ids) if (!contents.listed.has(id)) await fs.rm(gen.features(backbone, id), { force: true });
  }
}

/**
 * Deletes cached thumbnails whose sample is not kept, and anything else in their folder (a
 * crash's temporary files). Only while no thumbnail is being made: at start-up, or while a
 * restore holds the state.
 */
export async function sweepThumbnails(thumbnailsDir: string, keep: (id: string) => boolean): Promise<void> {
  for (const name of await fs.readdir(thumbnailsDir).catch(() => [])) {
    const id = thumbnailId(name);
    if (id === undefined || !keep(id)) await fs.rm(path.join(thumbnailsDir, name), { recursive: true, force: true });
  }
}

/** The sample id of a thumbnail file (`<id>-<side>.webp`). */
function thumbnailId(name: string): string | undefined {
  const id = /^([0-9a-f]{64})-\d+\.webp$/.exec(name)?.[1];
  return isSampleId(id) ? id : undefined;
}
