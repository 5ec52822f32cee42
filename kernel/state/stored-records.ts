// The JSON records the state folder holds, each with a name and a format version, and the
// checks that load them (a restored archive is untrusted input).
import { TagsmithError } from '../errors';
import type { ScoreWithComponents } from '../scores/base-scores';
import type { TrainOptions } from '../training/train-options';
import type { TagMetrics } from '../training/tag-model';
import { isValidTag } from './tag-name';

export type SampleType = 'positive' | 'negative';

export interface SampleRecord {
  /** sha256 of the image bytes; also the image's file name. */
  id: string;
  type: SampleType;
  fileName?: string;
  addedAt: string;
}

export interface SampleListJson {
  name: 'tagsmith-samples';
  formatVersion: 1;
  tag: string;
  samples: SampleRecord[];
}

export interface EmbeddingRecord {
  name: 'tagsmith-embedding';
  formatVersion: 1;
  backbone: string;
  /** Float32 little-endian, base64: a third of the size of a JSON number array. */
  features: string;
  nsfw: Record<string, number>;
  aesthetic: ScoreWithComponents;
  stock: ScoreWithComponents;
  image: { format: string; width: number; height: number };
}

export type TaskState = 'queued' | 'running' | 'done' | 'failed';

export interface TaskRecord {
  name: 'tagsmith-task';
  formatVersion: 1;
  task_id: string;
  tag: string;
  options: TrainOptions;
  state: TaskState;
  stage?: string;
  progress: number;
  metrics?: TagMetrics;
  error?: { code: string; message: string };
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

const HASH = /^[0-9a-f]{64}$/;
export const isSampleId = (id: unknown): id is string => typeof id === 'string' && HASH.test(id);

function fail(source: string, why: string): never {
  throw new TagsmithError('invalid_archive', `${source}: ${why}`);
}

export function checkSampleList(value: unknown, source: string): SampleListJson {
  const v = value as Partial<SampleListJson> | null;
  if (!v || v.name !== 'tagsmith-samples' || v.formatVersion !== 1) fail(source, 'not a Tagsmith sample list of format 1');
  if (!isValidTag(v!.tag)) fail(source, 'invalid tag name');
  if (!Array.isArray(v!.samples)) fail(source, 'samples is not a list');
  const seen = new Set<string>();
  for (const s of v!.samples!) {
    if (!s || !isSampleId(s.id) || (s.type !== 'positive' && s.type !== 'negative') || typeof s.addedAt !== 'string') fail(source, 'a sample record is malformed');
    if (s.fileName !== undefined && typeof s.fileName !== 'string') fail(source, 'a file name is not a string');
    if (seen.has(s.id)) fail(source, `sample ${s.id} is listed twice`);
    seen.add(s.id);
  }
  return v as SampleListJson;
}

export function checkEmbedding(value: unknown, source: string, featureLength: number): EmbeddingRecord {
  const v = value as Partial<EmbeddingRecord> | null;
  if (!v || v.name !== 'tagsmith-embedding' || v.formatVersion !== 1) fail(source, 'not a Tagsmith embedding of format 1');
  if (typeof v!.features !== 'string' || Buffer.from(v!.features, 'base64').length !== featureLength * 4) fail(source, `features are not ${featureLength} floats`);
  if (!decodeFeatures(v!.features!).every(Number.isFinite)) fail(source, 'features are not finite');
  if (!v!.aesthetic || !Number.isFinite(v!.aesthetic.score) || !v!.stock || !Number.isFinite(v!.stock.score)) fail(source, 'base scores missing');
  if (!v!.nsfw || typeof v!.nsfw !== 'object' || !Object.values(v!.nsfw).every(Number.isFinite)) fail(source, 'nsfw scores missing');
  return v as EmbeddingRecord;
}

export function checkTask(value: unknown, source: string): TaskRecord {
  const v = value as Partial<TaskRecord> | null;
  if (!v || v.name !== 'tagsmith-task' || v.formatVersion !== 1 || typeof v.task_id !== 'string' || !isValidTag(v.tag)) fail(source, 'not a Tagsmith task record of format 1');
  if (!['queued', 'running', 'done', 'failed'].includes(v!.state as string)) fail(source, 'unknown task state');
  return v as TaskRecord;
}

export function encodeFeatures(features: Float32Array): string {
  return Buffer.from(features.buffer, features.byteOffset, features.byteLength).toString('base64');
}

export function decodeFeatures(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
