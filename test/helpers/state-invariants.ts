// What must hold of a state folder at any moment, crash or not: every listed sample has its
// image and embedding, every model and task record parses, no temporary file is left.
import fs from 'node:fs/promises';
import path from 'node:path';
import { readManifest } from '../../models/manifest';
import { findModelsDir } from '../../kernel/features/models-dir';

export interface StateReport {
  tags: Record<string, string[]>;
  models: string[];
  tasks: { id: string; state: string; code?: string }[];
  problems: string[];
}

export async function inspectState(stateDir: string, backbone = readManifest(findModelsDir()).backbone): Promise<StateReport> {
  const problems: string[] = [];
  const { generation } = JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8')) as { generation: string };
  const dir = path.join(stateDir, generation);
  const tags: Record<string, string[]> = {};
  const models: string[] = [];
  for (const tag of await fs.readdir(path.join(dir, 'tags'))) {
    const samplesFile = path.join(dir, 'tags', tag, 'samples.json');
    const list = await fs.readFile(samplesFile, 'utf8').then(
      (t) => JSON.parse(t) as { samples: { id: string }[] },
      () => undefined,
    );
    if (list) {
      tags[tag] = list.samples.map((s) => s.id);
      for (const { id } of list.samples) {
        if (!(await exists(path.join(dir, 'images', id)))) problems.push(`${tag}: sample ${id} has no image`);
        const features = await fs.readFile(path.join(dir, 'features', backbone, `${id}.json`), 'utf8').catch(() => undefined);
        if (!features) problems.push(`${tag}: sample ${id} has no features`);
        else {
          try {
            JSON.parse(features);
          } catch {
            problems.push(`${tag}: features of ${id} do not parse`);
          }
        }
      }
    }
    const model = await fs.readFile(path.join(dir, 'tags', tag, 'model.json'), 'utf8').catch(() => undefined);
    if (model !== undefined) {
      try {
        JSON.parse(model);
        models.push(tag);
      } catch {
        problems.push(`${tag}: model.json does not parse`);
      }
    }
  }
  const tasks: StateReport['tasks'] = [];
  for (const file of await fs.readdir(path.join(dir, 'tasks'))) {
    try {
      const t = JSON.parse(await fs.readFile(path.join(dir, 'tasks', file), 'utf8')) as { task_id: string; state: string; error?: { code: string } };
      tasks.push({ id: t.task_id, state: t.state, code: t.error?.code });
    } catch {
      problems.push(`tasks/${file} does not parse`);
    }
  }
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.name.includes('.tmp-')) problems.push(`temporary file left: ${path.join(entry.parentPath, entry.name)}`);
  }
  return { tags, models, tasks, problems };
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
