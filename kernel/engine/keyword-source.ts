// Where an image's keywords come from, so that none is detected twice: recent images in memory,
// then the keyword cache (by the sha256 of the image bytes, beside the state like the feature
// cache: derived, bounded, never archived), else the detector. Samples get theirs when a tag
// trains with apply_keywords, not when they are added; scans when they are asked for them.
import type { KeywordsStatus } from '../api/wire-types';
import { TagsmithError } from '../errors';
import { KeywordDetector } from '../features/keyword-detector';
import { findModelsDir } from '../features/models-dir';
import { FeatureCache } from '../state/feature-cache';
import type { Keywords } from '../scores/keywords';
import type { TagModel } from '../training/tag-model';
import { sha256 } from './embedder';

export interface KeywordRecord {
  name: 'tagsmith-keywords';
  formatVersion: 1;
  /** The keywords model's id. */
  model: string;
  keywords: Keywords;
  /** Each class's best confidence. */
  vector: number[];
}

const MEMORY_ENTRIES = 256;
/** Default bound of the keyword cache: about a million images' keywords. */
export const DEFAULT_KEYWORD_CACHE_BYTES = 256 * 1024 ** 2;

/** A cached record as the detector `model` of `classes` classes would write it; throws otherwise. */
export function checkKeywordRecord(value: unknown, model: string, classes: number): void {
  const r = value as Partial<KeywordRecord> | null;
  if (!r || r.name !== 'tagsmith-keywords' || r.formatVersion !== 1 || r.model !== model) throw new Error('not a keyword record of this model');
  if (!Array.isArray(r.vector) || r.vector.length !== classes || !r.vector.every((v) => typeof v === 'number' && v >= 0 && v <= 1))
    throw new Error('bad keyword vector');
  if (typeof r.keywords !== 'object' || r.keywords === null) throw new Error('bad keywords');
  for (const hit of Object.values(r.keywords)) {
    if (!(hit.score >= 0 && hit.score <= 1) || !Number.isInteger(hit.count) || hit.count < 1 || !Array.isArray(hit.boxes)) throw new Error('bad keyword');
  }
}

export class KeywordSource {
  private readonly recent = new Map<string, Promise<KeywordRecord>>();

  constructor(
    readonly detector: KeywordDetector,
    private readonly cache: FeatureCache<KeywordRecord>,
  ) {}

  get model(): string {
    return this.detector.id;
  }

  /** Writes the keywords found and not yet on disk (the engine closing). */
  flushCache(): void {
    this.cache.flush();
  }

  /** The keywords of an image (its bytes, or a way to read them if they must be detected), by its sha256. */
  of(bytes: Uint8Array | (() => Promise<Uint8Array>), id = typeof bytes === 'function' ? undefined : sha256(bytes)): Promise<KeywordRecord> {
    if (!id) throw new Error('an image read later needs its sha256');
    const remembered = this.recent.get(id);
    if (remembered) return remembered;
    const pending = (async () => {
      const cached = await this.cache.get(this.model, id);
      if (cached) return cached;
      const { keywords, vector } = await this.detector.detect(typeof bytes === 'function' ? await bytes() : bytes);
      const record: KeywordRecord = {
        name: 'tagsmith-keywords',
        formatVersion: 1,
        model: this.model,
        keywords,
        vector: Array.from(vector, (v) => Math.round(v * 1e6) / 1e6),
      };
      await this.cache.put(this.model, id, record);
      return record;
    })();
    this.recent.set(id, pending);
    if (this.recent.size > MEMORY_ENTRIES) this.recent.delete(this.recent.keys().next().value!);
    pending.catch(() => this.recent.delete(id)); // a failure is not remembered
    return pending;
  }

  /** Forgets recent images (a benchmark measuring detection, not remembering). */
  forget(): void {
    this.recent.clear();
  }
}

export interface KeywordSourceOptions {
  modelsDir?: string;
  /** Cores the detector may use (default every core). */
  threads?: number;
  /** Largest size of the keyword cache (default DEFAULT_KEYWORD_CACHE_BYTES). */
  cacheBytes?: number;
}

/**
 * The keywords model with its cache in `cacheDir`, as the engine, `tagsmith predict` and a scan
 * worker all open it (so an image's keywords are found the same way wherever it is scored).
 * The model is an opt-in install: without it, no source and the status saying how to get it.
 */
export async function openKeywordSource(
  cacheDir: string,
  options: KeywordSourceOptions = {},
): Promise<{ keywords: KeywordSource | undefined; keywordsStatus: KeywordsStatus }> {
  const modelsDir = options.modelsDir ?? findModelsDir();
  const keywordsStatus = KeywordDetector.availability(modelsDir);
  // Checked by availability just now: the file is not hashed twice.
  const detector = keywordsStatus.installed ? KeywordDetector.create({ modelsDir, threads: options.threads, verify: false }) : undefined;
  const keywords =
    detector &&
    new KeywordSource(
      detector,
      await FeatureCache.open<KeywordRecord>(cacheDir, {
        maxBytes: options.cacheBytes ?? DEFAULT_KEYWORD_CACHE_BYTES,
        check: (value) => checkKeywordRecord(value, detector.id, detector.labels.length),
      }),
    );
  return { keywords, keywordsStatus };
}

/** What a user is told when tags trained with apply_keywords are to be scored without the keywords model; `then` ends the sentence. */
export function keywordsModelMissing(status: KeywordsStatus, tags: readonly string[], then = ''): TagsmithError {
  const which = tags.length === 1 ? `Tag "${tags[0]}" was` : `Tags ${tags.map((t) => `"${t}"`).join(', ')} were`;
  return new TagsmithError(
    'invalid_option',
    `${which} trained with keywords (apply_keywords), and the keywords model is not installed (${status.reason ?? 'missing'}): ` +
      `run \`${status.install ?? 'npm run models:keywords'}\`${then}.`,
  );
}

/**
 * Refuses to score tags trained on another keywords model's confidences than `source`'s: the
 * classes may line up in number and not in meaning (a new model version), and the scores would
 * then be wrong without a sign. `then` ends the sentence.
 */
export function checkKeywordModels(models: readonly TagModel[], source: Pick<KeywordSource, 'model'>, then = ''): void {
  const other = models.filter((m) => m.json.keywords && m.json.keywords.model !== source.model);
  if (other.length === 0) return;
  const which = other.map((m) => `"${m.tag}" (${m.json.keywords!.model})`).join(', ');
  throw new TagsmithError(
    'invalid_option',
    `${other.length === 1 ? 'Tag' : 'Tags'} ${which} ${other.length === 1 ? 'was' : 'were'} trained with the keywords of another model than this install's ${source.model}: train ${other.length === 1 ? 'it' : 'them'} again${then}.`,
  );
}

/**
 * The keyword source scoring `models` needs, for a process that scores them away from the engine
 * (`tagsmith predict`): none when no model was trained with apply_keywords, else
 * the keywords model with its cache in `cacheDir`; a clear error when it is not installed, so a
 * run fails before its first image rather than on each one (`invalid_features`).
 */
export async function keywordSourceFor(
  models: readonly TagModel[],
  cacheDir: string,
  options: KeywordSourceOptions & { then?: string } = {},
): Promise<KeywordSource | undefined> {
  const needing = models.filter((m) => m.needs.keywords).map((m) => m.tag);
  if (needing.length === 0) return undefined;
  const { keywords, keywordsStatus } = await openKeywordSource(cacheDir, options);
  if (!keywords) throw keywordsModelMissing(keywordsStatus, needing, options.then);
  checkKeywordModels(models, keywords, options.then);
  return keywords;
}
