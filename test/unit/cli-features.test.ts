// `tagsmith features` run as a user runs it: a process, with good and bad files mixed. The
// promise: one JSON line per readable image on stdout in input order, one line per bad file
// or missing path on stderr, the rest still processed, exit code 1 if anything failed, and
// never a stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { CLI } from '../helpers/cli-server';
import { tempDir } from '../helpers/engine';
import { blobs } from '../helpers/images';

interface Run {
  code: number | null;
  stdoutFiles: string[];
  stderrLines: string[];
  stderr: string;
}

async function runFeatures(args: string[], cwd: string): Promise<Run> {
  // The fast backbone: the ordering bug shows with any backbone once files queue up.
  const child = spawn(process.execPath, [CLI, 'features', '--backbone', 'mobilenet_v2_140', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const stdoutFiles = stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { file: string }).file);
  return { code, stdoutFiles, stderrLines: stderr.split('\n').filter(Boolean), stderr };
}

function assertNoStackTrace(run: Run): void {
  assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+\)?/, `a stack trace was printed:\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /Uncaught|unhandled|TagsmithError/i);
}

describe('tagsmith features with bad files among good ones', () => {
  let dir: string;
  const good = (n: number) => `good-${String(n).padStart(2, '0')}.jpg`;
  before(async () => {
    dir = await tempDir('tagsmith-cli-');
    for (let n = 0; n < 40; n++)
      await blobs(96 + n, 80, n)
        .jpeg()
        .toFile(path.join(dir, good(n)));
    await fs.writeFile(path.join(dir, 'bad.jpg'), 'not an image');
    await fs.writeFile(path.join(dir, 'bad-too.jpg'), 'not an image either');
    await fs.mkdir(path.join(dir, 'folder'));
    for (const n of [1, 2]) await fs.copyFile(path.join(dir, good(n)), path.join(dir, 'folder', `in-folder-${n}.jpg`));
    await fs.writeFile(path.join(dir, 'folder', 'notes.txt'), 'not an image either');
  });

  for (const [where, files] of [
    ['first', ['bad.jpg', good(0), good(1)]],
    ['in the middle', [good(0), 'bad.jpg', good(1)]],
    ['last', [good(0), good(1), 'bad.jpg']],
  ] as const) {
    it(`prints the good files in order and names the bad one when it comes ${where}`, async () => {
      const run = await runFeatures([...files], dir);
      assert.equal(run.code, 1);
      assert.deepEqual(
        run.stdoutFiles,
        files.filter((f) => f !== 'bad.jpg'),
      );
      assert.equal(run.stderrLines.length, 1, run.stderr);
      assert.match(run.stderrLines[0], /^tagsmith: bad\.jpg: not_an_image: /);
      assertNoStackTrace(run);
    });
  }

  it('keeps going among 40 files, with two bad ones queued behind the limiter', async () => {
    const files = Array.from({ length: 40 }, (_, n) => good(n));
    files.splice(5, 0, 'bad.jpg');
    files.splice(37, 0, 'bad-too.jpg');
    const run = await runFeatures(files, dir);
    assert.equal(run.code, 1);
    assert.deepEqual(
      run.stdoutFiles,
      files.filter((f) => !f.startsWith('bad')),
    );
    assert.equal(run.stderrLines.length, 2, run.stderr);
    assertNoStackTrace(run);
  });

  it('walks a folder for images only, so a .txt in it is not an error', async () => {
    const run = await runFeatures(['folder'], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdoutFiles, [path.join('folder', 'in-folder-1.jpg'), path.join('folder', 'in-folder-2.jpg')]);
    assert.equal(run.stderr, '');
  });

  it('names a missing path and still embeds the rest', async () => {
    const run = await runFeatures([good(0), 'no-such-photo.jpg', 'folder'], dir);
    assert.equal(run.code, 1);
    assert.deepEqual(run.stdoutFiles, [good(0), path.join('folder', 'in-folder-1.jpg'), path.join('folder', 'in-folder-2.jpg')]);
    assert.equal(run.stderrLines.length, 1, run.stderr);
    assert.match(run.stderrLines[0], /^tagsmith: no-such-photo\.jpg: not_found: there is no such file or folder/);
    assertNoStackTrace(run);
  });

  it('exits 0 with nothing on stderr when every file is an image', async () => {
    const run = await runFeatures([good(3), good(4)], dir);
    assert.equal(run.code, 0);
    assert.deepEqual(run.stdoutFiles, [good(3), good(4)]);
    assert.equal(run.stderr, '');
  });
});
