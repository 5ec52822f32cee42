// `npm run test:vsix`, after `npm run package:all`: each platform's .vsix in dist-vsix/ checked
// without that platform. Its manifest names the target and VS Code version; every native file,
// found by its header, is that platform's format and architecture, and loads (each library it
// asks for is where that platform's loader looks, or is the system's); nothing of another
// platform came along; the runtime's own lookups (sharp's @img package, onnxruntime's
// bin/napi-v6/<platform>/<arch>) find their files; the models are the converted ones; the
// notices name exactly the packages inside; and it is under 60 MB. The package for this
// machine is also unpacked and run: the engine embeds images and the notebook kernel runs a
// cell, from the package alone. TAGSMITH_VSIX_TARGETS=linux-x64 checks only the ones named.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENTRY_HEADING } from '../../.ci/vsix/notices';
import { hostTarget, TARGETS, vsixFileName, type VsixTarget } from '../../.ci/vsix/targets';
import { KernelProcess } from '../../extension/notebook/kernel-process';
import { blobs, stripes } from '../helpers/images';
import { describe as describeBinary, inspectNatives, type Inspection } from './inspect-vsix';
import { readZip } from './zip';

const ROOT = path.resolve(__dirname, '..', '..');
const MAX_BYTES = 60 * 1024 * 1024;
const project = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  publisher: string;
  version: string;
  engines: { vscode: string };
  main: string;
};
const only = process.env.TAGSMITH_VSIX_TARGETS?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const targets = TARGETS.filter((t) => !only || only.includes(t.name));
const vsixPath = (t: VsixTarget) => path.join(ROOT, 'dist-vsix', vsixFileName(t.name, project.version));

it(`dist-vsix/ holds a .vsix for ${targets.map((t) => t.name).join(', ')}`, () => {
  const missing = targets.filter((t) => !fs.existsSync(vsixPath(t))).map((t) => vsixFileName(t.name, project.version));
  assert.deepEqual(missing, [], `run \`npm run package:all\` first (or set TAGSMITH_VSIX_TARGETS)`);
});

