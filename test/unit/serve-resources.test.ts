// Issue 15, item 9, shutdown and item 3's limits, against `tagsmith serve` as a user runs it:
// what clients leave behind (aborted downloads, unfinished uploads) is released, SIGTERM stops
// the server promptly whatever is in flight, and no stored sample is too large for an archive.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import type { TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { createServer, DEFAULT_MAX_ARCHIVE, MAX_UPLOAD } from '../../kernel/http/server';
import { DEFAULT_MAX_UPLOAD } from '../../kernel/rules';
import { DEFAULT_ARCHIVE_LIMITS } from '../../kernel/state/state-archive';
import { CLI, removeDir, startCliServer, type CliServer } from '../helpers/cli-server';
import { blobImages } from '../helpers/engine';
import { rawExchange, requestHead, trickle } from '../helpers/raw-http';
import { eventually } from '../helpers/wait';

/** The files a process has open (Linux). */
function openFiles(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return fs.readdirSync(dir).map((fd) => {
    try {
      return fs.readlinkSync(path.join(dir, fd));
    } catch {
      return '(gone)';
    }
  });
}

/** Starts a /get_state download and cuts it off after its first bytes. */
function abortedDownload(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${url}/get_state`, (response) => {
      response.once('data', () => {
        request.destroy();
        resolve();
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => (request.destroyed ? resolve() : reject(error)));
  });
}

describe('tagsmith serve releases what clients leave behind', { skip: process.platform !== 'linux' && 'counts open files under /proc' }, () => {
  // Each test has a server of its own: one of them stops it.
  let server: CliServer;
  let client: TagsmithClient;
  beforeEach(async () => {
    server = await startCliServer();
    client = new TagsmithClient({ url: server.url });
  });
  afterEach(async () => {
    await server.stop();
    await removeDir(server.stateDir);
  });

  it('closes the files and removes the snapshot of every aborted /get_state download', async () => {
    // A state larger than what socket buffers take in, so a download cut off leaves the
    // archive half-written. (A real JPEG padded with bytes its decoder stops before.)
    const [image] = await blobImages(1, 3);
    await client.addSample('positive', 'large', Buffer.concat([image, Buffer.alloc(30 * 2 ** 20, 7)]));
    const pid = server.process.pid!;
    const snapshots = () => fs.readdirSync(path.join(server.stateDir, 'tmp')).filter((name) => name.startsWith('snapshot-'));
    const before = openFiles(pid).length;
    for (let i = 0; i < 12; i++) await abortedDownload(server.url);
    await eventually(() => snapshots().length === 0, 'every snapshot folder is removed');
    assert.deepEqual(
      openFiles(pid).filter((file) => file.endsWith('(deleted)')),
      [],
      'no file held open after its snapshot was removed',
    );
    await eventually(() => openFiles(pid).length <= before, `open files back to ${before}`);
    // And a whole download still works.
    assert.ok((await client.getState()).length > 30 * 2 ** 20);
  });

  it('exits promptly on SIGTERM with an upload still trickling in', async () => {
    const [image] = await blobImages(1, 4);
    await client.addSample('positive', 'kept', image);
    const exchange = rawExchange(server.port, requestHead('POST', '/set_state', { 'content-type': 'application/x-tar', 'content-length': 100_000_000 }), {
      hangGuardMs: 120_000,
    });
    // 1 KB every 100 ms: the upload would take more than two hours.
    const slow = trickle(exchange.socket, () => Buffer.alloc(1024), 100, 100_000);
    await eventually(() => fs.readdirSync(path.join(server.stateDir, 'tmp')).some((name) => name.endsWith('.upload.tar')), 'the upload is being received');
    // A hang guard only: the server must exit long before the upload could finish.
    const guard = setTimeout(() => server.process.kill('SIGKILL'), 60_000);
    const code = await server.stop();
    clearTimeout(guard);
    assert.equal(slow.finished(), false, 'the server exited before the upload would have finished');
    slow.stop();
    assert.equal(code, 0);
    assert.match(server.output(), /SIGTERM: finishing requests/);
    // Told why, in the error contract, before the connection closed.
    const reply = await exchange.response;
    assert.deepEqual([reply.status, reply.json?.error?.code], [503, 'shutting_down'], reply.text);
    await exchange.closed;
    // The state is as it was: a server started on the folder again serves it, with nothing half-built left.
    const again = await startCliServer([], server.stateDir);
    try {
      assert.deepEqual(
        (await new TagsmithClient({ url: again.url }).tags()).map((t) => [t.tag, t.positives]),
        [['kept', 1]],
      );
      assert.deepEqual(fs.readdirSync(path.join(server.stateDir, 'tmp')), []);
    } finally {
      await again.stop();
    }
  });
});

describe("the upload limit and the archive's per-file limit agree", () => {
  it('so no server takes a sample that its own archive could not carry back', async () => {
    assert.ok(DEFAULT_MAX_UPLOAD <= DEFAULT_ARCHIVE_LIMITS.maxFileBytes);
    assert.equal(MAX_UPLOAD, DEFAULT_ARCHIVE_LIMITS.maxFileBytes);
    const options = { allowedOrigins: [], checkHost: true, maxArchiveBytes: DEFAULT_MAX_ARCHIVE, log: () => {} };
    await assert.rejects(createServer({} as TagsmithEngine, { ...options, maxUploadBytes: MAX_UPLOAD + 1 }), /above 64 MB/);
  });

  it('tagsmith serve refuses --max-upload-mb above what a state archive holds for one file', () => {
    const run = spawnSync(process.execPath, [CLI, 'serve', '--port', '0', '--max-upload-mb', String(DEFAULT_ARCHIVE_LIMITS.maxFileBytes / 2 ** 20 + 1)], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /--max-upload-mb must be between 1 and 64/);
  });
});
