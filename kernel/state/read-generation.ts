// Reads and checks every file of a generation folder: a restored archive before it may become
// the state, and the current state at start-up. Each file must have its place in the layout
// (classifyStatePath) and each record must pass its check (stored-records.ts); across files,
// every listed sample has its image, a model lives beside a samples list, and with
// `verifyImages` every image's sha256 is its name. The first problem throws `invalid_archive`.
import crypto from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagsmithError } from '../errors';
import { EMBEDDING_FORMAT, type SampleListJson, type TagModelJson, type TaskRecord } from './record-schemas';
import { tagFolderClash } from './path-names';
import { classifyStatePath, type GenerationLayout, type StatePath } from './state-layout';
import { checkEmbedding, checkManifest, checkSampleList, checkTagModel, checkTask, invalidRecord, readRecordFile } from './stored-records';

/** The backbone this engine runs: embeddings and models of it must fit its vectors. */
export interface RunningBackbone {
  backbone: string;
  featureLength: number;
}

export interface GenerationContents {
  lists: SampleListJson[];
  models: TagModelJson[];
  tasks: TaskRecord[];
  /** Every sample id some samples list names. */
  listed: Set<string>;
  /** Sample ids with an image file. */
  images: Set<string>;
  /** Embedding files by backbone. */
  embeddings: Map<string, Set<string>>;
  /** Embeddings whose base scores an older version measured (format version 1): engine/cue-upgrade.ts re-measures them. */
  outdated: { backbone: string; id: string }[];
}

/** Files checked at once (reading thousands of small records one by one is slow). */
const PARALLEL = 16;

export interface ReadOptions {
  /** Hash every image against its name (an archive's; the engine's own were hashed when added). */
  verifyImages?: boolean;
  /**
   * Refuse tags whose folders would be one on Windows or macOS (`Bees` and `bees`): an archive
   * must restore anywhere. A state folder made on Linux before this rule still opens there.
   */
  portableTags?: boolean;
}

export async function readGeneration(gen: GenerationLayout, running: RunningBackbone, options: ReadOptions = {}): Promise<GenerationContents> {
  const contents: GenerationContents = { lists: [], models: [], tasks: [], listed: new Set(), images: new Set(), embeddings: new Map(), outdated: [] };
  const files: { relative: string; place: StatePath }[] = [];
  await walk(gen.dir, [], files);

  if (!files.some((f) => f.place.kind === 'manifest')) throw invalidRecord('manifest.json', 'missing: the state has no Tagsmith manifest.json');
  const tagsWithSamples = new Set(files.flatMap((f) => (f.place.kind === 'samples' ? [f.place.tag] : [])));
  const clash = options.portableTags ? tagFolderClash([...tagsWithSamples].sort()) : undefined;
  if (clash)
    throw invalidRecord(
      `tags/${clash[1]}`,
      `tags ${JSON.stringify(clash[0])} and ${JSON.stringify(clash[1])} differ only in case: on Windows and macOS they would be one folder`,
    );

  await inBatches(files, async ({ relative, place }) => {
    const file = path.join(gen.dir, ...relative.split('/'));
    switch (place.kind) {
      case 'manifest':
        checkManifest(await readRecordFile(file, relative), relative);
        return;
      case 'image':
        if (options.verifyImages) {
          const hash = await sha256File(file);
          if (hash !== place.id) throw invalidRecord(relative, `the image's sha256 is ${hash}, not its name`);
        }
        contents.images.add(place.id);
        return;
      case 'embedding': {
        const featureLength = place.backbone === running.backbone ? running.featureLength : undefined;
        const record = checkEmbedding(await readRecordFile(file, relative), relative, { backbone: place.backbone, featureLength });
        if (record.formatVersion !== EMBEDDING_FORMAT) contents.outdated.push({ backbone: place.backbone, id: place.id });
        const ids = contents.embeddings.get(place.backbone) ?? new Set<string>();
        ids.add(place.id);
        contents.embeddings.set(place.backbone, ids);
        return;
      }
      case 'samples': {
        const list = checkSampleList(await readRecordFile(file, relative), relative, place.tag);
        contents.lists.push(list);
        return;
      }
      case 'model':
        if (!tagsWithSamples.has(place.tag)) throw invalidRecord(relative, 'the tag has no samples.json beside its model');
        contents.models.push(checkTagModel(await readRecordFile(file, relative), relative, { tag: place.tag, ...running }));
        return;
      case 'task':
        contents.tasks.push(checkTask(await readRecordFile(file, relative), relative, { taskId: place.id }));
        return;
      case 'folder':
        return;
    }
  });

  for (const list of contents.lists) {
    for (const sample of list.samples) {
      if (!contents.images.has(sample.id)) throw invalidRecord(`tags/${list.tag}/samples.json`, `sample ${sample.id} has no image (images/${sample.id})`);
      contents.listed.add(sample.id);
    }
  }
  // Folder order is the file system's; keep results stable.
  contents.lists.sort((a, b) => a.tag.localeCompare(b.tag));
  contents.models.sort((a, b) => a.tag.localeCompare(b.tag));
  return contents;
}

/** Lists every file under `dir` with its place in the layout; anything without one throws. */
async function walk(root: string, parts: string[], out: { relative: string; place: StatePath }[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(path.join(root, ...parts), { withFileTypes: true });
  } catch (error) {
    throw new TagsmithError('invalid_archive', `${parts.join('/') || 'the state folder'} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const child = [...parts, entry.name];
    const relative = child.join('/');
    if (!entry.isDirectory() && !entry.isFile()) throw new TagsmithError('invalid_archive', `${relative} is neither a plain file nor a folder`);
    const place = classifyStatePath(child, entry.isDirectory());
    if ('why' in place) throw new TagsmithError('invalid_archive', place.why);
    if (entry.isDirectory()) await walk(root, child, out);
    else out.push({ relative, place });
  }
}

async function inBatches<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += PARALLEL) await Promise.all(items.slice(i, i + PARALLEL).map(work));
}

async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
