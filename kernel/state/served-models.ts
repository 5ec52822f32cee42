// The trained tags of a state folder, read without opening it as an engine does: no lock, no
// writes, nothing created. For a process that only predicts beside the engine that owns the
// folder (`tagsmith predict`). Each model is checked as the engine checks it; models of
// another backbone are left out, as the engine would not serve them.
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagsmithError } from '../errors';
import { isValidTag } from './path-names';
import type { RunningBackbone } from './read-generation';
import type { TagModelJson } from './record-schemas';
import { GenerationLayout } from './state-layout';
import { checkCurrentPointer, checkTagModel, readRecordFile } from './stored-records';

export async function readServedModels(stateDir: string, running: RunningBackbone): Promise<TagModelJson[]> {
  const pointer = await readRecordFile(path.join(stateDir, 'CURRENT'), 'CURRENT').catch(() => undefined);
  if (pointer === undefined)
    throw new TagsmithError(
      'not_found',
      `${stateDir} is not a Tagsmith state folder (it has no CURRENT file); give --state the folder \`tagsmith serve\` uses.`,
    );
  const gen = new GenerationLayout(path.join(stateDir, checkCurrentPointer(pointer).generation));
  const models: TagModelJson[] = [];
  for (const tag of (await fs.readdir(gen.tagsDir).catch(() => [])).filter(isValidTag).sort()) {
    const file = gen.model(tag);
    const value = await readRecordFile(file, gen.relative(file));
    // A model of another backbone is not served (its weights fit another network's vectors).
    if (value === undefined || (value as { backbone?: unknown }).backbone !== running.backbone) continue;
    models.push(checkTagModel(value, gen.relative(file), { tag, ...running }));
  }
  return models;
}
