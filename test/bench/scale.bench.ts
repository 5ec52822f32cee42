// npm run bench:scale -- [folder] [--rounds 2] [--batch 16]
// A distributed scan against a local one, side by side in one run, on the same photos with cold
// feature caches every time (each worker and the local scan embed every image):
//   local      `tagsmith predict --state DIR <photos>`: every core in one process
//   1 worker   `tagsmith predict --redis … --state-archive` with one `tagsmith worker` (every core)
//   2 workers  the same with two workers of one inference thread each (the machine's 2 cores split
//              as two machines would have them, without the second machine's cores)
// and the coordinator's overhead per image: its CPU time and Redis's, per image, and the wall time
// of the 1-worker run against the local one. Workers are started (model loaded) before the clock
// starts, the coordinator's clock starts when it has read the archive and walked the folders (its
// "run r-…" line), and the local scan's start-up (one image, timed alone) is taken off its time,
// so each side measures scanning, not loading (the CPU columns include the coordinator's start). The archive: bees against ants from the photos' train/ folder;
// the scan: their val/ folder (no image of it is a sample).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { listImageFiles } from '../../kernel/images/image-files';
import { derivedPaths } from '../../kernel/state/state-layout';
import { openTestEngine, waitForTask } from '../helpers/engine';
import { startRedis } from '../helpers/redis-server';
import { startWorker, tagsmith, type WorkerProcess } from '../helpers/scan-cluster';
import { median, table } from './stats';

const TICKS = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU time in 1/100 s

/** CPU seconds a process has used so far (user + system), from /proc; undefined once it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return undefined;
  }
}

interface Timed {
  seconds: number;
  images: number;
  /** The command's own CPU seconds (sampled every 50 ms until it exits). */
  cpu: number;
  stderr: string;
}

