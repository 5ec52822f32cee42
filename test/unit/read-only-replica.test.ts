// Read-only replicas (`tagsmith serve --read-only`): every write in the endpoint table answered
// `read_only` before its body is read, every read answered as the engine that made the archive
// answers it, nothing written to a `--state` folder (not even beside an engine that owns it),
// and a reload that swaps in a new archive while predictions are in flight, dropping none.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENDPOINTS, endpointPath, type Endpoint } from '../../kernel/api/endpoints';
import { TagsmithApiError } from '../../kernel/client/tagsmith-client';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { multipartBody, rawRequest, startTestServer, type TestServer } from '../helpers/server';

const TAG = 'stripes';

/** Every file and folder under `dir` with its size and mtime: what "nothing was written" compares. */
async function treeState(dir: string): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    const stat = await fs.stat(full);
    state.set(path.relative(dir, full), entry.isDirectory() ? 'dir' : `${stat.size}:${stat.mtimeMs}`);
  }
  return state;
}

async function writeArchive(server: TestServer, file: string): Promise<void> {
  // Written beside, then renamed: a replica reloading meanwhile reads the old file or the new one.
  await fs.writeFile(`${file}.part`, await server.client.getState());
  await fs.rename(`${file}.part`, file);
}

describe('a read-only replica', { timeout: 300_000 }, () => {
  let owner: TestServer;
  let replica: TestServer;
  let work: string;
  let archive: string;
  let taskId: string;
  let sampleId: string;
  let probe: Buffer;

  before(async () => {
    work = await tempDir('tagsmith-replica-');
    owner = await startTestServer();
    for (const bytes of await stripedImages(6)) await owner.client.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(6)) await owner.client.addSample('negative', TAG, bytes);
    taskId = (await owner.client.train(TAG)).task_id;
    sampleId = (await owner.client.samples(TAG)).positives[0].id;
    probe = (await stripedImages(1, 40))[0];
    archive = path.join(work, 'backup.tar');
    await writeArchive(owner, archive);
    replica = await startTestServer({}, path.join(work, 'unused'), { readOnly: true, stateArchive: archive });
  });
  after(async () => {
    await replica?.close();
    await owner?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('refuses every write in the endpoint table with read_only, before reading its body', async () => {
    const writes = (Object.entries(ENDPOINTS) as [string, Endpoint][]).filter(([, e]) => e.writes);
    assert.ok(writes.length >= 11, 'adds, training, clean, set_state, sample edits, scans, sidecars, cache clearing');
    const params = { type: 'positive', tag: TAG, task_id: taskId, sample_id: sampleId, scan_id: 's-abc-0123abcd' };
    for (const [name, endpoint] of writes) {
      for (const method of endpoint.methods) {
        const upload = endpoint.body === 'none' ? undefined : multipartBody('data', 'x.jpg', probe, 'image/jpeg');
        const reply = await rawRequest(replica.port, { method, path: endpointPath(endpoint.path, params), headers: upload?.headers, body: upload?.body });
        assert.equal(reply.status, 403, `${method} ${endpoint.path} (${name})`);
        assert.equal(reply.json.error.code, 'read_only', `${method} ${endpoint.path}`);
        assert.match(reply.json.error.message, /read-only replica/);
      }
    }
    // /openapi.json tells a load balancer which operations are writes, the same ones.
    const doc = (await rawRequest(replica.port, { path: '/openapi.json' })).json;
    const flagged = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.entries(ops as Record<string, any>)
        .filter(([, op]) => op['x-tagsmith-writes'])
        .map(([m]) => `${m.toUpperCase()} ${p}`),
    );
    assert.deepEqual(flagged.sort(), writes.flatMap(([, e]) => e.methods.map((m) => `${m} ${e.path}`)).sort());
    // Nothing of it happened.
    assert.deepEqual(
      (await replica.client.tags()).map((t) => [t.tag, t.positives, t.negatives, t.trained]),
      [[TAG, 6, 6, true]],
    );
    assert.equal((await replica.client.tasks()).length, 1);
  });

  it('answers every read as the engine that made the archive', async () => {
    const same = async <T>(what: string, call: (s: TestServer) => Promise<T>) => assert.deepEqual(await call(replica), await call(owner), what);
    await same('/tags', (s) => s.client.tags());
    await same('/tags/<tag>/samples', (s) => s.client.samples(TAG));
    await same('/tags/<tag>/samples?order=suspicious', (s) => s.client.samples(TAG, { order: 'suspicious' }));
    await same('/status', (s) => s.client.status(taskId));
    await same('/tasks', (s) => s.client.tasks());
    await same('/predict', (s) => s.client.predict(probe));
    await same('/predict/custom', (s) => s.client.predictCustom(probe));
    await same('/predict/custom/<tag>', (s) => s.client.predictCustom(probe, TAG));
    const features = await owner.client.getFeatures(probe);
    await same('/get_features', (s) => s.client.getFeatures(probe));
    await same('/predict_by_features', (s) => s.client.predictByFeatures(features));
    await same('thumbnails', (s) => s.client.thumbnail(sampleId, 128));
    await same('sample images', (s) => s.client.sampleImage(sampleId));
    await same('more like this', (s) => s.client.similar({ sampleId }));
    await same('/openapi.json', async (s) => (await rawRequest(s.port, { path: '/openapi.json' })).json);
    const [mine, theirs] = [await replica.client.health(), await owner.client.health()];
    assert.equal(mine.readOnly, true);
    assert.equal(theirs.readOnly, false);
    assert.equal(mine.snapshot?.source, 'archive');
    assert.match(mine.snapshot?.sha256 ?? '', /^[0-9a-f]{64}$/);
    const counts = (h: typeof mine) => [h.backbone, h.featureLength, h.tags, h.trainedTags, h.samples, h.images];
    assert.deepEqual(counts(mine), counts(theirs));
  });

  it('refuses POST /reload on an engine that owns its state', async () => {
    await assert.rejects(
      owner.client.reload(),
      (e: unknown) => e instanceof TagsmithApiError && e.status === 403 && e.code === 'forbidden' && /owns its state/.test(e.message),
    );
  });

  it('reloads a new archive while predictions are in flight, dropping none; a bad archive changes nothing', async () => {
    const before = (await replica.client.health()).snapshot!;
    for (const bytes of await stripedImages(4, 60)) await owner.client.addSample('positive', 'more', bytes);
    for (const bytes of await blobImages(4, 60)) await owner.client.addSample('negative', 'more', bytes);
    await owner.client.train('more');
    await writeArchive(owner, archive);

    let answered = 0;
    const predictions = Array.from({ length: 12 }, () =>
      replica.client.predict(probe).then((p) => {
        answered++;
        return p;
      }),
    );
    const reloaded = await replica.client.reload();
    const results = await Promise.all(predictions);
    assert.equal(answered, 12, 'every prediction in flight was answered');
    for (const p of results) assert.ok(p.custom[TAG], 'each scored by one state or the other');
    assert.equal(reloaded.changed, true);
    assert.equal(reloaded.tags, 2);
    assert.notEqual(reloaded.snapshot.sha256, before.sha256);
    assert.deepEqual(
      (await replica.client.tags()).map((t) => t.tag),
      ['more', TAG],
    );
    assert.deepEqual(await replica.client.predict(probe), await owner.client.predict(probe), 'the new model, as its engine scores');

    const again = await replica.client.reload();
    assert.equal(again.changed, false, 'the same archive again');

    await fs.writeFile(archive, 'not a tar');
    await assert.rejects(replica.client.reload(), (e: unknown) => e instanceof TagsmithApiError && e.code === 'invalid_archive');
    assert.deepEqual(
      (await replica.client.tags()).map((t) => t.tag),
      ['more', TAG],
      'still serving the last good archive',
    );
    assert.equal((await replica.client.health()).snapshot?.sha256, reloaded.snapshot.sha256);
  });
});

