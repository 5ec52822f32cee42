// Crash consistency: `tagsmith serve` is killed with SIGKILL at random moments while one
// client adds samples, trains, cleans and restores; after every restart the state must hold
// its invariants, every add that was answered must still be there, and a task cut off must
// read failed: interrupted.
import { TagsmithApiError, TagsmithClient } from '../../../kernel/client/tagsmith-client';
import { removeDir, startCliServer, type CliServer } from '../../helpers/cli-server';
import { tempDir } from '../../helpers/engine';
import { blobs, stripes } from '../../helpers/images';
import { seededRandom } from '../../../kernel/ml/random';
import { inspectState } from '../../helpers/state-invariants';

type Op =
  { kind: 'add'; tag: string; image: number } | { kind: 'train'; tag: string } | { kind: 'clean'; tag: string } | { kind: 'backup' } | { kind: 'restore' };

export interface CrashResult {
  kills: number;
  requests: number;
  served: number;
  serverErrors: number;
  samplesLost: number;
  invariantViolations: number;
  interruptedChecked: number;
  interruptedWrong: number;
  problems: string[];
}

export async function runCrashKills(kills: number): Promise<CrashResult> {
  const random = seededRandom(2026);
  const images = await Promise.all(
    Array.from({ length: 80 }, (_, i) =>
      (i % 2 ? stripes(96, 80, 10 + (i % 7), [200, (i * 9) % 255, 30], [20, 20, 60], i) : blobs(96, 80, i)).jpeg().toBuffer(),
    ),
  );
  const stateDir = await tempDir('tagsmith-crash-');
  const counts = { kills: 0, requests: 0, served: 0, serverErrors: 0, samplesLost: 0, invariantViolations: 0, interruptedChecked: 0, interruptedWrong: 0 };
  // What answered requests promise: tag → sample ids; plus the last archive and its content.
  let expected = new Map<string, Set<string>>();
  let archive: { bytes: Uint8Array; content: Map<string, Set<string>> } | undefined;
  const runningTasks = new Set<string>();
  // The request a kill cut off: it may or may not have taken effect, so it excuses changes.
  let inFlight: Op | undefined;
  const problems: string[] = [];
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];

  for (let round = 0; round < kills; round++) {
    const server: CliServer = await startCliServer([], stateDir);
    const client = new TagsmithClient({ url: server.url, timeoutMs: 20_000 });

    // 1. Check what the previous crash left.
    const report = await inspectState(stateDir);
    counts.invariantViolations += report.problems.length;
    problems.push(...report.problems.map((p) => `round ${round}: ${p}`));
    for (const [tag, ids] of expected) {
      const excused = inFlight?.kind === 'restore' || (inFlight?.kind === 'clean' && inFlight.tag === tag);
      if (excused) continue;
      const present = new Set(report.tags[tag] ?? []);
      for (const id of ids)
        if (!present.has(id)) {
          counts.samplesLost++;
          problems.push(`round ${round}: answered sample ${id.slice(0, 8)} of ${tag} is gone`);
        }
    }
    for (const id of inFlight?.kind === 'restore' ? [] : runningTasks) {
      const status = await client.status(id).catch(() => undefined);
      counts.interruptedChecked++;
      if (
        !status ||
        (status.state !== 'failed' && status.state !== 'done') ||
        (status.state === 'failed' && status.error?.code !== 'interrupted' && status.error?.code !== 'not_enough_samples')
      ) {
        counts.interruptedWrong++;
        problems.push(`round ${round}: task ${id} reads ${status?.state}/${status?.error?.code}`);
      }
    }
    runningTasks.clear();
    inFlight = undefined;
    // Reality is the reference from here on (it includes any half-answered operation).
    expected = new Map(Object.entries(report.tags).map(([tag, ids]) => [tag, new Set(ids)]));

    // 2. Work until a random moment, then kill.
    const killAt = Date.now() + 100 + random() * 1400;
    const work = (async () => {
      while (Date.now() < killAt) {
        const r = random();
        const op: Op =
          r < 0.7
            ? { kind: 'add', tag: pick(['alpha', 'beta']), image: Math.floor(random() * images.length) }
            : r < 0.8
              ? { kind: 'train', tag: 'alpha' }
              : r < 0.88
                ? { kind: 'clean', tag: 'beta' }
                : r < 0.95
                  ? { kind: 'backup' }
                  : { kind: 'restore' };
        counts.requests++;
        inFlight = op;
        try {
          if (op.kind === 'add') {
            const result = await client.addSample(op.image % 2 ? 'positive' : 'negative', op.tag, images[op.image]);
            (expected.get(op.tag) ?? expected.set(op.tag, new Set()).get(op.tag)!).add(result.sample.id);
          } else if (op.kind === 'train') {
            const task = client.train(op.tag);
            runningTasks.add(await task.taskId);
          } else if (op.kind === 'clean') {
            await client.clean(op.tag);
            expected.delete(op.tag);
          } else if (op.kind === 'backup') {
            archive = { bytes: await client.getState(), content: new Map([...expected].map(([t, s]) => [t, new Set(s)])) };
          } else if (archive) {
            await client.setState(archive.bytes);
            expected = new Map([...archive.content].map(([t, s]) => [t, new Set(s)]));
            runningTasks.clear(); // the restored state brings its own task history
          }
          counts.served++;
          inFlight = undefined;
        } catch (error) {
          if (!(error instanceof TagsmithApiError && error.status === 0)) inFlight = undefined; // answered with an error
          if (error instanceof TagsmithApiError && error.status >= 500) counts.serverErrors++;
          if (error instanceof TagsmithApiError && error.status === 0) return; // killed under us
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, killAt - Date.now())));
    const exited = new Promise((resolve) => server.process.once('exit', resolve));
    server.process.kill('SIGKILL');
    counts.kills++;
    await work;
    await exited;
    if ((round + 1) % 20 === 0) console.error(`  ${round + 1}/${kills} kills`);
  }
  // The final restart, checked like the others.
  const last = await startCliServer([], stateDir);
  const report = await inspectState(stateDir);
  counts.invariantViolations += report.problems.length;
  await last.stop();
  await removeDir(stateDir);
  return { ...counts, problems };
}
