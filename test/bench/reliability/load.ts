// Concurrency and load: 16 clients for 60 s mixing add/train/predict/features/predict_by_features/
// get_state on 4 tags against `tagsmith serve`. Zero 5xx, zero lost samples, p50/p99 per
// operation, and the server's RSS sampled every second.
import { TagsmithApiError, TagsmithClient, type FeaturesDocument } from '../../../kernel/client/tagsmith-client';
import { seededRandom } from '../../../kernel/ml/random';
import { blobPicture, stripedPicture } from '../../../kernel/notebook/demo-images';
import { removeDir, startCliServer } from '../../helpers/cli-server';
import { inspectState } from '../../helpers/state-invariants';
import { percentile, rssMb } from '../stats';

export interface LoadResult {
  clients: number;
  seconds: number;
  requests: number;
  byOperation: Record<string, { count: number; p50: number; p99: number; clientErrors: number }>;
  serverErrors: number;
  samplesLost: number;
  invariantViolations: number;
  rssMb: number[];
  problems: string[];
}

type Operation = 'add' | 'train' | 'predict' | 'get_features' | 'predict_by_features' | 'get_state';
// Mostly what a busy user does (add and predict), with training and backups mixed in.
const MIX: [Operation, number][] = [
  ['add', 0.35],
  ['predict', 0.25],
  ['predict_by_features', 0.15],
  ['get_features', 0.1],
  ['train', 0.1],
  ['get_state', 0.05],
];
const TAGS = ['alpha', 'beta', 'gamma', 'delta'];

export async function runLoad(options: { clients: number; seconds: number }): Promise<LoadResult> {
  const random = seededRandom(9);
  // Small, distinct pictures made up front, so the load generator does not compete for CPU while it runs.
  const pool = await Promise.all(
    Array.from({ length: 1500 }, (_, i) => (i % 2 ? stripedPicture(i) : blobPicture(i)).resize(160).jpeg({ quality: 85 }).toBuffer()),
  );
  const server = await startCliServer();
  const client = new TagsmithClient({ url: server.url, timeoutMs: 60_000 });
  const expected = new Map<string, Set<string>>(TAGS.map((t) => [t, new Set()]));
  let next = 0;
  const take = () => pool[next++ % pool.length];
  for (const tag of TAGS) {
    for (let i = 0; i < 4; i++) {
      for (const type of ['positive', 'negative'] as const) expected.get(tag)!.add((await client.addSample(type, tag, take())).sample.id);
    }
  }
  const features: FeaturesDocument = await client.getFeatures(take());

  const latencies = new Map<Operation, number[]>(MIX.map(([op]) => [op, []]));
  const clientErrors = new Map<Operation, number>();
  const problems: string[] = [];
  let serverErrors = 0;
  const rss: number[] = [rssMb(server.process.pid!)];
  const sampler = setInterval(() => {
    try {
      rss.push(rssMb(server.process.pid!));
    } catch {
      // the server is gone; the run will say why
    }
  }, 1000);
  const deadline = Date.now() + options.seconds * 1000;

  const one = async (op: Operation) => {
    const tag = TAGS[Math.floor(random() * TAGS.length)];
    switch (op) {
      case 'add': {
        const type = random() < 0.5 ? 'positive' : 'negative';
        const result = await client.addSample(type, tag, take());
        expected.get(tag)!.add(result.sample.id);
        return;
      }
      case 'train':
        return void (await client.train(tag, { num_clusters: 1 + Math.floor(random() * 2) }).taskId);
      case 'predict':
        return void (await client.predict(pool[Math.floor(random() * pool.length)]));
      case 'get_features':
        return void (await client.getFeatures(pool[Math.floor(random() * pool.length)]));
      case 'predict_by_features':
        return void (await client.predictByFeatures(features));
      case 'get_state':
        return void (await client.getState());
    }
  };
  const worker = async () => {
    while (Date.now() < deadline) {
      let r = random();
      const op = MIX.find(([, weight]) => (r -= weight) < 0)?.[0] ?? 'predict';
      const started = performance.now();
      try {
        await one(op);
        latencies.get(op)!.push(performance.now() - started);
      } catch (error) {
        if (error instanceof TagsmithApiError && error.status >= 400 && error.status < 500) {
          // e.g. the same picture sent as positive and negative of one tag: the user's mistake, answered as such.
          clientErrors.set(op, (clientErrors.get(op) ?? 0) + 1);
        } else {
          serverErrors++;
          problems.push(`${op}: ${(error as Error).message}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, worker));
  clearInterval(sampler);

  // Let queued training finish, then check every answered add is listed and the folder is sound.
  for (;;) {
    const tasks = await client.tasks();
    if (!tasks.some((t) => t.state === 'queued' || t.state === 'running')) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  let samplesLost = 0;
  for (const [tag, ids] of expected) {
    const { positives, negatives } = await client.samples(tag);
    const present = new Set([...positives, ...negatives].map((s) => s.id));
    for (const id of ids) if (!present.has(id)) samplesLost++;
  }
  await server.stop();
  const report = await inspectState(server.stateDir);
  await removeDir(server.stateDir);

  const byOperation = Object.fromEntries(
    MIX.map(([op]) => {
      const values = latencies.get(op)!;
      return [op, { count: values.length, p50: percentile(values, 50), p99: percentile(values, 99), clientErrors: clientErrors.get(op) ?? 0 }];
    }),
  );
  const requests = [...latencies.values()].reduce((n, v) => n + v.length, 0) + [...clientErrors.values()].reduce((a, b) => a + b, 0) + serverErrors;
  return {
    ...options,
    requests,
    byOperation,
    serverErrors,
    samplesLost,
    invariantViolations: report.problems.length,
    rssMb: rss,
    problems: [...problems, ...report.problems],
  };
}
