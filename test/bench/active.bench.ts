// npm run bench:active -- [folder] [--draws 3] [--first-draw 1] [--orders review,logit0,...] [--curves-only] [--fixed-l2] [--backbone ID]
// Does the review queue's order teach a tag more per label than labelling at random? On a
// labelled folder (train/<class>, val/<class>; default the hymenoptera photos), a simulated
// reviewer starts each class's tag from 10 positives and 10 negatives drawn at random, then
// labels 20 images a round from the rest of train, picked by the review queue as the panel
// serves it (the model's least sure first, re-ranked after each decision by the kernel's refit,
// one decision late, starting on the side the tag has fewer labels of; --orders adds the
// candidates of review-candidates.ts) or at random (the baseline), up to 100 labels, training
// after each round; ROC AUC on val after each
// round, the mean over draws and classes (--fixed-l2: also each round's labelled set fitted at
// every L2 penalty of the grid, to see whether the trainer's cross-validated choice is the limit). Then the suspicious-sample finder: with 10% of the
// train labels flipped on purpose, how many of the 10 most suspicious are flipped ones; and
// the near-duplicate threshold: edited copies of photos caught against distinct photos flagged.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { FeatureExtractor } from '../../kernel/features/feature-extractor';
import { listImageFiles } from '../../kernel/images/image-files';
import { rocAuc } from '../../kernel/ml/metrics';
import { seededRandom, shuffled } from '../../kernel/ml/random';
import { crossPairsAbove, prepareRows } from '../../kernel/ml/similarity';
import { DuplicateFinder, DUPLICATE_SIMILARITY, heldOutSuspicions } from '../../kernel/engine/sample-suspicion';
import type { SampleListJson } from '../../kernel/state/record-schemas';
import { CANDIDATES, fewerLabels, reviewPanel, type ReviewOrder } from './review-candidates';
import type { TagModel } from '../../kernel/training/tag-model';
import { trainTag } from '../../kernel/training/train-tag';
import { DEFAULT_TRAIN_OPTIONS } from '../../kernel/rules';
import { fitLogistic } from '../../kernel/ml/logistic-regression';
import { L2_GRID } from '../../kernel/training/train-tag';
import { transformFeatures } from '../../kernel/training/tag-model';
import { table } from './stats';

interface Photo {
  id: string;
  cls: string;
  features: Float32Array;
}

const START = 10;
const ROUND = 20;
const BUDGET = 100;

async function embedFolder(extractor: FeatureExtractor, root: string, part: string, classes: string[]): Promise<Photo[]> {
  const photos: Photo[] = [];
  for (const cls of classes) {
    for (const file of await listImageFiles([path.join(root, part, cls)])) {
      try {
        photos.push({ id: `${part}/${cls}/${path.basename(file)}`, cls, features: (await extractor.embed(await fs.readFile(file))).features });
      } catch {
        // the placeholder GIF and the like: not a photo
      }
    }
  }
  return photos;
}

async function train(tag: string, positives: Photo[], negatives: Photo[], withIds = false): Promise<TagModel> {
  const input = (p: Photo) => ({ features: p.features });
  return trainTag(
    {
      tag,
      backbone: 'bench',
      featureLength: positives[0].features.length,
      positives: positives.map(input),
      negatives: negatives.map(input),
      samplesDigest: '',
      ...(withIds ? { sampleIds: [...positives, ...negatives].map((p) => sha(p.id)) } : {}),
    },
    DEFAULT_TRAIN_OPTIONS,
  );
}

