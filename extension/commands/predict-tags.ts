// "Predict Tags": one image → a QuickPick of scores; several → a Markdown report.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import type { Prediction, TagsmithClient } from '../../kernel/client/tagsmith-client';
import { IMAGE_EXTENSIONS } from '../../kernel/rules';
import { keywordList, keywordsInWords } from '../../kernel/scores/keywords-text';
import { selectImages } from '../logic/image-selection';

export async function predictTags(client: TagsmithClient, uris: vscode.Uri[]): Promise<void> {
  if (uris.length === 0) {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: true, filters: { Images: IMAGE_EXTENSIONS.map((e) => e.slice(1)) }, title: 'Predict tags for…' });
    if (!picked) return;
    uris = picked;
  }
  const { images, skipped } = await selectImages(uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath));
  if (images.length === 0) {
    void vscode.window.showWarningMessage(`No images to predict. ${skipped.map((s) => `${path.basename(s.file)}: ${s.reason}`).join('; ')}`);
    return;
  }
  const results: { file: string; prediction: Prediction }[] = [];
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Tagsmith: predicting', cancellable: true }, async (progress, cancel) => {
    for (const file of images) {
      if (cancel.isCancellationRequested) break;
      results.push({ file, prediction: await client.predict(await fs.readFile(file), { keywords: true }) });
      progress.report({ increment: 100 / images.length, message: `${results.length}/${images.length}` });
    }
  });
  if (results.length === 1) return showOne(results[0].file, results[0].prediction);
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: report(results) });
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

/** The objects the keywords model found ("person ×3" with its confidence); nothing if the engine has no keywords model. */
function keywordItems(prediction: Prediction): vscode.QuickPickItem[] {
  const found = keywordList(prediction.base.keywords);
  if (!prediction.base.keywords) return [];
  return [
    { label: 'keywords', kind: vscode.QuickPickItemKind.Separator },
    ...(found.length === 0 ? [{ label: 'no objects found' }] : found.map((k) => ({ label: k.count > 1 ? `${k.name} ×${k.count}` : k.name, description: `confidence ${k.score.toFixed(2)}` }))),
  ];
}

function components(values: Record<string, number>): string {
  return Object.entries(values).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' · ');
}

function report(results: { file: string; prediction: Prediction }[]): string {
  const tags = [...new Set(results.flatMap((r) => Object.keys(r.prediction.custom)))].sort();
  const header = `| image | ${tags.join(' | ')} | aesthetic | stock | keywords |\n|---|${tags.map(() => '---|').join('')}---|---|---|`;
  const rows = results.map(({ file, prediction }) => {
    const cells = tags.map((t) => {
      const s = prediction.custom[t];
      return s ? `${s.label ? '**✓**' : '✗'} ${s.score.toFixed(2)}` : '–';
    });
    return `| ${path.basename(file)} | ${cells.join(' | ')} | ${prediction.base.aesthetic.score.toFixed(2)} | ${prediction.base.stock.score.toFixed(2)} | ${keywordsInWords(prediction.base.keywords) || '–'} |`;
  });
  return `# Tagsmith predictions\n\n✓ = above the tag's threshold.\n\n${header}\n${rows.join('\n')}\n`;
}
