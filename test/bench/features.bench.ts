// npm run bench:features -- [folder] [--rounds 3] [--limit N] [--sweep] [--keywords-only]
// Embedding throughput end to end (bytes → features), side by side in one run, each pipeline
// in its own child process (its peak RSS and CPU time are its own), the pipelines taking turns
// over `rounds` rounds (a busy shared machine slows them alike; medians are printed):
//   - the baseline: Tagsmith's pipeline as it was at 16e262b (fp32, 320 pixels + mirror);
//   - today's backbones, and the fp32 network in the new pipeline;
//   - the same network at 224 pixels in ONNX Runtime (fp32 and int8) and in TF.js' wasm backend.
// The roofline: the bare network on random input (no decoding), at the best batch size and
// threading, in images/s and GFLOP/s (FLOPs counted from the graph's Conv/Gemm shapes); every
// pipeline says what share of its network's own throughput it reaches.
// The keywords detector (an opt-in base model) has its own row, taking its turn in each round;
// --keywords-only measures it alone.
// --sweep adds the threading study: workers × intra-op threads, spinning, batch sizes, and the
// mirror view from a second decode instead of the decoded pixels.
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readManifest } from '../../models/manifest';
import type { FeatureExtractorOptions } from '../../kernel/features/feature-extractor';
import { findModelsDir } from '../../kernel/features/models-dir';
import { listImageFiles } from '../../kernel/images/image-files';
import { countFlops } from './graph-flops';
import { measureKeywords, type KeywordsReport } from './keywords-detector';
import { median, percentile, table } from './stats';

interface Pipeline {
  name: string;
  /** `baseline`: the frozen 16e262b extractor; `tfjs`: TF.js wasm; `extractor`: today's FeatureExtractor; `second-decode`: the mirror view decoded again by sharp. */
  kind: 'baseline' | 'tfjs' | 'extractor' | 'second-decode';
  options: FeatureExtractorOptions;
  /** Only the first N images (TF.js is slow; its rate is per image all the same). */
  limit?: number;
  /** libvips' operation cache back on, as sharp has it by default (the decoder turns it off). */
  libvipsCache?: boolean;
}

interface Report {
  name: string;
  backbone: string;
  inputSize: number;
  views: number;
  images: number;
  failed: number;
  decodeMs: number[];
  inferMs: number[];
  throughput: number;
  cpuMsPerImage: number;
  /** Threads' time runnable but waiting for a core (Linux schedstat), per second of the run: the cores other processes took. */
  waitingCores: number;
  peakRssMb: number;
}

/** Seconds this process's threads ran and waited to run, summed over its threads (Linux /proc/self/task/…/schedstat). */
async function schedstat(): Promise<{ run: number; wait: number }> {
  let run = 0;
  let wait = 0;
  for (const task of await fs.readdir('/proc/self/task').catch(() => [])) {
    const line = await fs.readFile(`/proc/self/task/${task}/schedstat`, 'utf8').catch(() => '');
    const [r, w] = line.split(' ').map(Number);
    if (Number.isFinite(r) && Number.isFinite(w)) {
      run += r / 1e9;
      wait += w / 1e9;
    }
  }
  return { run, wait };
}

/** Bare network: views/s of the best setting, per model file and size. */
interface Roofline {
  file: string;
  size: number;
  best: { viewsPerSecond: number; setting: string };
  all: { setting: string; viewsPerSecond: number; cpuMsPerView: number }[];
  /** The least CPU time a view took in any setting: the network's own cost, which contention from other processes does not inflate. */
  cpuMsPerView: number;
}

