// Brings a state's stored base scores to this version's measure. Embeddings stored before
// 2026-11-28 (format version 1) hold aesthetic and stock scores measured on another thumbnail
// (record-schemas.ts, EMBEDDING_FORMAT); left as they were, a tag trained with
// apply_aesthetic_score would compare its samples' old scores with new images' new ones. The
// samples' images are in the state, so a writable engine re-measures each such record when it
// opens the state or restores an archive, before serving it, and re-standardises the base
// scores of the tags trained on them. Each file is replaced atomically: a crash halfway leaves
// records of both versions, each whole, and the next start finishes the job.
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

export interface CueUpgrade {
  /** Records re-measured. */
  records: number;
  /** Tags whose base-score standardisers were refitted. */
  tags: string[];
}

/** Re-measures `loaded`'s outdated records of listed samples in `gen`, then refits the tag models that use base scores; updates `loaded.models`. */
export async function upgradeStoredCues(gen: GenerationLayout, loaded: GenerationContents): Promise<CueUpgrade> {
  const outdated = loaded.outdated.filter(({ id }) => loaded.listed.has(id)); // unlisted ones were swept
  loaded.outdated = [];
  if (outdated.length === 0) return { records: 0, tags: [] };
  const measured = new Map<string, ScoreWithComponents>(); // by sample: the cues do not depend on the backbone
  const upgraded = new Set<string>();
  for (const { backbone, id } of outdated) {
    const file = gen.features(backbone, id);
    const record = checkEmbedding(await readRecordFile(file, gen.relative(file)), gen.relative(file), { backbone });
    let aesthetic = measured.get(id);
    if (!aesthetic) {
      const bytes = await fs.readFile(gen.image(id));
      const cueImage = await decodeCueImage(bytes, await inspectImage(bytes));
      aesthetic = aestheticScore(measureCues(cueImage.pixels, cueImage.width, cueImage.height));
      measured.set(id, aesthetic);
    }
    const current: EmbeddingRecord = { ...record, formatVersion: EMBEDDING_FORMAT, aesthetic, stock: stockScore(aesthetic.score, record.image, record.nsfw) };
    await writeJsonAtomic(file, current);
    upgraded.add(id);
  }

  const tags: string[] = [];
  for (const [i, model] of loaded.models.entries()) {
    if (model.extras.length === 0) continue;
    const list = loaded.lists.find((l) => l.tag === model.tag);
    if (!list?.samples.some((s) => upgraded.has(s.id))) continue;
    const refitted = await refitStandardisers(
      gen,
      model,
      list.samples.map((s) => s.id),
    );
    if (!refitted) continue;
    await writeJsonAtomic(gen.model(model.tag), refitted);
    loaded.models[i] = refitted;
    tags.push(model.tag);
  }
  return { records: upgraded.size, tags };
}

/**
 * The model with each base score's mean and std taken again over its tag's samples, now
 * measured the new way, as training takes them (the weights stay: they apply to a score
 * standardised as it was when they were fitted). The samples are those it was trained on
 * unless they changed since, and then the tag shows as stale anyway. Undefined if a sample
 * has no record for the model's backbone.
 */
async function refitStandardisers(gen: GenerationLayout, model: TagModelJson, ids: string[]): Promise<TagModelJson | undefined> {
  const samples: { aesthetic: number; stock: number }[] = [];
  for (const id of ids) {
    const file = gen.features(model.backbone, id);
    const stored = await readRecordFile(file, gen.relative(file));
    if (stored === undefined) return undefined;
    const record = checkEmbedding(stored, gen.relative(file), { backbone: model.backbone });
    samples.push({ aesthetic: record.aesthetic.score, stock: record.stock.score });
  }
  return { ...model, extras: model.extras.map((extra) => standardiser(extra.name, samples)) };
}
