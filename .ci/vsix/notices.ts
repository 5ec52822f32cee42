// THIRD_PARTY_NOTICES.txt for one .vsix, written from what that .vsix holds: every package under
// its node_modules (read from the package's own package.json and licence files), every package
// esbuild bundled into its dist/ files (from the build's metafile), and the npm package the
// model weights were converted from (models.json's `source`). Nothing here is typed by hand
// except the licence texts a package declares but does not carry (licenses/).
import fs from 'node:fs';
import path from 'node:path';
import type { KeywordModelEntry } from '../../models/manifest';
import { keywordSourceDir } from '../../models/install-keywords';

export interface NoticeEntry {
  name: string;
  version: string;
  /** The package.json `license` expression. */
  license: string;
  /** Where it is in the .vsix: its folder, the bundles it is part of, or the model files made from it. */
  where: string;
  /** The installed package's folder, where its licence files are read. */
  dir: string;
}

/** The heading of each entry: `name@version  (license)  where`; test/vsix/vsix.test.ts reads it back. */
export const ENTRY_HEADING = /^(@?[^@\s]+)@(\S+) {2}\((.+)\) {2}(.+)$/;
const RULE = '='.repeat(96);

interface PackageJson {
  name: string;
  version: string;
  license?: string | { type: string };
  licenses?: { type: string }[];
  author?: string | { name: string };
  contributors?: (string | { name: string })[];
  repository?: string | { url: string };
  homepage?: string;
}

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

function licenseOf(pkg: PackageJson): string {
  if (typeof pkg.license === 'string') return pkg.license;
  if (pkg.license?.type) return pkg.license.type;
  if (pkg.licenses?.length) return pkg.licenses.map((l) => l.type).join(' OR ');
  throw new Error(`${pkg.name}@${pkg.version} declares no licence: decide whether it may ship`);
}

/**
 * `a/node_modules/@s/b/c.js` → `a/node_modules/@s/b`: the deepest package folder a path is in,
 * that is, with a package.json (`isPackage`): a package's test fixtures may be called node_modules.
 */
export function packageRoot(file: string, isPackage: (folder: string) => boolean): string | undefined {
  const folders = [...file.matchAll(/node_modules\/(?:@[^/]+\/)?[^/]+(?=\/)/g)].map((m) => file.slice(0, m.index + m[0].length));
  return folders.reverse().find(isPackage);
}

/** The packages whose files are in the .vsix, from its file list (paths relative to `root`). */
export function installedPackages(root: string, files: readonly string[]): NoticeEntry[] {
  const listed = new Set(files);
  const roots = new Set(files.map((f) => packageRoot(f, (folder) => listed.has(`${folder}/package.json`))).filter((r): r is string => r !== undefined));
  return [...roots].sort().map((folder) => {
    const pkg = readJson<PackageJson>(path.join(root, folder, 'package.json'));
    return { name: pkg.name, version: pkg.version, license: licenseOf(pkg), where: folder, dir: path.join(root, folder) };
  });
}

