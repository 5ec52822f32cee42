// npm run bench:review -- [folder] [--decisions 120]
// How long a review decision takes to be saved: the engine started as the extension starts it
// (EngineProcess: `tagsmith serve`, its own process, over HTTP with a token), a scan of the
// folder's train/ photos, then for each of the first N photos the request the review panel's
// Y/N key sends, made by the host's own code (ReviewRequests.decide: read the file, POST it to
// /add_sample, answered once the sample is on disk). Beside it in the same run, photo by photo so
// all three see the same load: another scanned photo uploaded with a plain /add_sample (no host
// code; not the same bytes, which the engine would already hold), and a photo of val/ that no scan has seen (the engine embeds it: what a decision would cost
// without the scan's feature cache). After the first 20 decisions the tag is trained, and from
// then on each decision is followed by what the panel asks next: the review queue read again,
// which the engine re-ranks by a refit on the tag's samples (20 to N of them) and a re-scoring
// of the scan. Then undo of every decision. Prints p50/p95/p99 in ms.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { EngineProcess } from '../../extension/engine/engine-process';
import { ReviewRequests } from '../../extension/panels/review-requests';
import type { DecisionEffect } from '../../webview/protocol';
import { listImageFiles } from '../../kernel/images/image-files';
import { tempDir } from '../helpers/engine';
import { removeDir } from '../helpers/cli-server';
import { percentile, table } from './stats';

const cliPath = path.resolve(__dirname, '../../dist/kernel/cli.js');

async function timed<T>(times: number[], work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await work();
  times.push(performance.now() - start);
  return result;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { decisions: { type: 'string', default: '120' } } });
  const root = path.resolve(positionals[0] ?? path.resolve(__dirname, '../../../shared/data/hymenoptera'));
  const count = Number(values.decisions);
  const jpegs = (files: string[]) => files.filter((f) => /\.jpe?g$/i.test(f)).sort();
  // Every other photo a decision, the ones between a plain upload: both scanned, neither a sample yet.
  const photos = jpegs(await listImageFiles([path.join(root, 'train')])).slice(0, 2 * count);
  const scanned = photos.filter((_, i) => i % 2 === 0);
  const plain = photos.filter((_, i) => i % 2 === 1);
  const unscanned = jpegs(await listImageFiles([path.join(root, 'val')]));
  const stateDir = await tempDir('tagsmith-bench-review-');
  const engine = await EngineProcess.start({ cliPath, stateDir, port: 0, threads: 2, scanRoots: [path.join(root, 'train')], log: () => undefined });
  try {
    const { client } = engine;
    const scan = await client.scan([path.join(root, 'train')]);
    console.log(
      `bench:review — ${root}: scan of train/ (${scan.result?.images ?? 0} images) done; ${scanned.length} decisions, each beside a plain /add_sample of another scanned photo and of an unscanned val/ photo`,
    );
    const requests = new ReviewRequests(
      async () => client,
      () => undefined,
    );
    const times = { decision: [] as number[], plain: [] as number[], unscanned: [] as number[], undo: [] as number[], queue: [] as number[] };
    const page = { imageSrc: (file: string) => file };
    const TRAIN_AFTER = 20;
    const effects: DecisionEffect[] = [];
    for (const [i, file] of scanned.entries()) {
      const type = i % 2 === 0 ? 'positive' : 'negative';
      effects.push(await timed(times.decision, () => requests.decide({ tag: 'review', type, target: { path: file } })));
      if (i + 1 === TRAIN_AFTER) await client.train('review');
      if (i + 1 > TRAIN_AFTER) await timed(times.queue, () => requests.queue({ tag: 'review', view: 'informative', offset: 0, limit: 48 }, page));
      if (i < plain.length) {
        const bytes = await fs.readFile(plain[i]);
        await timed(times.plain, () => client.addSample(type, 'plain', bytes, path.basename(plain[i])));
      }
      const other = unscanned[i % unscanned.length];
      if (i < unscanned.length) await timed(times.unscanned, async () => client.addSample(type, 'unscanned', await fs.readFile(other), path.basename(other)));
    }
    for (const effect of effects.reverse()) await timed(times.undo, () => requests.undo({ tag: 'review', effect }));
    const left = await client.samples('review');
    const row = (label: string, t: number[]) => [label, String(t.length), ...[50, 95, 99].map((p) => percentile(t, p).toFixed(1)), Math.max(...t).toFixed(1)];
    console.log(
      table(
        ['request', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
        [
          row('review decision (Y/N: ReviewRequests.decide of a scanned photo)', times.decision),
          row('baseline: plain /add_sample of another scanned photo', times.plain),
          row('baseline: plain /add_sample of an unscanned photo (embedded)', times.unscanned),
          row(`queue re-read after a decision (re-ranked: refit on ${TRAIN_AFTER + 1}–${scanned.length} samples, scan re-scored)`, times.queue),
          row('undo of a decision (ReviewRequests.undo)', times.undo),
        ],
      ),
    );
    // Tails on a shared machine follow its load more than the code: say what it was.
    console.log(`load average (1 min) at the end: ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
    console.log(
      `decisions saved: ${effects.filter((e) => e.kind === 'added').length} of ${effects.length}; left after undoing them all: ${left.positives.length + left.negatives.length} (target: a decision saved in < 100 ms)`,
    );
  } finally {
    await engine.stop();
    await removeDir(stateDir);
  }
}

void main();
