// A state folder, its archives and the paths the engine reads must mean the same on Windows as
// on Linux: names checked with Windows' rules (devices, case, drive letters, backslashes) as
// well as POSIX's, whatever this machine runs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TagsmithError } from '../../kernel/errors';
import { sidecarPaths } from '../../kernel/export/xmp-sidecar';
import { isFullPath, isWithin } from '../../kernel/images/image-files';
import { isValidTag, tagFolderClash } from '../../kernel/state/path-names';
import { blobImages, enginesPerTest } from '../helpers/engine';

describe('names and paths with Windows rules', () => {
  it('refuses tags Windows cannot make a folder of: devices with or without an extension, drive letters, separators', () => {
    for (const tag of ['CON', 'con', 'aux.json', 'Nul.txt', 'COM1', 'lpt9.bak', 'C:x', 'a\\b', 'a/b', 'bees.', '..']) assert.equal(isValidTag(tag), false, tag);
    for (const tag of ['bees', 'Bees', 'console', 'auxiliary', 'com10', 'é-té']) assert.equal(isValidTag(tag), true, tag);
  });

  it('finds two tags that would be one folder on a file system that ignores case or normalisation', () => {
    assert.deepEqual(tagFolderClash(['bees', 'wasps', 'Bees']), ['bees', 'Bees']);
    assert.deepEqual(tagFolderClash(['caf\u00e9', 'cafe\u0301']), ['caf\u00e9', 'cafe\u0301'], 'é composed and decomposed');
    assert.equal(tagFolderClash(['bees', 'wasps', 'bees']), undefined, 'the same tag twice is one tag');
    assert.equal(tagFolderClash(['bees', 'beès']), undefined);
  });

  it('takes C:\\, D:/ and \\\\server\\share paths as full paths, and \\photos or C:photos (which depend on the current drive or folder) as not', () => {
    for (const p of ['C:\\Photos', 'd:/photos/a.jpg', '\\\\nas\\photos\\2026']) assert.equal(isFullPath(p, path.win32), true, p);
    for (const p of ['\\photos', 'C:photos', 'photos\\a.jpg', 'C:\\a\0b']) assert.equal(isFullPath(p, path.win32), false, p);
    assert.equal(isFullPath('/photos', path.posix), true);
    assert.equal(isFullPath('photos', path.posix), false);
  });

  it('finds a file inside a scan root whatever the case Windows was given it in, and nothing beside it', () => {
    const roots = ['C:\\Users\\Ana\\Photos', 'E:\\'];
    assert.equal(isWithin('c:\\users\\ana\\photos\\2026\\IMG_1.JPG', roots, path.win32), true);
    assert.equal(isWithin('C:\\Users\\Ana\\Photos', roots, path.win32), true);
    assert.equal(isWithin('E:\\dcim\\a.jpg', roots, path.win32), true, 'a drive root');
    assert.equal(isWithin('C:\\Users\\Ana\\Photos2\\a.jpg', roots, path.win32), false, 'a folder whose name only starts the same');
    assert.equal(isWithin('D:\\Users\\Ana\\Photos\\a.jpg', roots, path.win32), false, 'another drive');
    assert.equal(isWithin('/home/ana/Photos/a.jpg', ['/home/ana/photos'], path.posix), false, 'Linux keeps case');
  });

  it('names XMP sidecars beside a Windows path under both conventions', () => {
    assert.deepEqual(sidecarPaths('C:\\Photos\\Trip 2026\\IMG 1.JPG', path.win32), {
      'image-name.ext.xmp': 'C:\\Photos\\Trip 2026\\IMG 1.JPG.xmp',
      'image-name.xmp': 'C:\\Photos\\Trip 2026\\IMG 1.xmp',
    });
    assert.deepEqual(sidecarPaths('\\\\nas\\photos\\a.b.cr2', path.win32)['image-name.xmp'], '\\\\nas\\photos\\a.b.xmp');
  });
});

describe('tags that differ only in case', () => {
  const ownEngine = enginesPerTest();

  it('are refused when the second is created, naming the first; the first keeps taking samples', async () => {
    const { engine } = await ownEngine();
    const [a, b, c] = await blobImages(3);
    await engine.addSample('positive', 'bees', a);
    await assert.rejects(engine.addSample('positive', 'Bees', b), (e: unknown) => {
      assert.ok(e instanceof TagsmithError && e.code === 'invalid_tag', String(e));
      assert.match(e.message, /There is a tag "bees" already; "Bees" differs from it only in case/);
      return true;
    });
    assert.equal((await engine.addSample('negative', 'bees', c)).added, true);
    assert.deepEqual(
      (await engine.listTags()).map((t) => t.tag),
      ['bees'],
    );
  });

  it('are one tag when both are created at once: one add wins, the other is refused', async () => {
    const { engine } = await ownEngine();
    const [a, b] = await blobImages(2, 10);
    const outcomes = await Promise.allSettled([engine.addSample('positive', 'Wasps', a), engine.addSample('positive', 'wasps', b)]);
    assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected']);
    assert.equal((await engine.listTags()).length, 1);
  });
});