const cores = os.availableParallelism();
const BASE: Pipeline[] = [
  { name: 'baseline: 16e262b default (fp32, 320 + mirror)', kind: 'baseline', options: { backbone: 'mobilenet_v2_140_flip320' }, libvipsCache: true },
  { name: 'fp32 320 + mirror, new pipeline', kind: 'extractor', options: { backbone: 'mobilenet_v2_140_flip320' } },
  { name: 'int8 320 + mirror', kind: 'extractor', options: { backbone: 'mobilenet_v2_140_int8_flip320' } },
  {
    name: 'int8 320 + mirror, sRGB profiles converted (before)',
    kind: 'extractor',
    options: { backbone: 'mobilenet_v2_140_int8_flip320', colourProfiles: 'convert-all' },
  },
  {
    name: 'int8 320 + mirror, libvips cache on (before)',
    kind: 'extractor',
    options: { backbone: 'mobilenet_v2_140_int8_flip320' },
    libvipsCache: true,
  },
  {
    name: 'int8 320 + mirror, both (this morning)',
    kind: 'extractor',
    options: { backbone: 'mobilenet_v2_140_int8_flip320', colourProfiles: 'convert-all' },
    libvipsCache: true,
  },
  { name: 'fp32 288, one view', kind: 'extractor', options: { backbone: 'mobilenet_v2_140' } },
  { name: 'int8 288, one view', kind: 'extractor', options: { backbone: 'mobilenet_v2_140_int8' } },
  { name: 'fp32 224, one view', kind: 'extractor', options: { backbone: 'mobilenet_v2_140', inputSize: 224 } },
  { name: 'int8 224, one view', kind: 'extractor', options: { backbone: 'mobilenet_v2_140_int8', inputSize: 224 } },
  { name: 'TF.js wasm 224, one view', kind: 'tfjs', options: { backbone: 'mobilenet_v2_140', inputSize: 224 }, limit: 120 },
];
const INT8 = { backbone: 'mobilenet_v2_140_int8_flip320' };
const SWEEP: Pipeline[] = [
  {
    name: `sweep: in-thread session, ${cores} intra-op threads, spinning`,
    kind: 'extractor',
    options: { ...INT8, workers: 0, intraOpThreads: cores, spinning: true },
  },
  {
    name: `sweep: in-thread session, ${cores} intra-op threads, no spinning`,
    kind: 'extractor',
    options: { ...INT8, workers: 0, intraOpThreads: cores, spinning: false },
  },
  { name: `sweep: 1 worker × ${cores} intra-op threads`, kind: 'extractor', options: { ...INT8, workers: 1, intraOpThreads: cores } },
  { name: 'sweep: threads 1 (1 worker × 1 thread)', kind: 'extractor', options: { ...INT8, threads: 1 } },
  { name: `sweep: ${cores} workers × 1 thread, batch 1`, kind: 'extractor', options: { ...INT8, maxBatch: 1 } },
  { name: `sweep: ${cores} workers × 1 thread, batch 4`, kind: 'extractor', options: { ...INT8, maxBatch: 4 } },
  { name: `sweep: ${cores} workers × 1 thread, spinning`, kind: 'extractor', options: { ...INT8, spinning: true } },
  { name: 'sweep: mirror view from a second decode', kind: 'second-decode', options: INT8 },
];

