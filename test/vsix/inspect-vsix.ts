// What a .vsix holds, judged against its target without that platform: every native file found
// by its header (whatever its name) and its format and architecture; whether each library it
// asks the loader for is in the package where that platform's loader looks (ELF RUNPATH with
// $ORIGIN, Mach-O @rpath/@loader_path, a Windows DLL's own folder) or is the system's; and
// whether any other platform's package or binary folder came along.
import path from 'node:path/posix';
import type { VsixTarget } from '../../.ci/vsix/targets';
import { readNativeBinary, type NativeBinary } from './native-binary';

export interface NativeFile {
  path: string;
  binary: NativeBinary;
}

export interface Inspection {
  natives: NativeFile[];
  /** One sentence per thing wrong; empty when the package is right for its target. */
  problems: string[];
  /** Libraries the system must provide, with the files that ask for them. */
  fromSystem: Map<string, string[]>;
  /** Delay-loaded or weak libraries that are absent (loaded only by features never used). */
  optionalAbsent: Map<string, string[]>;
  /** The newest symbol versions (ELF) or the newest minimum macOS the natives need. */
  minimums: string[];
}

/** What each platform provides by itself. Anything else a native file needs must be in the package. */
const SYSTEM_LIBRARIES: Record<VsixTarget['os'], RegExp[]> = {
  linux: [
    /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libresolv\.so\.2|libgcc_s\.so\.1|libstdc\+\+\.so\.6|ld-linux-(x86-64|aarch64)\.so\.[12])$/,
  ],
  darwin: [/^\/usr\/lib\/[^/]+\.dylib$/, /^\/System\/Library\/Frameworks\//],
  win32: [
    /^(kernel32|user32|advapi32|gdi32|ole32|oleaut32|shell32|shlwapi|ws2_32|iphlpapi|dnsapi|setupapi|dbghelp|bcrypt|bcryptprimitives|crypt32|ntdll|d3d12|dxgi|version|winmm|psapi|userenv|secur32|rpcrt4|cfgmgr32)\.dll$/i,
    /^(api|ext)-ms-win-[a-z0-9-]+\.dll$/i,
    // The Visual C++ runtime: a system component once the redistributable is installed (targets.ts says so to users).
    /^(msvcp140(_1|_2|_atomic_wait|_codecvt_ids)?|vcruntime140(_1)?|concrt140|vcomp140)\.dll$/i,
    // Node addons import the host's N-API from "node.exe"; node's delay-load hook binds it to the running process.
    /^node\.exe$/i,
  ],
};

const NATIVE_NAME = /\.(node|dylib|dll|exe)$|\.so(\.\d+)*$/i;
const OS_CPU_IN_PATH = /(?:^|\/)(linux|linuxmusl|darwin|win32|freebsd|alpine)[-/](x64|arm64|ia32|arm|armhf|armv7|x86)(?=$|[-/.])/;

