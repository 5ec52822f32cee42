// Property-based: mutations of a real /get_state archive's JSON records (fields dropped,
// wrong types, out-of-range and non-finite numbers, path-like and huge strings in every
// field, records renamed) never get a 5xx from /set_state, never write outside the state
// folder, leave the state exactly as it was when refused, and, when accepted, leave a state
// every endpoint serves and the server starts on. (Training on an accepted state is left to
// the other suites: a worker per case would double the run time.)
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { TagsmithApiError, type FeaturesDocument } from '../../kernel/client/tagsmith-client';
import { readGeneration } from '../../kernel/state/read-generation';
import { GenerationLayout } from '../../kernel/state/state-layout';
import { fingerprint, packArchive, postArchive, unpackArchive, type ArchiveFiles } from '../helpers/archive-edit';
import { blobImages, openTestEngine, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';

/** A well-formed task id that is not the archive's. */
const ANOTHER_TASK_ID = '0f0e0d0c-0b0a-4908-8706-050403020100';
/** Stands for a number JSON.stringify cannot write (1e999 parses to Infinity). */
const INFINITE = '__infinite__';

type Key = string | number;
type Mutation =
  | { kind: 'drop' | 'set'; file: number; at: number; value: unknown }
  | { kind: 'replace'; file: number; value: unknown }
  | { kind: 'rename'; file: number; name: string }
  | { kind: 'escape'; task: string };

describe('archive records fuzzer', () => {
  let parent: string;
  let stateDir: string;
  let sentinel: string;
  let server: TestServer;
  let base: ArchiveFiles;
  let baseArchive: Buffer;
  let records: string[];
  let probe: Buffer;
  let doc: FeaturesDocument;
  let accepted = 0;

  before(async () => {
    parent = await tempDir('tagsmith-fuzz-');
    stateDir = path.join(parent, 'state');
    sentinel = path.join(parent, 'sentinel');
    await fs.mkdir(sentinel);
    server = await startTestServer({}, stateDir);
    for (const image of await stripedImages(3)) await server.client.addSample('positive', 'stripes', image);
    for (const image of await blobImages(3)) await server.client.addSample('negative', 'stripes', image);
    await server.client.train('stripes');
    [probe] = await stripedImages(1, 90);
    doc = await server.client.getFeatures(probe);
    baseArchive = Buffer.from(await server.client.getState());
    base = await unpackArchive(baseArchive);
    records = [...base.keys()].filter((f) => f.endsWith('.json')).sort();
  });
  after(async () => {
    await server?.close();
    await fs.rm(parent, { recursive: true, force: true });
  });

  const climbs = () => [
    `${'../'.repeat(12)}${sentinel.slice(1)}/PWNED`,
    path.relative(path.join(stateDir, 'g-x', 'tasks'), path.join(sentinel, 'PWNED')),
    path.join(sentinel, 'PWNED'),
  ];
  const strings = () => [
    '../x',
    'a/b',
    'CON',
    'nul.json',
    '..',
    '.',
    '',
    'C:\\x',
    'a\u0000b',
    'x'.repeat(100_000),
    'é'.repeat(65),
    'stripes',
    'other',
    'queued',
    'running',
    'positive',
    ANOTHER_TASK_ID,
    'f'.repeat(64),
    '2026-01-01T00:00:00.000Z',
    ...climbs(),
  ];
  const values = () => [...strings(), -1, 0, 0.5, 1, 1.5, 33, 1e308, -1e308, 2 ** 53 + 1, -0, INFINITE, null, true, false, [], {}, [1, 2], { a: 1 }, [[]]];
  /** Names a record's file could be renamed to (safe to create while packing; hostile paths are the hostile-archive tests'). */
  const names = [
    'CON',
    'CON.json',
    'a b',
    '.hidden',
    'é',
    'x'.repeat(200),
    '-',
    'a.',
    ANOTHER_TASK_ID,
    `${ANOTHER_TASK_ID}.json`,
    'samples.json',
    'model.json',
  ];

  /** Built once the sentinel's path is known. */
  const mutations = (): fc.Arbitrary<Mutation> =>
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({ kind: fc.constantFrom<'drop' | 'set'>('drop', 'set'), file: fc.nat(), at: fc.nat(), value: fc.constantFrom(...values()) }),
      },
      fc.record({ kind: fc.constant('replace' as const), file: fc.nat(), value: fc.constantFrom(...values()) }),
      fc.record({ kind: fc.constant('rename' as const), file: fc.nat(), name: fc.constantFrom(...names) }),
      fc.record({ kind: fc.constant('escape' as const), task: fc.constantFrom(...climbs(), 'nodir/x', '..', 'CON') }),
    );

  /** Every place in a JSON value (arrays: their first two items), as key paths. */
  function places(value: unknown, prefix: Key[] = []): Key[][] {
    if (Array.isArray(value)) return value.slice(0, 2).flatMap((v, i) => [[...prefix, i], ...places(v, [...prefix, i])]);
    if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...places(v, [...prefix, k])]);
    return [];
  }

  function apply(files: ArchiveFiles, m: Mutation): void {
    if (m.kind === 'escape') {
      const file = records.find((f) => f.startsWith('tasks/'))!;
      const task = JSON.parse(files.get(file)?.toString() ?? '{}');
      files.set(file, Buffer.from(JSON.stringify({ ...task, task_id: m.task, state: 'queued' })));
      return;
    }
    const file = records[m.file % records.length];
    const data = files.get(file);
    if (!data) return; // renamed by an earlier mutation
    if (m.kind === 'rename') {
      files.delete(file);
      const folder = file.split('/').slice(0, -1);
      // A tag's or a backbone's folder, or the file itself.
      if (folder.length === 2 && m.file % 2 === 0) {
        for (const [name, bytes] of [...files]) {
          if (name.startsWith(`${folder.join('/')}/`)) {
            files.delete(name);
            files.set(`${folder[0]}/${m.name}/${name.split('/').at(-1)}`, bytes);
          }
        }
        files.set(`${folder[0]}/${m.name}/${file.split('/').at(-1)}`, data);
      } else {
        files.set([...folder, m.name].join('/'), data);
      }
      return;
    }
    let record: unknown;
    try {
      record = JSON.parse(data.toString());
    } catch {
      return; // already replaced by something that is not JSON
    }
    if (m.kind === 'replace') record = m.value;
    else {
      const all = places(record);
      if (all.length === 0) return;
      const at = all[m.at % all.length];
      const holder = at.slice(0, -1).reduce<any>((v, k) => v[k], record);
      const key = at[at.length - 1];
      if (m.kind === 'set') holder[key] = m.value;
      else if (Array.isArray(holder)) holder.splice(Number(key), 1);
      else delete holder[key];
    }
    files.set(file, Buffer.from(JSON.stringify(record).replaceAll(JSON.stringify(INFINITE), '1e999')));
  }

  /** Answers of the endpoints a bad record used to break; none may be a 5xx. */
  async function endpointsAnswer(): Promise<string[]> {
    const { client } = server;
    const problems: string[] = [];
    const call = async (name: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        if (!(error instanceof TagsmithApiError) || error.status >= 500) problems.push(`${name}: ${String(error)}`);
      }
    };
    await call('tags', () => client.tags());
    await call('tasks', () => client.tasks());
    await call('predict', () => client.predict(probe));
    await call('predict_by_features', () => client.predictByFeatures(doc));
    await call('health', () => client.health());
    for (const tag of await client.tags().catch(() => [])) {
      await call(`samples of ${tag.tag}`, async () => {
        const { positives, negatives } = await client.samples(tag.tag);
        for (const s of [...positives, ...negatives]) {
          await client.sampleImage(s.id);
          await client.thumbnail(s.id, 32);
        }
      });
    }
    await call('get_state → set_state', async () => client.setState(await client.getState()));
    return problems;
  }

  it('never answers 5xx, never writes outside, changes nothing when refusing, and leaves a state that starts', async () => {
    let before: string | undefined;
    await fc.assert(
      fc.asyncProperty(fc.array(mutations(), { minLength: 1, maxLength: 3 }), async (mutations) => {
        const files = new Map(base);
        for (const m of mutations) apply(files, m);
        // The state before this case (it changes only when a case is accepted).
        before ??= await fingerprint(server.client);
        const pointer = await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8');

        const reply = await postArchive(server.client, await packArchive(files));
        assert.ok(reply.status < 500, `5xx: ${JSON.stringify(reply)}`);
        assert.deepEqual(await fs.readdir(sentinel), [], 'nothing written outside the state folder');
        assert.deepEqual((await fs.readdir(parent)).sort(), ['sentinel', 'state'], 'nothing new beside the state folder');
        if (reply.status !== 200) {
          assert.deepEqual([reply.status, reply.code], [400, 'invalid_archive'], JSON.stringify(reply));
          assert.ok(!reply.message?.includes(stateDir), `a path of the state folder in: ${reply.message}`);
          assert.equal(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8'), pointer, 'not swapped');
          assert.equal(await fingerprint(server.client), before, 'the state is as it was');
          return;
        }
        accepted++;
        before = undefined;
        assert.deepEqual(await endpointsAnswer(), []);
        // What start-up reads and checks, without loading the network again for every case.
        const { generation } = JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8'));
        await readGeneration(new GenerationLayout(path.join(stateDir, generation)), {
          backbone: server.engine.backbone,
          featureLength: server.engine.featureLength,
        });
        assert.deepEqual(await postArchive(server.client, baseArchive), { status: 200 }, 'the original backup restores again');
      }),
      { numRuns: 40, seed: 20261127 },
    );
    assert.ok(accepted < 40, 'most mutations are refused');

    // And a real start on the folder after all of it.
    await server.close({ keepState: true });
    const { engine } = await openTestEngine(stateDir);
    try {
      assert.deepEqual(
        (await engine.listTags()).map((t) => [t.tag, t.positives, t.negatives]),
        [['stripes', 3, 3]],
      );
    } finally {
      await engine.close();
    }
    server = await startTestServer({}, stateDir);
  });
});
