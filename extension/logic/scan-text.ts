// What the user reads about a folder scan: its progress, the summary with the files skipped,
// the details behind "Show All", the XMP sidecar preview and results, and names for exported
// files. No `vscode` here, so it is unit-tested directly.
import path from 'node:path';
import type { ScanView, SidecarReport } from '../../kernel/client/tagsmith-client';
import { isUnder } from './scan-roots';

/** Skipped files named in the summary itself; "Show All" lists every one. */
export const SKIPPED_NAMED = 3;
/** Tags named in the summary; "Show All" lists every one. */
export const TAGS_NAMED = 6;
/** Sidecars named in the preview before writing. */
export const SIDECARS_NAMED = 5;

const NUMBER = new Intl.NumberFormat('en-US');

export function count(n: number): string {
  return NUMBER.format(n);
}

export function plural(n: number, word: string, words = `${word}s`): string {
  return `${count(n)} ${n === 1 ? word : words}`;
}

/** "1,204 / 3,000 images, 38/s". */
export function progressMessage(progress: ScanView['progress']): string {
  if (progress.total === 0) return 'looking for images…';
  const rate = progress.imagesPerSecond;
  const speed = rate >= 10 ? `, ${Math.round(rate)}/s` : rate > 0 ? `, ${rate.toFixed(1)}/s` : '';
  return `${count(progress.done)} / ${count(progress.total)} images${speed}`;
}

/** A path as the user knows it: relative to the workspace folder holding it (the folder's own name for the folder itself). */
export function displayPath(file: string, roots: readonly string[]): string {
  const root = roots.filter((r) => isUnder(file, r)).sort((a, b) => b.length - a.length)[0];
  if (!root) return file;
  const relative = path.relative(root, file);
  return relative === '' ? path.basename(root) || root : roots.length > 1 ? path.join(path.basename(root), relative) : relative;
}

/** What was scanned, in a few words: "photos", "photos and shots/2024", "photos and 3 more". */
export function scanLabel(inputs: readonly string[], roots: readonly string[]): string {
  const names = inputs.map((input) => displayPath(input, roots));
  if (names.length <= 2) return names.join(' and ');
  return `${names[0]} and ${count(names.length - 1)} more`;
}

export interface ScanSummary {
  text: string;
  /** Something was left out of the text: "Show All" has it. */
  hasMore: boolean;
  /** Files were skipped (or the scan stopped early): a warning rather than news. */
  warn: boolean;
}

/**
 * `Tagged 3,000 images in photos: "stripes" applies to 120, "dots" to none. Skipped 2: a.jpg
 * (truncated); b.jpg (permission denied).`
 */
export function summariseScan(scan: ScanView, label: string): ScanSummary {
  const result = scan.result ?? { images: 0, skipped: [], applies: {}, changedCalls: {} };
  const skippedCount = Math.max(scan.progress.skipped, result.skipped.length);
  const head =
    scan.state === 'cancelled'
      ? `Stopped after ${count(scan.progress.done)} of ${plural(scan.progress.total, 'file')} in ${label}; tagged ${plural(result.images, 'image')}`
      : `Tagged ${plural(result.images, 'image')} in ${label}`;
  const tags = Object.entries(result.applies).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  const named = tags.slice(0, TAGS_NAMED).map(([tag, n], i) => `"${tag}" ${i === 0 ? 'applies ' : ''}to ${n === 0 ? 'none' : count(n)}`);
  let text =
    tags.length === 0
      ? `${head}. No tag is trained yet, so none applies; the images' features are kept for when one is.`
      : `${head}: ${named.join(', ')}${tags.length > TAGS_NAMED ? ` and ${plural(tags.length - TAGS_NAMED, 'more tag')}` : ''}.`;
  if (skippedCount > 0) {
    const shown = result.skipped.slice(0, SKIPPED_NAMED).map((s) => `${path.basename(s.path)} (${s.reason})`);
    text += ` Skipped ${count(skippedCount)}: ${shown.join('; ')}${skippedCount > shown.length ? `; and ${count(skippedCount - shown.length)} more` : ''}.`;
  }
  return { text, hasMore: skippedCount > 0 || tags.length > TAGS_NAMED, warn: skippedCount > 0 || scan.state === 'cancelled' };
}

/** Everything about a finished scan, as Markdown: behind the summary's "Show All". */
export function scanDetails(scan: ScanView, label: string, roots: readonly string[]): string {
  const result = scan.result ?? { images: 0, skipped: [], applies: {}, changedCalls: {} };
  const p = scan.progress;
  const lines = [
    `# Tagsmith: ${label}`,
    '',
    `Scan \`${scan.scan_id}\`${scan.state === 'cancelled' ? ' (stopped before the end)' : ''}, finished ${scan.finishedAt ?? 'now'}: ` +
      `${plural(result.images, 'image')} (${count(p.embedded)} embedded now, ${count(p.known)} already known), ${plural(p.skipped, 'file')} skipped` +
      `${p.imagesPerSecond > 0 ? `, ${p.imagesPerSecond.toFixed(1)} files/s` : ''}.`,
    '',
    'Scanned:',
    '',
    ...scan.inputs.map((input) => `- ${displayPath(input, roots)}`),
    '',
    '## Tags',
    '',
  ];
  const tags = Object.entries(result.applies).sort(([a], [b]) => (a < b ? -1 : 1));
  if (tags.length === 0) lines.push('No tag is trained yet.');
  else lines.push('| tag | applies to |', '| --- | ---: |', ...tags.map(([tag, n]) => `| ${markdownCell(tag)} | ${count(n)} |`));
  lines.push('', `## Skipped (${count(p.skipped)})`, '');
  if (result.skipped.length === 0) lines.push('None.');
  else lines.push(...result.skipped.map((s) => `- ${markdownCell(displayPath(s.path, roots))}: ${markdownCell(s.reason)}`));
  if (p.skipped > result.skipped.length) lines.push('', `The engine lists the first ${count(result.skipped.length)} of them.`);
  return `${lines.join('\n')}\n`;
}

