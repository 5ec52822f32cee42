// Every name that becomes part of a path in the state folder has one rule, here: tags (folder
// names), sample ids (image and embedding file names), task ids (task record file names),
// backbone ids (embedding folders), generation names and thumbnail sizes. URL handlers, the
// record schemas and StateLayout's path methods all use these, so a name from a URL, from an
// archive or from a stored record meets the same check before it touches the disk.
//
// The rules are portable: a state folder moves between Linux, macOS and Windows in archives,
// so no name may be `..`, hold a separator or NUL, end with a dot, or be a Windows device name.
// This module is imported by the webview too: no Node imports here.
import { TagsmithError } from '../errors';
import { THUMBNAIL_MAX, THUMBNAIL_MIN } from '../rules';

const TAG_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N}\p{M}_.-]{0,63}$/u;
export const TAG_RULE =
  '1–64 letters or digits (any script) and - _ . , starting with a letter or digit, not ending with a dot, and not a Windows device name such as CON or NUL';

const SAMPLE_ID_PATTERN = /^[0-9a-f]{64}$/;
const TASK_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BACKBONE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const BACKBONE_RULE = '1–64 ASCII letters, digits and - _ . , starting with a letter or digit, not ending with a dot';
const GENERATION_PATTERN = /^g-[0-9a-z]{1,16}-[0-9a-f]{8}$/;
/** A distributed scan's run id (a folder of the coordinator's runs dir, and a prefix of its BullMQ job ids). */
export const RUN_ID_PATTERN = /^r-[0-9a-z]{1,16}-[0-9a-f]{8}$/;

/** Names Windows reserves for devices, with or without an extension (`con`, `NUL.json`, `com1.txt`). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)/i;

/** What every name must also be to live on any file system. */
function isPortable(name: string): boolean {
  return !name.endsWith('.') && !WINDOWS_DEVICE.test(name);
}

/** A name as an error message shows it: quoted, and cut short if it is long. */
export function shownName(value: unknown): string {
  if (typeof value !== 'string') return value === undefined ? 'none' : (JSON.stringify(value)?.slice(0, 80) ?? String(value));
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

export function isValidTag(tag: unknown): tag is string {
  return typeof tag === 'string' && TAG_PATTERN.test(tag) && [...tag].length <= 64 && isPortable(tag);
}

/**
 * The folder a tag name becomes on a file system that ignores case and Unicode normalisation
 * (Windows, macOS): `Bees` and `bees` are one folder there, so they may not be two tags.
 * Upper-casing folds more than NTFS does (`ß` → `SS`); refusing a few extra names is harmless.
 */
export function tagFolderKey(tag: string): string {
  return tag.normalize('NFC').toUpperCase();
}

/** Two of `tags` that would be one folder on Windows or macOS, if any. */
export function tagFolderClash(tags: Iterable<string>): [string, string] | undefined {
  const seen = new Map<string, string>();
  for (const tag of tags) {
    const earlier = seen.get(tagFolderKey(tag));
    if (earlier !== undefined && earlier !== tag) return [earlier, tag];
    seen.set(tagFolderKey(tag), tag);
  }
  return undefined;
}

export function validateTag(tag: unknown): string {
  if (!isValidTag(tag)) throw new TagsmithError('invalid_tag', `Tag name ${shownName(tag)} is not allowed: use ${TAG_RULE}.`);
  return tag;
}

/** A sample's id: the sha256 of its image, in lower-case hex. */
export function isSampleId(id: unknown): id is string {
  return typeof id === 'string' && SAMPLE_ID_PATTERN.test(id);
}

export function validateSampleId(id: unknown): string {
  if (!isSampleId(id)) throw new TagsmithError('unknown_sample', `There is no sample ${shownName(id)}.`);
  return id;
}

/** A training task's id: a UUID as crypto.randomUUID writes it. */
export function isTaskId(id: unknown): id is string {
  return typeof id === 'string' && TASK_ID_PATTERN.test(id);
}

export function validateTaskId(id: unknown): string {
  if (!isTaskId(id)) throw new TagsmithError('unknown_task', `There is no task ${shownName(id)}.`);
  return id;
}

export function isBackboneId(id: unknown): id is string {
  return typeof id === 'string' && BACKBONE_PATTERN.test(id) && isPortable(id);
}

export function validateBackboneId(id: unknown): string {
  if (!isBackboneId(id)) throw new TagsmithError('invalid_option', `Backbone id ${shownName(id)} is not allowed: use ${BACKBONE_RULE}.`);
  return id;
}

/** A distributed scan's id, as `tagsmith predict --redis` makes them (r-<time>-<random>). */
export function isRunId(id: unknown): id is string {
  return typeof id === 'string' && RUN_ID_PATTERN.test(id);
}

export function validateRunId(id: unknown): string {
  if (!isRunId(id)) throw new TagsmithError('invalid_option', `${shownName(id)} is not a run id (r-…, as the run printed when it started).`);
  return id;
}

/** A generation folder's name, as StateLayout makes them. */
export function isGenerationName(name: unknown): name is string {
  return typeof name === 'string' && GENERATION_PATTERN.test(name);
}

export function isThumbnailSide(side: unknown): side is number {
  return typeof side === 'number' && Number.isInteger(side) && side >= THUMBNAIL_MIN && side <= THUMBNAIL_MAX;
}

export function validateThumbnailSide(side: unknown): number {
  if (!isThumbnailSide(side))
    throw new TagsmithError(
      'bad_request',
      `A thumbnail's size must be a whole number of pixels from ${THUMBNAIL_MIN} to ${THUMBNAIL_MAX}; got ${shownName(side)}.`,
    );
  return side;
}
