// `tagsmith predict` and `tagsmith serve` run as a user runs them, on one state folder: predict
// works beside a running engine (it only reads the state), a second engine is refused with a
// message naming the first, in either order, and a lock left by a killed engine does not
// keep the folder locked.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { removeDir, runCli, startCliServer, type CliServer } from '../helpers/cli-server';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';

describe('tagsmith predict beside a running engine', { timeout: 300_000 }, () => {
  let server: CliServer;
  let folder: string;
  before(async () => {
    server = await startCliServer(['--backbone', 'mobilenet_v2_140']);
    const client = new TagsmithClient({ url: server.url });
    for (const bytes of await stripedImages(6)) await client.addSample('positive', 'stripes', bytes);
    for (const bytes of await blobImages(6)) await client.addSample('negative', 'stripes', bytes);
    await client.train('stripes');
    folder = await tempDir('tagsmith-predict-');
    await fs.mkdir(path.join(folder, 'shoot'));
    for (const [i, bytes] of (await stripedImages(2, 30)).entries()) await fs.writeFile(path.join(folder, 'shoot', `a-striped-${i}.jpg`), bytes);
    for (const [i, bytes] of (await blobImages(2, 30)).entries()) await fs.writeFile(path.join(folder, 'shoot', `b-blob-${i}.jpg`), bytes);
    await fs.writeFile(path.join(folder, 'shoot', 'c-broken.jpg'), 'not an image');
  });
  after(async () => {
    await server?.stop();
    if (server) await removeDir(server.stateDir);
    if (folder) await removeDir(folder);
  });

  it('prints one JSON line per image, in order, each tag with score, threshold and call; names the bad file', async () => {
    const result = await runCli(['predict', '--backbone', 'mobilenet_v2_140', '--state', server.stateDir, 'shoot'], folder);
    assert.equal(result.code, 1, 'a file was unreadable');
    const records = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; tags: Record<string, { score: number; threshold: number; applies: boolean }> });
    assert.deepEqual(
      records.map((r) => r.path),
      ['shoot/a-striped-0.jpg', 'shoot/a-striped-1.jpg', 'shoot/b-blob-0.jpg', 'shoot/b-blob-1.jpg'],
    );
    assert.deepEqual(
      records.map((r) => r.tags.stripes.applies),
      [true, true, false, false],
    );
    assert.ok(records.every((r) => r.tags.stripes.score >= 0 && r.tags.stripes.score <= 1));
    assert.match(result.stderr, /tagsmith: shoot\/c-broken\.jpg: .*not an image/i);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.equal((await new TagsmithClient({ url: server.url }).health()).status, 'ok', 'the engine beside it is undisturbed');
  });

  it('writes CSV of only the images a tag applies to, from the cache the second time', async () => {
    const result = await runCli(
      ['predict', '--backbone', 'mobilenet_v2_140', '--state', server.stateDir, '--format', 'csv', '--applies-only', '--tag', 'stripes', 'shoot'],
      folder,
    );
    const lines = result.stdout.trimEnd().split('\r\n');
    assert.equal(lines[0].split(',').slice(0, 5).join(','), 'path,sha256,stripes.score,stripes.threshold,stripes.applies');
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(',')[0]),
      ['shoot/a-striped-0.jpg', 'shoot/a-striped-1.jpg'],
    );
    assert.match(result.stderr, /4 images \(0 embedded, 4 from the cache\)/);
  });

  it('says which tags exist when asked for one that does not', async () => {
    const result = await runCli(['predict', '--backbone', 'mobilenet_v2_140', '--state', server.stateDir, '--tag', 'cats', 'shoot'], folder);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /There is no trained tag "cats" .* \(trained: stripes\)/);
  });

  it('refuses a second engine on the same folder, naming the first', async () => {
    await assert.rejects(startCliServer(['--backbone', 'mobilenet_v2_140'], server.stateDir), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`in use by another Tagsmith engine \\(pid ${server.process.pid}: .*serve.*answering at ${server.url.replace(/[.:/]/g, '\\$&')}`),
      );
      return true;
    });
    assert.equal((await new TagsmithClient({ url: server.url }).tags())[0].tag, 'stripes', 'the first engine kept its folder');
  });
});

describe('one engine per state folder', { timeout: 120_000 }, () => {
  it('lets a new engine in once a killed one left its lock behind', async () => {
    const first = await startCliServer(['--backbone', 'mobilenet_v2_140']);
    const exited = new Promise((resolve) => first.process.once('exit', resolve));
    first.process.kill('SIGKILL');
    await exited;
    assert.ok(await fs.stat(path.join(first.stateDir, 'engine.lock')), 'the killed engine left its lock');
    const second = await startCliServer(['--backbone', 'mobilenet_v2_140'], first.stateDir);
    try {
      assert.equal((await new TagsmithClient({ url: second.url }).health()).status, 'ok');
      await second.stop();
      await assert.rejects(fs.stat(path.join(first.stateDir, 'engine.lock')), 'a stopped engine removes its lock');
    } finally {
      await second.stop();
      await removeDir(first.stateDir);
    }
  });
});
