// The kernel process the VS Code notebook controller uses, fed cells directly: state between
// cells, top-level await, streamed console output, TypeScript errors with their line,
// interrupting a busy loop and a pending await, rich displays, and `tagsmith` bound to an engine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KernelProcess, type CellOutput } from '../../extension/notebook/kernel-process';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';
import { within } from '../helpers/wait';

const SCRIPT = path.resolve(__dirname, '../../dist/kernel/notebook-kernel.js');

async function run(
  kernel: KernelProcess,
  code: string,
): Promise<{ ok: boolean; stdout: string; stderr: string; displays: Record<string, string>[]; outputs: CellOutput[] }> {
  const outputs: CellOutput[] = [];
  const ok = await kernel.execute(code, (o) => outputs.push(o));
  const text = (kind: 'stdout' | 'stderr') =>
    outputs
      .filter((o) => o.kind === kind)
      .map((o) => (o as { text: string }).text)
      .join('');
  return { ok, stdout: text('stdout'), stderr: text('stderr'), displays: outputs.flatMap((o) => (o.kind === 'display' ? [o.data] : [])), outputs };
}

describe('notebook kernel process', { timeout: 120_000 }, () => {
  // One kernel process for these tests (starting tslab takes seconds); each test declares the
  // variables it reads, so none depends on what another ran.
  let kernel: KernelProcess;
  let cwd: string;
  before(async () => {
    cwd = await tempDir('tagsmith-nb-');
    kernel = await KernelProcess.start({ scriptPath: SCRIPT, cwd });
  });
  after(() => kernel?.dispose());

  it('keeps state between cells, awaits at top level and streams console output', async () => {
    assert.equal((await run(kernel, 'let count: number = 41;')).ok, true);
    // The cell waits, after its first line, until the test has received that line (for 20 s at
    // most): it sees the test's mark only if output is streamed while it runs, not collected at its end.
    const seen = path.join(cwd, 'first-seen');
    const streamed: string[] = [];
    const waitForTest = `const marked = await new Promise<boolean>((resolve) => { let looks = 0; const poll = setInterval(() => { const found = require("node:fs").existsSync(${JSON.stringify(seen)}); if (found || ++looks > 4000) { clearInterval(poll); resolve(found); } }, 5); });`;
    const ok = await kernel.execute(`console.log("first"); ${waitForTest} console.log("second", marked, count + 1);`, (o) => {
      if (o.kind !== 'stdout') return;
      streamed.push(o.text.trim());
      if (o.text.includes('first')) fs.writeFileSync(seen, '');
    });
    assert.equal(ok, true);
    assert.deepEqual(streamed, ['first', 'second true 42']);
    assert.equal((await run(kernel, 'count * 2')).stdout, '82\n');
  });

  it('reports a TypeScript error with its line and column in the cell', async () => {
    const result = await run(kernel, 'const a: number = 1;\nconst b: string = a;');
    assert.equal(result.ok, false);
    assert.match(result.stderr, /2:7 - Type 'number' is not assignable to type 'string'/);
  });

  it('reports a runtime error and keeps going', async () => {
    assert.equal((await run(kernel, 'let before: number = 7;')).ok, true);
    const failed = await run(kernel, 'throw new Error("boom")');
    assert.equal(failed.ok, false);
    assert.match(failed.stderr, /Error: boom/);
    assert.equal((await run(kernel, 'before')).stdout, '7\n');
  });

  it('interrupts an endless loop and a pending await; state survives', async () => {
    assert.equal((await run(kernel, 'let kept: number = 41;')).ok, true);
    // Each cell says when it is busy or waiting; the interrupt goes on that, not after a delay.
    const interruptOnceStarted = (output: CellOutput) => output.kind === 'stdout' && output.text.includes('started') && kernel.interrupt();
    const loop = kernel.execute('console.log("started"); let spins = 0; while (true) { spins++; }', interruptOnceStarted);
    assert.equal(await within(loop, 60_000, 'the busy loop was interrupted'), false);
    // Said from a timer, which runs once the cell's script has returned and left it awaiting: the
    // SIGINT of an interrupt that lands while a script still runs is held by Node for the next
    // script run, and would break the cell after this one.
    const wait = kernel.execute('setTimeout(() => console.log("started"), 0); await new Promise(() => {});', interruptOnceStarted);
    assert.equal(await within(wait, 60_000, 'the pending await was interrupted'), false);
    assert.equal((await run(kernel, 'kept + 1')).stdout, '42\n');
  });

  it('sends rich displays as MIME bundles', async () => {
    const result = await run(kernel, 'import * as tslab from "tslab";\ntslab.display.html("<b>bold</b>");\ntslab.display.svg("<svg></svg>");');
    assert.equal(result.ok, true, result.stderr);
    assert.deepEqual(result.displays, [{ 'text/html': '<b>bold</b>' }, { 'image/svg+xml': '<svg></svg>' }]);
  });

  it("offers completions from the cell's types", async () => {
    const code = 'const greeting = "hi";\ngreeting.toUpp';
    const completion = await kernel.complete(code, code.length);
    assert.ok(completion.candidates.includes('toUpperCase'), completion.candidates.slice(0, 10).join(','));
  });
});