/** Runs a command; its time counts from its start, or from the first stderr output matching `from` (the coordinator's "run r-…" line, once it has read the archive and walked). */
async function timedCommand(args: string[], cwd: string, from?: RegExp): Promise<Timed> {
  let started = performance.now();
  const cli = tagsmith(args, { cwd });
  if (from) {
    cli.process.stderr!.on('data', function mark() {
      if (!from.test(cli.stderr())) return;
      started = performance.now();
      cli.process.stderr!.off('data', mark);
    });
  }
  let cpu = 0;
  const pid = cli.process.pid!;
  const sampler = setInterval(() => (cpu = cpuSeconds(pid) ?? cpu), 50);
  const code = await cli.exited;
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  const summary = /tagsmith: (\d+) images \((\d+) embedded/.exec(cli.stderr());
  if (code !== 0 || !summary) throw new Error(`tagsmith ${args.join(' ')} exited ${code}: ${cli.stderr()}`);
  if (summary[1] !== summary[2]) throw new Error(`not a cold scan: ${summary[0]}`);
  return { seconds, images: Number(summary[1]), cpu, stderr: cli.stderr() };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { rounds: { type: 'string', default: '2' }, batch: { type: 'string', default: '16' } },
  });
  const source = path.resolve(positionals[0] ?? path.resolve(__dirname, '../../../shared/data/hymenoptera'));
  const rounds = Number(values.rounds);
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'tagsmith-bench-scale-'));
  const redis = await startRedis();
  const workers: WorkerProcess[] = [];
  try {
    // The archive: 10 bees against 10 ants.
    const stateDir = path.join(work, 'state');
    const { engine } = await openTestEngine(stateDir);
    const archive = path.join(work, 'backup.tar');
    try {
      for (const [type, folder] of [
        ['positive', 'bees'],
        ['negative', 'ants'],
      ] as const) {
        for (const file of (await listImageFiles([path.join(source, 'train', folder)])).slice(0, 10))
          await engine.addSample(type, 'bees', await fsp.readFile(file));
      }
      await waitForTask(engine, (await engine.train('bees')).task_id, 300_000);
      const chunks: Buffer[] = [];
      for await (const chunk of await engine.getState()) chunks.push(chunk as Buffer);
      await fsp.writeFile(archive, Buffer.concat(chunks));
    } finally {
      await engine.close();
    }
    const photos = path.join(source, 'val');
    const count = (await listImageFiles([photos])).length;
    const oneImage = (await listImageFiles([photos]))[0];
    // Other work on the machine moves every figure: its load is printed with them.
    const load = () => os.loadavg()[0].toFixed(1);
    console.log(
      `bench:scale — ${count} photos from ${photos}, batches of ${values.batch}, ${os.cpus().length} cores (load ${load()}), ${rounds} rounds each (medians), Redis ${redis.url}`,
    );

    const coldLocal = async () => {
      const derived = derivedPaths(stateDir);
      await fsp.rm(path.dirname(derived.featureCache), { recursive: true, force: true });
    };
    let caches = 0;
    // The machine's cores split between the workers (one worker: all of them, as the local scan).
    const startWorkers = async (n: number) => {
      const threads = ['--threads', String(Math.max(1, Math.floor(os.cpus().length / n)))];
      workers.push(...(await Promise.all(Array.from({ length: n }, () => startWorker(redis.url, archive, path.join(work, `cache-${caches++}`), threads)))));
    };
    const stopWorkers = async () => {
      await Promise.all(workers.splice(0).map((w) => w.stop()));
    };
    const redisPid = redis.pid()!;

    const results: Record<string, { ips: number[]; cpuMsPerImage: number[]; redisMsPerImage: number[]; seconds: number[] }> = {};
    const note = (name: string, r: Timed, redisCpu = 0) => {
      const row = (results[name] ??= { ips: [], cpuMsPerImage: [], redisMsPerImage: [], seconds: [] });
      row.ips.push(r.images / r.seconds);
      row.cpuMsPerImage.push((r.cpu / r.images) * 1000);
      row.redisMsPerImage.push((redisCpu / r.images) * 1000);
      row.seconds.push(r.seconds);
    };
    for (let round = 0; round < rounds; round++) {
      await coldLocal();
      const startup = await timedCommand(['predict', '--state', stateDir, oneImage], work);
      await coldLocal();
      const local = await timedCommand(['predict', '--state', stateDir, photos], work);
      note('local scan (tagsmith predict --state)', { ...local, seconds: local.seconds - startup.seconds });
      for (const n of [1, 2]) {
        await startWorkers(n);
        const redisBefore = cpuSeconds(redisPid) ?? 0;
        const run = await timedCommand(
          ['predict', '--redis', redis.url, '--state-archive', archive, '--runs-dir', path.join(work, 'runs'), '--batch', values.batch!, photos],
          work,
          /run r-/,
        );
        note(`${n} worker${n > 1 ? 's' : ''} (tagsmith predict --redis)`, run, (cpuSeconds(redisPid) ?? 0) - redisBefore);
        await stopWorkers();
      }
      console.log(
        `round ${round + 1}: ${Object.entries(results)
          .map(([name, r]) => `${name.split(' (')[0]} ${r.ips.at(-1)!.toFixed(1)}`)
          .join(', ')} images/s (load ${load()})`,
      );
    }
    const localIps = median(results['local scan (tagsmith predict --state)'].ips);
    console.log(
      table(
        ['scan', 'images/s (median)', 'rounds', 'vs local', 'coordinator CPU ms/image (with its start-up)', 'Redis CPU ms/image'],
        Object.entries(results).map(([name, r]) => [
          name,
          median(r.ips).toFixed(1),
          r.ips.map((v) => v.toFixed(1)).join(', '),
          (median(r.ips) / localIps).toFixed(2),
          name.startsWith('local') ? '—' : median(r.cpuMsPerImage).toFixed(2),
          name.startsWith('local') ? '—' : median(r.redisMsPerImage).toFixed(3),
        ]),
      ),
    );
    const one = results['1 worker (tagsmith predict --redis)'];
    const overheadMs = (median(one.seconds) / count - median(results['local scan (tagsmith predict --state)'].seconds) / count) * 1000;
    console.log(
      `1 worker against the local scan: ${overheadMs.toFixed(1)} ms more wall time per image (queueing, batch hand-offs, Redis round trips; start-ups taken off both).`,
    );
  } finally {
    await Promise.all(workers.map((w) => w.kill()));
    await redis.stop();
    await fsp.rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
