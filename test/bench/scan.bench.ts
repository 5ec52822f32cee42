// npm run bench:scan -- [folder] [--copies 25] [--backbone ID] [--runs 3] [--concurrency 4,8] [--new-only]
// Folder scans against their targets, side by side in one run:
//   1. a scan of new photos (empty cache) against the bare pipeline bench:features measures
//      end to end (read, decode, embed, every image in flight; no index, cache or scoring),
//      same backbone and photos, for each scan concurrency given (files in flight);
//   2. a folder of 10,000 files (the photos, `copies` times over under new names): the first
//      scan hashes every file and embeds each distinct photo once, a rescan only stats them;
//   3. re-scoring those 10,000 images for 10 tags from the scan's feature matrix (what a
//      retrain does), against scoring them image by image as /predict_by_features would;
//   and the peak RSS of this process. With --new-only, 1 only, and then what a user waiting
//   for one /predict during a scan sees: its latency (the engine's embed of a photo nobody has
//   embedded yet) while each concurrency's scan runs, against the same requests with nothing
//   else running.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Embedder } from '../../kernel/engine/embedder';
import { FeatureExtractor } from '../../kernel/features/feature-extractor';
import { listImageFiles } from '../../kernel/images/image-files';
import { ScanIndex } from '../../kernel/scan/scan-index';
import { ScanResults } from '../../kernel/scan/scan-results';
import { DEFAULT_SCAN_CONCURRENCY, scanImages, type ScanEmbeddings } from '../../kernel/scan/scanner';
import { FeatureCache } from '../../kernel/state/feature-cache';
import { checkCurrentEmbedding, type EmbeddingRecord } from '../../kernel/state/stored-records';
import { seededRandom, shuffled } from '../../kernel/ml/random';
import { trainTag } from '../../kernel/training/train-tag';
import { DEFAULT_TRAIN_OPTIONS } from '../../kernel/rules';
import { TagModel } from '../../kernel/training/tag-model';
import sharp from 'sharp';
import { median, percentile, rssMb, table } from './stats';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      copies: { type: 'string', default: '25' },
      backbone: { type: 'string' },
      runs: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: String(DEFAULT_SCAN_CONCURRENCY) },
      'new-only': { type: 'boolean', default: false },
    },
  });
  const source = positionals[0] ?? path.resolve(__dirname, '../../../shared/data/hymenoptera');
  const copies = Number(values.copies);
  const runs = Number(values.runs);
  const photos = await listImageFiles([source]);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'tagsmith-bench-scan-'));
  let peak = rssMb(process.pid);
  const sample = () => (peak = Math.max(peak, rssMb(process.pid)));
  const timer = setInterval(sample, 200);

  const extractor = await FeatureExtractor.create({ backbone: values.backbone });
  const running = { backbone: extractor.backboneId, featureLength: extractor.featureLength };
  const embedder = new Embedder(extractor);
  console.log(`bench:scan — ${photos.length} photos from ${source}, backbone ${running.backbone}, ${os.cpus().length} cores, ${runs} runs each`);

  // 1. New photos: the scan against the bare pipeline, alternating, each with a cold cache.
  const concurrencies = values.concurrency.split(',').map(Number);
  const bare: number[] = [];
  const withScores: number[] = [];
  const scanned = new Map<number, number[]>(concurrencies.map((c) => [c, []]));
  const inFlight = async (embed: (bytes: Uint8Array) => Promise<unknown>): Promise<number> => {
    const t = performance.now();
    const outcomes = await Promise.allSettled(photos.map(async (file) => embed(await fs.readFile(file))));
    return outcomes.filter((o) => o.status === 'fulfilled').length / ((performance.now() - t) / 1000);
  };
  for (let run = 0; run < runs; run++) {
    bare.push(await inFlight((bytes) => extractor.embed(bytes)));
    // What /predict computes for an image: the embedding and the base scores (nsfw, aesthetic, stock).
    withScores.push(await inFlight((bytes) => embedder.embed(bytes)));
    embedder.forget();
    for (const concurrency of concurrencies) {
      const dir = path.join(work, `cold-${run}-${concurrency}`);
      const { embeddings } = await scanSetup(dir, embedder, running);
      const t = performance.now();
      const outcome = await scanImages([source], embeddings, await ScanIndex.open(path.join(dir, 'index.json')), { concurrency });
      scanned.get(concurrency)!.push(outcome.images.length / ((performance.now() - t) / 1000));
      embedder.forget();
    }
    sample();
  }
  const runsOf = (v: number[]) => v.map((x) => x.toFixed(1)).join(', ');
  console.log(
    table(
      ['pipeline', 'images/s (median)', 'runs'],
      [
        ["bare: read, decode, embed, all in flight (bench:features' end to end)", median(bare).toFixed(1), runsOf(bare)],
        ['embed + base scores (what /predict computes), all in flight', median(withScores).toFixed(1), runsOf(withScores)],
        ...concurrencies.map((c) => [
          `scan of new photos, ${c} files in flight${c === DEFAULT_SCAN_CONCURRENCY ? ' (the default)' : ''}: walk, hash, index, embed, base scores, cache`,
          median(scanned.get(c)!).toFixed(1),
          runsOf(scanned.get(c)!),
        ]),
      ],
    ),
  );
  const ratio = (a: number[], b: number[]) => median(a.map((v, i) => v / b[i])).toFixed(2);
  for (const c of concurrencies) {
    const rates = scanned.get(c)!;
    console.log(
      `scan (${c} in flight) / bare: ${ratio(rates, bare)} (target ≥ 0.90; median of per-round ratios); / embed + base scores: ${ratio(rates, withScores)}`,
    );
  }
  console.log(`embed + base scores / bare: ${ratio(withScores, bare)}\n`);
  if (values['new-only']) {
    await predictDuringScans(source, photos, embedder, running, work, concurrencies, runs);
    clearInterval(timer);
    await extractor.release();
    await fs.rm(work, { recursive: true, force: true });
    return;
  }

  // 2. Ten thousand files: the photos under new names.
  const big = path.join(work, 'big');
  for (let c = 0; c < copies; c++) {
    const dir = path.join(big, `copy-${String(c).padStart(3, '0')}`);
    await fs.mkdir(dir, { recursive: true });
    for (const [i, photo] of photos.entries()) await fs.copyFile(photo, path.join(dir, `${i}${path.extname(photo)}`));
  }
  const files = photos.length * copies;
  const { embeddings, counter } = await scanSetup(path.join(work, 'warm'), embedder, running);
  const index = path.join(work, 'warm', 'index.json');
  let t = performance.now();
  const first = await scanImages([big], embeddings, await ScanIndex.open(index));
  const firstSeconds = (performance.now() - t) / 1000;
  sample();
  const rescans: number[] = [];
  for (let run = 0; run < runs; run++) {
    const before = counter.embedded;
    t = performance.now();
    const again = await scanImages([big], embeddings, await ScanIndex.open(index));
    rescans.push((performance.now() - t) / 1000);
    if (counter.embedded !== before || again.images.length !== first.images.length) throw new Error('a rescan embedded something');
    sample();
  }
  console.log(
    table(
      ['scan of a folder', 'files', 'images', 'embedded', 'seconds (median)'],
      [
        [`first: ${copies} copies of each photo under new names`, String(files), String(first.images.length), String(first.embedded), firstSeconds.toFixed(1)],
        [
          'rescan, unchanged (restarted: the index read from disk)',
          String(files),
          String(first.images.length),
          '0',
          `${median(rescans).toFixed(2)} (${rescans.map((v) => v.toFixed(2)).join(', ')})`,
        ],
      ],
    ),
  );
  console.log(`rescan of ${files} files: ${median(rescans).toFixed(2)} s (target < 5 s)\n`);

  // 3. Ten tags re-scored over the scan's feature matrix.
  const dim = running.featureLength;
  const random = seededRandom(7);
  const models: TagModel[] = [];
  for (let k = 0; k < 10; k++) {
    const order = shuffled(
      first.images.map((_, i) => i),
      random,
    ).slice(0, 60);
    const rows = order.map((i) => ({
      features: first.features.subarray(i * dim, (i + 1) * dim),
      aesthetic: first.images[i].aesthetic,
      stock: first.images[i].stock,
    }));
    models.push(
      await trainTag({ tag: `tag-${k}`, ...running, positives: rows.slice(0, 30), negatives: rows.slice(30), samplesDigest: '' }, DEFAULT_TRAIN_OPTIONS),
    );
  }
  const stored = { record: { id: 's-bench-00000000', featureLength: dim } as never, images: first.images, features: first.features };
  const rescore: number[] = [];
  const retrainOne: number[] = [];
  const oneByOne: number[] = [];
  for (let run = 0; run < runs; run++) {
    const results = new ScanResults(stored);
    t = performance.now();
    results.refresh(models);
    rescore.push((performance.now() - t) / 1000);
    // One tag trained again: only its column is scored, on the matrix already transformed.
    const retrained = models.map((m, k) => (k === 0 ? TagModel.fromJSON({ ...m.json, trainedAt: `${m.json.trainedAt}+${run}` }) : m));
    t = performance.now();
    results.refresh(retrained);
    retrainOne.push((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < first.images.length; i++) {
      const input = {
        features: Array.from(first.features.subarray(i * dim, (i + 1) * dim)),
        aesthetic: first.images[i].aesthetic,
        stock: first.images[i].stock,
      };
      for (const model of models) model.score(input);
    }
    oneByOne.push((performance.now() - t) / 1000);
    sample();
  }
  console.log(
    table(
      ['re-score 10 tags', 'images', 'seconds (median)'],
      [
        ["from the scan's feature matrix (the first scoring)", String(first.images.length), median(rescore).toFixed(3)],
        ['one tag trained again (its column only)', String(first.images.length), median(retrainOne).toFixed(3)],
        ['baseline: image by image, as /predict_by_features', String(first.images.length), median(oneByOne).toFixed(3)],
      ],
    ),
  );
  console.log(`re-scoring ${first.images.length} images for 10 tags: ${median(rescore).toFixed(3)} s (target < 1 s)\n`);

  clearInterval(timer);
  console.log(`peak RSS of this process: ${sample().toFixed(0)} MB (target < 1024 MB)`);
  await extractor.release();
  await fs.rm(work, { recursive: true, force: true });
}

