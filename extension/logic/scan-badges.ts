// The explorer's badges for scanned images: which scans decide them (the newest of each folder),
// which files get one (a shown tag applies; only files a scan listed), the badge's one or two
// characters, its tooltip, and which files changed. No `vscode` here, so it is unit-tested directly.
import type { Keywords, ScanView } from '../../kernel/client/tagsmith-client';
import { keywordsInWords } from '../../kernel/scores/keywords-text';
import { isUnder } from './scan-roots';

export interface TagCall {
  readonly score: number;
  readonly threshold: number;
  readonly applies: boolean;
}

export interface ScannedImageCalls {
  readonly path: string;
  /** Every trained tag's call, as the engine scored it. */
  readonly tags: Readonly<Record<string, TagCall>>;
  /** The objects the keywords model found, in a scan made with keywords. */
  readonly keywords?: Keywords;
}

/** A finished scan's images as last read from the engine. */
export interface LoadedScan {
  readonly id: string;
  readonly inputs: readonly string[];
  /** Of two scans covering a file, the one created later decides its badge. */
  readonly createdAt: string;
  readonly images: readonly ScannedImageCalls[];
}

export interface ImageDecoration {
  readonly path: string;
  readonly badge: string;
  readonly tooltip: string;
}

/** Tags the badges show: those the setting names (empty: every trained tag), if trained. */
export function shownTags(setting: readonly string[], trained: readonly string[]): Set<string> {
  const wanted = setting.map((t) => t.trim()).filter(Boolean);
  return new Set(wanted.length === 0 ? trained : trained.filter((t) => wanted.includes(t)));
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function firstGraphemes(text: string, count: number): string[] {
  return Array.from(graphemes.segment(text), (s) => s.segment).slice(0, count);
}

/**
 * One tag: its initials ("golden-retriever" → "GR") or, for one word, its first two letters
 * ("stripes" → "St"); several tags: how many ("2", …, "9+"). VS Code takes at most two characters.
 */
export function badgeText(applying: readonly string[]): string {
  if (applying.length === 0) return '';
  if (applying.length > 9) return '9+';
  if (applying.length > 1) return String(applying.length);
  const words = applying[0].split(/[-_.\s]+/).filter(Boolean);
  if (words.length >= 2)
    return words
      .slice(0, 2)
      .map((w) => firstGraphemes(w, 1)[0].toLocaleUpperCase())
      .join('');
  const [first, second = ''] = firstGraphemes(words[0] ?? applying[0], 2);
  return first.toLocaleUpperCase() + second.toLocaleLowerCase();
}

/**
 * "Tagsmith: stripes 0.93 (threshold 0.51), dots 0.71 (threshold 0.60)", highest score first;
 * then, from a scan made with keywords, " · objects: person ×2, dog" (surest first).
 */
export function tooltipText(calls: readonly (readonly [string, TagCall])[], keywords?: Keywords): string {
  const sorted = [...calls].sort(([a, x], [b, y]) => y.score - x.score || (a < b ? -1 : 1));
  const objects = keywordsInWords(keywords);
  return `Tagsmith: ${sorted.map(([tag, call]) => `${tag} ${call.score.toFixed(2)} (threshold ${call.threshold.toFixed(2)})`).join(', ')}${objects ? ` · objects: ${objects}` : ''}`;
}

/** Where two spellings of one file meet: Windows paths compare without case. */
export function pathKey(file: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? file.toLowerCase() : file;
}

function covers(inputs: readonly string[], file: string): boolean {
  return inputs.some((input) => isUnder(file, input));
}

function newestFirst<T extends { createdAt: string }>(scans: readonly T[]): T[] {
  return [...scans].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
}

/**
 * The scans whose images can still show badges, newest first: finished (or cancelled: what
 * they did) and, for some input within `roots`, the newest to cover it. A scan whose every
 * folder was scanned again later decides nothing.
 */
export function scansToShow(
  scans: readonly { scan_id: string; state: ScanView['state']; inputs: readonly string[]; createdAt: string }[],
  roots: readonly string[],
): string[] {
  const finished = newestFirst(scans.filter((s) => s.state === 'done' || s.state === 'cancelled'));
  return finished
    .filter((scan, i) => {
      const newer = finished.slice(0, i).flatMap((s) => s.inputs);
      return scan.inputs.some((input) => covers(roots, input) && !covers(newer, input));
    })
    .map((s) => s.scan_id);
}

/**
 * Every file to badge, by pathKey: a file listed by the newest scan that covers it, with at
 * least one shown tag applying. A file a newer scan covers but did not list (gone, or skipped)
 * gets none, nor does anything no scan listed.
 */
export function imageDecorations(scans: readonly LoadedScan[], shown: ReadonlySet<string>): Map<string, ImageDecoration> {
  const decorations = new Map<string, ImageDecoration>();
  if (shown.size === 0) return decorations;
  const ordered = newestFirst(scans);
  ordered.forEach((scan, i) => {
    const newer = ordered.slice(0, i).flatMap((s) => s.inputs);
    for (const image of scan.images) {
      const applying = Object.entries(image.tags).filter(([tag, call]) => call.applies && shown.has(tag));
      if (applying.length === 0 || (newer.length > 0 && covers(newer, image.path))) continue;
      const key = pathKey(image.path);
      if (decorations.has(key)) continue; // listed twice by one scan (two inputs over it)
      decorations.set(key, { path: image.path, badge: badgeText(applying.map(([tag]) => tag).sort()), tooltip: tooltipText(applying, image.keywords) });
    }
  });
  return decorations;
}

/** The files whose badge appeared, went or changed between two sets of decorations. */
export function changedFiles(before: ReadonlyMap<string, ImageDecoration>, after: ReadonlyMap<string, ImageDecoration>): string[] {
  const changed: string[] = [];
  for (const [key, old] of before) {
    const now = after.get(key);
    if (!now || now.badge !== old.badge || now.tooltip !== old.tooltip) changed.push(old.path);
  }
  for (const [key, now] of after) if (!before.has(key)) changed.push(now.path);
  return changed;
}