export function inspectNatives(files: Map<string, Buffer>, target: VsixTarget): Inspection {
  const problems: string[] = [];
  const natives: NativeFile[] = [];
  for (const [file, bytes] of files) {
    const binary = readNativeBinary(bytes);
    if (binary) natives.push({ path: file, binary });
    else if (NATIVE_NAME.test(file)) problems.push(`${file} is named like a native file but has no ELF, Mach-O or PE header`);
    const platformInPath = OS_CPU_IN_PATH.exec(file);
    if (platformInPath && !(platformInPath[1] === target.os && platformInPath[2] === target.cpu)) {
      problems.push(`${file} is in a folder for ${platformInPath[1]}-${platformInPath[2]}`);
    }
  }

  for (const { path: file, binary } of natives) {
    const what = `${file} (${describe(binary)})`;
    if (binary.format !== target.format) problems.push(`${what} is not ${target.format}`);
    if (binary.arches.length !== 1 || binary.arches[0] !== target.cpu) problems.push(`${what} is not ${target.cpu} only`);
    if (binary.bits !== 64) problems.push(`${what} is not 64-bit`);
    if (binary.libc === 'musl') problems.push(`${what} is linked against musl (Alpine), not glibc`);
  }

  const fromSystem = new Map<string, string[]>();
  const optionalAbsent = new Map<string, string[]>();
  const note = (map: Map<string, string[]>, library: string, file: string) => map.set(library, [...(map.get(library) ?? []), file]);
  for (const { path: file, binary } of natives) {
    for (const [library, required] of [...binary.needs.map((n) => [n, true] as const), ...binary.optionalNeeds.map((n) => [n, false] as const)]) {
      if (findInPackage(files, file, binary, library)) continue;
      if (SYSTEM_LIBRARIES[target.os].some((re) => re.test(library))) note(fromSystem, library, file);
      else if (!required) note(optionalAbsent, library, file);
      else problems.push(`${file} needs ${library}, which is neither in the package where the loader looks nor part of ${target.os}`);
    }
  }
  return { natives, problems, fromSystem, optionalAbsent, minimums: minimums(natives) };
}

export function describe(binary: NativeBinary): string {
  const format = { elf: 'ELF', macho: 'Mach-O', pe: 'PE' }[binary.format];
  return `${format} ${binary.bits}-bit ${binary.arches.join('+')} ${binary.kind}`;
}

/** The file the platform's loader would find for `library` when `file` asks for it, if it is in the package. */
function findInPackage(files: Map<string, Buffer>, file: string, binary: NativeBinary, library: string): string | undefined {
  const folder = path.dirname(file);
  const has = (candidate: string) => (files.has(candidate) ? candidate : undefined);
  switch (binary.format) {
    case 'elf': {
      if (library.includes('/')) return has(path.normalize(library.startsWith('/') ? library : path.join(folder, library)));
      // DT_RUNPATH/DT_RPATH, with $ORIGIN the folder of the file asking.
      for (const entry of binary.searchPaths) {
        if (!/^\$(ORIGIN|\{ORIGIN\})/.test(entry)) continue;
        const found = has(path.normalize(path.join(entry.replace(/^\$(ORIGIN|\{ORIGIN\})/, folder), library)));
        if (found) return found;
      }
      return undefined;
    }
    case 'macho': {
      if (library.startsWith('@loader_path/')) return has(path.normalize(path.join(folder, library.slice('@loader_path/'.length))));
      if (library.startsWith('@rpath/')) {
        for (const entry of binary.searchPaths) {
          if (!entry.startsWith('@loader_path')) continue;
          const found = has(path.normalize(path.join(folder, entry.slice('@loader_path'.length), library.slice('@rpath/'.length))));
          if (found) return found;
        }
      }
      return undefined;
    }
    case 'pe': {
      // A DLL's imports are looked for in its own folder first (Node loads addons with
      // LOAD_WITH_ALTERED_SEARCH_PATH); Windows file names compare without case.
      const wanted = library.toLowerCase();
      return [...files.keys()].find((f) => path.dirname(f) === folder && path.basename(f).toLowerCase() === wanted);
    }
  }
}

/** "GLIBC_2.28", "GLIBCXX_3.4.22", "macOS 14.0": the newest each native file asks for. */
function minimums(natives: NativeFile[]): string[] {
  const newest = (values: string[]) => values.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);
  const versions = natives.flatMap((n) => n.binary.symbolVersions ?? []);
  return [
    newest(versions.filter((v) => v.startsWith('GLIBC_'))),
    newest(versions.filter((v) => v.startsWith('GLIBCXX_'))),
    newest(versions.filter((v) => v.startsWith('CXXABI_'))),
    ...(natives.some((n) => n.binary.minimumMacOS) ? [`macOS ${newest(natives.flatMap((n) => (n.binary.minimumMacOS ? [n.binary.minimumMacOS] : [])))}`] : []),
  ].filter((v): v is string => v !== undefined);
}