for (const target of targets) {
  describe(`${target.name} .vsix`, { skip: !fs.existsSync(vsixPath(target)) && 'not built' }, () => {
    let files: Map<string, Buffer>;
    let inspection: Inspection;
    const text = (file: string) => {
      const bytes = files.get(file);
      assert.ok(bytes, `${file} is missing`);
      return bytes.toString('utf8');
    };
    before(async () => {
      files = (await readZip(vsixPath(target))).files;
      inspection = inspectNatives(files, target);
    });
    after(() => files.clear());

    it('is under 60 MB', (t) => {
      const bytes = fs.statSync(vsixPath(target)).size;
      t.diagnostic(`${(bytes / 1e6).toFixed(1)} MB, ${files.size} files`);
      assert.ok(bytes < MAX_BYTES, `${(bytes / 1e6).toFixed(1)} MB`);
    });

    it('declares its target, version and VS Code engine', () => {
      const manifest = text('extension.vsixmanifest');
      const identity = /<Identity [^>]*\/>/.exec(manifest)?.[0] ?? '';
      assert.match(identity, new RegExp(`TargetPlatform="${target.name}"`));
      assert.match(identity, new RegExp(`Id="${project.name}" Version="${project.version}" Publisher="${project.publisher}"`));
      assert.match(manifest, new RegExp(`<Property Id="Microsoft.VisualStudio.Code.Engine" Value="\\${project.engines.vscode}" />`));
      const packaged = JSON.parse(text('extension/package.json')) as typeof project;
      assert.equal(packaged.engines.vscode, project.engines.vscode);
      assert.match(packaged.engines.vscode, /^\^\d+\.\d+\.\d+$/);
      assert.equal(packaged.version, project.version);
      assert.ok(files.has(path.posix.join('extension', packaged.main)), `main ${packaged.main} is missing`);
      // The Marketplace shows these.
      assert.match(manifest, /Type="Microsoft.VisualStudio.Services.Content.Changelog" Path="extension\/changelog.md"/);
      assert.match(manifest, /Type="Microsoft.VisualStudio.Services.Content.License" Path="extension\/LICENSE.txt"/);
      assert.match(
        text('extension/changelog.md'),
        new RegExp(`^## ${project.version.replace(/\./g, '\\.')}\\b`, 'm'),
        'the changelog has no entry for this version',
      );
    });

    it('holds the bundles, the notebook API declarations and the converted models', () => {
      for (const bundle of [
        'extension/extension.js',
        'kernel/cli.js',
        'kernel/index.js',
        'kernel/notebook.js',
        'kernel/notebook-kernel.js',
        'kernel/training-worker.js',
        'kernel/fit-worker.js',
        'webview/gallery.js',
        'webview/dashboard.js',
        'types/kernel/notebook.d.ts',
      ]) {
        assert.ok(files.has(`extension/dist/${bundle}`), `dist/${bundle} is missing`);
      }
      const models = JSON.parse(text('extension/models/models.json')) as {
        models: Record<string, { file: string; sha256: string; outputs: { nsfw?: { headFile?: string; headSha256?: string } } }>;
      };
      for (const model of Object.values(models.models)) {
        const expected: [string, string][] = [[model.file, model.sha256]];
        if (model.outputs.nsfw?.headFile && model.outputs.nsfw.headSha256) expected.push([model.outputs.nsfw.headFile, model.outputs.nsfw.headSha256]);
        for (const [file, sha256] of expected) {
          const bytes = files.get(`extension/models/${file}`);
          assert.ok(bytes, `models/${file} is missing`);
          assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), sha256, `models/${file} is not the converted model models.json names`);
        }
      }
    });

    it(`has only ${target.format === 'elf' ? 'ELF' : target.format === 'macho' ? 'Mach-O' : 'PE'} ${target.cpu} native files, each finding what it loads`, (t) => {
      for (const n of inspection.natives) t.diagnostic(`${n.path.replace('extension/node_modules/', '')}: ${describeBinary(n.binary)}`);
      t.diagnostic(
        `from the system: ${[...inspection.fromSystem.keys()]
          .filter((l) => !/^(api|ext)-ms-win-/i.test(l))
          .sort()
          .join(', ')}`,
      );
      if (inspection.minimums.length) t.diagnostic(`newest needed: ${inspection.minimums.join(', ')}`);
      t.diagnostic(`users need (targets.ts, README): ${target.requirements}`);
      for (const [library, by] of inspection.optionalAbsent)
        t.diagnostic(`absent but only loaded on demand: ${library} (by ${by.map((f) => path.basename(f)).join(', ')})`);
      assert.ok(inspection.natives.length >= 4, 'sharp, libvips and onnxruntime must be there');
      assert.deepEqual(inspection.problems, []);
    });

    it('holds no package or binary folder of another platform', () => {
      const img = new Set([...files.keys()].flatMap((f) => /^extension\/node_modules\/@img\/([^/]+)\//.exec(f)?.[1] ?? []));
      const allowed = new Set(['colour', `sharp-${target.os}-${target.cpu}`, `sharp-libvips-${target.os}-${target.cpu}`]);
      assert.deepEqual(
        [...img].filter((p) => !allowed.has(p)),
        [],
        "another platform's @img package",
      );
      const ortFolders = new Set(
        [...files.keys()].flatMap((f) => /^extension\/node_modules\/onnxruntime-node\/bin\/([^/]+\/[^/]+\/[^/]+)\//.exec(f)?.[1] ?? []),
      );
      assert.deepEqual([...ortFolders], [`napi-v6/${target.os}/${target.cpu}`]);
      assert.deepEqual(
        [...files.keys()].filter((f) => /node_modules\/(zeromq|cmake-ts)\//.test(f)),
        [],
        "zeromq is only for tslab's Jupyter front end",
      );
    });

    it('has the files sharp and onnxruntime-node require on that platform', () => {
      // sharp requires @img/sharp-<platform>-<arch>/sharp.node, which its package exports from index.cjs.
      const sharpPackage = `extension/node_modules/@img/sharp-${target.os}-${target.cpu}`;
      const exported = (JSON.parse(text(`${sharpPackage}/package.json`)) as { exports: Record<string, string> }).exports['./sharp.node'];
      const index = text(path.posix.join(sharpPackage, exported));
      const addon = /require\('(\.\/lib\/[^']+\.node)'\)/.exec(index)?.[1];
      assert.ok(addon, `${exported} requires no addon`);
      assert.ok(
        inspection.natives.some((n) => n.path === path.posix.join(sharpPackage, addon)),
        `${addon} is not a native file`,
      );
      assert.match(
        text('extension/node_modules/sharp/dist/sharp.cjs'),
        new RegExp(`case "${target.os}-${target.cpu}":\\s*sharp = require\\("@img/sharp-${target.os}-${target.cpu}/sharp.node"\\)`),
      );
      // onnxruntime-node requires ../bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node.
      assert.match(
        text('extension/node_modules/onnxruntime-node/dist/binding.js'),
        /require\(`\.\.\/bin\/napi-v6\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node`\)/,
      );
      const binding = `extension/node_modules/onnxruntime-node/bin/napi-v6/${target.os}/${target.cpu}/onnxruntime_binding.node`;
      assert.ok(
        inspection.natives.some((n) => n.path === binding),
        `${binding} is missing`,
      );
      const ortVersion = (JSON.parse(text('extension/node_modules/onnxruntime-node/package.json')) as { version: string }).version;
      const common = (JSON.parse(text('extension/node_modules/onnxruntime-common/package.json')) as { version: string }).version;
      assert.equal(common, ortVersion, 'onnxruntime-common must match onnxruntime-node');
      if (target.onnxruntime.version) assert.equal(ortVersion, target.onnxruntime.version);
    });

    it('has notices for exactly the packages inside, the bundled ones and the model weights', (t) => {
      const notices = parseNotices(text('extension/THIRD_PARTY_NOTICES.txt'));
      const described = (e: NoticeSection) => `${e.name}@${e.version} at ${e.where}`;
      // Every package folder in the .vsix (a package.json right under a node_modules/ folder).
      const shipped = [...files.keys()].flatMap((f) => {
        const folder = /^extension\/(.*node_modules\/(?:@[^/]+\/)?[^/]+)\/package\.json$/.exec(f)?.[1];
        if (!folder) return [];
        const pkg = JSON.parse(text(f)) as { name: string; version: string };
        return [`${pkg.name}@${pkg.version} at ${folder}`];
      });
      assert.deepEqual(
        notices
          .filter((e) => e.where.startsWith('node_modules/'))
          .map(described)
          .sort(),
        shipped.sort(),
      );
      // Every package esbuild put into a shipped bundle, by the build's metafile.
      const metafile = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'metafile.json'), 'utf8')) as {
        outputs: Record<string, { bytes: number; inputs: Record<string, unknown> }>;
      };
      const bundled = new Set<string>();
      for (const [output, { bytes, inputs }] of Object.entries(metafile.outputs)) {
        const inVsix = files.get(`extension/${output}`);
        if (!inVsix || !output.endsWith('.js')) continue;
        assert.equal(inVsix.length, bytes, `dist/metafile.json is not the build of ${output} in the .vsix: run npm run package:all again`);
        for (const input of Object.keys(inputs)) {
          const folder = [...input.matchAll(/node_modules\/(?:@[^/]+\/)?[^/]+(?=\/)/g)]
            .map((m) => input.slice(0, m.index + m[0].length))
            .reverse()
            .find((f) => fs.existsSync(path.join(ROOT, f, 'package.json')));
          if (!folder) continue;
          const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, folder, 'package.json'), 'utf8')) as { name: string; version: string };
          bundled.add(`${pkg.name}@${pkg.version}`);
        }
      }
      const listedBundled = new Set(notices.filter((e) => e.where.startsWith('bundled in ')).map((e) => `${e.name}@${e.version}`));
      assert.deepEqual([...listedBundled].sort(), [...bundled].sort());
      // The weights: models.json's source package.
      const models = JSON.parse(text('extension/models/models.json')) as {
        models: Record<string, { file: string; source?: { package: string; version: string } }>;
      };
      for (const model of Object.values(models.models)) {
        if (!model.source) continue;
        const entry = notices.find((e) => e.name === model.source!.package && e.version === model.source!.version);
        assert.ok(entry, `no notice for the weights' source ${model.source.package}@${model.source.version}`);
        assert.match(entry.where, new RegExp(`weights of .*models/${model.file.replace(/\./g, '\\.')}`));
      }
      // Each section carries licence text; LGPL ones the LGPL and the GPL it adds to.
      for (const entry of notices) {
        assert.match(
          entry.body,
          /permission|licen[cs]ed under|terms and conditions|redistribution and use|GNU|copyright/i,
          `${entry.name}'s notice has no licence text`,
        );
        if (/LGPL/.test(entry.license)) {
          assert.match(entry.body, /GNU LESSER GENERAL PUBLIC LICENSE\s+Version 3, 29 June 2007/, `${entry.name}: no LGPL-3.0 text`);
          assert.match(entry.body, /GNU GENERAL PUBLIC LICENSE\s+Version 3, 29 June 2007/, `${entry.name}: no GPL-3.0 text`);
        }
      }
      const lgpl = notices.filter((e) => /LGPL/.test(e.license)).map((e) => `${e.name}@${e.version}`);
      t.diagnostic(`${notices.length} notices (${shipped.length} in node_modules, ${bundled.size} bundled); LGPL: ${lgpl.join(', ')}`);
      assert.ok(lgpl.length > 0, 'libvips (LGPL-3.0-or-later) ships in every package');
    });
  });
}

