// What *Predict Tags* shows, without `vscode` so it is unit-tested directly: the objects the
// keywords model found as quick-pick rows, and the Markdown report of several images.
import path from 'node:path';
import type { Keywords, Prediction } from '../../kernel/client/tagsmith-client';
import { keywordList, keywordsInWords } from '../../kernel/scores/keywords-text';

/**
 * One row per object ("person ×3", its confidence), surest first; one row saying none were found
 * when the detector looked and found nothing; undefined when it did not look (the engine has no
 * keywords model), so the section is left out rather than claiming an empty picture.
 */
export function keywordRows(keywords: Keywords | undefined): { label: string; description?: string }[] | undefined {
  if (!keywords) return undefined;
  const found = keywordList(keywords);
  if (found.length === 0) return [{ label: 'no objects found' }];
  return found.map((k) => ({ label: k.count > 1 ? `${k.name} ×${k.count}` : k.name, description: `confidence ${k.score.toFixed(2)}` }));
}

/** Several images: a table of every tag's call, the base scores and the objects found ("–": none, or not looked for). */
export function predictionReport(results: readonly { file: string; prediction: Prediction }[]): string {
  const tags = [...new Set(results.flatMap((r) => Object.keys(r.prediction.custom)))].sort();
  const columns = ['image', ...tags, 'aesthetic', 'stock', 'keywords'];
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const rows = results.map(({ file, prediction }) =>
    row([
      path.basename(file),
      ...tags.map((t) => {
        const s = prediction.custom[t];
        return s ? `${s.label ? '**✓**' : '✗'} ${s.score.toFixed(2)}` : '–';
      }),
      prediction.base.aesthetic.score.toFixed(2),
      prediction.base.stock.score.toFixed(2),
      keywordsInWords(prediction.base.keywords) || '–',
    ]),
  );
  const header = `${row(columns)}\n|${columns.map(() => '---|').join('')}`;
  return `# Tagsmith predictions\n\n✓ = above the tag's threshold.\n\n${header}\n${rows.join('\n')}\n`;
}
