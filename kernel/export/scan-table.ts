// One record per scanned image, as JSON Lines or CSV: the image's path, every tag's score,
// threshold and whether it applies, and the base scores. The CLI, the HTTP export and the
// extension all write these lines, so a file from one reads like a file from another.
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
}

export type TableFormat = 'jsonl' | 'csv';

export function jsonLine(row: ImageCalls): string {
  return `${JSON.stringify({ ...row, tags: mapValues(row.tags, roundCall), aesthetic: round(row.aesthetic), stock: round(row.stock), nsfw: mapValues(row.nsfw, round) })}\n`;
}

/** The header names each tag's three columns `<tag>.score`, `<tag>.threshold`, `<tag>.applies`. */
export function csvHeader(tags: readonly string[], nsfwLabels: readonly string[]): string {
  const columns = ['path', 'sha256', ...tags.flatMap((t) => [`${t}.score`, `${t}.threshold`, `${t}.applies`]), 'aesthetic', 'stock', ...nsfwLabels.map((l) => `nsfw.${l}`)];
  return `${columns.map(csvField).join(',')}\r\n`;
}

export function csvRow(row: ImageCalls, tags: readonly string[], nsfwLabels: readonly string[]): string {
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