describe('notebook kernel with an engine', { timeout: 180_000 }, () => {
  let server: TestServer;
  let kernel: KernelProcess;
  let folder: string;
  before(async () => {
    server = await startTestServer();
    folder = await tempDir('tagsmith-nb-');
    const fs = await import('node:fs/promises');
    await fs.mkdir(path.join(folder, 'stripes'));
    await fs.mkdir(path.join(folder, 'blobs'));
    for (const [i, b] of (await stripedImages(6)).entries()) await fs.writeFile(path.join(folder, 'stripes', `s${i}.jpg`), b);
    for (const [i, b] of (await blobImages(6)).entries()) await fs.writeFile(path.join(folder, 'blobs', `b${i}.jpg`), b);
    await fs.writeFile(path.join(folder, 'blobs', 'notes.jpg'), 'not an image');
    kernel = await KernelProcess.start({ scriptPath: SCRIPT, cwd: folder, engine: { url: server.url } });
  });
  after(async () => {
    kernel?.dispose();
    await server?.close();
  });

  it('binds `tagsmith` to the engine: add from globs, train, predict, show', async () => {
    assert.equal(kernel.tagsmithBound, true);
    const added = await run(
      kernel,
      [
        'const pos = await tagsmith.addSamples("positive", "stripes", "stripes/*.jpg");',
        'const neg = await tagsmith.addSamples("negative", "stripes", "blobs");',
        'console.log(pos.added, neg.added, neg.skipped.map((s) => s.name).join(","));',
      ].join('\n'),
    );
    assert.equal(added.ok, true, added.stderr);
    assert.equal(added.stdout, '6 6 blobs/notes.jpg\n');
    const trained = await run(
      kernel,
      'const done = await tagsmith.train("stripes", { num_clusters: 2 });\nconsole.log(done.state, done.metrics!.clusterSizes.length);',
    );
    assert.equal(trained.ok, true, trained.stderr);
    assert.equal(trained.stdout, 'done 2\n');
    const shown = await run(kernel, 'await tagsmith.showMetrics("stripes");\nawait tagsmith.showPredictions("stripes/s0.jpg");');
    assert.equal(shown.ok, true, shown.stderr);
    assert.equal(shown.displays.length, 2);
    assert.equal(shown.stdout, '', 'a shown display is not printed again as text');
    assert.match(shown.displays[0]['image/svg+xml'], /<svg[\s\S]*held-out positives? found/);
    assert.match(shown.displays[1]['text/html'], /<table class="tagsmith-predictions"[\s\S]*data:image\/jpeg;base64,[\s\S]*<b>stripes<\/b>/);
  });
});

describe('the example notebook in place, through the kernel the VS Code controller runs', { timeout: 300_000 }, () => {
  const examples = path.resolve(__dirname, '../../examples');
  const outputs = ['tagsmith-demo', 'tagsmith-backup.tar'].map((name) => path.join(examples, name));
  let server: TestServer;
  let kernel: KernelProcess;
  const removeOutputs = async () => {
    const fs = await import('node:fs/promises');
    for (const file of outputs) await fs.rm(file, { recursive: true, force: true });
  };
  before(async () => {
    await removeOutputs();
    server = await startTestServer();
    kernel = await KernelProcess.start({ scriptPath: SCRIPT, cwd: examples, engine: { url: server.url } });
  });
  after(async () => {
    kernel?.dispose();
    await server?.close();
    await removeOutputs();
  });

  it('runs every code cell of examples/getting-started.ipynb without an error', async () => {
    const fs = await import('node:fs/promises');
    const notebook = JSON.parse(await fs.readFile(path.join(examples, 'getting-started.ipynb'), 'utf8')) as {
      cells: { cell_type: string; source: string | string[] }[];
    };
    const cells = notebook.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
    assert.ok(cells.length >= 8);
    let stdout = '';
    for (const [i, code] of cells.entries()) {
      const result = await run(kernel, code);
      assert.equal(result.ok, true, `cell ${i + 1} failed:\n${code}\n${result.stderr}`);
      assert.equal(result.stderr, '', `cell ${i + 1} wrote to stderr`);
      stdout += result.stdout;
    }
    assert.match(stdout, new RegExp(`Connected to the engine at ${server.url}`));
    assert.match(stdout, /restored 1 tag\(s\) and 16 samples/);
  });
});
