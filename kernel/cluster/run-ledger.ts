// A distributed scan's bookkeeping on the coordinator's disk, so that a coordinator killed or
// restarted resumes its run (`tagsmith predict --resume <run id>`): the run's manifest (its
// batches, fixed when the folders were walked, and how to print them) and each batch's checked
// answer as it arrives. Redis only holds the batches still to do; an answer is removed from
// Redis once it is here. The ledger is removed when the run has printed everything.
//
//   <runs dir>/<run id>/run.json            the manifest below
//   <runs dir>/<run id>/batches/<n>.json    batch n's answer (atomic: there whole, or not at all)
import fs from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from 'typebox';
import { TagsmithError } from '../errors';
import { readJson, writeJsonAtomic } from '../state/atomic-file';
import { schemaChecker } from '../state/stored-records';
import { RUN_ID_PATTERN, validateRunId } from '../state/path-names';
import { checkBatchResult, type BatchImage, type BatchResult } from './scan-jobs';

const closed = { additionalProperties: false } as const;
const Skipped = Type.Object({ path: Type.String(), reason: Type.String() }, closed);

export const RunManifestSchema = Type.Object(
  {
    name: Type.Literal('tagsmith-scan-run'),
    formatVersion: Type.Literal(1),
    id: Type.String({ pattern: RUN_ID_PATTERN.source }),
    createdAt: Type.String(),
    /** The Redis URL, password masked (the run's --redis is given again on resume). */
    redis: Type.String(),
    queue: Type.String(),
    archive: Type.Object({ path: Type.String(), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }, closed),
    backbone: Type.String(),
    /** Output: paths are shown relative to `cwd`, as a local scan shows them. */
    cwd: Type.String(),
    inputs: Type.Array(Type.String()),
    format: Type.Enum(['jsonl', 'csv']),
    tags: Type.Array(Type.String()),
    nsfwLabels: Type.Array(Type.String()),
    appliesOnly: Type.Boolean(),
    batchSize: Type.Integer({ minimum: 1 }),
    /** Batch n's absolute paths, in walk order. */
    batches: Type.Array(Type.Array(Type.String(), { minItems: 1 })),
    /** What the walk itself could not read (named before any image, as a local scan does). */
    walkSkipped: Type.Array(Skipped),
    /** An engine's scan: workers answer features of this length too (see ScanJob.features). */
    featureLength: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Workers find and answer each image's keywords. */
    keywords: Type.Optional(Type.Boolean()),
    /** With `keywords`: the keywords model they must come from (an engine's, whose tags read them). */
    keywordModel: Type.Optional(Type.String({ maxLength: 64 })),
  },
  closed,
);
export type RunManifest = Static<typeof RunManifestSchema>;

const manifestShape = schemaChecker(RunManifestSchema);

export class RunLedger {
  private constructor(
    readonly dir: string,
    readonly manifest: RunManifest,
    private readonly results: Map<number, BatchResult>,
  ) {}

  static async create(runsDir: string, manifest: RunManifest): Promise<RunLedger> {
    const dir = runDir(runsDir, manifest.id);
    await fs.mkdir(path.join(dir, 'batches'), { recursive: true });
    await writeJsonAtomic(path.join(dir, 'run.json'), manifest);
    return new RunLedger(dir, manifest, new Map());
  }

  /** A run's ledger with every answer saved so far; an answer that fails its check is dropped (its batch is done again). */
  static async open(runsDir: string, id: string): Promise<RunLedger> {
    const dir = runDir(runsDir, id);
    const value = await readJson<unknown>(path.join(dir, 'run.json')).catch(() => undefined);
    if (value === undefined)
      throw new TagsmithError(
        'not_found',
        `There is no run ${id} in ${runsDir}: it finished (its ledger is removed then), or it was started with another --runs-dir.`,
      );
    const checked = manifestShape(value);
    if (!('value' in checked)) throw new TagsmithError('invalid_option', `${path.join(dir, 'run.json')} is damaged: ${checked.problem}.`);
    const manifest = checked.value;
    const results = new Map<number, BatchResult>();
    for (const name of await fs.readdir(path.join(dir, 'batches')).catch(() => [])) {
      const batch = /^(\d+)\.json$/.exec(name)?.[1];
      if (batch === undefined || Number(batch) >= manifest.batches.length) continue;
      const result = checkBatchResult(await readJson<unknown>(path.join(dir, 'batches', name)).catch(() => undefined), expectedOf(manifest, Number(batch)));
      if (!('problem' in result)) results.set(Number(batch), result);
    }
    return new RunLedger(dir, manifest, results);
  }

  get batches(): number {
    return this.manifest.batches.length;
  }

  has(batch: number): boolean {
    return this.results.has(batch);
  }

  result(batch: number): BatchResult | undefined {
    return this.results.get(batch);
  }

  /** Batches without an answer yet, in order. */
  missing(): number[] {
    return this.manifest.batches.flatMap((_, i) => (this.results.has(i) ? [] : [i]));
  }

  /** Images the answers so far hold (skipped files included). */
  answeredFiles(): number {
    let n = 0;
    for (const i of this.results.keys()) n += this.manifest.batches[i].length;
    return n;
  }

  /** What a worker's answer for `batch` must be to count (see checkBatchResult). */
  expected(batch: number): ReturnType<typeof expectedOf> {
    return expectedOf(this.manifest, batch);
  }

  /** Keeps a checked answer; a batch answered already keeps its first answer (it is never counted twice). */
  async save(batch: number, result: BatchResult): Promise<boolean> {
    if (this.results.has(batch)) return false;
    await writeJsonAtomic(path.join(this.dir, 'batches', `${batch}.json`), result);
    this.results.set(batch, result);
    return true;
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

function expectedOf(manifest: RunManifest, batch: number) {
  return {
    run: manifest.id,
    batch,
    archive: manifest.archive.sha256,
    paths: manifest.batches[batch],
    ...(manifest.featureLength !== undefined ? { featureLength: manifest.featureLength } : {}),
    ...(manifest.keywords ? { keywords: true } : {}),
    ...(manifest.keywordModel !== undefined ? { keywordModel: manifest.keywordModel } : {}),
  };
}

/**
 * The run's records in walk order, as its answers arrive in any order: each batch is printed
 * once every batch before it has been, and a path is printed once whatever happens (a batch
 * answered twice, a path in two batches).
 */
export class OrderedRecords {
  private next = 0;
  private readonly printed = new Set<string>();

  constructor(
    private readonly batches: number,
    private readonly answer: (batch: number) => BatchResult | undefined,
    private readonly emit: (image: BatchImage) => void,
    private readonly skip: (skipped: { path: string; reason: string }) => void,
  ) {}

  /** Prints every batch now ready in order; returns how many images it printed. */
  flush(): number {
    let images = 0;
    for (let result = this.answer(this.next); this.next < this.batches && result; result = this.answer(++this.next)) {
      for (const image of result.images) {
        if (this.printed.has(image.path)) continue;
        this.printed.add(image.path);
        this.emit(image);
        images++;
      }
      for (const s of result.skipped) {
        if (this.printed.has(s.path)) continue;
        this.printed.add(s.path);
        this.skip(s);
      }
    }
    return images;
  }

  /** The first batch not printed yet (the number of batches once all are). */
  get position(): number {
    return this.next;
  }

  get done(): boolean {
    return this.next >= this.batches;
  }
}

/** A run's folder: the id is checked by its one rule first (`--resume ../x` never leaves the runs dir). */
function runDir(runsDir: string, id: string): string {
  return path.join(runsDir, validateRunId(id));
}
