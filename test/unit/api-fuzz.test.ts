// Property-based: random sequences of valid and invalid calls through the HTTP client never
// get a 5xx, and after each call the state holds its invariants and /health agrees with the
// listings.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { TagsmithApiError, type SampleType } from '../../kernel/client/tagsmith-client';
import { blobImages, stripedImages } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';
import { inspectState } from '../helpers/state-invariants';

type Call =
  | { op: 'add'; type: SampleType; tag: string; image: number }
  | { op: 'remove'; tag: string; pick: number }
  | { op: 'move'; tag: string; pick: number }
  | { op: 'train'; tag: string; clusters: number }
  | { op: 'clean'; tag: string }
  | { op: 'predict'; image: number }
  | { op: 'byFeatures'; image: number; cut: number }
  | { op: 'backupRestore' };

const TAGS = ['cats', 'dogs', '../x', 'a/b', ''];

describe('API fuzzer', () => {
  let server: TestServer;
  let images: Buffer[];
  before(async () => {
    server = await startTestServer();
    images = [...(await stripedImages(4)), ...(await blobImages(4)), Buffer.from('not an image'), Buffer.alloc(0)];
  });
  after(() => server.close());

  const call: fc.Arbitrary<Call> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant('add' as const),
        type: fc.constantFrom<SampleType>('positive', 'negative'),
        tag: fc.constantFrom(...TAGS),
        image: fc.nat(9),
      }),
    },
    fc.record({ op: fc.constant('remove' as const), tag: fc.constantFrom(...TAGS), pick: fc.nat(20) }),
    fc.record({ op: fc.constant('move' as const), tag: fc.constantFrom(...TAGS), pick: fc.nat(20) }),
    fc.record({ op: fc.constant('train' as const), tag: fc.constantFrom(...TAGS), clusters: fc.integer({ min: -1, max: 5 }) }),
    fc.record({ op: fc.constant('clean' as const), tag: fc.constantFrom(...TAGS) }),
    fc.record({ op: fc.constant('predict' as const), image: fc.nat(9) }),
    fc.record({ op: fc.constant('byFeatures' as const), image: fc.nat(7), cut: fc.nat(2) }),
    fc.record({ op: fc.constant('backupRestore' as const) }),
  );

  async function run(c: Call): Promise<void> {
    const { client } = server;
    const sampleAt = async (tag: string, pick: number) => {
      const { positives, negatives } = await client.samples(tag);
      const all = [...positives, ...negatives];
      return all.length ? all[pick % all.length].id : 'f'.repeat(64);
    };
    switch (c.op) {
      case 'add':
        return void (await client.addSample(c.type, c.tag, images[c.image]));
      case 'remove':
        return client.removeSample(c.tag, await sampleAt(c.tag, c.pick));
      case 'move':
        return void (await client.moveSample(c.tag, await sampleAt(c.tag, c.pick), c.pick % 2 ? 'positive' : 'negative'));
      case 'train':
        return void (await client.train(c.tag, { num_clusters: c.clusters }));
      case 'clean':
        return void (await client.clean(c.tag));
      case 'predict':
        return void (await client.predict(images[c.image]));
      case 'byFeatures': {
        const doc = await client.getFeatures(images[c.image]);
        return void (await client.predictByFeatures(c.cut === 0 ? doc : { ...doc, features: doc.features.slice(c.cut) }));
      }
      case 'backupRestore':
        return void (await client.setState(await client.getState()));
    }
  }

  it('keeps every invariant through random call sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 8 }), async (calls) => {
        for (const c of calls) {
          try {
            await run(c);
          } catch (error) {
            // Errors a user can cause are fine; a bug (5xx, or anything untyped) is not.
            if (!(error instanceof TagsmithApiError) || error.status >= 500) throw new Error(`${JSON.stringify(c)} → ${String(error)}`);
          }
          await server.engine.whenIdle();
          const report = await inspectState(server.engine.stateDir);
          assert.deepEqual(report.problems, [], JSON.stringify(c));
          const health = await server.client.health();
          const tags = await server.client.tags();
          assert.equal(health.tags, tags.length);
          assert.equal(
            health.samples,
            tags.reduce((n, t) => n + t.positives + t.negatives, 0),
          );
          assert.deepEqual(tags.map((t) => t.tag).sort(), Object.keys(report.tags).sort());
        }
      }),
      { numRuns: 25, seed: 20261126 },
    );
  });
});
