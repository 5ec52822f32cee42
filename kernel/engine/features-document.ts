// The document `/get_features` returns and `/predict_by_features` accepts: plain JSON a user
// can save, with the backbone's id so a vector is never scored by the wrong network.
import type { FeaturesDocument, ReceivedFeatures } from '../api/wire-types';
import { TagsmithError } from '../errors';
import type { ScoreWithComponents } from '../scores/base-scores';

export type { FeaturesDocument, ReceivedFeatures };

/** The largest magnitude a float32 holds: the backbone's vectors and the nsfw head are float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** At most this many named components per base score (the engine writes four or five). */
const MAX_COMPONENTS = 32;

/**
 * Checks a document a user sends back and returns a clean copy of what is scored and echoed:
 * numbers a float32 cannot hold (1e39 is finite in JSON, Infinity as float32) and base scores
 * outside [0, 1] are refused, so they can never come back as a wrong answer.
 */
export function parseFeaturesDocument(value: unknown, expected: { backbone: string; featureLength: number }): ReceivedFeatures {
  const bad = (why: string): never => {
    throw new TagsmithError('invalid_features', `The features document ${why}.`);
  };
  if (!value || typeof value !== 'object' || Array.isArray(value)) bad('is not a JSON object (save the output of /get_features)');
  const doc = value as Partial<Record<keyof FeaturesDocument, unknown>>;
  if (doc.backbone !== expected.backbone) {
    bad(
      `comes from backbone ${JSON.stringify(doc.backbone ?? null).slice(0, 100)}, but this engine's tags use ${expected.backbone}; extract features again with /get_features`,
    );
  }
  if (!Array.isArray(doc.features)) return bad('has no "features" list');
  const features = doc.features as unknown[];
  if (features.length !== expected.featureLength) bad(`has ${features.length} features; ${expected.backbone} gives ${expected.featureLength}`);
  if (!features.every((v) => typeof v === 'number' && Number.isFinite(v))) bad('has features that are not finite numbers');
  if (!features.every((v) => Math.abs(v as number) <= FLOAT32_MAX)) bad(`has features beyond ±${FLOAT32_MAX.toPrecision(5)}, which a 32-bit float cannot hold`);
  return {
    name: 'tagsmith-features',
    formatVersion: 1,
    backbone: expected.backbone,
    features: features as number[],
    aesthetic: parseBaseScore(doc.aesthetic, 'aesthetic', bad),
    stock: parseBaseScore(doc.stock, 'stock', bad),
    ...(doc.keywords === undefined ? {} : { keywords: parseKeywords(doc.keywords, bad) }),
  };
}

/** The keywords model's confidences as /get_features wrote them: its id and numbers in [0, 1]. */
function parseKeywords(value: unknown, bad: (why: string) => never): { model: string; vector: number[] } {
  const { model, vector } = (value ?? {}) as { model?: unknown; vector?: unknown };
  if (typeof model !== 'string' || model.length > 64 || !Array.isArray(vector) || vector.length > 1000) return bad('has malformed keywords');
  if (!vector.every((v) => typeof v === 'number' && v >= 0 && v <= 1)) bad('has keyword confidences outside 0 to 1');
  return { model, vector: vector as number[] };
}

/** A base score (`aesthetic`, `stock`) as /get_features wrote it: score and components in [0, 1]. */
function parseBaseScore(value: unknown, key: string, bad: (why: string) => never): ScoreWithComponents | undefined {
  if (value === undefined) return undefined;
  const inUnit = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad(`has a malformed ${key} score`);
  const { score, components } = value as { score?: unknown; components?: unknown };
  if (typeof score !== 'number' || !Number.isFinite(score)) return bad(`has a malformed ${key} score`);
  if (!inUnit(score)) bad(`gives ${score} as its ${key} score; scores are between 0 and 1`);
  if (components === undefined) return { score, components: {} };
  if (typeof components !== 'object' || components === null || Array.isArray(components)) return bad(`has malformed ${key} components`);
  const entries = Object.entries(components);
  if (entries.length > MAX_COMPONENTS) bad(`has more than ${MAX_COMPONENTS} ${key} components`);
  for (const [name, v] of entries) if (!inUnit(v)) bad(`has ${key} component ${JSON.stringify(name).slice(0, 60)} outside 0 to 1`);
  return { score, components: Object.fromEntries(entries) as Record<string, number> };
}
