// A private redis-server for a test: Debian's binary on a free loopback port, nothing saved to
// disk (`--save '' --appendonly no`), so a restart comes back empty, as a Redis without
// persistence does. Stopped (and restartable on the same port) by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from './cli-server';

export const REDIS_SERVER = process.env.TAGSMITH_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface TestRedis {
  url: string;
  port: number;
  /** Stops it (SIGTERM; it saves nothing) and waits for it to exit. */
  stop(): Promise<void>;
  /** Its process id while it runs (a benchmark reads its CPU time). */
  pid(): number | undefined;
  /** Starts it again on the same port, empty (nothing if it runs). */
  start(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  if (!fs.existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: install Debian's redis-server (apt-get install redis-server; .ci/run does) or set TAGSMITH_REDIS_SERVER`);
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (running()) return;
    const process_ = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = process_;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes('Ready to accept connections')) {
          process_.stdout!.off('data', onData);
          resolve();
        }
      };
      process_.stdout!.on('data', onData);
      process_.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    });
    process_.stdout!.resume();
    process_.stderr!.resume();
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    pid: () => (running() ? child!.pid : undefined),
    async stop() {
      const server = child;
      if (!server || !running()) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    },
  };
}
