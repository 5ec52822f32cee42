// Builds a .vsix per platform (`npm run package:all`) or for this machine (`npm run package`).
//
// The extension's own files are built once (production bundles, models); each target then gets
// a staging folder, .cache/vsix/<target>/, holding a copy of package.json and package-lock.json
// and its own node_modules, installed by `npm ci` for that platform (--os/--cpu/--libc), so
// sharp's @img packages are the target's, fetched from the registry, and never this machine's.
// onnxruntime-node carries every platform's binaries in one package: all but the target's
// (and, there, all but the files its binding loads for CPU inference) are removed. Then vsce
// lists what .vscodeignore keeps, the notices are written for exactly that, and vsce packs it.
//
//   node --import tsx .ci/vsix/package-vsix.ts [--host | target…] [--jobs N]
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createVSIX, listFiles } from '@vscode/vsce';
import { bundledPackages, installedPackages, modelSources, renderNotices } from './notices';
import { hostTarget, LEFT_OUT, TARGETS, vsixFileName, type VsixTarget } from './targets';

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = path.join(ROOT, '.cache');
const OUT = path.join(ROOT, 'dist-vsix');
const NOTICES = 'THIRD_PARTY_NOTICES.txt';
/** Copied as they are into every package (with dist/ and models/). */
const TOP_FILES = ['README.md', 'LICENSE', 'CHANGELOG.md', '.vscodeignore'];

interface Manifest {
  name: string;
  version: string;
  scripts?: Record<string, string>;
  dependencies: Record<string, string>;
  repository?: { url: string };
}

const started = Date.now();
function log(target: string, message: string): void {
  console.log(`${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s [${target}] ${message}`);
}

/** npm as the user runs it, without what `npm run` put into our environment for our own script. */
function npmEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|command$|execpath$|node_execpath$)/.test(key)) delete env[key];
  }
  // Set by `npm run` from npm's own state, not the user's configuration; a child npm warns
  // about some as unknown, and `prefix` would point it at the global folder.
  for (const key of ['local_prefix', 'global_prefix', 'prefix', 'npm_version', 'user_agent', 'node_gyp', 'init_module', 'loglevel'])
    delete env[`npm_config_${key}`];
  return env;
}

function run(command: string, args: string[], cwd: string, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: npmEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${label}: \`${command} ${args.join(' ')}\` exited with ${code}\n${output.trim()}`));
    });
  });
}

const sha256 = (...parts: string[]) => crypto.createHash('sha256').update(parts.join('\0')).digest('hex');

/** The target's node_modules: the lock's production packages for its platform, as npm resolves them there. */
async function install(target: VsixTarget, dir: string, manifest: Manifest, lock: string): Promise<void> {
  const { scripts: _scripts, ...staged } = manifest; // no vscode:prepublish in the copy: the build ran once, above
  const ortVersion = target.onnxruntime.version;
  if (ortVersion) staged.dependencies = { ...staged.dependencies, 'onnxruntime-node': ortVersion };
  const packageJson = `${JSON.stringify(staged, null, 2)}\n`;
  const stamp = sha256(packageJson, lock, JSON.stringify([target.os, target.cpu, target.libc, target.onnxruntime.version, target.onnxruntime.files]));
  const stampFile = path.join(dir, 'node_modules', '.tagsmith-stamp');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), packageJson);
  fs.writeFileSync(path.join(dir, 'package-lock.json'), lock);
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) {
    log(target.name, 'node_modules up to date');
    return;
  }
  fs.rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true });
  const platform = [`--os=${target.os}`, `--cpu=${target.cpu}`, ...(target.libc ? [`--libc=${target.libc}`] : [])];
  // `npm ci` installs exactly the lock; with another onnxruntime-node, `npm install` keeps the
  // lock for everything else and resolves that one (and what it needs) anew, in the copy only.
  const command = ortVersion ? 'install' : 'ci';
  log(target.name, `npm ${command} --omit=dev ${platform.join(' ')}${ortVersion ? ` (onnxruntime-node ${ortVersion}: ${target.onnxruntime.why})` : ''}`);
  // --ignore-scripts: onnxruntime-node's install script would fetch CUDA files, and nothing
  // here may build or fetch anything for this machine.
  await run(
    'npm',
    [command, '--omit=dev', '--ignore-scripts', ...platform, '--no-audit', '--no-fund', '--prefer-offline', `--cache=${path.join(CACHE, 'npm')}`],
    dir,
    target.name,
  );
  pruneOnnxruntime(target, dir);
  fs.writeFileSync(stampFile, stamp);
}

/** Keeps only the target's onnxruntime binaries, and of those only the ones CPU inference loads. */
function pruneOnnxruntime(target: VsixTarget, dir: string): void {
  const bin = path.join(dir, 'node_modules', 'onnxruntime-node', 'bin');
  for (const napi of fs.readdirSync(bin)) {
    for (const os of fs.readdirSync(path.join(bin, napi))) {
      for (const cpu of fs.readdirSync(path.join(bin, napi, os))) {
        const folder = path.join(bin, napi, os, cpu);
        if (os !== target.os || cpu !== target.cpu) {
          fs.rmSync(folder, { recursive: true });
          continue;
        }
        const present = fs.readdirSync(folder);
        const missing = target.onnxruntime.files.filter((f) => !present.includes(f));
        if (missing.length)
          throw new Error(
            `${target.name}: onnxruntime-node has no ${missing.join(', ')} in ${path.relative(dir, folder)} (it has ${present.join(', ')}): update targets.ts`,
          );
        for (const file of present) if (!target.onnxruntime.files.includes(file)) fs.rmSync(path.join(folder, file));
      }
      if (fs.readdirSync(path.join(bin, napi, os)).length === 0) fs.rmdirSync(path.join(bin, napi, os));
    }
  }
}

