// Lets the notebooks in this folder `import { Tagsmith } from "tagsmith"` where they are, in a
// clone, as they would after `npm install tagsmith` next to a notebook of your own. tslab
// type-checks cells with classic node_modules resolution, which never finds the package a
// folder belongs to (Node itself would, through package.json's `exports`); so `npm ci` runs
// this to write a one-file package here that points at the built API. Not a symlink: a link
// back to the repository root would make a cycle for every tool that walks folders.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const examples = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(examples);
const target = path.join(examples, 'node_modules', 'tagsmith');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const fromTarget = (file) => path.relative(target, path.join(root, file)).split(path.sep).join('/');

fs.mkdirSync(target, { recursive: true });
const link = {
  name: pkg.name,
  version: pkg.version,
  private: true,
  description: `Written by examples/link-package.mjs: ${pkg.name} from this clone (${path.relative(examples, root) || '.'}).`,
  main: fromTarget(pkg.exports['.'].default),
  types: fromTarget(pkg.exports['.'].types),
};
fs.writeFileSync(path.join(target, 'package.json'), `${JSON.stringify(link, null, 2)}\n`);
