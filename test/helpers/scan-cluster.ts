// What distributed-scan tests and the scale benchmark share: a trained state and its archive,
// a folder of generated photos, `tagsmith worker`s and `tagsmith predict` as child processes,
// and the comparison of two scans' records.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CLI } from './cli-server';
import { blobImages, openTestEngine, stripedImages, waitForTask } from './engine';
import sharp from 'sharp';
import { scene } from './images';
import { peopleWithDogs, PERSON_DOG_HORSE } from './keyword-photos';

export const TAG = 'stripes';

/**
 * A state folder with one trained tag (striped pictures against soft blobs), left on disk for
 * `tagsmith predict --state`, and its archive as /get_state makes it.
 */
export async function trainedArchive(dir: string, options: { backbone?: string } = {}): Promise<{ stateDir: string; archive: string }> {
  const stateDir = path.join(dir, 'state');
  const { engine } = await openTestEngine(stateDir, { backbone: options.backbone });
  try {
    for (const bytes of await stripedImages(6)) await engine.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(6)) await engine.addSample('negative', TAG, bytes);
    const task = await waitForTask(engine, (await engine.train(TAG)).task_id);
    assert.equal(task.state, 'done');
    const archive = path.join(dir, 'backup.tar');
    const chunks: Buffer[] = [];
    for await (const chunk of await engine.getState()) chunks.push(chunk as Buffer);
    await fs.writeFile(archive, Buffer.concat(chunks));
    return { stateDir, archive };
  } finally {
    await engine.close();
  }
}

/** The tag trained with apply_keywords: the photo of a person with a dog and a horse against blobs. */
export const KEYWORD_TAG = 'field';

/**
 * Like trainedArchive, with one tag trained with apply_keywords (needs the keywords model), and a
 * folder of photos the tag never saw, with and without people and dogs.
 */
export async function keywordArchive(dir: string): Promise<{ stateDir: string; archive: string; photos: string }> {
  const stateDir = path.join(dir, 'keyword-state');
  const { engine } = await openTestEngine(stateDir);
  try {
    const photo = await fs.readFile(PERSON_DOG_HORSE);
    const positives = [photo, await sharp(photo).flop().toBuffer(), await peopleWithDogs(), await sharp(photo).resize(400).jpeg({ quality: 80 }).toBuffer()];
    for (const bytes of positives) await engine.addSample('positive', KEYWORD_TAG, bytes);
    for (const bytes of await blobImages(4)) await engine.addSample('negative', KEYWORD_TAG, bytes);
    const task = await waitForTask(engine, (await engine.train(KEYWORD_TAG, { apply_keywords: true, num_clusters: 1 })).task_id);
    assert.equal(task.state, 'done');
    const archive = path.join(dir, 'keyword-backup.tar');
    const chunks: Buffer[] = [];
    for await (const chunk of await engine.getState()) chunks.push(chunk as Buffer);
    await fs.writeFile(archive, Buffer.concat(chunks));
    const photos = path.join(dir, 'keyword-photos');
    await fs.mkdir(photos);
    await sharp(photo).greyscale().jpeg().toFile(path.join(photos, 'a-grey.jpg'));
    await sharp(photo).rotate(8, { background: '#777' }).jpeg().toFile(path.join(photos, 'b-tilted.jpg'));
    await sharp(photo).extract({ left: 0, top: 0, width: 500, height: 424 }).jpeg().toFile(path.join(photos, 'c-cropped.jpg'));
    for (const [i, bytes] of (await blobImages(2, 40)).entries()) await fs.writeFile(path.join(photos, `d-blob-${i}.jpg`), bytes);
    await scene(480, 360, 7).jpeg().toFile(path.join(photos, 'e-scene.jpg'));
    return { stateDir, archive, photos };
  } finally {
    await engine.close();
  }
}

/**
 * `count` photos in nested folders (striped, blobs and scenes in turn) and one file that is
 * not an image: what a scan of `root` finds, in walk order, is count + 1 files.
 */
