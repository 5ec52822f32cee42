// A real engine on a temporary state folder, and the two kinds of picture tests train on.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TagsmithEngine, type EngineOptions } from '../../kernel/engine/tagsmith-engine';
import { blobPicture, stripedPicture } from '../../kernel/notebook/demo-images';

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

export async function waitForTask(engine: TagsmithEngine, taskId: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = engine.status(taskId);
    if (status.state === 'done' || status.state === 'failed') return status;
    if (Date.now() > deadline) throw new Error(`task ${taskId} still ${status.state} after ${timeoutMs} ms`);
    await new Promise<void>((resolve) => {
      const off = engine.onTaskChange((t) => {
        if (t.task_id === taskId && (t.state === 'done' || t.state === 'failed')) {
          off();
          resolve();
        }
      });
      setTimeout(() => { off(); resolve(); }, 500);
    });
  }
}
