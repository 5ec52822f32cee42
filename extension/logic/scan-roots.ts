// Which folders the engine may scan (the workspace's folders on this machine's disk), and which
// paths lie inside a folder. No `vscode` here, so it is unit-tested directly.
import fs from 'node:fs/promises';
import path from 'node:path';

export interface WorkspaceFolderLike {
  uri: { scheme: string; fsPath: string };
}

/** The workspace folders on disk (`file:` ones; a remote or virtual folder has no path the engine could read), each once, in order. */
export function scanRootsOf(folders: readonly WorkspaceFolderLike[] | undefined): string[] {
  const roots = (folders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => path.resolve(f.uri.fsPath));
  return [...new Set(roots)];
}

/** The same folders, in any order. */
export function sameRoots(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((root) => right.has(root));
}

/** Whether `file` is `folder` or lies inside it (by name: links are the engine's to resolve). */
export function isUnder(file: string, folder: string): boolean {
  const relative = path.relative(folder, file);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/** The paths that lie in none of `roots`. */
export function outsideRoots(paths: readonly string[], roots: readonly string[]): string[] {
  return paths.filter((p) => !roots.some((root) => isUnder(p, root)));
}

/** The roots that are folders now (the engine refuses to start with a --scan-root that is not one), and those left out. */
export async function existingFolders(roots: readonly string[]): Promise<{ folders: string[]; missing: string[] }> {
  const isFolder = await Promise.all(
    roots.map((root) =>
      fs.stat(root).then(
        (s) => s.isDirectory(),
        () => false,
      ),
    ),
  );
  return { folders: roots.filter((_, i) => isFolder[i]), missing: roots.filter((_, i) => !isFolder[i]) };
}