interface NoticeSection {
  name: string;
  version: string;
  license: string;
  where: string;
  body: string;
}

/** The sections of THIRD_PARTY_NOTICES.txt: a heading between two rules, then the texts. */
function parseNotices(notices: string): NoticeSection[] {
  const lines = notices.split('\n');
  const sections: NoticeSection[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^=+$/.test(lines[i])) continue;
    const heading = ENTRY_HEADING.exec(lines[i + 1] ?? '');
    if (!heading) continue;
    let start = i + 2;
    while (start < lines.length && !/^=+$/.test(lines[start])) start++;
    let end = start + 1;
    while (end < lines.length && !(/^=+$/.test(lines[end]) && ENTRY_HEADING.test(lines[end + 1] ?? ''))) end++;
    sections.push({ name: heading[1], version: heading[2], license: heading[3], where: heading[4], body: lines.slice(start + 1, end).join('\n') });
    i = end - 1;
  }
  return sections;
}

const host = hostTarget();
describe(
  `the ${host?.name ?? 'host'} .vsix on this machine`,
  { skip: (!host || !targets.includes(host) || !fs.existsSync(vsixPath(host))) && 'no package for this machine', timeout: 300_000 },
  () => {
    let dir: string;
    let images: string[];
    let embedded: { file: string; features: number[]; nsfw: Record<string, number> }[];

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagsmith-vsix-'));
      for (const [file, bytes] of (await readZip(vsixPath(host!))).files) {
        fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), bytes);
      }
      images = [path.join(dir, 'blobs.jpg'), path.join(dir, 'stripes.png')];
      await blobs(200, 150, 7).jpeg().toFile(images[0]);
      await stripes(120, 160, 9, [200, 30, 30], [20, 20, 20]).png().toFile(images[1]);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('embeds images with its own sharp and onnxruntime', (t) => {
      const run = embed(path.join(dir, 'extension'), images);
      embedded = run.results;
      assert.equal(embedded.length, 2);
      for (const e of embedded) assert.equal(e.features.length, 1792);
      // Everything native the engine loaded came from the unpacked package, not this project's node_modules.
      const outside = run.loaded.filter((f) => /sharp|vips|onnxruntime/.test(f) && !f.startsWith(dir));
      assert.deepEqual(outside, []);
      t.diagnostic(
        `loaded: ${
          run.loaded
            .filter((f) => f.startsWith(dir))
            .map((f) => path.relative(path.join(dir, 'extension', 'node_modules'), f))
            .join(', ') || '(not listed on this platform)'
        }`,
      );
    });

    it('runs a notebook cell in its tslab kernel, without zeromq', async () => {
      const kernel = await KernelProcess.start({ scriptPath: path.join(dir, 'extension', 'dist', 'kernel', 'notebook-kernel.js'), cwd: dir });
      try {
        let out = '';
        const ok = await kernel.execute(
          'import { writeDemoImages } from "tagsmith";\nconst written = await writeDemoImages("demo", 2);\nconsole.log(written.blobs.length + written.stripes.length);',
          (o) => {
            if (o.kind !== 'display') out += o.text;
          },
        );
        assert.equal(ok, true, out);
        assert.equal(out.trim(), '4');
      } finally {
        kernel.dispose();
      }
    });

    for (const other of TARGETS.filter((t) => t.onnxruntime.version)) {
      it(`gives the same features with onnxruntime-node ${other.onnxruntime.version}, which the ${other.name} package carries`, () => {
        assert.ok(embedded, 'the embedding test ran first');
        const copy = path.join(dir, `with-onnxruntime-${other.onnxruntime.version}`);
        fs.cpSync(path.join(dir, 'extension'), copy, { recursive: true });
        const packs = path.join(ROOT, '.cache', 'npm-packs');
        fs.mkdirSync(packs, { recursive: true });
        for (const name of ['onnxruntime-node', 'onnxruntime-common']) {
          const tarball = path.join(packs, `${name}-${other.onnxruntime.version}.tgz`);
          if (!fs.existsSync(tarball))
            execFileSync('npm', ['pack', `${name}@${other.onnxruntime.version}`, '--silent', `--cache=${path.join(ROOT, '.cache', 'npm')}`], { cwd: packs });
          const destination = path.join(copy, 'node_modules', name);
          fs.rmSync(destination, { recursive: true, force: true });
          fs.mkdirSync(destination);
          execFileSync('tar', ['xzf', tarball, '-C', destination, '--strip-components=1']);
        }
        const again = embed(copy, images).results;
        for (let i = 0; i < embedded.length; i++) {
          const delta = Math.max(...embedded[i].features.map((v, j) => Math.abs(v - again[i].features[j])));
          assert.ok(delta <= 1e-5, `${path.basename(images[i])}: features differ by up to ${delta}`);
          assert.deepEqual(again[i].nsfw, embedded[i].nsfw);
        }
      });
    }
  },
);

/** Embeds `images` with the engine of an unpacked extension folder, in a process of its own. */
function embed(extensionDir: string, images: string[]): { results: { file: string; features: number[]; nsfw: Record<string, number> }[]; loaded: string[] } {
  const script = `
    const fs = require('node:fs');
    const { FeatureExtractor } = require('./dist/kernel/index.js');
    (async () => {
      const extractor = await FeatureExtractor.create({ backbone: 'mobilenet_v2_140', threads: 1 });
      const results = [];
      for (const file of JSON.parse(process.argv[1])) {
        const e = await extractor.embed(fs.readFileSync(file));
        results.push({ file, features: Array.from(e.features), nsfw: e.nsfw });
      }
      await extractor.release();
      const maps = fs.existsSync('/proc/self/maps') ? fs.readFileSync('/proc/self/maps', 'utf8') : '';
      const loaded = [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/)[5]).filter((f) => f && /\\.(node|so[.0-9]*)$/.test(f)))];
      process.stdout.write(JSON.stringify({ results, loaded }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const run = spawnSync(process.execPath, ['-e', script, JSON.stringify(images)], {
    cwd: extensionDir,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}