export async function photoFolder(root: string, count: number, options: { size?: [number, number] } = {}): Promise<void> {
  const [width, height] = options.size ?? [480, 360];
  for (const sub of ['a', 'b', 'c/deeper']) await fs.mkdir(path.join(root, sub), { recursive: true });
  const third = Math.ceil(count / 3);
  const striped = await stripedImages(third, 200);
  const blobs = await blobImages(third, 200);
  for (let i = 0; i < count; i++) {
    const kind = i % 3;
    const name = path.join(root, ['a', 'b', 'c/deeper'][kind], `${String(i).padStart(4, '0')}.jpg`);
    if (kind === 0) await fs.writeFile(name, striped[Math.floor(i / 3)]);
    else if (kind === 1) await fs.writeFile(name, blobs[Math.floor(i / 3)]);
    else await scene(width, height, i).jpeg({ quality: 88 }).toFile(name);
  }
  await fs.writeFile(path.join(root, 'b', 'broken.jpg'), 'not an image');
}

export interface Cli {
  process: ChildProcess;
  output(): string;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** A `tagsmith` command as a user runs it (the built CLI). */
export function tagsmith(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Cli {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let both = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    both += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    both += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { process: child, output: () => both, stdout: () => stdout, stderr: () => stderr, exited };
}

export interface WorkerProcess extends Cli {
  pid: number;
  /** SIGTERM: it finishes its batches and exits. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

/** A `tagsmith worker`, once it says it is ready. */
export async function startWorker(redisUrl: string, archive: string, cacheDir: string, extra: string[] = []): Promise<WorkerProcess> {
  const cli = tagsmith(['worker', '--redis', redisUrl, '--state-archive', archive, '--cache', cacheDir, '--threads', '1', ...extra]);
  try {
    await until(
      () => cli.stdout().includes(' ready: '),
      120_000,
      () => `the worker did not start: ${cli.output()}`,
      cli.exited,
    );
  } catch (error) {
    // Not handed to the test, so nobody else would stop it: it would wait for Redis forever.
    cli.process.kill('SIGKILL');
    throw error;
  }
  return {
    ...cli,
    pid: cli.process.pid!,
    async stop() {
      if (cli.process.exitCode !== null || cli.process.signalCode !== null) return cli.process.exitCode;
      cli.process.kill('SIGTERM');
      return cli.exited;
    },
    async kill() {
      if (cli.process.exitCode !== null || cli.process.signalCode !== null) return;
      cli.process.kill('SIGKILL');
      await cli.exited;
    },
  };
}

/** Waits until `ready()` holds, looking every 20 ms; fails after `ms` or when `exited` settles first. */
export async function until(ready: () => boolean | Promise<boolean>, ms: number, why: () => string, exited?: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + ms;
  let gone = false;
  void exited?.then(() => {
    gone = true;
  });
  while (!(await ready())) {
    if (gone) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // let the last output arrive
      if (await ready()) return;
      throw new Error(`exited: ${why()}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${why()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Record_ {
  path: string;
  sha256: string;
  tags: Record<string, { score: number; threshold: number; applies: boolean }>;
  aesthetic: number;
  stock: number;
  nsfw: Record<string, number>;
}

export function jsonLines(text: string): Record_[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record_);
}

/** Two scans' JSON Lines: the same images in the same order, each once, every number within 1e-6, the same calls. */
export function assertSameRecords(actual: string, expected: string): void {
  const a = jsonLines(actual);
  const e = jsonLines(expected);
  assert.deepEqual(
    a.map((r) => r.path),
    e.map((r) => r.path),
    'the same images, in the same order',
  );
  assert.equal(new Set(a.map((r) => r.path)).size, a.length, 'each image once');
  a.forEach((record, i) => {
    const want = e[i];
    assert.equal(record.sha256, want.sha256, record.path);
    assert.deepEqual(Object.keys(record.tags), Object.keys(want.tags));
    for (const [tag, call] of Object.entries(want.tags)) {
      assert.ok(Math.abs(record.tags[tag].score - call.score) <= 1e-6, `${record.path} ${tag} score ${record.tags[tag].score} vs ${call.score}`);
      assert.ok(Math.abs(record.tags[tag].threshold - call.threshold) <= 1e-6);
      assert.equal(record.tags[tag].applies, call.applies, `${record.path} ${tag}`);
    }
    assert.ok(Math.abs(record.aesthetic - want.aesthetic) <= 1e-6 && Math.abs(record.stock - want.stock) <= 1e-6, record.path);
    for (const [label, p] of Object.entries(want.nsfw)) assert.ok(Math.abs(record.nsfw[label] - p) <= 1e-6, `${record.path} nsfw.${label}`);
  });
}
