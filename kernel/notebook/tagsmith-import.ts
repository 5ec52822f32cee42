// Makes `import { Tagsmith } from "tagsmith"` work in the VS Code kernel wherever the notebook
// lives: the package this kernel ships in answers for "tagsmith", both for tslab's type checker
// (which looks for <notebook folder>/node_modules/tagsmith) and for `require` at run time.
// tslab does the same for "tslab" itself.
import Module from 'node:module';
import path from 'node:path';

interface TsSys {
  fileExists(p: string): boolean;
  directoryExists(p: string): boolean;
  readFile(p: string, encoding?: string): string | undefined;
  realpath?(p: string): string;
}

export function makeTagsmithImportable(packageRoot: string, notebookDir: string): void {
  const virtualRoot = path.join(notebookDir, 'node_modules', 'tagsmith');
  const forward = (p: string) => {
    const rel = path.relative(virtualRoot, p);
    return rel.startsWith('..') || path.isAbsolute(rel) ? p : path.join(packageRoot, rel);
  };
  const ts = require('@tslab/typescript-for-tslab') as { sys: TsSys };
  const sys = ts.sys;
  const { fileExists, directoryExists, readFile, realpath } = sys;
  sys.fileExists = (p) => fileExists.call(sys, forward(p));
  sys.directoryExists = (p) => directoryExists.call(sys, forward(p));
  sys.readFile = (p, encoding) => readFile.call(sys, forward(p), encoding);
  if (realpath) sys.realpath = (p) => realpath.call(sys, forward(p));

  const entry = path.join(packageRoot, 'dist', 'kernel', 'notebook.js');
  const modules = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = modules._resolveFilename;
  modules._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'tagsmith' ? entry : resolve.call(this, request, ...rest);
  };
}
