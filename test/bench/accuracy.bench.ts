// npm run bench:accuracy -- [folder] [--only TEXT]   (default ../shared/data/hymenoptera; --only: the policies whose name holds TEXT)
// Each class folder of train/ becomes a tag (its images positive, the other classes'
// negative); the val/ split is predicted. Prints, side by side in one run: a plain logistic
// regression on raw vectors (the baseline), Tagsmith's trainer under each preprocessing
// policy, 1 vs 3 clusters, and a few-shot curve; with the keywords model installed, whether
// apply_keywords (the detector's 80 COCO confidences appended to the features) helps.
import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { FeatureExtractor, type FeatureExtractorOptions } from '../../kernel/features/feature-extractor';
import { fitLogistic, predictLogistic } from '../../kernel/ml/logistic-regression';
import { rocAuc, summarise, confusionAt } from '../../kernel/ml/metrics';
import { seededRandom, shuffled } from '../../kernel/ml/random';
import { trainTag } from '../../kernel/training/train-tag';
import type { FeatureTransform } from '../../kernel/training/tag-model';
import { DEFAULT_TRAIN_OPTIONS } from '../../kernel/rules';
import { listImageFiles } from '../../kernel/images/image-files';
import { KeywordDetector } from '../../kernel/features/keyword-detector';
import { table } from './stats';

interface Sample {
  cls: string;
  features: Float32Array;
  file: string;
  keywords?: number[];
}
interface Split {
  train: Sample[];
  val: Sample[];
}