/**
 * The latency of one interactive embed (what /predict waits for) every PROBE_EVERY_MS: with
 * nothing else running, then during a scan of new photos at each concurrency, a round of each
 * per run. The probes are re-encoded photos, so neither the scan nor an earlier probe has
 * embedded their bytes; their CPU slows the scan a little, so these scans are not timed.
 */
async function predictDuringScans(
  source: string,
  photos: string[],
  embedder: Embedder,
  running: { backbone: string; featureLength: number },
  work: string,
  concurrencies: number[],
  runs: number,
): Promise<void> {
  const PROBE_EVERY_MS = 100;
  let nextProbe = 0;
  const probe = async (): Promise<number> => {
    const photo = photos[(nextProbe * 7) % photos.length];
    const bytes = await sharp(photo)
      .jpeg({ quality: 80 + (nextProbe++ % 15) })
      .toBuffer();
    const t = performance.now();
    await embedder.embed(bytes);
    return performance.now() - t;
  };
  const probeWhile = async (work: Promise<unknown>): Promise<number[]> => {
    let done = false;
    void work.finally(() => (done = true));
    const latencies: number[] = [];
    while (!done) {
      latencies.push(await probe());
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
    await work;
    return latencies;
  };
  const idle: number[] = [];
  const during = new Map<number, number[]>(concurrencies.map((c) => [c, []]));
  for (let run = 0; run < runs; run++) {
    for (let i = 0; i < 20; i++) {
      idle.push(await probe());
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
    for (const concurrency of concurrencies) {
      const dir = path.join(work, `probed-${run}-${concurrency}`);
      const { embeddings } = await scanSetup(dir, embedder, running);
      const scan = scanImages([source], embeddings, await ScanIndex.open(path.join(dir, 'index.json')), { concurrency });
      during.get(concurrency)!.push(...(await probeWhile(scan)));
      embedder.forget();
    }
  }
  const row = (name: string, v: number[]) => [name, String(v.length), ...[50, 95, 99].map((p) => percentile(v, p).toFixed(0)), Math.max(...v).toFixed(0)];
  console.log(
    table(
      ['one /predict embed (interactive lane)', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
      [row('baseline: nothing else running', idle), ...concurrencies.map((c) => row(`during a scan, ${c} files in flight`, during.get(c)!))],
    ),
  );
}

/** A scan's embeddings the engine's way: a sample store-less cache in `dir`, counting what the network embeds. */
async function scanSetup(
  dir: string,
  embedder: Embedder,
  running: { backbone: string; featureLength: number },
): Promise<{ embeddings: ScanEmbeddings; counter: { embedded: number } }> {
  const cache = await FeatureCache.open<EmbeddingRecord>(path.join(dir, 'cache'), {
    maxBytes: 4 * 1024 ** 3,
    check: (v) => checkCurrentEmbedding(v, 'cache', running),
  });
  const counter = { embedded: 0 };
  return {
    counter,
    embeddings: {
      ...running,
      known: (id) => cache.get(running.backbone, id),
      embed: async (bytes, id) => {
        counter.embedded++;
        const record = await embedder.embed(bytes, id, { lane: 'bulk' });
        await cache.put(running.backbone, id, record);
        return record;
      },
      flush: () => cache.flush(),
    },
  };
}

void main();
