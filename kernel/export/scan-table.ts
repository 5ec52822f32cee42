// One record per scanned image, as JSON Lines or CSV: the image's path, every tag's score,
// threshold and whether it applies, and the base scores (with the keywords, for a scan made
// with them). The CLI, the HTTP export and the extension all write these lines, so a file from
// one reads like a file from another.
import type { Keywords } from '../scores/keywords';
import { keywordList, keywordsInWords } from '../scores/keywords-text';

export interface TagCall {
  score: number;
  threshold: number;
  applies: boolean;
}

export interface ImageCalls {
  path: string;
  sha256: string;
  tags: Record<string, TagCall>;
  aesthetic: number;
  stock: number;
  nsfw: Record<string, number>;
  /** In a scan made with keywords: the COCO objects found. */
  keywords?: Keywords;
}

export type TableFormat = 'jsonl' | 'csv';

/** A record as one JSON line; keywords as `{"person": {"score": 0.91, "count": 3}, …}` (surest first, no boxes). */
export function jsonLine(row: ImageCalls): string {
  const { keywords, ...rest } = row;
  const record = { ...rest, tags: mapValues(row.tags, roundCall), aesthetic: round(row.aesthetic), stock: round(row.stock), nsfw: mapValues(row.nsfw, round) };
  const named = keywords && Object.fromEntries(keywordList(keywords).map((k) => [k.name, { score: round(k.score), count: k.count }]));
  return `${JSON.stringify(named ? { ...record, keywords: named } : record)}\n`;
}

/**
 * The header names each tag's three columns `<tag>.score`, `<tag>.threshold`, `<tag>.applies`;
 * with `keywords` (a scan made with them) a last column `keywords`: "person ×3; dog; bicycle".
 */
export function csvHeader(tags: readonly string[], nsfwLabels: readonly string[], keywords = false): string {
  const columns = [
    'path',
    'sha256',
    ...tags.flatMap((t) => [`${t}.score`, `${t}.threshold`, `${t}.applies`]),
    'aesthetic',
    'stock',
    ...nsfwLabels.map((l) => `nsfw.${l}`),
    ...(keywords ? ['keywords'] : []),
  ];
  return `${columns.map(csvField).join(',')}\r\n`;
}

export function csvRow(row: ImageCalls, tags: readonly string[], nsfwLabels: readonly string[], keywords = false): string {
  const cells: (string | number | boolean)[] = [
    row.path,
    row.sha256,
    ...tags.flatMap((t): (string | number | boolean)[] => {
      const call = row.tags[t];
      return call ? [round(call.score), round(call.threshold), call.applies] : ['', '', ''];
    }),
    round(row.aesthetic),
    round(row.stock),
    ...nsfwLabels.map((l) => (row.nsfw[l] === undefined ? '' : round(row.nsfw[l]))),
    ...(keywords ? [keywordsInWords(row.keywords, '; ')] : []),
  ];
  return `${cells.map((c) => csvField(String(c))).join(',')}\r\n`;
}

/**
 * RFC 4180 quoting, and a leading apostrophe for text a spreadsheet would run as a formula
 * (`=`, `+`, `-`, `@`, tab, CR at the start): a file name can be `=HYPERLINK(…)`.
 */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) && !/^-?\d/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function roundCall(call: TagCall): TagCall {
  return { score: round(call.score), threshold: round(call.threshold), applies: call.applies };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function mapValues<T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));
}
