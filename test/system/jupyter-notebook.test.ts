// examples/getting-started.ipynb executed by a real Jupyter client (Debian's jupyter-nbconvert
// and nbclient) with the tslab kernel, against `tagsmith serve`, two ways: in place in the
// clone, as a reader who just ran `npm ci` would, and from a folder of the user's own with the
// package installed next to the notebook. Needs: jupyter-nbconvert, python3-nbclient,
// python3-ipython and `npx tslab install --python=/usr/bin/python3` (.ci/run does all of it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/engine';
import { removeDir, startCliServer, type CliServer } from '../helpers/cli-server';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = path.join(ROOT, 'examples');
const EXAMPLE = path.join(EXAMPLES, 'getting-started.ipynb');
/** What the notebook writes next to itself. */
const NOTEBOOK_OUTPUTS = ['tagsmith-demo', 'tagsmith-backup.tar'];

interface Output {
  output_type: string;
  text?: string | string[];
  name?: string;
  data?: Record<string, string | string[]>;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}
const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

interface Setup {
  name: string;
  /** Returns the folder holding getting-started.ipynb, ready to run. */
  prepare(): Promise<string>;
  cleanUp(folder: string): Promise<void>;
}

const SETUPS: Setup[] = [
  {
    name: 'in place in the clone',
    prepare: async () => {
      for (const name of NOTEBOOK_OUTPUTS) await fs.rm(path.join(EXAMPLES, name), { recursive: true, force: true });
      return EXAMPLES;
    },
    cleanUp: async () => {
      for (const name of NOTEBOOK_OUTPUTS) await fs.rm(path.join(EXAMPLES, name), { recursive: true, force: true });
    },
  },
  {
    name: 'in a folder of your own, the package installed next to it',
    prepare: async () => {
      const folder = await tempDir('tagsmith-jupyter-');
      await fs.copyFile(EXAMPLE, path.join(folder, 'getting-started.ipynb'));
      await fs.mkdir(path.join(folder, 'node_modules'));
      await fs.symlink(ROOT, path.join(folder, 'node_modules', 'tagsmith'), 'dir');
      return folder;
    },
    cleanUp: removeDir,
  },
];

for (const setup of SETUPS) {
  describe(`the example notebook in Jupyter (tslab kernel), ${setup.name}`, { timeout: 600_000 }, () => {
    let server: CliServer;
    let folder: string | undefined;
    let outputDir: string | undefined;
    let cells: Cell[];

    before(async () => {
      const kernels = execFileSync(
        '/usr/bin/python3',
        ['-c', 'from jupyter_client.kernelspec import find_kernel_specs; print(" ".join(find_kernel_specs()))'],
        { encoding: 'utf8' },
      );
      assert.match(kernels, /\btslab\b/, 'register the kernel first: npx tslab install --python=/usr/bin/python3');
      server = await startCliServer();
      folder = await setup.prepare();
      outputDir = await tempDir('tagsmith-jupyter-out-');
      execFileSync(
        'jupyter',
        ['nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=300', '--output-dir', outputDir, 'getting-started.ipynb'],
        {
          cwd: folder,
          // The kernelspec runs `tslab`: the one this package depends on.
          env: { ...process.env, TAGSMITH_URL: server.url, PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}` },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 540_000,
        },
      );
      cells = (JSON.parse(await fs.readFile(path.join(outputDir, 'getting-started.ipynb'), 'utf8')) as { cells: Cell[] }).cells;
    });
    after(async () => {
      await server?.stop();
      if (server) await removeDir(server.stateDir);
      if (folder) await setup.cleanUp(folder);
      if (outputDir) await removeDir(outputDir);
    });

    const stdoutOf = (marker: string) => {
      const cell = cells.find((c) => c.cell_type === 'code' && joined(c.source).includes(marker));
      assert.ok(cell, `a cell with ${marker}`);
      assert.deepEqual(
        cell!.outputs!.filter((o) => o.output_type === 'error' || o.name === 'stderr'),
        [],
        `no errors in the cell with ${marker}`,
      );
      return cell!
        .outputs!.filter((o) => o.output_type === 'stream' && o.name === 'stdout')
        .map((o) => joined(o.text))
        .join('');
    };
    const displays = (mime: string) =>
      cells
        .flatMap((c) => c.outputs ?? [])
        .filter((o) => o.output_type === 'display_data' && o.data?.[mime])
        .map((o) => joined(o.data![mime]));

    it('runs every cell without an error', () => {
      const errors = cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'error' || o.name === 'stderr');
      assert.deepEqual(errors, []);
      const printedObjects = cells.flatMap((c) => c.outputs ?? []).filter((o) => /mime: '/.test(joined(o.text) + joined(o.data?.['text/plain'])));
      assert.deepEqual(printedObjects, [], 'displays are shown once, not printed as objects too');
      assert.match(stdoutOf('Tagsmith.connect()'), new RegExp(`Connected to the engine at ${server.url}`));
    });

    it('trains the tag with cross-validated metrics and shows them as a chart', () => {
      assert.match(stdoutOf('num_clusters: 2'), /F1 \d\.\d\d, ROC AUC \d\.\d\d, threshold \d\.\d\d/);
      const [chart] = displays('image/svg+xml');
      assert.match(chart, /<svg[\s\S]*“demo-stripes”: F1 \d\.\d\d[\s\S]*held-out positives? found/);
    });

    it('calls an unseen striped picture above the threshold, and shows HTML tables', () => {
      const striped = /unseen striped picture: demo-stripes ([01]\.\d\d) \(threshold ([01]\.\d\d)\) → yes/.exec(stdoutOf('predictCustom('));
      assert.ok(striped, 'the striped picture is called "yes"');
      assert.ok(Number(striped![1]) >= Number(striped![2]), `score ${striped![1]} is at or above threshold ${striped![2]}`);
      assert.match(stdoutOf('predictByFeatures('), /unseen blob picture, scored from its saved features: demo-stripes [01]\.\d\d → no/);
      const html = displays('text/html');
      assert.ok(
        html.some((h) => h.includes('class="tagsmith-samples"') && h.includes('data:image/webp;base64,')),
        'the sample grid',
      );
      assert.ok(
        html.some((h) => h.includes('class="tagsmith-predictions"') && (h.match(/<tr>/g) ?? []).length === 5),
        'a prediction table with a row per image',
      );
    });

    it('saves and restores the state', () => {
      const out = stdoutOf('tagsmith.backup(');
      assert.match(out, /after clean: no "demo-stripes"/);
      assert.match(out, /restored 1 tag\(s\) and 16 samples from a \d+ KB backup; "demo-stripes" trained again: true/);
    });
  });
}
