// `tagsmith serve`: the engine's HTTP API on loopback, state in a folder of the user's.
import os from 'node:os';
import path from 'node:path';
import type { DistributedScans } from '../cluster/distributed-scan';
import { TagsmithEngine } from '../engine/tagsmith-engine';
import { asTagsmithError } from '../errors';
import { derivedPaths } from '../state/state-layout';
import { isLoopbackHostname } from '../http/request-guard';
import { createServer, DEFAULT_MAX_ARCHIVE, MAX_UPLOAD, stopServer } from '../http/server';
import { formatReadyLine } from './ready-line';

export interface ServeOptions {
  host: string;
  port: number;
  stateDir: string;
  token?: string;
  threads?: number;
  /** One of models.json's models; default its `backbone`. */
  backbone?: string;
  allowedOrigins: string[];
  maxUploadBytes: number;
  /** Folders scans may read; none: the engine reads no folders of its own. */
  scanRoots: string[];
  /** A read-only replica of `stateDir`, or of `stateArchive` if given (see EngineOptions.readOnly). */
  readOnly?: boolean;
  stateArchive?: string;
  /** Folder scans go to `tagsmith worker`s through this Redis (with `stateArchive`: the archive they loaded). */
  redisUrl?: string;
  /** With `redisUrl`: paths per batch, and how long Redis may be unreachable before a scan fails. */
  batchSize?: number;
  redisTimeoutMs?: number;
}

/**
 * How long requests in flight may take to finish after SIGTERM/SIGINT; then those left are
 * answered 503 and, half a second later, disconnected. With the engine's own stop and the
 * native libraries' teardown after the last line of JavaScript (about 1.5 s measured), shutdown
 * stays below the extension's 5 s between SIGTERM and SIGKILL.
 */
export const SHUTDOWN_GRACE_MS = 2_000;
const SHUTDOWN_ANSWER_MS = 500;
/** How long stopping the engine (training workers, models) may take after that. */
const ENGINE_CLOSE_TIMEOUT_MS = 1_500;

export function defaultStateDir(): string {
  return process.env.TAGSMITH_STATE ? path.resolve(process.env.TAGSMITH_STATE) : path.join(os.homedir(), '.tagsmith', 'state');
}

export async function runServeCommand(options: ServeOptions): Promise<number> {
  const loopback = isLoopbackHostname(options.host);
  if (!loopback && !options.token) {
    process.stderr.write(`tagsmith serve: refusing to listen on ${options.host} without a token; add --token (or TAGSMITH_TOKEN), or use 127.0.0.1.\n`);
    return 2;
  }
  if (options.redisUrl && options.readOnly) {
    process.stderr.write('tagsmith serve: a read-only replica scans no folders, so it has no use for --redis; drop one of them.\n');
    return 2;
  }
  if (options.redisUrl && !options.stateArchive) {
    process.stderr.write(
      'tagsmith serve: --redis needs --state-archive FILE: the archive (from /get_state) the scan workers loaded, whose sha256 names their queue.\n',
    );
    return 2;
  }
  if (options.stateArchive && !options.readOnly && !options.redisUrl) {
    process.stderr.write(
      "tagsmith serve: --state-archive is served read-only: add --read-only (or restore the archive with POST /set_state); with --redis it names the scan workers' archive.\n",
    );
    return 2;
  }
  if (options.readOnly && options.scanRoots.length > 0) {
    process.stderr.write('tagsmith serve: a read-only replica scans no folders; drop --scan-root.\n');
    return 2;
  }
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  let workers: DistributedScans | undefined;
  if (options.redisUrl) {
    try {
      // Loaded only here: an engine without --redis never loads BullMQ and its Redis client.
      const { distributedScans } = await import('../cluster/distributed-scan');
      workers = await distributedScans({
        redisUrl: options.redisUrl,
        archive: options.stateArchive!,
        runsDir: derivedPaths(options.stateDir).scanRuns,
        backbone: options.backbone,
        batchSize: options.batchSize,
        redisTimeoutMs: options.redisTimeoutMs,
        log,
      });
    } catch (error) {
      process.stderr.write(`tagsmith serve: ${asTagsmithError(error).message}\n`);
      return 2;
    }
  }
  // Training takes the same thread count as inference (none: every core).
  const engine = await TagsmithEngine.open({
    stateDir: options.stateDir,
    threads: options.threads,
    backbone: options.backbone,
    scanRoots: options.scanRoots,
    readOnly: options.readOnly,
    stateArchive: options.redisUrl ? undefined : options.stateArchive,
    scanRunner: workers?.run,
  });
  const server = await createServer(engine, {
    token: options.token,
    allowedOrigins: options.allowedOrigins,
    checkHost: loopback,
    maxUploadBytes: options.maxUploadBytes,
    maxArchiveBytes: DEFAULT_MAX_ARCHIVE,
    log,
  });
  await server.listen({ host: options.host, port: options.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${shownHost}:${port}`;
  const snapshot = engine.snapshot;
  const serving = snapshot
    ? `read-only replica of ${snapshot.path}${snapshot.sha256 ? ` (sha256 ${snapshot.sha256})` : ` (generation ${snapshot.generation})`}`
    : `state: ${engine.stateDir}${workers ? `, scans by the workers of ${workers.queue} at ${workers.redis}` : ''}`;
  process.stdout.write(`Tagsmith engine ready at ${url} (${serving}, backbone: ${engine.backbone}${options.token ? ', token required' : ''})\n`);
  await engine.announceUrl(url);
  process.stdout.write(`${formatReadyLine({ url, port, pid: process.pid, stateDir: engine.stateDir })}\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        process.stderr.write('tagsmith serve: forced exit\n');
        process.exit(1);
      }
      stopping = true;
      log(`${signal}: finishing requests (up to ${SHUTDOWN_GRACE_MS / 1000} s) and stopping training`);
      await stopServer(server, SHUTDOWN_GRACE_MS, SHUTDOWN_ANSWER_MS);
      await withTimeout(engine.close(), ENGINE_CLOSE_TIMEOUT_MS).catch((error: unknown) => log(`error while stopping the engine: ${(error as Error).message}`));
      if (watchingStdin) process.stdin.destroy();
      // Done: whatever handle might still be open (a native thread pool, a stray timer) must
      // not keep a stopped server alive. Unref'd, this only fires if something does.
      setTimeout(() => process.exit(0), 500).unref();
      resolve(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
    // A replica reloads its snapshot on SIGHUP, as on POST /reload (an engine that owns its state keeps SIGHUP's default).
    if (engine.readOnly) {
      process.on('SIGHUP', () => {
        if (stopping) return;
        log('SIGHUP: reloading the snapshot');
        engine.reload().then(
          (result) =>
            log(
              `reloaded: ${result.tags} tags, ${result.samples} samples${result.snapshot.sha256 ? `, sha256 ${result.snapshot.sha256}` : `, generation ${result.snapshot.generation}`}${result.changed ? '' : ' (unchanged)'}`,
            ),
          (error: unknown) => log(`reload failed, still serving the previous snapshot: ${(error as Error).message}`),
        );
      });
    }
    // The extension closes the engine's stdin when it goes away: stop with it.
    const watchingStdin = process.env.TAGSMITH_EXIT_ON_STDIN_END === '1';
    if (watchingStdin) process.stdin.on('end', () => void stop('stdin closed')).resume();
  });
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export { MAX_UPLOAD };
