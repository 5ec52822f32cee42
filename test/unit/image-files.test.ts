// The one folder walker the CLI, the notebook, the explorer and scans share: what a user would
// notice is every photo found once, in a stable order, hidden folders and non-images left
// out, and odd folders (link loops, dangling links, unreadable folders) named, not fatal.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { findImageFiles } from '../../kernel/images/image-files';
import { tempDir } from '../helpers/engine';

describe('findImageFiles', () => {
  let root: string;
  const rel = (p: string) => path.relative(root, p);
  before(async () => {
    root = await tempDir('tagsmith-walk-');
    const files = ['a.jpg', 'B.PNG', 'notes.txt', 'sub/c.webp', 'sub/deeper/d.gif', '.hidden.jpg', '.thumbnails/e.jpg', 'space name.jpg'];
    for (const file of files) {
      await fs.mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await fs.writeFile(path.join(root, file), file);
    }
    await fs.symlink(root, path.join(root, 'sub', 'loop')); // a link back up: a loop
    await fs.symlink(path.join(root, 'sub'), path.join(root, 'sub-again')); // the same folder twice
    await fs.symlink(path.join(root, 'a.jpg'), path.join(root, 'link-to-a.jpg'));
    await fs.symlink(path.join(root, 'gone.jpg'), path.join(root, 'dangling.jpg'));
  });

  it('finds each image once, in name order, without hidden entries or non-images', async () => {
    const { files, skipped } = await findImageFiles([root]);
    assert.deepEqual(
      files.map((f) => rel(f.path)),
      ['B.PNG', 'a.jpg', 'link-to-a.jpg', 'space name.jpg', 'sub/c.webp', 'sub/deeper/d.gif'],
    );
    assert.ok(files.every((f) => !f.explicit && f.size > 0 && f.mtimeMs > 0));
    assert.deepEqual(skipped.map((s) => rel(s.path)).sort(), ['dangling.jpg', 'sub-again', 'sub/loop']);
    assert.match(skipped.find((s) => rel(s.path) === 'dangling.jpg')!.reason, /link to nothing/);
    assert.match(skipped.find((s) => rel(s.path) === 'sub/loop')!.reason, /already walked/);
  });

  it('takes a file named by hand whatever its extension, and names a missing one', async () => {
    const { files, skipped } = await findImageFiles([path.join(root, 'notes.txt'), path.join(root, 'missing.jpg'), path.join(root, 'a.jpg'), root]);
    assert.deepEqual(
      files.slice(0, 2).map((f) => [rel(f.path), f.explicit]),
      [
        ['notes.txt', true],
        ['a.jpg', true],
      ],
    );
    assert.equal(files.filter((f) => rel(f.path) === 'a.jpg').length, 1, 'named and found in the folder: listed once');
    assert.match(skipped.find((s) => rel(s.path) === 'missing.jpg')!.reason, /no such file/);
  });

  it('stops at a depth when asked (a glob without **)', async () => {
    const { files } = await findImageFiles([root], { maxDepth: 0 });
    assert.deepEqual(
      files.map((f) => rel(f.path)),
      ['B.PNG', 'a.jpg', 'link-to-a.jpg', 'space name.jpg'],
    );
  });

  it('walks a folder of 2,000 files with 100 links, one of them looping, without losing a file', async () => {
    const big = await tempDir('tagsmith-walk-big-');
    for (let i = 0; i < 2000; i++) await fs.writeFile(path.join(big, `img-${String(i).padStart(4, '0')}.jpg`), 'x');
    await fs.mkdir(path.join(big, 'links'));
    for (let i = 0; i < 99; i++) await fs.symlink(path.join(big, `img-${String(i).padStart(4, '0')}.jpg`), path.join(big, 'links', `l${i}.jpg`));
    await fs.symlink(big, path.join(big, 'links', 'up'));
    const { files, skipped } = await findImageFiles([big]);
    assert.equal(files.length, 2099);
    assert.deepEqual(
      skipped.map((s) => path.relative(big, s.path)),
      ['links/up'],
    );
  });

  it('keeps to the allowed folders: a link leading out and a path outside are named, not followed', async () => {
    const allowed = await fs.realpath(await tempDir('tagsmith-walk-allowed-'));
    const elsewhere = await fs.realpath(await tempDir('tagsmith-walk-elsewhere-'));
    await fs.writeFile(path.join(allowed, 'in.jpg'), 'x');
    await fs.writeFile(path.join(elsewhere, 'secret.jpg'), 'x');
    await fs.symlink(elsewhere, path.join(allowed, 'escape'));
    await fs.symlink(path.join(elsewhere, 'secret.jpg'), path.join(allowed, 'secret-link.jpg'));
    const { files, skipped } = await findImageFiles([allowed, path.join(elsewhere, 'secret.jpg')], { within: [allowed] });
    assert.deepEqual(
      files.map((f) => path.relative(allowed, f.path)),
      ['in.jpg'],
    );
    assert.deepEqual(skipped.map((s) => path.basename(s.path)).sort(), ['escape', 'secret-link.jpg', 'secret.jpg']);
    assert.ok(skipped.every((s) => /outside the folders this engine may read/.test(s.reason)));
  });
});
