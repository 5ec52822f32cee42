// Reading the state's records. Each value is checked against its schema (record-schemas.ts),
// then against what its place says: a samples list's or a model's tag is its folder's name, a
// task's file is named by its id, an embedding's folder is its backbone, and vectors fit the
// backbone that made them. A restored archive is untrusted, and start-up reads the same way.
// Anything wrong is `invalid_archive`, "<file>: <what is wrong>", the file relative to the
// state folder and the field as a readable path (`clusters[0].weights`).
import fs from 'node:fs/promises';
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import { TagsmithError } from '../errors';
import { shownName } from './path-names';
import {
  CurrentPointerSchema,
  EMBEDDING_FORMAT,
  EmbeddingSchema,
  SampleListSchema,
  STATE_FORMAT,
  STATE_NAME,
  StateManifestSchema,
  TagModelSchema,
  TaskRecordSchema,
  type CurrentPointer,
  type EmbeddingRecord,
  type SampleListJson,
  type StateManifest,
  type TagModelJson,
  type TaskRecord,
} from './record-schemas';

// The record types, for modules that import them from here.
export type { EmbeddingRecord, SampleListJson, SampleRecord, SampleType, TagModelJson, TaskRecord, TaskState } from './record-schemas';

export function invalidRecord(file: string, why: string): TagsmithError {
  return new TagsmithError('invalid_archive', `${file}: ${why}`);
}

/** A checker for one schema: the value, typed, or `invalid_archive` naming the first problem. */
function checker<S extends TSchema>(schema: S): (value: unknown, file: string) => Static<S> {
  const validator = Compile(schema);
  return (value, file) => {
    if (validator.Check(value)) return value as Static<S>;
    throw invalidRecord(file, describeProblem(validator.Errors(value), value));
  };
}

/**
 * A checker for messages that are not state records (a scan batch between processes): the
 * value, typed, or the first problem in the words state records get.
 */
export function schemaChecker<S extends TSchema>(schema: S): (value: unknown) => { value: Static<S> } | { problem: string } {
  const validator = Compile(schema);
  return (value) => (validator.Check(value) ? { value: value as Static<S> } : { problem: describeProblem(validator.Errors(value), value) });
}

const manifestShape = checker(StateManifestSchema);
const pointerShape = checker(CurrentPointerSchema);
const sampleListShape = checker(SampleListSchema);
const embeddingShape = checker(EmbeddingSchema);
const tagModelShape = checker(TagModelSchema);
const taskShape = checker(TaskRecordSchema);

/**
 * A record file's JSON, or undefined when there is none. A file that does not parse or cannot
 * be read is `invalid_archive`; `relative` is how messages name it.
 */