describe('a read-only replica of a state folder', { timeout: 300_000 }, () => {
  it('serves the folder beside the engine that owns it, takes no lock and writes nothing there', async () => {
    const owner = await startTestServer();
    try {
      for (const bytes of await stripedImages(5)) await owner.client.addSample('positive', TAG, bytes);
      for (const bytes of await blobImages(5)) await owner.client.addSample('negative', TAG, bytes);
      await owner.client.train(TAG);
      const stateDir = owner.engine.stateDir;
      const sampleId = (await owner.client.samples(TAG)).positives[0].id;
      const probe = (await blobImages(1, 50))[0];
      const tree = await treeState(stateDir);

      const replica = await startTestServer({}, stateDir, { readOnly: true });
      try {
        assert.deepEqual(await replica.client.predict(probe), await owner.client.predict(probe));
        assert.deepEqual(await replica.client.thumbnail(sampleId, 96), await owner.client.thumbnail(sampleId, 96));
        await replica.client.tags();
        await replica.client.getState();
        assert.equal((await replica.client.health()).snapshot?.source, 'state');
        // A new generation (a restore on the owner) is followed on reload.
        await owner.client.setState(await owner.client.getState());
        const reloaded = await replica.client.reload();
        assert.equal(reloaded.changed, true);
        assert.deepEqual(await replica.client.predict(probe), await owner.client.predict(probe));
      } finally {
        await replica.close({ keepState: true });
      }
      const after = await treeState(stateDir);
      // The owner's restore and its thumbnail changed the folder; the replica added or touched nothing.
      const ownerThumbnail = [...after.keys()].filter(
        (p) => !tree.has(p) && !p.startsWith('g-') && !p.includes('thumbnails') && p !== 'CURRENT' && !p.startsWith('tmp'),
      );
      assert.deepEqual(ownerThumbnail, [], 'no file of the replica in the state folder');
      assert.equal((await owner.client.health()).status, 'ok', 'the owner kept its lock and folder');
    } finally {
      await owner.close();
    }
  });

  it('changes nothing in a folder nobody else writes, not even the task a crash left running', async () => {
    const owner = await startTestServer();
    const stateDir = owner.engine.stateDir;
    try {
      for (const bytes of await stripedImages(4)) await owner.client.addSample('positive', TAG, bytes);
      for (const bytes of await blobImages(4)) await owner.client.addSample('negative', TAG, bytes);
      await owner.client.train(TAG);
    } finally {
      await owner.close({ keepState: true });
    }
    // A task record as a killed engine leaves it.
    const generation = (JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8')) as { generation: string }).generation;
    const tasks = path.join(stateDir, generation, 'tasks');
    const [taskFile] = await fs.readdir(tasks);
    const task = JSON.parse(await fs.readFile(path.join(tasks, taskFile), 'utf8')) as Record<string, unknown>;
    await fs.writeFile(path.join(tasks, taskFile), JSON.stringify({ ...task, state: 'running', metrics: undefined, finishedAt: undefined }));
    const before = await treeState(stateDir);

    const replica = await startTestServer({}, stateDir, { readOnly: true });
    try {
      const [shown] = await replica.client.tasks();
      assert.equal(shown.state, 'failed', 'shown as interrupted');
      // Every replica of the folder says the same: it ended when it started, as far as they know.
      assert.equal(shown.finishedAt, task.startedAt);
      await replica.client.thumbnail((await replica.client.samples(TAG)).positives[0].id);
      await replica.client.predict((await stripedImages(1, 70))[0]);
    } finally {
      await replica.close({ keepState: true });
    }
    assert.deepEqual(await treeState(stateDir), before, 'not a file created, changed or removed');
    await fs.rm(stateDir, { recursive: true, force: true });
  });
});
