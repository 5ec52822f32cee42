// Tag names become folder names, so the rule is strict: 1–64 letters or digits of any script
// and `-_.`, starting with a letter or digit. `..`, `a/b`, NUL or an empty name never pass.
import { TagsmithError } from '../errors';

const TAG_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N}\p{M}_.-]{0,63}$/u;
export const TAG_RULE = '1–64 letters or digits (any script) and - _ . , starting with a letter or digit';

export function validateTag(tag: unknown): string {
  if (typeof tag !== 'string' || !TAG_PATTERN.test(tag) || [...tag].length > 64) {
    const shown = typeof tag === 'string' ? JSON.stringify(tag.length > 80 ? `${tag.slice(0, 80)}…` : tag) : String(tag);
    throw new TagsmithError('invalid_tag', `Tag name ${shown} is not allowed: use ${TAG_RULE}.`);
  }
  return tag;
}

export function isValidTag(tag: unknown): tag is string {
  return typeof tag === 'string' && TAG_PATTERN.test(tag) && [...tag].length <= 64;
}