/** The built extension (bundles, declarations, models) and the top-level files, fresh each time. */
function copyBuild(dir: string): void {
  for (const folder of ['dist', 'models']) fs.rmSync(path.join(dir, folder), { recursive: true, force: true });
  for (const folder of ['extension', 'kernel', 'webview', 'types'])
    fs.cpSync(path.join(ROOT, 'dist', folder), path.join(dir, 'dist', folder), { recursive: true });
  fs.mkdirSync(path.join(dir, 'models'));
  for (const file of fs.readdirSync(path.join(ROOT, 'models'))) {
    if (file === 'models.json' || file.endsWith('.onnx')) fs.copyFileSync(path.join(ROOT, 'models', file), path.join(dir, 'models', file));
  }
  for (const file of TOP_FILES) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
}

function writeNotices(target: VsixTarget, dir: string, manifest: Manifest, files: string[]): void {
  const metafile = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'metafile.json'), 'utf8'));
  const bundles = files.filter((f) => /^dist\/.*\.js$/.test(f));
  const notices = renderNotices({
    product: `${manifest.name} ${manifest.version} for ${target.name}`,
    models: modelSources(ROOT, JSON.parse(fs.readFileSync(path.join(ROOT, 'models', 'models.json'), 'utf8'))),
    installed: installedPackages(dir, files),
    bundled: bundledPackages(ROOT, metafile, bundles),
    projectLicense: fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'),
    licensesDir: path.join(__dirname, 'licenses'),
  });
  fs.writeFileSync(path.join(dir, NOTICES), notices);
}

/**
 * Where the README's relative links (CONTRIBUTING.md, docs/…) point in the Marketplace: vsce
 * finds GitHub and GitLab repositories itself and refuses to pack otherwise, so for any other
 * host the links go to package.json's repository, laid out the same way.
 */
function readmeLinks(manifest: Manifest): { baseContentUrl?: string; baseImagesUrl?: string } {
  const repo = manifest.repository?.url.replace(/^git\+/, '').replace(/\.git$/, '');
  if (!repo || /github\.com|gitlab\.com/.test(repo)) return {};
  return { baseContentUrl: `${repo}/blob/HEAD/`, baseImagesUrl: `${repo}/raw/HEAD/` };
}

async function packageTarget(target: VsixTarget, manifest: Manifest, lock: string): Promise<{ file: string; bytes: number; seconds: number }> {
  const started = Date.now();
  const dir = path.join(CACHE, 'vsix', target.name);
  await install(target, dir, manifest, lock);
  copyBuild(dir);
  fs.rmSync(path.join(dir, NOTICES), { force: true });
  const files = await listFiles({ cwd: dir });
  writeNotices(target, dir, manifest, files);
  log(target.name, `${NOTICES} written`);
  const file = path.join(OUT, vsixFileName(target.name, manifest.version));
  log(target.name, `packing ${files.length + 1} files`);
  await createVSIX({ cwd: dir, target: target.name, packagePath: file, dependencies: true, ...readmeLinks(manifest) });
  log(target.name, `${path.relative(ROOT, file)} written`);
  return { file, bytes: fs.statSync(file).size, seconds: (Date.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const jobsAt = args.indexOf('--jobs');
  const jobs = jobsAt >= 0 ? Number(args.splice(jobsAt, 2)[1]) : 3;
  let targets: VsixTarget[];
  if (args.includes('--host')) {
    const host = hostTarget();
    if (!host) throw new Error(`no .vsix target for ${process.platform}-${process.arch}`);
    targets = [host];
  } else if (args.length) {
    targets = args.map(
      (name) =>
        TARGETS.find((t) => t.name === name) ??
        (() => {
          throw new Error(`unknown target ${name}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
        })(),
    );
  } else {
    targets = [...TARGETS];
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const lock = fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8');
  log('all', 'building the production bundles (npm run vscode:prepublish)');
  await run('npm', ['run', 'vscode:prepublish'], ROOT, 'build');
  // The keywords model is an opt-in install for developers; every package ships it.
  log('all', 'installing the keywords model (npm run models:keywords)');
  await run('npm', ['run', 'models:keywords'], ROOT, 'keywords model');
  fs.mkdirSync(OUT, { recursive: true });
  for (const t of targets) fs.rmSync(path.join(OUT, vsixFileName(t.name, manifest.version)), { force: true });

  const results = new Map<string, { file: string; bytes: number; seconds: number }>();
  const queue = [...targets];
  const failures: Error[] = [];
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(jobs, queue.length)) }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        try {
          results.set(t.name, await packageTarget(t, manifest, lock));
        } catch (error) {
          failures.push(error as Error);
        }
      }
    }),
  );
  for (const t of targets) {
    const r = results.get(t.name);
    if (r) console.log(`${path.relative(ROOT, r.file).padEnd(45)} ${(r.bytes / 1e6).toFixed(1).padStart(5)} MB  ${r.seconds.toFixed(0)} s`);
  }
  console.log(`${results.size} of ${targets.length} packages in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (targets.length === TARGETS.length) for (const { name, why } of LEFT_OUT) console.log(`no package for ${name}: ${why}`);
  if (failures.length) {
    for (const f of failures) console.error(f.message);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
