// One writing engine per state folder: the second is refused with a message naming the first,
// in either order, and a lock left by a killed process does not lock the folder forever.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EngineLock, LOCK_FILE } from '../../kernel/state/engine-lock';
import { tempDir } from '../helpers/engine';

const HOLDER = `
const { EngineLock } = require(${JSON.stringify(path.resolve(__dirname, '../../kernel/state/engine-lock.ts'))});
EngineLock.acquire(process.argv[1], 'tagsmith serve --port 5999 --token secret-value').then(
  async (lock) => { await lock.setUrl('http://127.0.0.1:5999'); console.log('HELD'); process.on('SIGTERM', async () => { await lock.release(); process.exit(0); }); setInterval(() => {}, 1000); },
  (error) => { console.log('REFUSED ' + error.message); process.exit(3); },
);`;

async function holdInChild(root: string): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', HOLDER, root], { stdio: ['ignore', 'pipe', 'inherit'] });
  const firstLine = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { child, firstLine };
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('EngineLock', () => {
  it('refuses a second engine while the first runs, naming it, and lets it in once the first stops', async () => {
    const root = await tempDir('tagsmith-lock-');
    const { child, firstLine } = await holdInChild(root);
    assert.equal(firstLine, 'HELD');
    await assert.rejects(EngineLock.acquire(root), (error: { code?: string; message: string }) => {
      assert.equal(error.code, 'state_in_use');
      assert.match(error.message, new RegExp(`pid ${child.pid}`));
      assert.match(error.message, /tagsmith serve --port 5999/);
      assert.match(error.message, /answering at http:\/\/127\.0\.0\.1:5999/);
      assert.doesNotMatch(error.message, /secret-value/, 'a token is never repeated');
      return true;
    });
    assert.equal((await EngineLock.holder(root))?.pid, child.pid);
    child.kill('SIGTERM');
    await exited(child);
    const lock = await EngineLock.acquire(root);
    await lock.release();
  });

  it('in the other order: a process starting second is refused and the first keeps the folder', async () => {
    const root = await tempDir('tagsmith-lock-');
    const lock = await EngineLock.acquire(root, 'tagsmith serve (this test)');
    const { child, firstLine } = await holdInChild(root);
    await exited(child);
    assert.match(firstLine, /^REFUSED .*in use by another Tagsmith engine \(pid \d+: tagsmith serve \(this test\)/);
    assert.equal(child.exitCode, 3);
    await assert.rejects(EngineLock.acquire(root), /in use/, 'a second lock in the same process is refused too');
    await lock.release();
    assert.equal(await EngineLock.holder(root), undefined);
  });

  it('takes over a lock left by a process that was killed', async () => {
    const root = await tempDir('tagsmith-lock-');
    const { child } = await holdInChild(root);
    child.kill('SIGKILL');
    await exited(child);
    assert.ok(await fs.stat(path.join(root, LOCK_FILE)), 'the killed process left its lock behind');
    const lock = await EngineLock.acquire(root);
    assert.equal((await EngineLock.holder(root))?.pid, process.pid);
    await lock.release();
  });

  it('treats a torn lock file as no lock', async () => {
    const root = await tempDir('tagsmith-lock-');
    await fs.writeFile(path.join(root, LOCK_FILE), '{"pid": 12');
    const lock = await EngineLock.acquire(root);
    await lock.release();
  });
});
