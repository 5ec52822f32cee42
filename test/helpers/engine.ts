// A real engine on a temporary state folder, and the two kinds of picture tests train on.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TaskView } from '../../kernel/api/wire-types';
import { TagsmithEngine, type EngineOptions } from '../../kernel/engine/tagsmith-engine';
import { blobPicture, stripedPicture } from '../../kernel/notebook/demo-images';
import { isActiveTask } from '../../kernel/rules';
import { firstEvent } from './wait';

export async function tempDir(prefix = 'tagsmith-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function openTestEngine(stateDir?: string, options: Partial<EngineOptions> = {}): Promise<{ engine: TagsmithEngine; stateDir: string }> {
  const dir = stateDir ?? (await tempDir());
  return { engine: await TagsmithEngine.open({ stateDir: dir, threads: 2, ...options }), stateDir: dir };
}

/** Striped pictures (the "positive" kind) with varied colours and periods. */
export async function stripedImages(count: number, offset = 0): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => stripedPicture(i + offset).jpeg({ quality: 90 }).toBuffer()));
}

/** Soft-blob pictures (the "negative" kind). */
export async function blobImages(count: number, offset = 0): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => blobPicture(i + offset).jpeg({ quality: 90 }).toBuffer()));
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
