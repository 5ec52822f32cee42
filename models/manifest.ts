// The model manifest (models/models.json): which ONNX files exist, where their weights came
// from, and how to feed them. The kernel reads it at run time; the converter writes the hashes.
import fs from 'node:fs';
import path from 'node:path';

export interface ModelEntry {
  description: string;
  file: string;
  sha256: string;
  /** Where the pretrained weights come from; absent for a user's own ONNX encoder. */
  source?: { package: string; version: string; model: string; license: string };
  input: {
    name: string;
    /** The square size Tagsmith feeds; may exceed `trainedSize` for fully convolutional models. */
    size: number;
    /** The size the weights were trained at (where the conversion is checked against TF.js). */
    trainedSize: number;
    layout: 'NHWC';
    channels: 'RGB';
    range: [number, number];
  };
  outputs: {
    features: { length: number };
    /** The nsfw head; `headFile` scores a saved feature vector without its image. */
    nsfw?: { labels: string[]; headFile: string; headSha256: string };
  };
}

export interface ModelManifest {
  formatVersion: 1;
  /** Id of the model whose `features` output every tag is trained on. */
  backbone: string;
  models: Record<string, ModelEntry>;
}

export const MODELS_DIR_ENV = 'TAGSMITH_MODELS_DIR';

export function readManifest(dir: string): ModelManifest {
  const file = path.join(dir, 'models.json');
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelManifest;
  if (manifest.formatVersion !== 1) throw new Error(`${file}: unknown format version ${String(manifest.formatVersion)}`);
  if (!manifest.models[manifest.backbone]) throw new Error(`${file}: backbone ${manifest.backbone} is not among the models`);
  return manifest;
}

export function writeManifest(dir: string, manifest: ModelManifest): void {
  fs.writeFileSync(path.join(dir, 'models.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
