// Brings a state's stored base scores to this version's measure. Embeddings stored before
// 2026-11-28 (format version 1) hold aesthetic and stock scores measured on another thumbnail
// (record-schemas.ts, EMBEDDING_FORMAT); left as they were, a tag trained with
// apply_aesthetic_score would compare its samples' old scores with new images' new ones. The
// samples' images are in the state, so a writable engine re-measures each such record when it
// opens the state or restores an archive, before serving it, and re-standardises the base
// scores of the tags trained on them.
//
// Crash safety: everything is measured first, in memory; then the refitted tag models are
// written, then the records, each file replaced atomically. A crash before the last record is
// written leaves some records at version 1, so the next start measures and refits again, to the
// same numbers (both are deterministic), and finishes.
import fs from 'node:fs/promises';
import { decodeCueImage, inspectImage } from '../images/image-decoder';
import { aestheticScore, stockScore, type ScoreWithComponents } from '../scores/base-scores';
import { measureCues } from '../scores/image-cues';
import { writeJsonAtomic } from '../state/atomic-file';
import type { GenerationContents } from '../state/generation-loader';
import { EMBEDDING_FORMAT, type EmbeddingRecord, type TagModelJson } from '../state/record-schemas';
import type { GenerationLayout } from '../state/state-layout';
import { checkEmbedding, readRecordFile } from '../state/stored-records';
import { standardiser } from '../training/train-tag';
import { concurrencyLimit } from './concurrency-limit';

/** Images decoded at once (the engine is not serving yet: both cores are free). */
const AT_ONCE = 2;

/**
 * Re-measures `loaded`'s outdated records of listed samples in `gen`, then refits the tag models
 * that use base scores; updates `loaded.models`. A sample whose image no longer decodes keeps
 * its old record.
 */
export async function upgradeStoredCues(gen: GenerationLayout, loaded: GenerationContents): Promise<void> {
  const outdated = loaded.outdated.filter(({ id }) => loaded.listed.has(id)); // unlisted ones were swept
  loaded.outdated = [];
  if (outdated.length === 0) return;

  // 1. Measure, in memory.
  const aesthetics = new Map<string, Promise<ScoreWithComponents | undefined>>(); // by sample: the cue image does not depend on the backbone
  const measure = concurrencyLimit(AT_ONCE);
  const aestheticOf = (id: string) => {
    let pending = aesthetics.get(id);
    if (!pending) {
      pending = measure(async () => {
        const bytes = await fs.readFile(gen.image(id));
        const cueImage = await decodeCueImage(bytes, await inspectImage(bytes));
        return aestheticScore(measureCues(cueImage.pixels, cueImage.width, cueImage.height));
      }).catch(() => undefined); // an image this version no longer decodes keeps its old scores
      aesthetics.set(id, pending);
    }
    return pending;
  };
  const upgraded = new Map<string, { id: string; record: EmbeddingRecord }>(); // by backbone/id
  const upgradedIds = new Set<string>();
  await Promise.all(
    outdated.map(async ({ backbone, id }) => {
      const file = gen.features(backbone, id);
      const record = checkEmbedding(await readRecordFile(file, gen.relative(file)), gen.relative(file), { backbone });
      const aesthetic = await aestheticOf(id);
      if (!aesthetic) return;
      upgradedIds.add(id);
      upgraded.set(`${backbone}/${id}`, {
        id,
        record: {
          ...record,
          formatVersion: EMBEDDING_FORMAT,
          aesthetic,
          stock: stockScore(aesthetic.score, record.image, record.nsfw),
        },
      });
    }),
  );

  // 2. Refit the tags trained with base scores whose samples changed, and write them.
  for (const [i, model] of loaded.models.entries()) {
    if (model.extras.length === 0) continue;
    const list = loaded.lists.find((l) => l.tag === model.tag);
    if (!list?.samples.some((s) => upgradedIds.has(s.id))) continue;
    const refitted = await refitStandardisers(gen, model, list.samples, upgraded);
    if (!refitted) continue;
    await writeJsonAtomic(gen.model(model.tag), refitted);
    loaded.models[i] = refitted;
  }

  // 3. Only then the records: until the last is written, the next start does all of this again.
  for (const { id, record } of upgraded.values()) await writeJsonAtomic(gen.features(record.backbone, id), record);
}

/**
 * The model with each base score's mean and std taken again, as training takes them, over the
 * samples it was trained on (its out-of-fold list; else its tag's samples now) measured the new
 * way. The weights stay: they apply to a score standardised as it was when they were fitted.
 * Undefined if a sample has no record for the model's backbone.
 */
async function refitStandardisers(
  gen: GenerationLayout,
  model: TagModelJson,
  listed: readonly { id: string }[],
  upgraded: ReadonlyMap<string, { record: EmbeddingRecord }>,
): Promise<TagModelJson | undefined> {
  const listedIds = new Set(listed.map((s) => s.id));
  const trainedOn = model.outOfFold?.map((s) => s.id);
  const ids = trainedOn && trainedOn.every((id) => listedIds.has(id)) ? trainedOn : [...listedIds];
  const samples: { aesthetic: number; stock: number }[] = [];
  for (const id of ids) {
    let record = upgraded.get(`${model.backbone}/${id}`)?.record;
    if (!record) {
      const file = gen.features(model.backbone, id);
      const stored = await readRecordFile(file, gen.relative(file));
      if (stored === undefined) return undefined;
      record = checkEmbedding(stored, gen.relative(file), { backbone: model.backbone });
    }
    samples.push({ aesthetic: record.aesthetic.score, stock: record.stock.score });
  }
  return { ...model, extras: model.extras.map((extra) => standardiser(extra.name, samples)) };
}