async function embedSplit(root: string, options: FeatureExtractorOptions): Promise<{ split: Split; classes: string[]; skipped: number }> {
  const extractor = await FeatureExtractor.create(options);
  const classes = (await fs.readdir(path.join(root, 'train'), { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const split: Split = { train: [], val: [] };
  let skipped = 0;
  for (const part of ['train', 'val'] as const) {
    for (const cls of classes) {
      const files = await listImageFiles([path.join(root, part, cls)]);
      const results = await Promise.allSettled(files.map(async (f) => extractor.embed(await fs.readFile(f))));
      for (const [i, r] of results.entries()) {
        if (r.status === 'fulfilled') split[part].push({ cls, features: r.value.features, file: files[i] });
        else skipped++;
      }
    }
  }
  await extractor.release();
  return { split, classes, skipped };
}

interface Result {
  auc: number;
  accuracy: number;
  f1: number;
}

function evaluate(scores: number[], labels: number[], threshold: number): Result {
  return { auc: rocAuc(scores, labels), ...pick(summarise(confusionAt(scores, labels, threshold))) };
}
function pick(s: { accuracy: number; f1: number }) {
  return { accuracy: s.accuracy, f1: s.f1 };
}

/** The baseline the issue names: one logistic regression over raw vectors, threshold 0.5. */
function plainLogistic(split: Split, cls: string): Result {
  const x = split.train.map((s) => s.features);
  const y = split.train.map((s) => (s.cls === cls ? 1 : 0));
  const model = fitLogistic(
    x,
    y,
    y.map(() => 1),
    { l2: 1 / x.length, tolerance: 1e-5 },
  );
  const scores = split.val.map((s) => predictLogistic(model, s.features));
  return evaluate(
    scores,
    split.val.map((s) => (s.cls === cls ? 1 : 0)),
    0.5,
  );
}

async function tagsmith(
  split: Split,
  cls: string,
  clusters: number,
  shots?: number,
  seed = 1,
  featureTransform: FeatureTransform = 'sqrt-l2',
  clusterHeads: 'tied' | 'independent' = 'tied',
  keywordModel?: string,
): Promise<Result> {
  let positives = split.train.filter((s) => s.cls === cls);
  let negatives = split.train.filter((s) => s.cls !== cls);
  if (shots) {
    const random = seededRandom(seed);
    positives = shuffled(positives, random).slice(0, shots);
    negatives = shuffled(negatives, random).slice(0, shots);
  }
  const model = await trainTag(
    {
      tag: cls,
      backbone: 'bench',
      featureLength: positives[0].features.length,
      featureTransform,
      positives,
      negatives,
      samplesDigest: '',
      ...(keywordModel ? { keywordModel } : {}),
    },
    { ...DEFAULT_TRAIN_OPTIONS, num_clusters: clusters, apply_keywords: keywordModel !== undefined },
    undefined,
    { clusterHeads },
  );
  const scores = split.val.map((s) => model.score(s).score);
  return evaluate(
    scores,
    split.val.map((s) => (s.cls === cls ? 1 : 0)),
    model.json.threshold,
  );
}

const DRAWS = 20;
const fmt = (r: Result) => [r.auc.toFixed(4), r.accuracy.toFixed(3), r.f1.toFixed(3)];

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { only: { type: 'string', multiple: true } } });
  const root = positionals[0] ?? path.resolve(__dirname, '../../../shared/data/hymenoptera');
  const allPolicies: { name: string; options: FeatureExtractorOptions; transform: FeatureTransform; curve?: boolean }[] = [
    { name: '224 squash, l2', options: { backbone: 'mobilenet_v2_140', inputSize: 224, resize: 'squash', flipAverage: false }, transform: 'l2' },
    { name: '224 squash, sqrt-l2', options: { backbone: 'mobilenet_v2_140', inputSize: 224, resize: 'squash', flipAverage: false }, transform: 'sqrt-l2' },
    {
      name: '224 squash + flip, sqrt-l2',
      options: { backbone: 'mobilenet_v2_140', inputSize: 224, resize: 'squash', flipAverage: true },
      transform: 'sqrt-l2',
    },
    { name: '288 squash, sqrt-l2', options: { backbone: 'mobilenet_v2_140', inputSize: 288, resize: 'squash', flipAverage: false }, transform: 'sqrt-l2' },
    {
      name: '288 center-crop, sqrt-l2',
      options: { backbone: 'mobilenet_v2_140', inputSize: 288, resize: 'center-crop', flipAverage: false },
      transform: 'sqrt-l2',
      curve: true,
    },
    {
      name: '288 center-crop + flip, sqrt-l2',
      options: { backbone: 'mobilenet_v2_140', inputSize: 288, resize: 'center-crop', flipAverage: true },
      transform: 'sqrt-l2',
    },
    {
      name: '320 center-crop + flip, sqrt-l2 (fp32)',
      options: { backbone: 'mobilenet_v2_140_flip320', inputSize: 320, resize: 'center-crop', flipAverage: true },
      transform: 'sqrt-l2',
      curve: true,
    },
    { name: 'int8 320 center-crop + flip, sqrt-l2', options: { backbone: 'mobilenet_v2_140_int8_flip320' }, transform: 'sqrt-l2', curve: true },
    { name: 'int8 288 center-crop, sqrt-l2', options: { backbone: 'mobilenet_v2_140_int8' }, transform: 'sqrt-l2', curve: true },
    { name: '352 squash, sqrt-l2', options: { backbone: 'mobilenet_v2_140', inputSize: 352, resize: 'squash', flipAverage: false }, transform: 'sqrt-l2' },
  ];
  const policies = values.only ? allPolicies.filter((p) => values.only!.some((text) => p.name.includes(text))) : allPolicies;
  const rows: string[][] = [];
  const embedded = new Map<string, { split: Split; classes: string[]; transform: FeatureTransform }>();
  for (const policy of policies) {
    const t = performance.now();
    const { split, classes, skipped } = await embedSplit(root, policy.options);
    embedded.set(policy.name, { split, classes, transform: policy.transform });
    if (policy === allPolicies[0]) {
      console.log(
        `bench:accuracy — ${root}: ${split.train.length} train, ${split.val.length} val images (${skipped} unreadable skipped), classes ${classes.join(', ')}`,
      );
      for (const cls of classes) rows.push(['plain logistic regression (baseline)', 'squash', cls, '-', ...fmt(plainLogistic(split, cls))]);
    }
    for (const cls of classes) {
      for (const k of [1, 3]) rows.push(['tagsmith', policy.name, cls, String(k), ...fmt(await tagsmith(split, cls, k, undefined, 1, policy.transform))]);
    }
    console.error(`  ${policy.name}: embedded and trained in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  console.log(table(['method', 'preprocessing', 'tag', 'clusters', 'ROC AUC', 'accuracy', 'F1'], rows));

  // The default against one view at 288 (the default before): the few-shot gain is why the
  // product pays a second inference per image.
  const curve: string[][] = [];
  for (const policy of policies.filter((p) => p.curve)) {
    const { split, classes } = embedded.get(policy.name)!;
    for (const shots of [5, 10, 20, 0]) {
      for (const cls of classes) {
        // Few-shot results depend on which samples are drawn: the median and the mean over DRAWS draws.
        const runs =
          shots === 0 ? [await tagsmith(split, cls, 1)] : await Promise.all(Array.from({ length: DRAWS }, (_, i) => tagsmith(split, cls, 1, shots, i + 1)));
        const med = (key: keyof Result) => runs.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
        const meanAuc = runs.reduce((sum, r) => sum + r.auc, 0) / runs.length;
        curve.push([
          policy.name,
          shots === 0 ? 'all' : String(shots),
          cls,
          ...fmt({ auc: med('auc'), accuracy: med('accuracy'), f1: med('f1') }),
          meanAuc.toFixed(4),
        ]);
      }
    }
  }
  // Clusters: each cluster's head tied to a shared head (the product) against independent heads
  // (before), 1 vs 2 vs 3 clusters, all data and 10-shot mean, for the default preprocessing.
  const clusterRows: string[][] = [];
  const defaultPolicy = policies.find((p) => p.options.backbone === 'mobilenet_v2_140_int8_flip320') ?? policies[0];
  const { split: dSplit, classes: dClasses } = embedded.get(defaultPolicy.name)!;
  for (const heads of ['tied', 'independent'] as const) {
    for (const k of [1, 2, 3]) {
      for (const cls of dClasses) {
        const all = await tagsmith(dSplit, cls, k, undefined, 1, defaultPolicy.transform, heads);
        const few = await Promise.all(Array.from({ length: DRAWS }, (_, i) => tagsmith(dSplit, cls, k, 10, i + 1, defaultPolicy.transform, heads)));
        const fewMean = few.reduce((sum, r) => sum + r.auc, 0) / few.length;
        clusterRows.push([
          heads === 'tied' ? 'tied to a shared head (default)' : 'independent (before)',
          String(k),
          cls,
          all.auc.toFixed(4),
          fewMean.toFixed(4),
        ]);
      }
    }
  }
  console.log(`\nclusters (${defaultPolicy.name}): ROC AUC with all data, and the 10-shot mean of ${DRAWS} draws; 1 cluster is the same either way`);
  console.log(table(['cluster heads', 'clusters', 'tag', 'ROC AUC all data', '10-shot mean ROC AUC'], clusterRows));

  console.log(`\nfew-shot curve (1 cluster; N positives and N negatives drawn from train; median of ${DRAWS} draws, and the mean ROC AUC):`);
  console.log(table(['preprocessing', 'positives', 'tag', 'ROC AUC', 'accuracy', 'F1', 'mean ROC AUC'], curve));

  await keywordsAsInput(dSplit, dClasses, defaultPolicy.name, defaultPolicy.transform);
}

/**
 * apply_keywords off and on, all else equal (the default preprocessing, 1 cluster): ROC AUC with
 * all data, and the mean of DRAWS draws at 5 and 10 shots, where a few object confidences could
 * matter most. Ships off by default unless this shows a gain.
 */
async function keywordsAsInput(split: Split, classes: string[], policy: string, transform: FeatureTransform): Promise<void> {
  const detector = KeywordDetector.create();
  if (!detector) {
    console.log(`\napply_keywords: not measured (${KeywordDetector.availability().reason}: run \`npm run models:keywords\`)`);
    return;
  }
  const t = performance.now();
  for (const sample of [...split.train, ...split.val]) sample.keywords = Array.from((await detector.detect(await fs.readFile(sample.file))).vector);
  await detector.release();
  console.error(`  keywords of ${split.train.length + split.val.length} images found in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const rows: string[][] = [];
  for (const cls of classes) {
    for (const model of [undefined, detector.id]) {
      const all = await tagsmith(split, cls, 1, undefined, 1, transform, 'tied', model);
      const few = async (shots: number) => {
        const runs = await Promise.all(Array.from({ length: DRAWS }, (_, i) => tagsmith(split, cls, 1, shots, i + 1, transform, 'tied', model)));
        return (runs.reduce((sum, r) => sum + r.auc, 0) / runs.length).toFixed(4);
      };
      rows.push([model ? `on (${model})` : 'off (default)', cls, ...fmt(all), await few(5), await few(10)]);
    }
  }
  const withObjects = [...split.train, ...split.val].filter((s) => s.keywords!.some((v) => v >= 0.3)).length;
  console.log(
    `\napply_keywords (${policy}, 1 cluster; ${withObjects} of ${split.train.length + split.val.length} images have a COCO object at confidence ≥ 0.3): ROC AUC, accuracy and F1 with all data; the mean ROC AUC of ${DRAWS} draws at 5 and 10 shots`,
  );
  console.log(table(['apply_keywords', 'tag', 'ROC AUC', 'accuracy', 'F1', '5-shot mean ROC AUC', '10-shot mean ROC AUC'], rows));
}

void main();