interface Metafile {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

/** The packages esbuild put into the shipped bundles (`bundles`: paths like dist/kernel/cli.js). */
export function bundledPackages(projectDir: string, metafile: Metafile, bundles: readonly string[]): NoticeEntry[] {
  const found = new Map<string, { dir: string; bundles: Set<string> }>();
  for (const bundle of bundles) {
    for (const input of Object.keys(metafile.outputs[bundle]?.inputs ?? {})) {
      const folder = packageRoot(input, (f) => fs.existsSync(path.join(projectDir, f, 'package.json')));
      if (!folder) continue;
      const entry = found.get(folder) ?? { dir: path.join(projectDir, folder), bundles: new Set() };
      entry.bundles.add(bundle);
      found.set(folder, entry);
    }
  }
  return [...found.values()]
    .map(({ dir, bundles: into }) => {
      const pkg = readJson<PackageJson>(path.join(dir, 'package.json'));
      return { name: pkg.name, version: pkg.version, license: licenseOf(pkg), where: `bundled in ${[...into].sort().join(', ')}`, dir };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

interface ModelsManifest {
  models: Record<string, { file: string; outputs: { nsfw?: { headFile?: string } }; source?: { package: string; version: string; license: string } }>;
  keywords?: KeywordModelEntry;
}

/** The npm packages the shipped model files were converted from, at the version models.json pins. */
export function modelSources(projectDir: string, manifest: ModelsManifest): NoticeEntry[] {
  const bySource = new Map<string, { name: string; version: string; files: Set<string> }>();
  for (const model of Object.values(manifest.models)) {
    if (!model.source) continue;
    const key = `${model.source.package}@${model.source.version}`;
    const entry = bySource.get(key) ?? { name: model.source.package, version: model.source.version, files: new Set() };
    entry.files.add(`models/${model.file}`);
    if (model.outputs.nsfw?.headFile) entry.files.add(`models/${model.outputs.nsfw.headFile}`);
    bySource.set(key, entry);
  }
  const keywords = manifest.keywords;
  const fromCache: NoticeEntry[] = [];
  if (keywords && fs.existsSync(path.join(projectDir, 'models', keywords.file))) {
    // Not a dependency: `npm run models:keywords` extracted its package.json and licence into .cache/.
    const dir = keywordSourceDir(keywords, path.join(projectDir, '.cache'));
    const pkg = readJson<PackageJson>(path.join(dir, 'package.json'));
    if (pkg.version !== keywords.source.version)
      throw new Error(
        `models.json says the keywords model comes from ${keywords.source.package}@${keywords.source.version}, but ${dir} holds ${pkg.version}: run npm run models:keywords`,
      );
    fromCache.push({ name: keywords.source.package, version: pkg.version, license: licenseOf(pkg), where: `weights of models/${keywords.file}`, dir });
  }
  return [
    ...[...bySource.values()].map(({ name, version, files }) => {
      const dir = path.join(projectDir, 'node_modules', name);
      const pkg = readJson<PackageJson>(path.join(dir, 'package.json'));
      if (pkg.version !== version) throw new Error(`models.json says the weights come from ${name}@${version}, but ${pkg.version} is installed`);
      return { name, version, license: licenseOf(pkg), where: `weights of ${[...files].sort().join(', ')}`, dir };
    }),
    ...fromCache,
  ];
}

const LICENCE_FILE = /^(licen[cs]e|copying|notice|third.?party.?notice(s|text)?)([-._].*)?$/i;

function licenceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && LICENCE_FILE.test(e.name))
    .map((e) => e.name)
    .sort();
}

/** Copyright lines in a package's own JavaScript, for a package that carries no licence file. */
function copyrightLines(dir: string): string[] {
  const lines = new Set<string>();
  const visit = (folder: string, depth: number) => {
    for (const e of fs.readdirSync(folder, { withFileTypes: true })) {
      if (e.name === 'node_modules') continue;
      const full = path.join(folder, e.name);
      if (e.isDirectory() && depth < 3) visit(full, depth + 1);
      else if (e.isFile() && /\.(c|m)?js$/.test(e.name)) {
        const head = fs.readFileSync(full, 'utf8').slice(0, 2000);
        for (const m of head.matchAll(/Copyright\s+(?:\(c\)|©)\s*[^\n*]+/gi)) lines.add(m[0].trim());
      }
    }
  };
  visit(dir, 0);
  return [...lines].sort();
}

/** The package.json's author, else its contributors: the holders a package without a licence file names. */
function holdersOf(pkg: PackageJson): string | undefined {
  const name = (person: string | { name: string }) => (typeof person === 'string' ? person : person.name).replace(/\s*[<(].*$/, '');
  if (pkg.author) return name(pkg.author);
  if (pkg.contributors?.length) return `${pkg.contributors.map(name).join(', ')} (its contributors)`;
  return undefined;
}

/** A licence file's text: UTF-8, or Latin-1 for the few older files written in it (a © that is not UTF-8). */
function readText(file: string): string {
  const bytes = fs.readFileSync(file);
  const utf8 = bytes.toString('utf8');
  return utf8.includes('\uFFFD') ? bytes.toString('latin1') : utf8;
}

function sourceOf(pkg: PackageJson): string | undefined {
  const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  return repo?.replace(/^git\+/, '') ?? pkg.homepage;
}

/** The Licensing section of a README (sharp's libvips packages list their libraries there). */
function licensingSection(dir: string): string | undefined {
  const readme = path.join(dir, 'README.md');
  if (!fs.existsSync(readme)) return undefined;
  const match = /^## Licensing\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(fs.readFileSync(readme, 'utf8'));
  return match?.[1].trim();
}

function noticeText(entry: NoticeEntry, standardTexts: { mit: string; lgpl3: string; gpl3: string }): string {
  const pkg = readJson<PackageJson>(path.join(entry.dir, 'package.json'));
  const parts: string[] = [];
  const files = licenceFiles(entry.dir);
  for (const file of files) parts.push(`--- ${file} ---\n${readText(path.join(entry.dir, file)).trim()}`);
  const ids = entry.license
    .split(/\s+(?:AND|OR|WITH)\s+|[()]/)
    .map((s) => s.trim())
    .filter(Boolean);
  const carried = parts.join('\n');
  if (files.length === 0) {
    for (const id of ids) {
      if (id === 'MIT') {
        const lines = copyrightLines(entry.dir);
        const holders = holdersOf(pkg);
        if (!lines.length && !holders)
          throw new Error(`${entry.name}@${entry.version} carries no licence file and names no copyright holder: decide its notice by hand`);
        const header = lines.length ? lines.join('\n') : `Copyright (c) ${holders}`;
        parts.push(
          `--- The package carries no licence file; its package.json says MIT. The MIT License, with the holders ${lines.length ? 'its source files name' : 'its package.json names'}: ---\n${header}\n\n${standardTexts.mit}`,
        );
      } else if (!/^LGPL-/.test(id)) {
        throw new Error(
          `${entry.name}@${entry.version} (${entry.license}) carries no licence file and there is no standard text for ${id} in .ci/vsix/licenses/`,
        );
      }
    }
  }
  if (ids.some((id) => /^LGPL-/.test(id))) {
    const section = licensingSection(entry.dir);
    if (section) parts.push(`--- Licensing (from its README.md) ---\n${section}`);
    const versions = path.join(entry.dir, 'versions.json');
    if (fs.existsSync(versions)) parts.push(`--- The libraries' versions (versions.json) ---\n${fs.readFileSync(versions, 'utf8').trim()}`);
    parts.push(
      `--- Source and relinking ---\nThe LGPL-licensed libraries are the shared libraries in ${entry.where}, used unmodified as ` +
        `published in ${entry.name}@${entry.version} (source: ${sourceOf(pkg) ?? 'its npm package'}). You may replace them with ` +
        'your own build of the same libraries in that folder.',
    );
    if (!/GNU LESSER GENERAL PUBLIC LICENSE/.test(carried)) parts.push(`--- GNU Lesser General Public License, version 3 ---\n${standardTexts.lgpl3}`);
    if (!/GNU GENERAL PUBLIC LICENSE\s+Version 3/.test(carried))
      parts.push(`--- GNU General Public License, version 3 (which the LGPL-3.0 adds to) ---\n${standardTexts.gpl3}`);
  }
  const source = sourceOf(pkg);
  return [
    RULE,
    `${entry.name}@${entry.version}  (${entry.license})  ${entry.where}`,
    ...(source ? [`Source: ${source}`] : []),
    RULE,
    '',
    parts.join('\n\n'),
    '',
  ].join('\n');
}

export interface NoticeInput {
  product: string;
  models: NoticeEntry[];
  installed: NoticeEntry[];
  bundled: NoticeEntry[];
  /** The project's own LICENSE (MIT): its permission text is the MIT template. */
  projectLicense: string;
  licensesDir: string;
}

export function renderNotices(input: NoticeInput): string {
  const mit = input.projectLicense
    .replace(/^MIT License\s*\n/, '')
    .replace(/^Copyright.*\n/m, '')
    .trim();
  const standardTexts = {
    mit,
    lgpl3: fs.readFileSync(path.join(input.licensesDir, 'LGPL-3.0.txt'), 'utf8').trim(),
    gpl3: fs.readFileSync(path.join(input.licensesDir, 'GPL-3.0.txt'), 'utf8').trim(),
  };
  // A package nested in another's node_modules is listed with its folder, so two versions of one package tell apart.
  const list = (title: string, entries: NoticeEntry[]) => [
    title,
    ...entries.map((e) => `  ${e.name}@${e.version} (${e.license})${/node_modules\/.*node_modules\//.test(e.where) ? `  in ${e.where}` : ''}`),
    '',
  ];
  const all = [...input.models, ...input.installed, ...input.bundled];
  return [
    'THIRD-PARTY SOFTWARE NOTICES AND INFORMATION',
    input.product,
    '',
    'Tagsmith itself is under the MIT License (LICENSE). This package also holds the software',
    'below, each under its own licence; their notices follow, one section each. The list is',
    'generated from the package itself (.ci/vsix/notices.ts) and checked by test/vsix/vsix.test.ts.',
    '',
    ...list('Model weights (converted to ONNX when Tagsmith is built):', input.models),
    ...list('Packages in node_modules/:', input.installed),
    ...list('Packages bundled into dist/ by esbuild:', input.bundled),
    ...all.map((e) => noticeText(e, standardTexts)),
  ].join('\n');
}
