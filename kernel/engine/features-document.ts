// The document `/get_features` returns and `/predict_by_features` accepts: plain JSON a user
// can save, with the backbone's id so a vector is never scored by the wrong network.
import { TagsmithError } from '../errors';
import type { ScoreWithComponents } from '../scores/base-scores';

export interface FeaturesDocument {
  name: 'tagsmith-features';
  formatVersion: 1;
  backbone: string;
  features: number[];
  aesthetic: ScoreWithComponents;
  stock: ScoreWithComponents;
}

export function parseFeaturesDocument(value: unknown, expected: { backbone: string; featureLength: number }): FeaturesDocument {
  const bad = (why: string): never => {
    throw new TagsmithError('invalid_features', `The features document ${why}.`);
  };
  if (!value || typeof value !== 'object' || Array.isArray(value)) bad('is not a JSON object (save the output of /get_features)');
  const doc = value as Partial<FeaturesDocument>;
  if (doc.backbone !== expected.backbone) {
    bad(`comes from backbone ${JSON.stringify(doc.backbone ?? null)}, but this engine's tags use ${expected.backbone}; extract features again with /get_features`);
  }
  if (!Array.isArray(doc.features)) bad('has no "features" list');
  if (doc.features!.length !== expected.featureLength) bad(`has ${doc.features!.length} features; ${expected.backbone} gives ${expected.featureLength}`);
  if (!doc.features!.every((v) => typeof v === 'number' && Number.isFinite(v))) bad('has features that are not finite numbers');
  for (const key of ['aesthetic', 'stock'] as const) {
    const s = doc[key];
    if (s !== undefined && (typeof s !== 'object' || s === null || typeof s.score !== 'number' || !Number.isFinite(s.score))) bad(`has a malformed ${key} score`);
  }
  return doc as FeaturesDocument;
}
