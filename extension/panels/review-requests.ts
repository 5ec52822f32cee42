// What the host does for the review panel and "more like this": a tag's review queue as cards
// the webview can show, a decision saved as a sample before it is answered (so it survives the
// panel, the window or the engine going away right after), and its exact undo. No `vscode`
// here: where the webview may load an image from comes in with each request, from its page.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { hasImageExtension } from '../../kernel/images/image-files';
import type { SampleType, ScannedImageView, TagsmithClient } from '../../kernel/client/tagsmith-client';
import type { DecisionEffect, DecisionTarget, Params, ReviewCard, Result } from '../../webview/protocol';

/** What a request knows of the page that sent it. */
export interface PageContext {
  /** The URL the page may load an image file of the scan from (VS Code: a webview resource URI). */
  imageSrc(filePath: string): string;
}

const otherSide = (type: SampleType): SampleType => (type === 'positive' ? 'negative' : 'positive');

export class ReviewRequests {
  constructor(
    private readonly client: () => Promise<TagsmithClient>,
    private readonly changed: () => void,
  ) {}

  async queue({ tag, view, offset, limit }: Params<'review/queue'>, page: PageContext): Promise<Result<'review/queue'>> {
    const queue = await (await this.client()).reviewQueue(tag, { view, offset, limit });
    return {
      tag,
      view,
      scanId: queue.scan_id,
      reviewedSinceTraining: queue.reviewedSinceTraining,
      rerankedSinceTraining: queue.rerankedSinceTraining,
      changedCalls: queue.changedCalls,
      total: queue.total,
      offset: queue.offset,
      images: queue.images.map((i) => card(i, page)),
    };
  }

  /**
   * Adds the image as a sample of the tag. Already so: nothing to undo. On the other side: it
   * is moved, and undo moves it back. The reply comes once the engine has saved it.
   */
  async decide({ tag, type, target }: Params<'review/decide'>): Promise<DecisionEffect> {
    const client = await this.client();
    const { bytes, fileName } = await this.read(client, target);
    try {
      const { added, sample } = await client.addSample(type, tag, bytes, fileName);
      return added ? { kind: 'added', sampleId: sample.id } : { kind: 'none' };
    } catch (error) {
      if ((error as { code?: string }).code !== 'conflicting_sample') throw error;
      // A sample's id is the sha256 of its bytes.
      const id = createHash('sha256').update(bytes).digest('hex');
      await client.moveSample(tag, id, type);
      return { kind: 'moved', sampleId: id, from: otherSide(type) };
    } finally {
      this.changed();
    }
  }

  /** The tag's samples as they were before the decision. */
  async undo({ tag, effect }: Params<'review/undo'>): Promise<Result<'review/undo'>> {
    const client = await this.client();
    if (effect.kind === 'added') await client.removeSample(tag, effect.sampleId);
    if (effect.kind === 'moved') await client.moveSample(tag, effect.sampleId, effect.from);
    this.changed();
    return {};
  }

  async similar({ target, limit }: Params<'review/similar'>, page: PageContext): Promise<Result<'review/similar'>> {
    const client = await this.client();
    const found =
      'scanId' in target
        ? await client.similar({ scanId: target.scanId, index: target.index }, limit)
        : 'sampleId' in target
          ? await client.similar({ sampleId: target.sampleId }, limit)
          : await client.similar({ image: await readImageFile(target.path) }, limit + 1);
    // A file searched for by its bytes finds itself first when it was scanned: not "like" it.
    const self = 'path' in target ? path.resolve(target.path) : undefined;
    const images = found.images.filter((i) => i.path !== self).slice(0, limit);
    return { target, scanId: found.scan_id, images: images.map((i) => ({ ...card(i, page), similarity: i.similarity })), samples: found.samples };
  }

  private async read(client: TagsmithClient, target: DecisionTarget): Promise<{ bytes: Uint8Array; fileName?: string }> {
    if ('path' in target) return { bytes: await readImageFile(target.path), fileName: path.basename(target.path) };
    return { bytes: await client.sampleImage(target.sampleId) };
  }
}

function card(image: ScannedImageView, page: PageContext): ReviewCard {
  return { ...image, src: page.imageSrc(image.path) };
}

/** Only image files are read for a webview (it names them; the engine checks the bytes). */
export async function readImageFile(file: string): Promise<Uint8Array> {
  assertImagePath(file);
  return fs.readFile(file);
}

export function assertImagePath(file: string): void {
  if (!path.isAbsolute(file) || !hasImageExtension(file))
    throw Object.assign(new Error(`${path.basename(file)} is not an image file Tagsmith reads.`), { code: 'not_an_image' });
}
