// The original TF.js model from the nsfwjs package, run by TF.js itself: the reference the
// ONNX conversion is checked against (tests and the feature benchmark).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readManifest } from '../../models/manifest';
import { nsfwjsModelDir } from '../../models/convert';
import { findModelsDir } from '../../kernel/features/models-dir';

export const TF_FEATURES_NODE =
  'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/feature_vector/SpatialSqueeze';

export async function loadReferenceModel(backend: 'cpu' | 'wasm'): Promise<tf.GraphModel> {
  if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend(backend);
  await tf.ready();
  const manifest = readManifest(findModelsDir());
  const dir = nsfwjsModelDir(manifest.models[manifest.backbone]);
  const load = createRequire(path.join(dir, 'model.min.js'));
  const json = load(path.join(dir, 'model.min.js')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const group = json.weightsManifest[0];
  const bytes = Buffer.concat(group.paths.map((p) => Buffer.from(load(path.join(dir, `${p}.min.js`)) as string, 'base64')));
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: group.weights, weightData }));
}

/** Runs NHWC [0,1] pixels through TF.js; returns features and probabilities per image. */
export async function runReference(
  model: tf.GraphModel,
  input: Float32Array,
  count: number,
  size: number,
): Promise<{ features: Float32Array; nsfw: Float32Array }> {
  const x = tf.tensor4d(input, [count, size, size, 3]);
  const [features, nsfw] = model.execute(x, [TF_FEATURES_NODE, 'Identity']) as tf.Tensor[];
  const result = { features: (await features.data()) as Float32Array, nsfw: (await nsfw.data()) as Float32Array };
  tf.dispose([x, features, nsfw]);
  return result;
}

/** A TF.js converter's graph model (model.json and binary shards), run on TF.js' wasm backend (its CPU backend takes 13 s a detection). */
export async function loadDetectorReference(modelJson: string): Promise<tf.GraphModel> {
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  await tf.ready();
  const json = JSON.parse(fs.readFileSync(modelJson, 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(modelJson), p)))));
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  return tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }),
  );
}

/** The detector's decoded rows for one image of NHWC pixels (0–255, as the graph takes them). */
export async function runDetectorReference(model: tf.GraphModel, pixels: Uint8Array, size: number, outputNode: string): Promise<Float32Array> {
  const x = tf.tensor4d(Float32Array.from(pixels), [1, size, size, 3]);
  const out = model.execute(x, outputNode) as tf.Tensor;
  const rows = (await out.data()) as Float32Array;
  tf.dispose([x, out]);
  return rows;
}
