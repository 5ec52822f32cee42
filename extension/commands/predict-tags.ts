// "Predict Tags": one image → a QuickPick of scores; several → a Markdown report.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import type { Prediction, TagsmithClient } from '../../kernel/client/tagsmith-client';
import { IMAGE_EXTENSIONS } from '../../kernel/rules';
import { selectImages } from '../logic/image-selection';
import { keywordRows, predictionReport } from '../logic/prediction-text';

export async function predictTags(client: TagsmithClient, uris: vscode.Uri[]): Promise<void> {
  if (uris.length === 0) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: true,
      filters: { Images: IMAGE_EXTENSIONS.map((e) => e.slice(1)) },
      title: 'Predict tags for…',
    });
    if (!picked) return;
    uris = picked;
  }
  const { images, skipped } = await selectImages(uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath));
  if (images.length === 0) {
    void vscode.window.showWarningMessage(`No images to predict. ${skipped.map((s) => `${path.basename(s.file)}: ${s.reason}`).join('; ')}`);
    return;
  }
  const results: { file: string; prediction: Prediction }[] = [];
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Tagsmith: predicting', cancellable: true },
    async (progress, cancel) => {
      for (const file of images) {
        if (cancel.isCancellationRequested) break;
        results.push({ file, prediction: await client.predict(await fs.readFile(file), { keywords: true }) });
        progress.report({ increment: 100 / images.length, message: `${results.length}/${images.length}` });
      }
    },
  );
  if (results.length === 1) return showOne(results[0].file, results[0].prediction);
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: predictionReport(results) });
  await vscode.window.showTextDocument(doc, { preview: true });
}

async function showOne(file: string, prediction: Prediction): Promise<void> {
  const custom = Object.entries(prediction.custom).sort(([, a], [, b]) => b.score - a.score);
  const items: vscode.QuickPickItem[] = [
    ...custom.map(([tag, s]) => ({
      label: `${s.label ? '$(check)' : '$(circle-slash)'} ${tag}`,
      description: `score ${s.score.toFixed(3)} · threshold ${s.threshold.toFixed(3)}`,
      detail: s.label ? 'above the threshold: the tag applies' : 'below the threshold',
    })),
    { label: 'base scores', kind: vscode.QuickPickItemKind.Separator },
    { label: 'aesthetic', description: prediction.base.aesthetic.score.toFixed(3), detail: components(prediction.base.aesthetic.components) },
    { label: 'stock', description: prediction.base.stock.score.toFixed(3), detail: components(prediction.base.stock.components) },
    { label: 'nsfw', description: components(prediction.base.nsfw) },
    ...keywordItems(prediction),
  ];
  if (custom.length === 0) items.unshift({ label: 'No trained tags yet', detail: 'Train a tag first: Tagsmith: Train Tag…' });
  await vscode.window.showQuickPick(items, { title: `Tagsmith: ${path.basename(file)}`, placeHolder: 'Scores for this image' });
}

/** The objects the keywords model found; no section if the engine has no keywords model. */
function keywordItems(prediction: Prediction): vscode.QuickPickItem[] {
  const rows = keywordRows(prediction.base.keywords);
  return rows ? [{ label: 'keywords', kind: vscode.QuickPickItemKind.Separator }, ...rows] : [];
}

function components(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(' · ');
}
