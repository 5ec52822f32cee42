// Hostile archives for /set_state: each is refused, nothing outside the state folder is
// touched, and the previous state keeps serving.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { after, afterEach, before, describe, it } from 'node:test';
import { TagsmithError } from '../../kernel/errors';
import type { TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { restoreStateArchive } from '../../kernel/state/state-archive';
import { blobImages, openTestEngine, stripedImages, tempDir, waitForTask } from '../helpers/engine';
import { fingerprint, findFile, json, packArchive, postArchive, unpackArchive, withRecord, type ArchiveFiles } from '../helpers/archive-edit';
import { startTestServer, type TestServer } from '../helpers/server';
import { tarEntry, tarOf } from '../helpers/tar-entries';

const MANIFEST = tarEntry({ path: 'manifest.json', body: JSON.stringify({ name: 'tagsmith-state', formatVersion: 1, createdAt: '2026-01-01T00:00:00.000Z' }) });
/** A well-formed image name (a sample id) for entry `i`. */
const imageName = (i: number | string) => `images/${String(i).padStart(64, '0')}`;

async function* manyEmptyEntries(count: number) {
  yield MANIFEST;
  for (let i = 0; i < count; i++) yield tarEntry({ path: imageName(i.toString(16)) });
  yield Buffer.alloc(1024);
}

describe('restoring hostile archives', () => {
  let engine: TagsmithEngine;
  let stateDir: string;
  let good: Buffer;
  let probe: Buffer;
  let expected: unknown;
  let outside: string;
  before(async () => {
    ({ engine, stateDir } = await openTestEngine());
    for (const image of await stripedImages(4)) await engine.addSample('positive', 'stripes', image);
    for (const image of await blobImages(4)) await engine.addSample('negative', 'stripes', image);
    await waitForTask(engine, (await engine.train('stripes')).task_id);
    [probe] = await stripedImages(1, 80);
    expected = (await engine.predict(probe)).custom;
    const chunks: Buffer[] = [];
    for await (const c of await engine.getState()) chunks.push(c as Buffer);
    good = Buffer.concat(chunks);
    outside = await tempDir('tagsmith-outside-');
  });
  after(async () => {
    await engine.close();
    for (const dir of [stateDir, outside]) await fs.rm(dir, { recursive: true, force: true });
  });

  const refused = async (name: string, archive: Buffer | Readable, pattern?: RegExp) => {
    const stream = Buffer.isBuffer(archive) ? Readable.from([archive]) : archive;
    await assert.rejects(engine.setState(stream), (e: unknown) => {
      assert.ok(e instanceof TagsmithError && e.code === 'invalid_archive', `${name}: ${String(e)}`);
      if (pattern) assert.match(e.message, pattern, name);
      return true;
    });
    assert.deepEqual((await engine.predict(probe)).custom, expected, `${name}: the previous state still serves`);
    assert.deepEqual(await fs.readdir(outside), [], `${name}: nothing written outside`);
    const leftovers = (await fs.readdir(path.join(stateDir, 'tmp'))).filter((f) => f.startsWith('g-'));
    assert.deepEqual(leftovers, [], `${name}: no half-built state or spool left`);
  };

  it('refuses paths that climb out or are absolute', async () => {
    const escape = path.relative(path.join(stateDir, 'tmp', 'g-x'), path.join(outside, 'pwned'));
    await refused('../ entry', tarOf(MANIFEST, tarEntry({ path: `tags/${escape}`, body: 'x' })), /climbs out/);
    await refused('plain ../', tarOf(MANIFEST, tarEntry({ path: '../../../pwned', body: 'x' })), /climbs out/);
    await refused('absolute path', tarOf(MANIFEST, tarEntry({ path: path.join(outside, 'pwned'), body: 'x' })), /absolute/);
    // Windows' separators and drives: tar on Windows would write these outside the state.
    await refused('backslashes climbing out', tarOf(MANIFEST, tarEntry({ path: 'images\\..\\..\\pwned', body: 'x' })), /absolute or Windows path/);
    await refused('a drive-relative path', tarOf(MANIFEST, tarEntry({ path: 'C:pwned', body: 'x' })), /absolute or Windows path/);
    await refused('a drive path', tarOf(MANIFEST, tarEntry({ path: 'C:\\Windows\\pwned', body: 'x' })), /absolute or Windows path/);
    await refused('foreign top-level name', tarOf(MANIFEST, tarEntry({ path: 'etc/passwd', body: 'x' })), /not part of a Tagsmith state/);
    await refused('a file where a folder belongs', tarOf(MANIFEST, tarEntry({ path: 'tasks', body: 'x' })), /tasks is not a file a Tagsmith state has/);
    await refused(
      'an image not named by its hash',
      tarOf(MANIFEST, tarEntry({ path: 'images/cat.jpg', body: 'x' })),
      /images\/cat\.jpg: "cat\.jpg" is not a sample id/,
    );
    await refused(
      'a folder deeper than the layout',
      tarOf(MANIFEST, tarEntry({ path: 'tags/a/b/', type: 'directory' })),
      /tags\/a\/b is a folder where a Tagsmith state has a file/,
    );
  });

  it('refuses links, devices and FIFOs, and a file written through a link', async () => {
    await refused('symlink', tarOf(MANIFEST, tarEntry({ path: 'images/link', type: 'symlink', linkpath: outside })), /SymbolicLink/);
    await refused('hardlink', tarOf(MANIFEST, tarEntry({ path: 'images/hard', type: 'hardlink', linkpath: '/etc/passwd' })), /Link/);
    await refused(
      'link then file through it',
      tarOf(MANIFEST, tarEntry({ path: 'tags', type: 'symlink', linkpath: outside }), tarEntry({ path: 'tags/pwned', body: 'x' })),
      /SymbolicLink/,
    );
    await refused('character device', tarOf(MANIFEST, tarEntry({ path: 'images/dev', type: 'chardev' })), /CharacterDevice/);
    await refused('FIFO', tarOf(MANIFEST, tarEntry({ path: 'images/fifo', type: 'fifo' })), /FIFO/);
  });

  it('refuses a 10 GB entry, a million entries and a gzip bomb without reading them through', async () => {
    await refused('10 GB entry', tarOf(MANIFEST, tarEntry({ path: imageName('f'), declaredSize: 10 * 1024 ** 3 })), /declares/);
    await refused('1,000,000 entries', Readable.from(manyEmptyEntries(1_000_000)), /more than 100000 entries/);

    // A bomb scaled down: 40 MB of zeros in 40 KB of gzip, against a 10 MB total limit.
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const bomb = zlib.gzipSync(tarOf(MANIFEST, ...[0, 1, 2, 3, 4].map((i) => tarEntry({ path: imageName(i), body: zeros }))));
    assert.ok(bomb.length < 200_000);
    const target = await tempDir();
    const limits = { maxEntries: 100, maxFileBytes: 16 * 1024 * 1024, maxTotalBytes: 10 * 1024 * 1024 };
    await assert.rejects(restoreStateArchive(Readable.from([bomb]), target, `${target}.spool`, limits), /add up to more than/);
    assert.deepEqual(await fs.readdir(target), [], 'nothing unpacked');
    await fs.rm(target, { recursive: true, force: true });
  });

  it('refuses an unknown format version, a model that does not parse, and junk', async () => {
    const v99 = tarEntry({ path: 'manifest.json', body: JSON.stringify({ name: 'tagsmith-state', formatVersion: 99 }) });
    await refused('format 99', tarOf(v99), /format version 99/);
    const samples = tarEntry({
      path: 'tags/broken/samples.json',
      body: JSON.stringify({ name: 'tagsmith-samples', formatVersion: 1, tag: 'broken', samples: [] }),
    });
    await refused(
      'bad model',
      tarOf(MANIFEST, samples, tarEntry({ path: 'tags/broken/model.json', body: '{"name": "tagsmith-tag-model", "formatV' })),
      /model\.json: does not parse/,
    );
    await refused(
      'a sample without its image',
      tarOf(
        MANIFEST,
        tarEntry({
          path: 'tags/x/samples.json',
          body: JSON.stringify({
            name: 'tagsmith-samples',
            formatVersion: 1,
            tag: 'x',
            samples: [{ id: 'a'.repeat(64), type: 'positive', addedAt: '2026-01-01T00:00:00.000Z' }],
          }),
        }),
      ),
      /has no image/,
    );
    await refused('not a tar at all', Buffer.from('hello, this is not an archive'.repeat(40)));
    await refused('an empty upload', Buffer.alloc(0), /empty/);
  });

  it('still accepts the real backup, also gzipped', async () => {
    assert.deepEqual(await engine.setState(Readable.from([zlib.gzipSync(good)])), { tags: 1, samples: 8 });
    assert.deepEqual((await engine.predict(probe)).custom, expected);
    assert.ok(os.tmpdir().length > 0);
  });
});

// A real backup, edited: every name in it that becomes a path meets the rule it has from a
// URL, every record its schema and the checks its place implies. A refused archive answers 400
// with the file and field at fault, writes nothing anywhere, leaves the state as it was, and
// the server still starts on its folder.
describe('restoring an edited backup', () => {
  let parent: string;
  let stateDir: string;
  let sentinel: string;
  let server: TestServer;
  let archive: Buffer;
  let files: ArchiveFiles;
  let baseline: string;
  let pointer: string;
  let taskFile: string;
  let embeddingFile: string;
  let probe: Buffer;
  before(async () => {
    parent = await tempDir('tagsmith-edited-');
    stateDir = path.join(parent, 'state');
    sentinel = path.join(parent, 'sentinel');
    await fs.mkdir(sentinel);
    server = await startTestServer({}, stateDir);
    for (const image of await stripedImages(4)) await server.client.addSample('positive', 'stripes', image);
    for (const image of await blobImages(4)) await server.client.addSample('negative', 'stripes', image);
    await server.client.train('stripes');
    [probe] = await stripedImages(1, 80);
    archive = Buffer.from(await server.client.getState());
    files = await unpackArchive(archive);
    baseline = await fingerprint(server.client);
    pointer = await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8');
    taskFile = findFile(files, /^tasks\/.+\.json$/);
    embeddingFile = findFile(files, /^features\/.+\.json$/);
  });
  after(async () => {
    await server.close();
    await fs.rm(parent, { recursive: true, force: true });
  });

  /** A state of a test's own, the backup restored into it; `server` is what runs on it now (closed after the test). */
  interface OwnState {
    server: TestServer | undefined;
    stateDir: string;
    pointer: string;
  }
  const owned: OwnState[] = [];
  async function ownState(): Promise<{ state: OwnState; server: TestServer }> {
    const stateDir = path.join(await tempDir('tagsmith-edited-own-'), 'state');
    const server = await startTestServer({}, stateDir);
    const state: OwnState = { server, stateDir, pointer: '' };
    owned.push(state);
    assert.deepEqual(await server.client.setState(archive), { tags: 1, samples: 8 });
    state.pointer = await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8');
    return { state, server };
  }
  afterEach(async () => {
    for (const state of owned.splice(0)) {
      await state.server?.close();
      await fs.rm(path.dirname(state.stateDir), { recursive: true, force: true });
    }
  });

  const refused = async (name: string, edited: ArchiveFiles | Buffer, pattern: RegExp) => {
    const reply = await postArchive(server.client, Buffer.isBuffer(edited) ? edited : await packArchive(edited));
    assert.deepEqual([reply.status, reply.code], [400, 'invalid_archive'], `${name}: ${JSON.stringify(reply)}`);
    assert.match(reply.message ?? '', pattern, name);
    // (It may quote the archive's own bad value, which can look like a path.)
    assert.ok(!reply.message?.includes(stateDir), `${name}: the message shows no path of the state folder: ${reply.message}`);
    assert.deepEqual(await fs.readdir(sentinel), [], `${name}: nothing written outside the state folder`);
    assert.deepEqual((await fs.readdir(parent)).sort(), ['sentinel', 'state'], `${name}: nothing new beside the state folder`);
    assert.equal(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8'), pointer, `${name}: the state was not swapped`);
    assert.equal(await fingerprint(server.client), baseline, `${name}: the state is as it was`);
  };
  const task = () => json(files, taskFile);
  const model = () => json(files, 'tags/stripes/model.json');
  const model10 = () => ({ ...model(), featureLength: 10, clusters: [{ ...model().clusters[0], weights: new Array(10).fill(0.1) }] });

  it('refuses names from records that would become paths outside the state, before writing anything', async () => {
    const escapes = [
      path.relative(path.join(stateDir, 'g-x', 'tasks'), path.join(sentinel, 'PWNED')),
      `${'../'.repeat(16)}${sentinel.slice(1)}/PWNED`,
      'nodir/x',
      '..',
      'CON',
      '',
      'x'.repeat(5000),
      path.join(sentinel, 'PWNED'),
    ];
    for (const taskId of escapes) {
      await refused(
        `task_id ${taskId.slice(0, 40)}`,
        withRecord(files, taskFile, { ...task(), task_id: taskId, state: 'queued' }),
        /^tasks\/[0-9a-f-]+\.json: task_id: .* is not a task id/,
      );
    }
    await refused('task_id not its file name', withRecord(files, taskFile, { ...task(), task_id: crypto.randomUUID() }), /does not match its file name/);
    await refused('task file named CON', withRecord(files, taskFile, task(), 'tasks/CON.json'), /tasks\/CON\.json: "CON\.json" is not a task record file/);
    await refused(
      'tag folder named CON',
      withRecord(
        withRecord(files, 'tags/stripes/samples.json', { ...json(files, 'tags/stripes/samples.json'), tag: 'CON' }, 'tags/CON/samples.json'),
        'tags/stripes/model.json',
        { ...model(), tag: 'CON' },
        'tags/CON/model.json',
      ),
      /tags\/CON: "CON" is not a tag name/,
    );
    const stripesList = json(files, 'tags/stripes/samples.json');
    const caseTwins = withRecord(
      withRecord(files, 'tags/stripes/samples.json', { ...stripesList, tag: 'Stripes' }, 'tags/Stripes/samples.json'),
      'tags/stripes/samples.json',
      stripesList,
    );
    await refused(
      'tags Stripes and stripes',
      caseTwins,
      /^tags\/stripes: tags "Stripes" and "stripes" differ only in case: on Windows and macOS they would be one folder$/,
    );
    await refused(
      'backbone folder with a space',
      withRecord(files, embeddingFile, json(files, embeddingFile), embeddingFile.replace(/^features\/[^/]+\//, 'features/a b/')),
      /"a b" is not a backbone id/,
    );
    await refused('a stray file', withRecord(files, 'tags/stripes/notes.txt', 'hello'), /tags\/stripes\/notes\.txt is not a file a Tagsmith state has/);
    await refused(
      'an image named by another hash',
      withRecord(files, 'images/' + 'e'.repeat(64), Buffer.from('not that image').toString()),
      /images\/e{64}: the image's sha256 is [0-9a-f]{64}, not its name/,
    );
  });

  it('refuses records an endpoint would trip over, naming the file and the field', async () => {
    const { extras: _extras, ...noExtras } = model();
    const { options: _options, ...noOptions } = model();
    const { createdAt: _createdAt, ...noCreatedAt } = task();
    await refused('model without extras', withRecord(files, 'tags/stripes/model.json', noExtras), /^tags\/stripes\/model\.json: extras is missing$/);
    await refused('model without options', withRecord(files, 'tags/stripes/model.json', noOptions), /^tags\/stripes\/model\.json: options is missing$/);
    await refused(
      'featureLength 10 with 10 weights',
      withRecord(files, 'tags/stripes/model.json', model10()),
      /model\.json: featureLength is 10; backbone \S+ gives 1792/,
    );
    await refused(
      'model of another tag',
      withRecord(files, 'tags/stripes/model.json', { ...model(), tag: '../../evil' }),
      /model\.json: tag: "\.\.\/\.\.\/evil" is not a tag name/,
    );
    await refused('task without createdAt', withRecord(files, taskFile, noCreatedAt), /^tasks\/[0-9a-f-]+\.json: createdAt is missing$/);
    await refused('threshold above 1', withRecord(files, 'tags/stripes/model.json', { ...model(), threshold: 1.5 }), /threshold must be <= 1/);
    await refused('no clusters', withRecord(files, 'tags/stripes/model.json', { ...model(), clusters: [] }), /clusters must not have fewer than 1 items/);
    await refused(
      'an infinite weight',
      withRecord(files, 'tags/stripes/model.json', JSON.stringify(model()).replace(/"weights":\[[^,]+/, '"weights":[1e999')),
      /clusters\[0\]\.weights\[0\] must be a finite number/,
    );
    await refused(
      'weights one short',
      withRecord(files, 'tags/stripes/model.json', { ...model(), clusters: [{ ...model().clusters[0], weights: model().clusters[0].weights.slice(1) }] }),
      /clusters\[0\]\.weights has 1791 numbers/,
    );
    await refused(
      'extras the options do not ask for',
      withRecord(files, 'tags/stripes/model.json', { ...model(), extras: [{ name: 'stock', mean: 0.5, std: 0.1 }] }),
      /extras are \[stock\] but options ask for \[\]/,
    );
    await refused('an unknown field', withRecord(files, 'tags/stripes/model.json', { ...model(), surprise: 1 }), /surprise is not a field of this record/);
    await refused(
      'a samples list of another tag',
      withRecord(files, 'tags/stripes/samples.json', { ...json(files, 'tags/stripes/samples.json'), tag: 'other' }),
      /samples\.json: tag "other" is not its folder's name/,
    );
    await refused(
      'a sample listed twice',
      withRecord(
        files,
        'tags/stripes/samples.json',
        (() => {
          const l = json(files, 'tags/stripes/samples.json');
          return { ...l, samples: [...l.samples, l.samples[0]] };
        })(),
      ),
      /samples\[8\]\.id: sample [0-9a-f]{64} is listed twice/,
    );
    await refused(
      'a task state of its own',
      withRecord(files, taskFile, { ...task(), state: 'paused' }),
      /state must be one of "queued", "running", "done", "failed", not "paused"/,
    );
    await refused(
      'an embedding of 10 floats',
      withRecord(files, embeddingFile, { ...json(files, embeddingFile), features: Buffer.alloc(40).toString('base64') }),
      /features hold 10 values; backbone \S+ gives 1792/,
    );
    await refused(
      'a manifest with a number for a date',
      withRecord(files, 'manifest.json', { ...json(files, 'manifest.json'), createdAt: 5 }),
      /^manifest\.json: createdAt must be a string, not 5$/,
    );
    await refused('a record that is not JSON', withRecord(files, taskFile, '{"name": "tagsmith-task",'), /^tasks\/[0-9a-f-]+\.json: does not parse as JSON$/);

    // Every endpoint these edits would have broken still answers.
    const doc = await server.client.getFeatures(probe);
    assert.equal((await server.client.predict(probe)).custom.stripes.label, true);
    assert.ok((await server.client.predictByFeatures(doc)).custom.stripes);
    assert.ok((await server.client.tasks()).length > 0);
  });

  it('settles a task left queued inside the new state before it is swapped in, and starts again on it', async () => {
    const { state, server } = await ownState();
    const { client } = server;
    const queued = withRecord(files, taskFile, { ...task(), state: 'queued', stage: undefined, finishedAt: undefined, metrics: undefined });
    assert.deepEqual(await postArchive(client, await packArchive(queued)), { status: 200 });
    const [restored] = await client.tasks();
    assert.deepEqual([restored.state, restored.error?.code], ['failed', 'interrupted']);
    assert.equal(json(await unpackArchive(await client.getState()), taskFile).state, 'failed', 'saved as failed in the state that was swapped in');

    await server.close({ keepState: true });
    state.server = undefined;
    const { engine } = await openTestEngine(state.stateDir);
    try {
      assert.deepEqual(
        (await engine.listTags()).map((t) => [t.tag, t.trained]),
        [['stripes', true]],
      );
      assert.deepEqual(
        engine.listTasks().map((t) => [t.state, t.error?.code]),
        [['failed', 'interrupted']],
      );
    } finally {
      await engine.close();
    }
  });

  it('starts on a folder whose records were damaged by hand only to say which file is wrong', async () => {
    const { state, server } = await ownState();
    const baseline = await fingerprint(server.client);
    await server.close({ keepState: true });
    state.server = undefined;
    const generation = path.join(state.stateDir, JSON.parse(state.pointer).generation);
    const modelFile = path.join(generation, 'tags', 'stripes', 'model.json');
    const good = await fs.readFile(modelFile);
    await fs.writeFile(modelFile, JSON.stringify(model10()));
    await assert.rejects(openTestEngine(state.stateDir), /tags\/stripes\/model\.json: featureLength is 10/);
    await fs.writeFile(path.join(state.stateDir, 'CURRENT'), JSON.stringify({ generation: '../../outside' }));
    await assert.rejects(openTestEngine(state.stateDir), /CURRENT: generation: "\.\.\/\.\.\/outside" is not a generation folder name/);
    assert.deepEqual(await fs.readdir(path.dirname(state.stateDir)), ['state'], 'a damaged pointer is not replaced by a fresh state');

    await fs.writeFile(modelFile, good);
    await fs.writeFile(path.join(state.stateDir, 'CURRENT'), state.pointer);
    const repaired = await startTestServer({}, state.stateDir);
    state.server = repaired;
    assert.equal(await fingerprint(repaired.client), baseline, 'repaired, it serves the same state');
  });
});
