// A real engine on a temporary state folder, and the two kinds of picture tests train on.
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'node:test';
import type { TaskView } from '../../kernel/api/wire-types';
import { TagsmithEngine, type EngineOptions } from '../../kernel/engine/tagsmith-engine';
import { blobPicture, stripedPicture } from '../../kernel/notebook/demo-images';
import { isActiveTask } from '../../kernel/rules';
import { firstEvent } from './wait';

const madeFolders: string[] = [];
// Each test file runs in a process of its own: what its tests made goes when it ends, passed or not.
process.once('exit', () => {
  for (const dir of madeFolders) {
    try {
      fsSync.rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // a child process still writing there: leave it to the system's cleaning of /tmp
    }
  }
});

/** A new empty folder under the system's temporary folder, removed when the test process exits. */
export async function tempDir(prefix = 'tagsmith-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  madeFolders.push(dir);
  return dir;
}

export async function openTestEngine(stateDir?: string, options: Partial<EngineOptions> = {}): Promise<{ engine: TagsmithEngine; stateDir: string }> {
  const dir = stateDir ?? (await tempDir());
  return { engine: await TagsmithEngine.open({ stateDir: dir, threads: 2, ...options }), stateDir: dir };
}

/**
 * For tests that change an engine's state: `const ownEngine = enginesPerTest()` in a describe
 * (or at the top of a file), then `await ownEngine(…)` in a test opens one on a fresh folder that
 * is closed and removed after that test.
 */
export function enginesPerTest(): (options?: Partial<EngineOptions>) => Promise<{ engine: TagsmithEngine; stateDir: string }> {
  const opened: { engine: TagsmithEngine; stateDir: string }[] = [];
  afterEach(async () => {
    for (const { engine, stateDir } of opened.splice(0)) {
      await engine.close();
      await fs.rm(stateDir, { recursive: true, force: true });
    }
  });
  return async (options = {}) => {
    const made = await openTestEngine(undefined, options);
    opened.push(made);
    return made;
  };
}

/** Striped pictures (the "positive" kind) with varied colours and periods. */
export async function stripedImages(count: number, offset = 0): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      stripedPicture(i + offset)
        .jpeg({ quality: 90 })
        .toBuffer(),
    ),
  );
}

/** Soft-blob pictures (the "negative" kind). */
export async function blobImages(count: number, offset = 0): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      blobPicture(i + offset)
        .jpeg({ quality: 90 })
        .toBuffer(),
    ),
  );
}

/** The task once it has finished (done or failed), from the engine's task events; fails after `timeoutMs`. */
export function waitForTask(engine: TagsmithEngine, taskId: string, timeoutMs = 120_000): Promise<TaskView> {
  return firstEvent<TaskView>(
    (listener) => {
      const off = engine.onTaskChange((task) => task.task_id === taskId && listener(task));
      listener(engine.status(taskId)); // it may have finished already
      return off;
    },
    (task) => !isActiveTask(task),
    `task ${taskId} finished`,
    timeoutMs,
  );
}

/** The engine's whole state as a /get_state archive. */
export async function stateArchive(engine: TagsmithEngine): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await engine.getState()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
