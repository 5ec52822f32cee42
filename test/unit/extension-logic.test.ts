// The extension's window-free logic (extension/logic): what gets added from a selection, what
// the user reads when something fails, when a crashed engine is restarted, and how the Train
// dialog's choices become options.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { describeError } from '../../extension/logic/error-messages';
import { RestartPolicy } from '../../extension/logic/restart-policy';
import { selectImages, summariseAdding } from '../../extension/logic/image-selection';
import { optionsFrom } from '../../extension/logic/train-choices';
import { tempDir } from '../helpers/engine';

describe('image selection', () => {
  it('expands folders, keeps images of every accepted extension in any case, and says why others were skipped', async () => {
    const dir = await tempDir('tagsmith-selection-');
    try {
      await fs.mkdir(path.join(dir, 'shots', 'nested'), { recursive: true });
      await fs.mkdir(path.join(dir, 'shots', '.thumbnails'));
      for (const name of ['a.JPG', 'b.jpeg', 'c.png', 'd.webp', 'e.GIF', 'f.tif', 'g.TIFF', 'h.avif', 'nested/i.jpg', '.thumbnails/x.jpg', 'notes.txt']) {
        await fs.writeFile(path.join(dir, 'shots', name), 'x');
      }
      await fs.writeFile(path.join(dir, 'empty.jpg'), '');
      await fs.writeFile(path.join(dir, 'readme.md'), '# hi');
      const result = await selectImages([
        path.join(dir, 'shots'),
        path.join(dir, 'empty.jpg'),
        path.join(dir, 'readme.md'),
        path.join(dir, 'shots', 'a.JPG'),
        path.join(dir, 'gone.png'),
      ]);
      assert.deepEqual(
        result.images.map((f) => path.relative(path.join(dir, 'shots'), f)),
        ['a.JPG', 'b.jpeg', 'c.png', 'd.webp', 'e.GIF', 'f.tif', 'g.TIFF', 'h.avif', 'nested/i.jpg'],
      );
      assert.deepEqual(result.skipped.map((s) => [path.basename(s.file), s.reason]).sort(), [
        ['empty.jpg', 'the file is empty'],
        ['gone.png', 'there is no such file or folder (or it is a link to nothing)'],
        ['readme.md', 'not an image file (jpg, png, webp, gif, tiff or avif)'],
      ]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('summarises what was added and names what was skipped', () => {
    const text = summariseAdding({ added: 12, existing: 2, tag: 'stripes', type: 'positive', skipped: [{ file: '/x/broken.jpg', reason: 'truncated' }] });
    assert.equal(text, '12 added as positive of "stripes", 2 already there. Skipped 1: broken.jpg (truncated).');
  });
});

describe('error messages', () => {
  it('shows the engine message, with an action where one helps', () => {
    assert.deepEqual(describeError({ code: 'not_an_image', message: 'The data is not an image.' }), { text: 'The data is not an image.', action: undefined });
    assert.equal(describeError({ code: 'not_enough_samples', message: 'Need 2.' }).action, 'addSamples');
    assert.equal(describeError({ code: 'engine_unreachable', message: 'ECONNREFUSED' }).action, 'restartEngine');
    const bug = describeError(new TypeError('x is undefined'));
    assert.equal(bug.action, 'showLog');
    assert.doesNotMatch(bug.text, /at .*\(/, 'no stack trace');
  });
});

describe('restart policy', () => {
  it('restarts at once, then with growing pauses, and gives up after a burst of crashes', () => {
    const policy = new RestartPolicy({ delaysMs: [0, 1000, 5000], windowMs: 60_000, maxCrashesInWindow: 4 });
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => policy.onCrash(i * 1000)),
      [0, 1000, 5000, 5000],
    );
    assert.equal(policy.onCrash(4000), undefined);
    policy.reset();
    assert.equal(policy.onCrash(5000), 0);
  });

  it('forgets crashes older than the window', () => {
    const policy = new RestartPolicy({ delaysMs: [0, 1000], windowMs: 10_000, maxCrashesInWindow: 1 });
    assert.equal(policy.onCrash(0), 0);
    assert.equal(policy.onCrash(60_000), 0);
  });
});

describe('train choices', () => {
  it('turns the dialog into engine options', () => {
    assert.deepEqual(optionsFrom(3, ['stock']), { num_clusters: 3, apply_aesthetic_score: false, apply_stock_score: true, apply_keywords: false });
    assert.deepEqual(optionsFrom(1, ['aesthetic', 'stock']), { num_clusters: 1, apply_aesthetic_score: true, apply_stock_score: true, apply_keywords: false });
    assert.deepEqual(optionsFrom(2, ['keywords']), { num_clusters: 2, apply_aesthetic_score: false, apply_stock_score: false, apply_keywords: true });
  });
});
