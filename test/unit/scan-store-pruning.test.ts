// Which finished scans the engine keeps: the newest few, and beyond them the newest scan of each
// folder, so the explorer can still re-score a folder scanned before several others.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { newScanId, ScanStore, SCANS_KEPT, SCANS_KEPT_MOST } from '../../kernel/scan/scan-store';
import { tempDir } from '../helpers/engine';

const EMPTY = { images: [], features: new Float32Array(0), skipped: [], embedded: 0, known: 0, cancelled: false };

async function saveScans(store: ScanStore, inputs: string[][]): Promise<string[]> {
  const ids: string[] = [];
  for (const paths of inputs) {
    const id = newScanId();
    // Scans are listed by when they finished (to the millisecond): one after the other, as the engine runs them.
    const before = Date.now();
    while (Date.now() === before) await new Promise((resolve) => setImmediate(resolve));
    await store.save(id, { inputs: paths, backbone: 'b', featureLength: 4, startedAt: new Date().toISOString() }, EMPTY);
    ids.push(id);
  }
  return ids;
}

describe('finished scans kept', () => {
  it('keep the newest scan of each folder beyond the newest few, and drop those a newer scan covers', async () => {
    const dir = await tempDir('tagsmith-scan-store-');
    try {
      const store = new ScanStore(dir);
      const root = path.resolve('/photos');
      const folder = (name: string) => path.join(root, name);
      // a, a again (covers the first), b and c once each, then the whole root, then five others.
      const ids = await saveScans(store, [
        [folder('a')],
        [folder('a')],
        [folder('b'), folder('c')],
        [folder('c')],
        [root],
        [folder('x1')],
        [folder('x2')],
        [folder('x3')],
        [folder('x4')],
        [folder('x5')],
      ]);
      const kept = new Set((await store.list()).map((r) => r.id));
      // The five newest, plus the scan of the root, which no newer scan covers; the scans of
      // a, b and c are all covered by the root's.
      assert.deepEqual(
        ids.map((id) => kept.has(id)),
        [false, false, false, false, true, true, true, true, true, true],
      );
      assert.ok(SCANS_KEPT < kept.size);
      assert.deepEqual((await fs.readdir(dir)).sort(), [...kept].sort(), 'the others are deleted from disk');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('keep at most a bounded number of scans however many folders were scanned', async () => {
    const dir = await tempDir('tagsmith-scan-store-');
    try {
      const store = new ScanStore(dir);
      const ids = await saveScans(
        store,
        Array.from({ length: SCANS_KEPT_MOST + 3 }, (_, i) => [path.resolve(`/photos/f${i}`)]),
      );
      const kept = (await store.list()).map((r) => r.id);
      assert.equal(kept.length, SCANS_KEPT_MOST);
      assert.deepEqual(new Set(kept), new Set(ids.slice(-SCANS_KEPT_MOST)), 'the newest ones');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
