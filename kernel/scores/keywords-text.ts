// Keywords as a person reads them: "person ×3, dog, bicycle", surest first. Browser-safe (no
// Node), so the explorer, the webviews, the notebook and the CSV export all write the same.
import type { Keywords } from './keywords';

/** "person ×3, dog" (surest first); an empty string when nothing was found. */
export function keywordsInWords(keywords: Keywords | undefined, separator = ', '): string {
  return keywordList(keywords)
    .map(({ name, count }) => (count > 1 ? `${name} ×${count}` : name))
    .join(separator);
}

/** Keywords surest first, with their confidence and count. */
export function keywordList(keywords: Keywords | undefined): { name: string; score: number; count: number }[] {
  return Object.entries(keywords ?? {})
    .map(([name, hit]) => ({ name, score: hit.score, count: hit.count }))
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
}
