// npm run bench:features -- [folder] [--limit N]
// The same network on the same photos, side by side in one run: Tagsmith's pipeline
// (sharp + onnxruntime-node, batched) against the original TF.js model on the wasm backend.
// Each pipeline runs in its own child process so its peak RSS is its own.
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FeatureExtractorOptions } from '../../kernel/features/feature-extractor';
import { listImageFiles } from '../../kernel/images/image-files';
import { percentile, median, table } from './stats';

/**
 * `onnx` and `tfjs` run the network once at its native 224 pixels; `default` is Tagsmith's
 * (the manifest's size, image and mirror image averaged); `one-view-288` the default before
 * bench:accuracy's few-shot curve made the mirror image worth its cost.
 */
type Pipeline = 'onnx' | 'default' | 'one-view-288' | 'tfjs';
const EXTRACTOR_OPTIONS: Record<Pipeline, FeatureExtractorOptions> = {
  onnx: { inputSize: 224, flipAverage: false },
  tfjs: { inputSize: 224, flipAverage: false },
  'one-view-288': { inputSize: 288, flipAverage: false },
  default: {},
};
interface Report {
  pipeline: Pipeline;
  inputSize: number;
  images: number;
  failed: number;
  loadMs: number;
  decodeMs: number[];
  inferMs: number[];
  throughput: number;
  peakRssMb: number;
}

const BATCH = 8;

async function measure(pipeline: Pipeline, files: string[]): Promise<Report> {
  const { FeatureExtractor } = await import('../../kernel/features/feature-extractor');
  const started = performance.now();
  const extractor = await FeatureExtractor.create(EXTRACTOR_OPTIONS[pipeline]);
  // Only the TF.js child loads TF.js, so the ONNX child's peak RSS is the product's.
  const tfjs = pipeline === 'tfjs' ? await import('../helpers/tfjs-reference') : undefined;
  const reference = await tfjs?.loadReferenceModel('wasm');
  const runReference = tfjs?.runReference ?? (() => Promise.reject(new Error('TF.js is not loaded')));
  const loadMs = performance.now() - started;
  const size = extractor.inputSize;
  const bytes = await Promise.all(files.map((f) => fs.readFile(f)));

  const decodeMs: number[] = [];
  const inferMs: number[] = [];
  let failed = 0;
  const readable: Buffer[] = [];
  // Warm-up, then one image at a time: per-image decode and inference latency.
  for (const [i, image] of bytes.entries()) {
    let t = performance.now();
    let decoded;
    try {
      decoded = await extractor.decode(image);
    } catch {
      failed++;
      continue;
    }
    readable.push(image);
    const decodeTime = performance.now() - t;
    t = performance.now();
    if (reference) await runReference(reference, Float32Array.from(decoded.pixels, (v) => v / 255), 1, size);
    else await extractor.embedDecoded(decoded);
    if (i >= 3) {
      decodeMs.push(decodeTime);
      inferMs.push(performance.now() - t);
    }
  }

  // Throughput, end to end from bytes, each pipeline at its best: ONNX with every image in
  // flight (decoding overlaps inference, the extractor batches); TF.js in batches of 8.
  const t0 = performance.now();
  if (reference) {
    for (let i = 0; i < readable.length; i += BATCH) {
      const decoded = await Promise.all(readable.slice(i, i + BATCH).map((b) => extractor.decode(b)));
      const input = new Float32Array(decoded.length * size * size * 3);
      decoded.forEach((d, n) => input.set(Float32Array.from(d.pixels, (v) => v / 255), n * size * size * 3));
      await runReference(reference, input, decoded.length, size);
    }
  } else {
    await Promise.all(readable.map((b) => extractor.embed(b)));
  }
  const throughput = readable.length / ((performance.now() - t0) / 1000);
  return {
    pipeline, inputSize: size, images: bytes.length, failed, loadMs, decodeMs, inferMs, throughput,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

async function runChild(pipeline: Pipeline, files: string[]): Promise<Report> {
  const child = fork(__filename, ['--child', pipeline], { execArgv: ['--import', 'tsx'], stdio: ['pipe', 'inherit', 'inherit', 'ipc'] });
  child.send(files);
  return new Promise((resolve, reject) => {
    child.on('message', (report) => resolve(report as Report));
    child.on('exit', (code) => code !== 0 && reject(new Error(`${pipeline} benchmark exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { limit: { type: 'string' }, child: { type: 'string' } } });
  if (values.child) {
    process.once('message', async (files) => {
      process.send!(await measure(values.child as Pipeline, files as string[]));
      process.exit(0);
    });
    return;
  }
  const folder = positionals[0] ?? path.resolve(__dirname, '../../../shared/data/hymenoptera');
  let files = await listImageFiles([folder]);
  if (values.limit) files = files.slice(0, Number(values.limit));
  console.log(`bench:features — ${files.length} files from ${folder}; MobileNetV2-1.4 (nsfwjs mobilenet_v2_mid) both sides`);
  const onnx = await runChild('onnx', files);
  const tfjs = await runChild('tfjs', files);
  const oneView = await runChild('one-view-288', files);
  const product = await runChild('default', files);
  const names: Record<Pipeline, string> = {
    onnx: 'sharp + onnxruntime-node, 224', tfjs: 'sharp + TF.js wasm, 224',
    'one-view-288': 'ONNX at 288, one view (the default before)', default: `Tagsmith default: ONNX at ${product.inputSize}, + mirror image`,
  };
  const row = (r: Report) => [
    names[r.pipeline],
    `${r.images - r.failed}/${r.images}`,
    r.throughput.toFixed(1),
    `${median(r.decodeMs).toFixed(1)} / ${percentile(r.decodeMs, 95).toFixed(1)}`,
    `${median(r.inferMs).toFixed(1)} / ${percentile(r.inferMs, 95).toFixed(1)}`,
    r.peakRssMb.toFixed(0),
    (r.loadMs / 1000).toFixed(1),
  ];
  console.log(table(['pipeline', 'images', 'images/s (end to end)', 'decode ms p50 / p95', 'inference ms p50 / p95 (batch 1)', 'peak RSS MB', 'load s'], [row(onnx), row(tfjs), row(oneView), row(product)]));
  console.log(`throughput ratio ONNX / TF.js-wasm, same network at 224: ${(onnx.throughput / tfjs.throughput).toFixed(1)}×`);
  console.log(`inference ratio (median, batch 1): ${(median(tfjs.inferMs) / median(onnx.inferMs)).toFixed(1)}×`);
  console.log(`the default's cost against one 288-pixel view: ${(median(product.inferMs) / median(oneView.inferMs)).toFixed(2)}× the inference, ${(oneView.throughput / product.throughput).toFixed(2)}× the time per image end to end`);
}

void main();
