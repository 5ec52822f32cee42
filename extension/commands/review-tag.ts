// *Review Tag…* (palette, the scan's summary, the gallery) and *More Like This* (explorer, and the
// right-click menu of the gallery's samples and the review panel's images): both open the
// review panel, on a tag's queue or on the images most like one.
import path from 'node:path';
import * as vscode from 'vscode';
import type { TagsmithClient } from '../../kernel/client/tagsmith-client';
import type { SimilarTarget } from '../../webview/protocol';
import type { TagsmithPanels } from '../panels/tagsmith-panels';
import { pickTag } from '../ui/tag-picker';

/** Opens the review panel on a trained tag (asked for when not given). */
export async function reviewTag(client: TagsmithClient, panels: TagsmithPanels, tag?: string): Promise<void> {
  if (!tag) {
    const trained = (await client.tags()).filter((t) => t.trained);
    if (trained.length === 0) {
      void vscode.window.showInformationMessage(
        'Reviewing needs a trained tag and a scan: train a tag (Tagsmith: Train Tag…), then tag a folder with it (Tagsmith: Tag Images in Folder…).',
      );
      return;
    }
    tag = await pickTag(trained, { title: 'Review which tag?', allowNew: false, placeHolder: 'The images that would teach it most come first' });
    if (!tag) return;
  }
  await panels.show('review', tag);
}

/**
 * The argument a "More Like This" invocation carries: an explorer file, or the
 * `data-vscode-context` of a webview element (a sample, or one of a scan's images).
 */
export function similarTargetOf(arg: unknown): SimilarTarget | undefined {
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? { path: arg.fsPath, label: path.basename(arg.fsPath) } : undefined;
  if (typeof arg !== 'object' || arg === null) return undefined;
  const context = arg as Record<string, unknown>;
  const label = typeof context.label === 'string' ? context.label : 'this image';
  if (typeof context.sampleId === 'string') return { sampleId: context.sampleId, label };
  if (typeof context.scanId === 'string' && Number.isSafeInteger(context.index)) return { scanId: context.scanId, index: context.index as number, label };
  return undefined;
}

export async function moreLikeThis(panels: TagsmithPanels, arg: unknown, tag?: string): Promise<void> {
  const target = similarTargetOf(arg);
  if (!target) {
    void vscode.window.showInformationMessage(
      'Right-click an image (in the explorer, the sample gallery or the review panel) to find the images most like it.',
    );
    return;
  }
  await panels.show('review', tag, target);
}