/** A sample id for a photo (the model's out-of-fold records are keyed by sample ids). */
function sha(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function auc(model: TagModel, val: Photo[], cls: string): number {
  return rocAuc(
    val.map((p) => model.score(p).score),
    val.map((p) => (p.cls === cls ? 1 : 0)),
  );
}

/** How a round's images are picked: the product's review queue, random (the baseline), or a candidate order. */
type Pick = 'review' | 'random' | string;

const ORDERS: Record<string, ReviewOrder> = {
  // The panel: re-ranked after each decision, one decision late (review-candidates.ts reviewPanel).
  review: (context) => reviewPanel(context, fewerLabels, 1),
  ...CANDIDATES,
};

/**
 * One simulated review. `positiveShare`: the pool's positives thinned to this share of it (a
 * tag usually applies to a minority of a collection); undefined keeps the folder's own mix.
 */
async function simulate(
  train: Photo[],
  val: Photo[],
  cls: string,
  seed: number,
  pick: Pick,
  positiveShare?: number,
  onRound: (labelled: Photo[]) => void = () => {},
): Promise<number[]> {
  const random = seededRandom(seed);
  const positives = shuffled(
    train.filter((p) => p.cls === cls),
    random,
  );
  const negatives = shuffled(
    train.filter((p) => p.cls !== cls),
    random,
  );
  const labelled = [...positives.slice(0, START), ...negatives.slice(0, START)];
  const poolNegatives = negatives.slice(START);
  const poolPositives =
    positiveShare === undefined
      ? positives.slice(START)
      : positives.slice(START, START + Math.round((poolNegatives.length * positiveShare) / (1 - positiveShare)));
  let pool = shuffled([...poolPositives, ...poolNegatives], seededRandom(seed * 31 + 7));
  const curve: number[] = [];
  for (let added = 0; ; added += ROUND) {
    const model = await trainModel(cls, labelled);
    curve.push(auc(model, val, cls));
    onRound(labelled);
    if (added >= BUDGET) return curve;
    let chosen: Photo[];
    if (pick === 'random') chosen = pool.slice(0, ROUND);
    else {
      const dim = pool[0].features.length;
      const context = {
        scores: pool.map((p) => model.score(p).score),
        threshold: model.json.threshold,
        pool: preparedOf(pool),
        labelled: preparedOf(labelled),
        labelledPositive: labelled.map((p) => p.cls === cls),
        model,
        dim,
        answer: (i: number) => pool[i].cls === cls,
        poolInputs: pool.map((p) => ({ features: p.features })),
        labelledInputs: labelled.map((p) => ({ features: p.features })),
      };
      chosen = ORDERS[pick](context)
        .slice(0, ROUND)
        .map((i) => pool[i]);
    }
    const taken = new Set(chosen);
    pool = pool.filter((p) => !taken.has(p));
    labelled.push(...chosen);
  }
}

function preparedOf(photos: Photo[]): Float32Array {
  const dim = photos[0].features.length;
  const matrix = new Float32Array(photos.length * dim);
  photos.forEach((p, i) => matrix.set(p.features, i * dim));
  return prepareRows(matrix, dim);
}

/**
 * The labelled set's val ROC AUC fitted at each penalty of the trainer's grid: what a 1-cluster
 * tag's final fit is (one class-balanced head over sqrt-l2 features), without the
 * cross-validation that chooses the penalty.
 */
function fixedL2Aucs(cls: string, labelled: Photo[], val: Photo[]): number[] {
  const rows = (photos: Photo[]) => photos.map((p) => Float64Array.from(transformFeatures(p.features, 'sqrt-l2')));
  const x = rows(labelled);
  const y = labelled.map((p) => (p.cls === cls ? 1 : 0));
  const positives = y.filter((v) => v === 1).length;
  const weights = y.map((v) => (v === 1 ? y.length / (2 * positives) : y.length / (2 * (y.length - positives))));
  const valRows = rows(val);
  return L2_GRID.map((l2) => {
    const fit = fitLogistic(x, y, weights, { l2, tolerance: 1e-5, maxIterations: 200 });
    const z = valRows.map((r) => r.reduce((s, v, j) => s + v * fit.weights[j], fit.bias));
    return rocAuc(
      z,
      val.map((p) => (p.cls === cls ? 1 : 0)),
    );
  });
}

function trainModel(cls: string, labelled: Photo[]): Promise<TagModel> {
  return train(
    cls,
    labelled.filter((p) => p.cls === cls),
    labelled.filter((p) => p.cls !== cls),
  );
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      draws: { type: 'string', default: '3' },
      'first-draw': { type: 'string', default: '1' },
      orders: { type: 'string', default: 'review' },
      'curves-only': { type: 'boolean', default: false },
      'fixed-l2': { type: 'boolean', default: false },
      backbone: { type: 'string' },
    },
  });
  const root = positionals[0] ?? path.resolve(__dirname, '../../../shared/data/hymenoptera');
  const draws = Number(values.draws);
  const firstDraw = Number(values['first-draw']);
  const extractor = await FeatureExtractor.create({ backbone: values.backbone });
  const classes = (await fs.readdir(path.join(root, 'train'), { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const trainSet = await embedFolder(extractor, root, 'train', classes);
  const valSet = await embedFolder(extractor, root, 'val', classes);
  console.log(
    `bench:active — ${root}: ${trainSet.length} train, ${valSet.length} val photos, classes ${classes.join(', ')}; backbone ${extractor.backboneId}; ${draws} draws per class`,
  );

  // 1. The review order (and any candidate orders asked for) against random picks, each run
  // of a draw starting from the same samples and the same pool.
  const picks: Pick[] = [...values.orders.split(',').filter((o) => o !== ''), 'random'];
  for (const pick of picks) if (pick !== 'random' && !ORDERS[pick]) throw new Error(`unknown order ${pick}; known: ${Object.keys(ORDERS).join(', ')}`);
  const drawSeeds = Array.from({ length: draws }, (_, d) => firstDraw + d);
  for (const [label, share] of [
    ["the folder's own mix (about half positive)", undefined],
    ['positives thinned to 1 in 5 of the pool, as a tag in a collection', 0.2],
  ] as const) {
    const curves = new Map<Pick, number[][]>(picks.map((p) => [p, []]));
    // --fixed-l2: per pick, per run, per round, the AUC at each penalty of the grid.
    const fixed = new Map<Pick, number[][][]>(picks.map((p) => [p, []]));
    for (const cls of classes) {
      for (const d of drawSeeds) {
        for (const pick of picks) {
          const rounds: number[][] = [];
          const onRound = values['fixed-l2'] ? (labelled: Photo[]) => rounds.push(fixedL2Aucs(cls, labelled, valSet)) : undefined;
          curves.get(pick)!.push(await simulate(trainSet, valSet, cls, d, pick, share, onRound));
          fixed.get(pick)!.push(rounds);
        }
      }
    }
    const mean = (runs: number[][], i: number) => runs.reduce((s, r) => s + r[i], 0) / runs.length;
    const random = curves.get('random')!;
    const signed = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(3);
    const rows: string[][] = [];
    for (let i = 0; i * ROUND <= BUDGET; i++) {
      rows.push([String(i * ROUND), ...picks.map((p) => mean(curves.get(p)!, i).toFixed(3))]);
    }
    console.log(
      `\nPool: ${label}. ROC AUC on val after each round (start: ${START} positives and ${START} negatives; mean of ${random.length} runs, draws ${drawSeeds.join(', ')}):`,
    );
    console.log(table(['labels added', ...picks.map((p) => (p === 'random' ? 'random picks (baseline)' : p))], rows));
    const randomAt100 = mean(random, BUDGET / ROUND);
    for (const pick of picks.filter((p) => p !== 'random')) {
      const runs = curves.get(pick)!;
      const differences = rows.map((_, i) => mean(runs, i) - mean(random, i));
      // The spread of the paired difference at 100 labels says how far the means can be trusted.
      const at100 = runs.map((r, k) => r[BUDGET / ROUND] - random[k][BUDGET / ROUND]);
      const sd = Math.sqrt(at100.reduce((s, x) => s + (x - differences.at(-1)!) ** 2, 0) / Math.max(1, at100.length - 1));
      const reached = rows.findIndex((_, i) => mean(runs, i) >= randomAt100);
      console.log(
        `${pick}: difference from random ${differences.map(signed).join(' / ')}; at ${BUDGET} labels ${signed(differences.at(-1)!)} ± ${(sd / Math.sqrt(at100.length)).toFixed(3)} (standard error); ` +
          `random's ${BUDGET}-label AUC (${randomAt100.toFixed(3)}) reached with ${reached < 0 ? 'more than 100' : rows[reached][0]} labels (target ≤ 60); ` +
          `beats random at every budget from 40: ${differences.slice(2).every((x) => x > 0)}`,
      );
    }
    if (values['fixed-l2']) {
      for (const pick of picks) {
        const runs = fixed.get(pick)!;
        const at = (i: number, value: (aucs: number[]) => number) => (runs.reduce((s, r) => s + value(r[i]), 0) / runs.length).toFixed(3);
        const fixedRows = rows.map((row, i) => [
          row[0],
          mean(curves.get(pick)!, i).toFixed(3),
          ...L2_GRID.map((_, k) => at(i, (aucs) => aucs[k])),
          at(i, (aucs) => Math.max(...aucs)),
        ]);
        console.log(
          `\n${pick === 'random' ? 'random picks' : pick}: the same labelled sets fitted at each L2 penalty, without cross-validation (best per run: the penalty an oracle would pick)`,
        );
        console.log(table(['labels added', 'trainer (CV-chosen L2)', ...L2_GRID.map((l2) => `L2 ${l2}`), 'best per run'], fixedRows));
      }
    }
  }
  if (values['curves-only']) return extractor.release();

  // 2. Suspicious samples with 10% of the labels flipped.
  const precisions: number[] = [];
  for (const cls of classes) {
    for (let d = 1; d <= draws; d++) {
      const random = seededRandom(1000 + d);
      const flipped = new Set(
        shuffled(trainSet, random)
          .slice(0, Math.round(trainSet.length / 10))
          .map((p) => p.id),
      );
      const labelOf = (p: Photo) => (p.cls === cls) !== flipped.has(p.id);
      const positives = trainSet.filter(labelOf);
      const negatives = trainSet.filter((p) => !labelOf(p));
      const model = await train(cls, positives, negatives, true);
      const list: SampleListJson = {
        name: 'tagsmith-samples',
        formatVersion: 1,
        tag: cls,
        samples: [...positives, ...negatives].map((p) => ({ id: sha(p.id), type: labelOf(p) ? 'positive' : 'negative', addedAt: '2026-01-01T00:00:00.000Z' })),
      };
      const byId = new Map(trainSet.map((p) => [sha(p.id), p]));
      const heldOut = heldOutSuspicions(list, model.json);
      const duplicates = await new DuplicateFinder(async (id) => byId.get(id)?.features, extractor.featureLength).pairs(list);
      const ranked = list.samples
        .map((s) => ({ id: s.id, rank: Math.max(heldOut.get(s.id)?.disagreement ?? -1, duplicates.has(s.id) ? 1 : -1) }))
        .filter((s) => s.rank >= 0)
        .sort((a, b) => b.rank - a.rank)
        .slice(0, 10);
      precisions.push(ranked.filter((s) => flipped.has(byId.get(s.id)!.id)).length / 10);
    }
  }
  console.log(
    `\nsuspicious samples with 10% of ${trainSet.length} train labels flipped: precision at 10, mean of ${precisions.length} runs ${(precisions.reduce((a, b) => a + b, 0) / precisions.length).toFixed(2)} (runs: ${precisions.map((p) => p.toFixed(1)).join(', ')}; target ≥ 0.7)`,
  );

  // 3. The near-duplicate threshold: edited copies of every other train photo against distinct photos.
  const originals = trainSet.filter((_, i) => i % 2 === 0);
  const dim = extractor.featureLength;
  const same: number[] = [];
  for (const photo of originals) {
    const file = path.join(root, photo.id);
    const bytes = await fs.readFile(file);
    const meta = await sharp(bytes).metadata();
    const w = meta.width ?? 400;
    const h = meta.height ?? 300;
    const edits = [
      sharp(bytes).jpeg({ quality: 50 }),
      sharp(bytes)
        .resize(Math.round(w / 2))
        .jpeg({ quality: 85 }),
      sharp(bytes)
        .extract({ left: Math.round(w * 0.05), top: Math.round(h * 0.05), width: Math.round(w * 0.9), height: Math.round(h * 0.9) })
        .jpeg(),
      sharp(bytes).modulate({ brightness: 1.15, saturation: 0.8 }).jpeg(),
    ];
    const original = prepareRows(photo.features, dim);
    for (const edit of edits) {
      const copy = prepareRows((await extractor.embed(await edit.toBuffer())).features, dim);
      same.push(crossPairsAbove(original, copy, dim, -1)[0].similarity);
    }
  }
  const matrix = new Float32Array(originals.length * dim);
  originals.forEach((p, i) => matrix.set(p.features, i * dim));
  const prepared = prepareRows(matrix, dim);
  const distinct = crossPairsAbove(prepared, prepared, dim, 0.8)
    .filter((p) => p.a < p.b)
    .map((p) => p.similarity);
  const pairs = (originals.length * (originals.length - 1)) / 2;
  const thresholdRows = [0.85, 0.88, 0.9, 0.92, 0.95].map((t) => [
    t.toFixed(2) + (t === DUPLICATE_SIMILARITY ? ' (used)' : ''),
    `${((same.filter((s) => s >= t).length / same.length) * 100).toFixed(1)}%`,
    `${distinct.filter((s) => s >= t).length} of ${pairs}`,
  ]);
  console.log(
    `\nnear-duplicate threshold (cosine of prepared features): ${same.length} edited copies (JPEG q50, half size, 5% crop, brighter) of ${originals.length} photos`,
  );
  console.log(table(['threshold', 'edited copies caught', 'distinct photo pairs flagged'], thresholdRows));
  await extractor.release();
}

void main();
