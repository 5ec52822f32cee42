// One build script, one entry per target (extension: CommonJS for VS Code; kernel and the
// model converter: Node; webview: browser). Types are checked separately by `tsc --noEmit`.
import * as esbuild from 'esbuild';
import fs from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning' };
// Native addons and packages that read files next to themselves stay outside the bundles.
const nodeExternals = ['sharp', 'onnxruntime-node', 'tslab', '@tslab/typescript-for-tslab', 'typescript'];

const node = { ...common, platform: 'node', format: 'cjs', target: 'node20', external: nodeExternals };
const browser = { ...common, platform: 'browser', format: 'iife', target: 'es2022' };
const targets = [
  {
    ...node,
    entryPoints: {
      ...entries('kernel', ['cli', 'index', 'notebook']),
      'kernel/training-worker': 'kernel/training/training-worker.ts',
      'kernel/fit-worker': 'kernel/ml/fit-worker.ts',
      'kernel/inference-worker': 'kernel/features/inference-worker.ts',
      'kernel/notebook-kernel': 'kernel/notebook/kernel-main.ts',
    },
  },
  { ...node, entryPoints: entries('models', ['convert', 'install-keywords']), external: ['nsfwjs', ...nodeExternals] },
  { ...node, entryPoints: entries('extension', ['extension']), external: ['vscode', ...nodeExternals] },
  { ...browser, entryPoints: entries('webview', ['gallery', 'dashboard', 'review']) },
].filter((t) => Object.keys(t.entryPoints).length > 0);

/** `{ 'dir/name': 'dir/name.ts' }` for the entry files that exist. */
function entries(dir, names) {
  const present = names.filter((name) => fs.existsSync(`${dir}/${name}.ts`));
  return Object.fromEntries(present.map((name) => [`${dir}/${name}`, `${dir}/${name}.ts`]));
}

// A production build also records which source files went into each bundle
// (dist/metafile.json), so the .vsix's third-party notices name every package bundled in it.
const outputs = {};
for (const options of targets) {
  const config = { ...options, outdir: 'dist', metafile: production };
  if (watch) await (await esbuild.context(config)).watch();
  else Object.assign(outputs, (await esbuild.build(config)).metafile?.outputs);
}
if (production) fs.writeFileSync('dist/metafile.json', JSON.stringify({ outputs }));