async function measure(pipeline: Pipeline, allFiles: string[]): Promise<Report> {
  const files = allFiles.slice(0, pipeline.limit ?? allFiles.length);
  const bytes = await Promise.all(files.map((f) => fs.readFile(f)));
  const { FeatureExtractor } = await import('../../kernel/features/feature-extractor');
  const { BaselineFeatureExtractor } = await import('./baseline/feature-extractor-16e262b');
  if (pipeline.libvipsCache) (await import('sharp')).default.cache(true);
  const extractor = pipeline.kind === 'baseline' ? await BaselineFeatureExtractor.create(pipeline.options) : await FeatureExtractor.create(pipeline.options);
  const size = extractor.inputSize;
  const flip = pipeline.options.flipAverage ?? extractor.model.input.flipAverage ?? false;
  // Only the TF.js child loads TF.js, so the ONNX children's peak RSS is the product's.
  const tfjs = pipeline.kind === 'tfjs' ? await import('../helpers/tfjs-reference') : undefined;
  const reference = await tfjs?.loadReferenceModel('wasm');
  const runReference = tfjs?.runReference ?? (() => Promise.reject(new Error('TF.js is not loaded')));

  let embed: (image: Buffer) => Promise<unknown> = (image) => extractor.embed(image);
  if (reference) {
    embed = async (image) => {
      const d = await extractor.decode(image);
      return runReference(
        reference,
        Float32Array.from(d.pixels, (v) => v / 255),
        1,
        size,
      );
    };
  } else if (pipeline.kind === 'second-decode') {
    const sharp = (await import('sharp')).default;
    const { FeatureExtractor: F } = await import('../../kernel/features/feature-extractor');
    const single = await F.create({ ...pipeline.options, flipAverage: false });
    embed = async (image) => {
      const [d, m] = await Promise.all([extractor.decode(image), extractor.decode(await sharp(image).autoOrient().flop().toBuffer())]);
      const [a, b] = await Promise.all([single.embedDecoded(d), single.embedDecoded(m)]);
      for (let i = 0; i < a.features.length; i++) a.features[i] = (a.features[i] + b.features[i]) / 2;
      return a;
    };
  }

  // Latency, one image at a time (first 40 readable images, after 3 of warm-up).
  const decodeMs: number[] = [];
  const inferMs: number[] = [];
  let failed = 0;
  const readable: Buffer[] = [];
  for (const image of bytes) {
    try {
      await extractor.decode(image);
      readable.push(image);
    } catch {
      failed++;
    }
  }
  for (const [i, image] of readable.slice(0, 43).entries()) {
    let t = performance.now();
    const decoded = await extractor.decode(image);
    const decodeTime = performance.now() - t;
    t = performance.now();
    if (reference)
      await runReference(
        reference,
        Float32Array.from(decoded.pixels, (v) => v / 255),
        1,
        size,
      );
    else await extractor.embedDecoded(decoded);
    if (i >= 3) {
      decodeMs.push(decodeTime);
      inferMs.push(performance.now() - t);
    }
  }

  // Throughput, end to end from bytes, every image in flight (decoding overlaps inference,
  // the extractor batches); TF.js (whose run blocks) 8 at a time.
  const cpu0 = process.cpuUsage();
  const sched0 = await schedstat();
  const t0 = performance.now();
  if (reference) {
    for (let i = 0; i < readable.length; i += 8) await Promise.all(readable.slice(i, i + 8).map(embed));
  } else {
    await Promise.all(readable.map(embed));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const sched1 = await schedstat();
  return {
    name: pipeline.name,
    backbone: extractor.backboneId,
    inputSize: size,
    views: flip ? 2 : 1,
    images: bytes.length,
    failed,
    decodeMs,
    inferMs,
    throughput: readable.length / seconds,
    cpuMsPerImage: (cpu.user + cpu.system) / 1000 / readable.length,
    waitingCores: (sched1.wait - sched0.wait) / seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

/** The bare network on random pixels: every batch size and threading, for 1.5 s each, the best kept. */
async function roofline(backbone: string, size: number): Promise<Roofline> {
  const { InferencePool } = await import('../../kernel/features/inference-pool');
  const dir = findModelsDir();
  const entry = readManifest(dir, backbone).models[backbone];
  const file = path.join(dir, entry.file);
  const spec = {
    file,
    input: entry.input,
    featuresOutput: 'features',
    featureLength: entry.outputs.features.length,
    labels: entry.outputs.nsfw?.labels.length ?? 0,
    size,
  };
  const pixels = new Uint8Array(size * size * 3).map((_, i) => (i * 2654435761) >>> 24);
  const settings = [
    ...[1, 2, 4].map((batch) => ({ setting: `${cores} workers × 1 thread, batch ${batch}`, workers: cores, intra: 1, batch })),
    ...[1, 2, 4].map((batch) => ({ setting: `1 session × ${cores} threads, batch ${batch}`, workers: 0, intra: cores, batch })),
  ];
  const all: Roofline['all'] = [];
  for (const s of settings) {
    const pool = await InferencePool.create({ ...spec, intraOpThreads: s.intra, spinning: s.workers === 0 }, { workers: s.workers, maxBatch: s.batch });
    const inFlight = Math.max(1, s.workers) * s.batch * 2;
    const runFor = async (ms: number) => {
      let done = 0;
      const end = performance.now() + ms;
      const lane = async () => {
        while (performance.now() < end) {
          await pool.infer({ pixels, mirror: false });
          done++;
        }
      };
      const cpu = process.cpuUsage();
      const t = performance.now();
      await Promise.all(Array.from({ length: inFlight }, lane));
      const used = process.cpuUsage(cpu);
      return { viewsPerSecond: done / ((performance.now() - t) / 1000), cpuMsPerView: (used.user + used.system) / 1000 / done };
    };
    await runFor(300);
    // Two windows, the better kept: a busy machine only ever slows a window down.
    const [a, b] = [await runFor(1200), await runFor(1200)];
    all.push({ setting: s.setting, viewsPerSecond: Math.max(a.viewsPerSecond, b.viewsPerSecond), cpuMsPerView: Math.min(a.cpuMsPerView, b.cpuMsPerView) });
    await pool.close();
  }
  const best = all.reduce((a, b) => (b.viewsPerSecond > a.viewsPerSecond ? b : a));
  return { file: entry.file, size, best, all, cpuMsPerView: Math.min(...all.map((a) => a.cpuMsPerView)) };
}

type ChildJob = { pipeline: Pipeline; files: string[] } | { roofline: { backbone: string; size: number } } | { keywords: string[] };

async function runChild<T>(job: ChildJob): Promise<T> {
  const child = fork(__filename, ['--child'], { execArgv: ['--import', 'tsx'], stdio: ['pipe', 'inherit', 'inherit', 'ipc'] });
  child.send(job);
  return new Promise((resolve, reject) => {
    child.on('message', (report) => resolve(report as T));
    child.on('exit', (code) => code !== 0 && reject(new Error(`benchmark child exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      limit: { type: 'string' },
      child: { type: 'boolean' },
      rounds: { type: 'string', default: '3' },
      sweep: { type: 'boolean' },
      'keywords-only': { type: 'boolean' },
    },
  });
  if (values.child) {
    process.once('message', async (job: ChildJob) => {
      process.send!(
        'roofline' in job
          ? await roofline(job.roofline.backbone, job.roofline.size)
          : 'keywords' in job
            ? await measureKeywords(job.keywords)
            : await measure(job.pipeline, job.files),
      );
      process.exit(0);
    });
    return;
  }
  const folder = positionals[0] ?? path.resolve(__dirname, '../../../shared/data/hymenoptera');
  let files = await listImageFiles([folder]);
  if (values.limit) files = files.slice(0, Number(values.limit));
  const rounds = Number(values.rounds);
  const pipelines = values['keywords-only'] ? [] : values.sweep ? [...BASE.slice(0, 3), ...SWEEP] : BASE;
  console.log(
    `bench:features — ${files.length} files from ${folder}; MobileNetV2-1.4 (nsfwjs mobilenet_v2_mid); ${cores} cores (${os.cpus()[0].model}); ${rounds} rounds, pipelines taking turns`,
  );

  // The rooflines, once per (file, size) the pipelines use.
  const dir = findModelsDir();
  const manifest = readManifest(dir);
  const keyOf = (p: Pipeline) => {
    const entry = manifest.models[p.options.backbone ?? manifest.backbone];
    return { backbone: p.options.backbone ?? manifest.backbone, file: entry.file, size: p.options.inputSize ?? entry.input.size };
  };
  const roofs = new Map<string, Roofline>();
  for (const p of pipelines) {
    const k = keyOf(p);
    const id = `${k.file}@${k.size}`;
    if (!roofs.has(id)) roofs.set(id, await runChild<Roofline>({ roofline: { backbone: k.backbone, size: k.size } }));
  }

  const reports = new Map<string, Report[]>(pipelines.map((p) => [p.name, []]));
  const keywordRuns: KeywordsReport[] = [];
  let keywordsMissing: string | undefined;
  for (let round = 0; round < rounds; round++) {
    for (const p of pipelines) {
      const report = await runChild<Report>({ pipeline: p, files });
      reports.get(p.name)!.push(report);
      console.error(`  round ${round + 1}: ${p.name}: ${report.throughput.toFixed(1)} images/s`);
    }
    const keywords = await runChild<KeywordsReport | { missing: string }>({ keywords: files });
    if ('missing' in keywords) keywordsMissing = keywords.missing;
    else {
      keywordRuns.push(keywords);
      console.error(`  round ${round + 1}: keywords detector: ${keywords.throughput.toFixed(1)} images/s`);
    }
  }
  printKeywords(keywordRuns, keywordsMissing, rounds);
  if (pipelines.length === 0) return;

  console.log('\nroofline: the bare network on random input, no decoding (views/s; an image with its mirror is 2 views)');
  const roofRows = [...roofs.entries()].map(([, r]) => {
    const { flops } = countFlops(path.join(dir, r.file), r.size);
    return [
      r.file,
      String(r.size),
      (flops / 1e9).toFixed(3),
      r.best.viewsPerSecond.toFixed(1),
      ((r.best.viewsPerSecond * flops) / 1e9).toFixed(0),
      r.cpuMsPerView.toFixed(2),
      (flops / 1e6 / r.cpuMsPerView).toFixed(0),
      r.best.setting,
      r.all.map((a) => a.viewsPerSecond.toFixed(0)).join(' / '),
    ];
  });
  console.log(
    table(
      [
        'model',
        'size',
        'GFLOP/view',
        'best views/s',
        'GFLOP/s',
        'CPU ms/view',
        'GFLOP/s a core',
        'best setting',
        `all settings (${roofs
          .values()
          .next()
          .value!.all.map((a) => a.setting)
          .join(' / ')})`,
      ],
      roofRows,
    ),
  );

  const baseline = median(reports.get(pipelines[0].name)!.map((r) => r.throughput));
  const rows = pipelines.map((p) => {
    const runs = reports.get(p.name)!;
    const r = runs[0];
    const k = keyOf(p);
    const roof = roofs.get(`${k.file}@${k.size}`)!;
    const throughput = median(runs.map((x) => x.throughput));
    const roofImages = roof.best.viewsPerSecond / r.views;
    const decodeMs = runs.flatMap((x) => x.decodeMs);
    const inferMs = runs.flatMap((x) => x.inferMs);
    return [
      p.name,
      `${r.images - r.failed}/${r.images}`,
      `${throughput.toFixed(1)} (${runs.map((x) => x.throughput.toFixed(1)).join(', ')})`,
      `${(throughput / baseline).toFixed(2)}×`,
      `${((100 * throughput) / roofImages).toFixed(0)}% of ${roofImages.toFixed(1)}`,
      // Of the CPU an image costs end to end, the share the network itself needs (its CPU ms a view × views).
      `${((100 * r.views * roof.cpuMsPerView) / median(runs.map((x) => x.cpuMsPerImage))).toFixed(0)}%`,
      median(runs.map((x) => x.cpuMsPerImage)).toFixed(1),
      // CPU seconds per wall second: 2.0 is both cores busy the whole time.
      `${median(runs.map((x) => (x.cpuMsPerImage * x.throughput) / 1000)).toFixed(2)} + ${median(runs.map((x) => x.waitingCores)).toFixed(2)}`,
      `${median(decodeMs).toFixed(1)} / ${percentile(decodeMs, 95).toFixed(1)}`,
      `${median(inferMs).toFixed(1)} / ${percentile(inferMs, 95).toFixed(1)}`,
      median(runs.map((x) => x.peakRssMb)).toFixed(0),
    ];
  });
  console.log(`\npipelines, end to end from JPEG bytes (median of ${rounds} rounds; each round's figure in brackets)`);
  console.log(
    table(
      [
        'pipeline',
        'images',
        'images/s',
        'vs baseline',
        'share of the bare network (images/s)',
        'network share of the CPU',
        'CPU ms/image',
        'cores busy + waiting for one',
        'decode ms p50 / p95',
        'inference ms p50 / p95 (1 image)',
        'peak RSS MB',
      ],
      rows,
    ),
  );
  const rate = (name: string) => median(reports.get(name)?.map((r) => r.throughput) ?? [Number.NaN]);
  const tf = rate('TF.js wasm 224, one view');
  if (!Number.isNaN(tf))
    console.log(
      `ONNX / TF.js wasm at 224, end to end: fp32 ${(rate('fp32 224, one view') / tf).toFixed(1)}×, int8 ${(rate('int8 224, one view') / tf).toFixed(1)}×`,
    );
}

/** The detector's row: what finding an image's objects costs, beside what embedding it costs above. */
function printKeywords(runs: KeywordsReport[], missing: string | undefined, rounds: number): void {
  if (missing) {
    console.log(`\nkeywords detector: not measured (${missing})`);
    return;
  }
  const r = runs[0];
  const decodeMs = runs.flatMap((x) => x.decodeMs);
  const inferMs = runs.flatMap((x) => x.inferMs);
  console.log(
    `\nkeywords detector (opt-in base model, run only when asked), end to end from JPEG bytes (median of ${rounds} rounds; each round's figure in brackets)`,
  );
  console.log(
    table(
      [
        'model',
        'images',
        'images/s',
        'CPU ms/image',
        'decode ms p50 / p95',
        'inference ms p50 / p95 (1 image)',
        'peak RSS MB',
        'images with objects',
        'objects found',
      ],
      [
        [
          r.model,
          `${r.images - r.failed}/${r.images}`,
          `${median(runs.map((x) => x.throughput)).toFixed(1)} (${runs.map((x) => x.throughput.toFixed(1)).join(', ')})`,
          median(runs.map((x) => x.cpuMsPerImage)).toFixed(1),
          `${median(decodeMs).toFixed(1)} / ${percentile(decodeMs, 95).toFixed(1)}`,
          `${median(inferMs).toFixed(1)} / ${percentile(inferMs, 95).toFixed(1)}`,
          median(runs.map((x) => x.peakRssMb)).toFixed(0),
          `${r.withObjects}/${r.images - r.failed}`,
          String(r.objects),
        ],
      ],
    ),
  );
}

void main();