export async function readRecordFile(file: string, relative: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw invalidRecord(relative, `cannot be read (${code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidRecord(relative, 'does not parse as JSON');
  }
}

export function checkManifest(value: unknown, file = 'manifest.json'): StateManifest {
  const v = value as Partial<StateManifest> | null;
  if (!v || typeof v !== 'object' || v.name !== STATE_NAME) throw invalidRecord(file, 'not a Tagsmith state manifest');
  if (v.formatVersion !== STATE_FORMAT)
    throw invalidRecord(file, `the state has format version ${shownName(v.formatVersion)}; this Tagsmith reads version ${STATE_FORMAT}`);
  return manifestShape(value, file);
}

export function checkCurrentPointer(value: unknown, file = 'CURRENT'): CurrentPointer {
  return pointerShape(value, file);
}

/** A samples list found in `tags/<folderTag>/`. */
export function checkSampleList(value: unknown, file: string, folderTag: string): SampleListJson {
  const list = sampleListShape(value, file);
  if (list.tag !== folderTag) throw invalidRecord(file, `tag ${shownName(list.tag)} is not its folder's name (${shownName(folderTag)})`);
  const seen = new Set<string>();
  list.samples.forEach((sample, i) => {
    if (seen.has(sample.id)) throw invalidRecord(file, `samples[${i}].id: sample ${sample.id} is listed twice`);
    seen.add(sample.id);
  });
  return list;
}

/**
 * An embedding found in `features/<backbone>/`; `featureLength` when that backbone is the one
 * running (other backbones' vectors are only checked to be whole, finite float32s).
 */
export function checkEmbedding(value: unknown, file: string, expected: { backbone: string; featureLength?: number }): EmbeddingRecord {
  const record = embeddingShape(value, file);
  if (record.backbone !== expected.backbone)
    throw invalidRecord(file, `backbone ${shownName(record.backbone)} is not its folder's name (${shownName(expected.backbone)})`);
  const bytes = Buffer.from(record.features, 'base64');
  if (bytes.length % 4 !== 0) throw invalidRecord(file, 'features are not a whole number of float32 values');
  if (expected.featureLength !== undefined && bytes.length !== expected.featureLength * 4) {
    throw invalidRecord(file, `features hold ${bytes.length / 4} values; backbone ${record.backbone} gives ${expected.featureLength}`);
  }
  for (let i = 0; i < bytes.length; i += 4) {
    if (!Number.isFinite(bytes.readFloatLE(i))) throw invalidRecord(file, `features[${i / 4}] is not a finite number`);
  }
  return record;
}

/**
 * An embedding whose base scores are measured the way this version measures them: what a cache
 * may serve (an older entry is dropped and the image embedded again).
 */
export function checkCurrentEmbedding(value: unknown, file: string, expected: { backbone: string; featureLength?: number }): EmbeddingRecord {
  const record = checkEmbedding(value, file, expected);
  if (record.formatVersion !== EMBEDDING_FORMAT) throw invalidRecord(file, `format version ${record.formatVersion} measured its base scores the old way`);
  return record;
}

/** A tag model found in `tags/<tag>/`, for an engine running `backbone` with vectors of `featureLength`. */
export function checkTagModel(value: unknown, file: string, expected: { tag: string; backbone: string; featureLength: number }): TagModelJson {
  const model = tagModelShape(value, file);
  if (model.tag !== expected.tag) throw invalidRecord(file, `tag ${shownName(model.tag)} is not its folder's name (${shownName(expected.tag)})`);
  // A model of another backbone is kept (not served) until the tag trains again; its vectors
  // are that backbone's length, which this engine cannot know.
  if (model.backbone === expected.backbone && model.featureLength !== expected.featureLength) {
    throw invalidRecord(file, `featureLength is ${model.featureLength}; backbone ${model.backbone} gives ${expected.featureLength}`);
  }
  const wanted = [...(model.options.apply_aesthetic_score ? ['aesthetic'] : []), ...(model.options.apply_stock_score ? ['stock'] : [])];
  const extras = model.extras.map((e) => e.name);
  if (extras.join() !== wanted.join()) {
    throw invalidRecord(file, `extras are [${extras.join(', ')}] but options ask for [${wanted.join(', ')}]`);
  }
  if (model.clusters.length > model.options.num_clusters) {
    throw invalidRecord(file, `clusters has ${model.clusters.length} entries; options.num_clusters is ${model.options.num_clusters}`);
  }
  if (!!model.options.apply_keywords !== !!model.keywords) {
    throw invalidRecord(
      file,
      model.keywords ? 'keywords are given but options.apply_keywords is not set' : 'options.apply_keywords is set but keywords are missing',
    );
  }
  if (model.keywords && model.keywords.mean.length !== model.keywords.std.length) {
    throw invalidRecord(file, `keywords has ${model.keywords.mean.length} means and ${model.keywords.std.length} standard deviations`);
  }
  const keywords = model.keywords?.mean.length ?? 0;
  const width = model.featureLength + model.extras.length + keywords;
  const needs = `featureLength ${model.featureLength}, ${model.extras.length} base scores${keywords ? ` and ${keywords} keywords` : ''} need ${width}`;
  model.clusters.forEach((cluster, i) => {
    if (cluster.weights.length !== width) throw invalidRecord(file, `clusters[${i}].weights has ${cluster.weights.length} numbers; ${needs}`);
  });
  if (model.shared && model.shared.weights.length !== width) throw invalidRecord(file, `shared.weights has ${model.shared.weights.length} numbers; ${needs}`);
  return model;
}

/** A task record; `taskId` is the id its file name gives (`tasks/<task id>.json`). */
export function checkTask(value: unknown, file: string, expected: { taskId?: string } = {}): TaskRecord {
  const task = taskShape(value, file);
  if (expected.taskId !== undefined && task.task_id !== expected.taskId) {
    throw invalidRecord(file, `task_id ${shownName(task.task_id)} does not match its file name`);
  }
  return task;
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

// ── readable problems ─────────────────────────────────────────────────────────────────

/** The first problem TypeBox found, in words: where it is and what is wrong. */
function describeProblem(errors: TLocalizedValidationError[], root: unknown): string {
  // An unknown field shows twice (as `false` for the field and as additionalProperties);
  // a union's summary says less than its branches.
  const useful = errors.filter((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf');
  const error = useful[0] ?? errors[0];
  if (!error) return 'is not a valid record';
  const where = readablePath(error.instancePath);
  const subject = where || 'the record';
  const value = valueAt(root, error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': {
      const missing = (params.requiredProperties as string[]).map((name) => joinPath(where, name));
      return `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing`;
    }
    case 'additionalProperties':
      return `${(params.additionalProperties as string[]).map((name) => joinPath(where, name)).join(', ')} is not a field of this record`;
    case 'const':
      return `${subject} must be ${JSON.stringify(params.allowedValue)}, not ${describeValue(value)}`;
    case 'enum':
      return `${subject} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, not ${describeValue(value)}`;
    case 'type':
      if (!where && params.type === 'object') return 'is not a JSON object';
      return `${subject} must be ${TYPE_NAMES[String(params.type)] ?? String(params.type)}, not ${describeValue(value)}`;
    case 'format':
      return `${subject} must be a date and time (ISO 8601), not ${describeValue(value)}`;
    case 'pattern':
      return `${subject} has the wrong form (${describeValue(value)})`;
    case '~refine':
      return `${subject}: ${error.message}`;
    default:
      return `${subject} ${error.message} (it is ${describeValue(value)})`;
  }
}

const TYPE_NAMES: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  string: 'a string',
  number: 'a finite number',
  integer: 'a whole number',
  boolean: 'true or false',
  null: 'null',
};

function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'a number out of range';
  if (typeof value === 'string') return value.length > 80 ? `a string of ${value.length} characters` : JSON.stringify(value);
  return JSON.stringify(value) ?? typeof value;
}

function pointerParts(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `/clusters/0/weights` → `clusters[0].weights`. */
function readablePath(pointer: string): string {
  return pointerParts(pointer).reduce(joinPath, '');
}

function joinPath(base: string, part: string): string {
  if (/^\d+$/.test(part)) return `${base}[${part}]`;
  const key = /^[A-Za-z_$][\w$]*$/.test(part) ? part : `[${shownName(part)}]`;
  if (key.startsWith('[')) return `${base}${key}`;
  return base ? `${base}.${key}` : key;
}

function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const part of pointerParts(pointer)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}
