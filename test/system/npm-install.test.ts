// A fresh clone installed the README's way, with npm 11 and with npm 10 (what Node 20
// ships): onnxruntime-node's install script must not try to download its CUDA files (this
// machine cannot reach NuGet, so an attempt fails the install), and no npm command may warn
// about the project's configuration afterwards. Clones the committed HEAD of this repository.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/engine';
import { removeDir } from '../helpers/cli-server';

const ROOT = path.resolve(__dirname, '../..');
const CUDA_PROVIDER = 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so';

/** The machine's global npm config (its CA file), kept for the npm versions installed here. */
const GLOBAL_CONFIG = execFileSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).trim();
let emptyUserConfig = '';

/**
 * The environment of a user's shell with no ~/.npmrc of their own (this machine's sets options
 * npm 10 does not know): nothing this test run or CI set for npm.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_|^ONNXRUNTIME_NODE_INSTALL/i.test(key)));
  return {
    ...env,
    npm_config_userconfig: emptyUserConfig,
    npm_config_globalconfig: GLOBAL_CONFIG,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
}

function run(npm: string[], args: string[], cwd: string, env = userEnv()): { status: number | null; output: string } {
  const result = spawnSync(npm[0], [...npm.slice(1), ...args], { cwd, env, encoding: 'utf8', timeout: 600_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** That major version of npm, installed into a folder of its own, run with this Node. */
function installNpm(major: number, dir: string): string[] {
  execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', `npm@${major}`], { env: userEnv(), stdio: 'ignore' });
  return [process.execPath, path.join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js')];
}

const NPM_VERSIONS: { major: number; env?: () => NodeJS.ProcessEnv }[] = [
  // package.json's allowScripts: npm 11's own approval of install scripts skips it.
  { major: 11 },
  // npm 10 has no per-package approval; the README's install line for it sets the variable the
  // script itself reads.
  { major: 10, env: () => ({ ...userEnv(), ONNXRUNTIME_NODE_INSTALL: 'skip' }) },
];

for (const version of NPM_VERSIONS) {
  describe(`a clean clone installed with npm ${version.major}`, { timeout: 900_000 }, () => {
    let work: string;
    let clone: string;
    let npm: string[];
    /** `npm ci` in the clone, run once here: one test checks it, the other runs what it installed. */
    let install: { status: number | null; output: string };
    before(async () => {
      work = await tempDir('tagsmith-clone-');
      emptyUserConfig = path.join(work, 'npmrc');
      fs.writeFileSync(emptyUserConfig, '');
      npm = installNpm(version.major, path.join(work, 'npm'));
      assert.match(execFileSync(npm[0], [npm[1], '--version'], { encoding: 'utf8' }), new RegExp(`^${version.major}\\.`));
      clone = path.join(work, 'tagsmith');
      execFileSync('git', ['clone', '--quiet', ROOT, clone]);
      install = run(npm, ['ci', '--prefer-offline'], clone, version.env?.());
    });
    after(async () => {
      if (work) await removeDir(work);
    });

    it('installs offline without fetching CUDA files, builds and converts the model', () => {
      assert.equal(install.status, 0, install.output);
      assert.doesNotMatch(install.output, /nuget|CUDA/i);
      assert.equal(fs.existsSync(path.join(clone, CUDA_PROVIDER)), false, 'no CUDA provider was downloaded');
      assert.ok(fs.existsSync(path.join(clone, 'models', 'mobilenet_v2_140.onnx')), 'the model was converted');
      assert.ok(fs.existsSync(path.join(clone, 'models', 'mobilenet_v2_140.int8.onnx')), 'the int8 model was made');
      assert.ok(fs.existsSync(path.join(clone, 'dist', 'kernel', 'cli.js')), 'the bundles were built');
    });

    it('runs npm start, npm run and npx without a warning about the project config', () => {
      assert.equal(install.status, 0, install.output);
      for (const args of [
        ['exec', '--', 'tagsmith', '--help'],
        ['run', 'convert-models'],
        ['start', '--', '--port', 'not-a-port'],
      ]) {
        const { output } = run(npm, args, clone);
        assert.doesNotMatch(output, /npm warn/i, `npm ${args.join(' ')} warned:\n${output}`);
      }
    });
  });
}
