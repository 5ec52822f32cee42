// `tagsmith serve` as a user starts it: the built CLI in a child process on a free port.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { READY_MARKER } from '../../kernel/cli/ready-line';
import { tempDir } from './engine';

export interface CliServer {
  url: string;
  port: number;
  stateDir: string;
  process: ChildProcess;
  output: () => string;
  stop(): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export const CLI = path.resolve(__dirname, '../../dist/kernel/cli.js');

export async function startCliServer(extraArgs: string[] = [], stateDir?: string, cli = CLI): Promise<CliServer> {
  const dir = stateDir ?? (await tempDir('tagsmith-serve-'));
  const port = await freePort();
  const child = spawn(process.execPath, [cli, 'serve', '--port', String(port), '--state', dir, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = () => output.includes(READY_MARKER) && (cleanup(), resolve());
    const exited = (code: number | null) => (cleanup(), reject(new Error(`tagsmith serve exited with ${code}: ${output}`)));
    const cleanup = () => {
      child.stdout!.off('data', check);
      child.off('exit', exited);
    };
    child.stdout!.on('data', check);
    child.on('exit', exited);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stateDir: dir,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return exit;
    },
  };
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI once (`tagsmith <args>`) in `cwd`, with `env` over this process's environment. */
export function runCli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
