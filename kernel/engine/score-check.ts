// The last check before a prediction leaves the engine: every score and threshold a user
// reads is a number in [0, 1]. Inputs are checked where they come in; this catches what a
// future bug (a NaN from an overflow, a -1 sentinel) would otherwise answer as if it were a
// score, and turns it into a 500 bug report instead of a wrong answer.
import { TagsmithError } from '../errors';
import type { BaseScores } from '../scores/base-scores';
import type { TagScore } from '../training/tag-model';

function unitProblems(value: unknown, where: string, problems: string[]): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) problems.push(`${where} = ${JSON.stringify(value) ?? String(value)}`);
}

function tagProblems(scores: Record<string, TagScore>, where: string, problems: string[]): void {
  for (const [tag, s] of Object.entries(scores)) {
    unitProblems(s?.score, `${where}${tag}.score`, problems);
    unitProblems(s?.threshold, `${where}${tag}.threshold`, problems);
  }
}

function baseProblems(base: Partial<BaseScores>, problems: string[]): void {
  for (const [label, p] of Object.entries(base.nsfw ?? {})) unitProblems(p, `base.nsfw.${label}`, problems);
  for (const key of ['aesthetic', 'stock'] as const) {
    const s = base[key];
    if (s === undefined) continue;
    unitProblems(s.score, `base.${key}.score`, problems);
    for (const [name, v] of Object.entries(s.components ?? {})) unitProblems(v, `base.${key}.components.${name}`, problems);
  }
}

function fail(problems: string[]): never {
  const shown = problems.slice(0, 5).join(', ') + (problems.length > 5 ? `, and ${problems.length - 5} more` : '');
  throw new TagsmithError(
    'internal',
    `Tagsmith computed scores outside [0, 1] (${shown}); this is a bug, please report it with the image or features document.`,
  );
}

/** Returns `prediction` if every score in it is in [0, 1]; throws `internal` otherwise. */
export function checkPrediction<T extends { base: Partial<BaseScores>; custom: Record<string, TagScore> }>(prediction: T): T {
  const problems: string[] = [];
  baseProblems(prediction.base, problems);
  tagProblems(prediction.custom, 'custom.', problems);
  if (problems.length > 0) fail(problems);
  return prediction;
}

/** The same for the tag scores alone (/predict/custom). */
export function checkTagScores(scores: Record<string, TagScore>): Record<string, TagScore> {
  const problems: string[] = [];
  tagProblems(scores, '', problems);
  if (problems.length > 0) fail(problems);
  return scores;
}
