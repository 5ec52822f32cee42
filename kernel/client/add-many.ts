// Adding many images one by one, as the explorer command, the gallery's drop and the notebook
// API all do: files that are not usable images are skipped with the engine's reason, anything
// else (the engine down, a bad tag) stops the batch.
import type { SampleType, TagsmithClient } from './tagsmith-client';

/** Errors about one file that the user can act on; the rest of the batch goes on. */
const SKIPPABLE = new Set(['not_an_image', 'image_too_large', 'conflicting_sample', 'payload_too_large', 'unsupported_media_type']);

export interface ImageToAdd {
  /** How the file is named in progress and in the skipped list. */
  name: string;
  /** The name sent with the upload (default `name`). */
  fileName?: string;
  read(): Promise<Uint8Array>;
}

export interface AddManyResult {
  added: number;
  /** Already a sample of that type: adding is idempotent. */
  existing: number;
  skipped: { name: string; reason: string }[];
}

export async function addImages(
  client: TagsmithClient,
  type: SampleType,
  tag: string,
  images: ImageToAdd[],
  options: { onProgress?: (done: number, total: number, name: string) => void; cancelled?: () => boolean } = {},
): Promise<AddManyResult> {
  const result: AddManyResult = { added: 0, existing: 0, skipped: [] };
  for (const [i, image] of images.entries()) {
    if (options.cancelled?.()) {
      result.skipped.push(...images.slice(i).map((rest) => ({ name: rest.name, reason: 'cancelled' })));
      break;
    }
    try {
      if ((await client.addSample(type, tag, await image.read(), image.fileName ?? image.name)).added) result.added++;
      else result.existing++;
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (!SKIPPABLE.has(e.code ?? '')) throw error;
      result.skipped.push({ name: image.name, reason: e.message ?? String(error) });
    }
    options.onProgress?.(i + 1, images.length, image.name);
  }
  return result;
}
