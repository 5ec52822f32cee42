// Read-only replicas as an operator runs them: two `tagsmith serve --read-only --state-archive`
// processes (the built CLI) from one archive answer every read alike and refuse every write
// with `read_only`; a new archive written over the old one is served after SIGHUP, and a
// broken one leaves the replica serving the last good archive.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENDPOINTS, endpointPath, type Endpoint } from '../../kernel/api/endpoints';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { sha256File } from '../../kernel/state/archive-file';
import { startCliServer, type CliServer } from '../helpers/cli-server';
import { blobImages, openTestEngine, stripedImages, tempDir, waitForTask } from '../helpers/engine';
import { TAG, trainedArchive, until } from '../helpers/scan-cluster';
import { multipartBody, rawRequest } from '../helpers/server';

describe('read-only replicas (tagsmith serve --read-only)', { timeout: 600_000 }, () => {
  let work: string;
  let archive: string;
  let replicas: CliServer[] = [];
  let probes: Buffer[];

  before(async () => {
    work = await tempDir('tagsmith-replicas-');
    ({ archive } = await trainedArchive(work));
    probes = [...(await stripedImages(2, 300)), ...(await blobImages(2, 300))];
    // --state is the helper's; --state-archive is what a replica serves (the folder stays empty).
    replicas = await Promise.all([0, 1].map(() => startCliServer(['--read-only', '--state-archive', archive, '--threads', '1'])));
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    for (const r of replicas) await fs.rm(r.stateDir, { recursive: true, force: true });
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('say what they serve when they start, and answer every read alike', async () => {
    const sha256 = await sha256File(archive);
    for (const r of replicas) assert.match(r.output(), new RegExp(`read-only replica of .*backup\\.tar \\(sha256 ${sha256}\\)`));
    const [a, b] = replicas.map((r) => new TagsmithClient({ url: r.url }));
    for (const probe of probes) {
      const [pa, pb] = [await a.predict(probe), await b.predict(probe)];
      assert.deepEqual(pa, pb);
      assert.ok(pa.custom[TAG], "the archive's tag is scored");
      assert.deepEqual(await a.predictByFeatures(await b.getFeatures(probe)), await b.predictByFeatures(await a.getFeatures(probe)));
    }
    assert.deepEqual(await a.tags(), await b.tags());
    assert.deepEqual(
      (await a.tags()).map((t) => [t.tag, t.trained]),
      [[TAG, true]],
    );
    assert.deepEqual(await a.tasks(), await b.tasks());
    const health = await a.health();
    assert.equal(health.readOnly, true);
    assert.equal(health.snapshot?.sha256, sha256);
    assert.deepEqual(await fs.readdir(replicas[0].stateDir), [], 'nothing written to the --state folder');
  });

  it('refuse each write with read_only, and change nothing', async () => {
    const writes = (Object.entries(ENDPOINTS) as [string, Endpoint][]).filter(([, e]) => e.writes);
    const params = { type: 'positive', tag: TAG, task_id: 't-0', sample_id: 'a'.repeat(64), scan_id: 's-abc-0123abcd' };
    const before = await new TagsmithClient({ url: replicas[0].url }).tags();
    for (const [name, endpoint] of writes) {
      for (const method of endpoint.methods) {
        const upload = endpoint.body === 'none' ? undefined : multipartBody('data', 'x.jpg', probes[0], 'image/jpeg');
        const reply = await rawRequest(replicas[0].port, { method, path: endpointPath(endpoint.path, params), headers: upload?.headers, body: upload?.body });
        assert.equal(reply.status, 403, `${method} ${endpoint.path} (${name})`);
        assert.equal(reply.json.error.code, 'read_only', `${method} ${endpoint.path}`);
        assert.match(reply.json.error.message, /read-only replica .* Send writes to the engine that owns the state/);
      }
    }
    assert.deepEqual(await new TagsmithClient({ url: replicas[0].url }).tags(), before);
  });

  it('serve a new archive after SIGHUP, and keep the last good one when the new file is broken', async () => {
    // A second tag trained by the engine that owns the state, archived over the old file.
    const { engine } = await openTestEngine(path.join(work, 'state'));
    try {
      for (const bytes of await stripedImages(4, 500)) await engine.addSample('positive', 'more', bytes);
      for (const bytes of await blobImages(4, 500)) await engine.addSample('negative', 'more', bytes);
      await waitForTask(engine, (await engine.train('more')).task_id);
      const chunks: Buffer[] = [];
      for await (const chunk of await engine.getState()) chunks.push(chunk as Buffer);
      await fs.writeFile(`${archive}.part`, Buffer.concat(chunks));
      await fs.rename(`${archive}.part`, archive);
    } finally {
      await engine.close();
    }
    const sha256 = await sha256File(archive);
    const client = new TagsmithClient({ url: replicas[0].url });
    replicas[0].process.kill('SIGHUP');
    await until(
      async () => (await client.health()).snapshot?.sha256 === sha256,
      60_000,
      () => replicas[0].output(),
    );
    assert.deepEqual(
      (await client.tags()).map((t) => t.tag),
      ['more', TAG],
    );
    assert.ok((await client.predict(probes[0])).custom.more, 'the new tag is scored');
    assert.match(replicas[0].output(), /reloaded: 2 tags/);
    // The other replica, not told, still serves the old archive: reloads are per replica.
    assert.deepEqual(
      (await new TagsmithClient({ url: replicas[1].url }).tags()).map((t) => t.tag),
      [TAG],
    );

    await fs.writeFile(archive, 'not a tar');
    replicas[0].process.kill('SIGHUP');
    await until(
      () => /reload failed, still serving the previous snapshot/.test(replicas[0].output()),
      60_000,
      () => replicas[0].output(),
    );
    assert.equal((await client.health()).snapshot?.sha256, sha256);
    assert.deepEqual(
      (await client.tags()).map((t) => t.tag),
      ['more', TAG],
    );
  });
});