function markdownCell(text: string): string {
  return text.replace(/[\\|*_`[\]<>]/g, (c) => `\\${c}`);
}

/** A file name for an export of this scan: `tagsmith-photos.csv`. */
export function exportFileName(label: string, extension: 'csv' | 'jsonl'): string {
  const slug = label
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 60);
  return `tagsmith-${slug || 'scan'}.${extension}`;
}

export interface SidecarPreviewText {
  /** The question (or, with nothing to write, the news). */
  message: string;
  detail: string;
  /** Nothing to write: no question to ask. */
  nothingToWrite: boolean;
}

/** Before writing: how many sidecars would be created or changed, a sample of them, and those that cannot be. */
export function sidecarPreview(report: SidecarReport, roots: readonly string[]): SidecarPreviewText {
  const creates = report.changes.filter((c) => c.creates).length;
  const failures = failedText(report, roots);
  if (report.changes.length === 0) {
    return {
      message: `No XMP sidecar needs a keyword: every image a tag applies to has it already, or no tag applies.${failures ? ` ${failures}` : ''}`,
      detail: '',
      nothingToWrite: true,
    };
  }
  const sample = report.changes.slice(0, SIDECARS_NAMED).map((c) => `${displayPath(c.sidecar, roots)}${c.creates ? ' (new)' : ''}: + ${c.add.join(', ')}`);
  const more = report.changes.length > SIDECARS_NAMED ? [`…and ${count(report.changes.length - SIDECARS_NAMED)} more.`] : [];
  return {
    message: `Write Tagsmith's keywords to ${plural(report.changes.length, 'XMP sidecar')}?`,
    detail: [
      `${count(creates)} new, ${count(report.changes.length - creates)} changed. Keywords go in dc:subject beside each image; the images themselves are not touched, and "Remove Tagsmith Keywords from XMP Sidecars…" takes them out again.`,
      '',
      ...sample,
      ...more,
      ...(failures ? ['', failures] : []),
    ].join('\n'),
    nothingToWrite: false,
  };
}

/** After writing or removing: what changed, and what could not be. */
export function sidecarResult(report: SidecarReport, roots: readonly string[]): string {
  const n = report.changes.length;
  const failures = failedText(report, roots);
  let text: string;
  if (report.action === 'remove') {
    text = n === 0 ? 'No XMP sidecar of these images holds keywords Tagsmith wrote.' : `Took Tagsmith's keywords out of ${plural(n, 'XMP sidecar')}.`;
  } else {
    const creates = report.changes.filter((c) => c.creates).length;
    text = n === 0 ? 'No XMP sidecar needed a keyword.' : `Wrote keywords to ${plural(n, 'XMP sidecar')}${creates > 0 ? ` (${count(creates)} new)` : ''}.`;
  }
  return failures ? `${text} ${failures}` : text;
}

function failedText(report: SidecarReport, roots: readonly string[]): string {
  if (report.failed.length === 0) return '';
  const named = report.failed.slice(0, SKIPPED_NAMED).map((f) => `${displayPath(f.image, roots)} (${f.reason})`);
  const more = report.failed.length > named.length ? `; and ${count(report.failed.length - named.length)} more` : '';
  return `${plural(report.failed.length, 'sidecar')} could not be ${report.action === 'preview' ? 'read' : 'changed'}: ${named.join('; ')}${more}.`;
}

/** A scan in a list to choose from: "photos", "3,000 images · 2 hours ago". */
export function scanChoice(scan: ScanView, roots: readonly string[], now: number): { label: string; description: string } {
  const images = scan.result?.images ?? scan.progress.done;
  return { label: scanLabel(scan.inputs, roots), description: `${plural(images, 'image')} · ${ago(scan.finishedAt ?? scan.createdAt, now)}` };
}

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago". */
export function ago(iso: string, now: number): string {
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds) || seconds < 60) return 'just now';
  const [n, unit] = seconds < 3600 ? [seconds / 60, 'minute'] : seconds < 86_400 ? [seconds / 3600, 'hour'] : [seconds / 86_400, 'day'];
  return `${plural(Math.floor(n), unit)} ago`;
}

/** "1.5 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** The message for paths outside every workspace folder (the engine reads only those). */
export function outsideWorkspaceMessage(outside: readonly string[], roots: readonly string[]): string {
  if (roots.length === 0) return "Open a folder first: Tagsmith tags images in the workspace's folders only.";
  const named = outside
    .slice(0, 2)
    .map((p) => `"${p}"`)
    .join(' and ');
  const more = outside.length > 2 ? ` and ${count(outside.length - 2)} more` : '';
  return `${named}${more} ${outside.length === 1 ? 'is' : 'are'} outside this workspace's folders, and Tagsmith reads images only there. Add the folder to the workspace (File > Add Folder to Workspace…) to tag its images.`;
}
