// `tagsmith worker --redis URL --state-archive FILE [--concurrency N] …`: a scan worker (see
// cluster/scan-worker.ts) until SIGINT/SIGTERM, when it finishes the batches in hand (a second
// signal: at once; their locks lapse and other workers take them).
import { asTagsmithError } from '../errors';
import { shownRedisUrl } from '../cluster/redis-connection';
import { startScanWorker, type ScanWorkerOptions } from '../cluster/scan-worker';

/** How long a stopping worker lets the batches in hand finish. */
const STOP_GRACE_MS = 10_000;

export async function runWorkerCommand(options: Omit<ScanWorkerOptions, 'log'>): Promise<number> {
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  let worker;
  try {
    worker = await startScanWorker({ ...options, log });
  } catch (error) {
    process.stderr.write(`tagsmith worker: ${asTagsmithError(error).message}\n`);
    return 1;
  }
  process.stdout.write(
    `tagsmith worker ${worker.name} ready: batches of ${worker.queue} from ${shownRedisUrl(options.redisUrl)} ` +
      `(archive sha256 ${worker.archiveSha256}; tags ${worker.tags.join(', ')}; ${options.concurrency ?? 2} at once)\n`,
  );
  const running = worker;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log(`${signal} again: stopping now; the batches in hand go back to the queue when their locks lapse`);
        process.exit(1);
      }
      stopping = true;
      log(`${signal}: finishing the batches in hand (up to ${STOP_GRACE_MS / 1000} s)`);
      running.close(STOP_GRACE_MS).then(
        () => resolve(0),
        (error: unknown) => {
          log(`error while stopping: ${(error as Error).message}`);
          resolve(1);
        },
      );
      setTimeout(() => process.exit(0), STOP_GRACE_MS + 5_000).unref();
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
