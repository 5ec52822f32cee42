// The platforms a .vsix is built for, and what each one's native parts are. One table for the
// packaging script (what to fetch and keep) and for test/vsix/vsix.test.ts (what to expect).
//
// The native parts: sharp (its prebuilt @img/sharp-<platform> package and the libvips package it
// links), and onnxruntime-node (one folder per platform inside its own npm package). tslab, the
// notebook kernel, is plain JavaScript as the extension uses it: its native dependency, zeromq,
// is only loaded by tslab's Jupyter front end (`tslab kernel`, ZmqServer.init), which the
// extension never starts (its kernel talks to VS Code over Node IPC), so zeromq is not shipped.

export type TargetName = 'linux-x64' | 'linux-arm64' | 'darwin-x64' | 'darwin-arm64' | 'win32-x64' | 'win32-arm64';

export interface VsixTarget {
  /** VS Code's name for the platform (`vsce package --target`). */
  name: TargetName;
  /** process.platform / process.arch there, which npm's --os and --cpu take too. */
  os: 'linux' | 'darwin' | 'win32';
  cpu: 'x64' | 'arm64';
  /** npm's --libc: VS Code's linux-* targets are glibc systems (Alpine is alpine-*). */
  libc?: 'glibc';
  /** The object format every native file must have. */
  format: 'elf' | 'macho' | 'pe';
  onnxruntime: {
    /** Another onnxruntime-node version than package.json's, when that one has no build here. */
    version?: string;
    why?: string;
    /**
     * The files of bin/napi-v6/<os>/<cpu>/ to ship: the binding and the libraries it loads
     * for CPU inference. Everything else there is left out (see `left out` below).
     */
    files: string[];
  };
  /** What the user's system must provide, in words (the check prints what the headers ask for). */
  requirements: string;
}

const MSVC_RUNTIME =
  'the Microsoft Visual C++ 2015–2022 Redistributable (onnxruntime imports MSVCP140.dll, VCRUNTIME140.dll and MSVCP140_ATOMIC_WAIT.dll; most Windows machines have it)';

export const TARGETS: readonly VsixTarget[] = [
  {
    name: 'linux-x64',
    os: 'linux',
    cpu: 'x64',
    libc: 'glibc',
    format: 'elf',
    onnxruntime: { files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
    requirements: 'glibc 2.28 or later and libstdc++ with GLIBCXX_3.4.22 (Debian 10, Ubuntu 20.04, RHEL 8 or newer)',
  },
  {
    name: 'linux-arm64',
    os: 'linux',
    cpu: 'arm64',
    libc: 'glibc',
    format: 'elf',
    onnxruntime: { files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
    requirements: 'glibc 2.28 or later and libstdc++ with GLIBCXX_3.4.22 (Debian 10, Ubuntu 20.04, RHEL 8 or newer)',
  },
  {
    name: 'darwin-x64',
    os: 'darwin',
    cpu: 'x64',
    format: 'macho',
    onnxruntime: {
      version: '1.23.2',
      why: 'onnxruntime-node publishes no macOS x64 build from 1.24 on; 1.23.2 is the last, and gives the same features bit for bit on linux-x64 (test/vsix/vsix.test.ts runs it)',
      // The binding asks for @rpath/libonnxruntime.1.23.2.dylib, @rpath being its own folder.
      files: ['onnxruntime_binding.node', 'libonnxruntime.1.23.2.dylib'],
    },
    requirements: 'macOS 13.4 or later (onnxruntime 1.23.2)',
  },
  {
    name: 'darwin-arm64',
    os: 'darwin',
    cpu: 'arm64',
    format: 'macho',
    // The binding asks for @rpath/libonnxruntime.1.dylib; the package also holds an identical
    // copy named libonnxruntime.1.30.0.dylib (npm keeps no symlinks), 44 MB that nothing loads.
    onnxruntime: { files: ['onnxruntime_binding.node', 'libonnxruntime.1.dylib'] },
    requirements: 'macOS 14.0 or later (onnxruntime 1.30 is built for it)',
  },
  {
    name: 'win32-x64',
    os: 'win32',
    cpu: 'x64',
    format: 'pe',
    // DirectML.dll is delay-loaded by onnxruntime.dll, only for the DirectML execution provider,
    // which the engine never asks for (CPU only); dxcompiler.dll and dxil.dll are DirectML's.
    onnxruntime: { files: ['onnxruntime_binding.node', 'onnxruntime.dll'] },
    requirements: `Windows 10 or 11 with ${MSVC_RUNTIME}`,
  },
  {
    name: 'win32-arm64',
    os: 'win32',
    cpu: 'arm64',
    format: 'pe',
    onnxruntime: { files: ['onnxruntime_binding.node', 'onnxruntime.dll'] },
    requirements: `Windows 10 or 11 on Arm with ${MSVC_RUNTIME}`,
  },
];

/** VS Code's other targets, and why there is no .vsix for them. */
export const LEFT_OUT: readonly { name: string; why: string }[] = [
  {
    name: 'alpine-x64, alpine-arm64',
    why: 'onnxruntime-node has only glibc builds for Linux (its libonnxruntime.so.1 needs libc.so.6 and GLIBC_2.28); sharp would have musl builds',
  },
  { name: 'linux-armhf', why: 'onnxruntime-node has no 32-bit Arm build (sharp has one)' },
  { name: 'web', why: 'the engine is a Node child process with native image decoding and inference; a browser extension host can run neither' },
];

/** The .vsix file name vsce would give the target. */
export const vsixFileName = (target: TargetName, version: string) => `tagsmith-${target}-${version}.vsix`;

/** The target of the machine this runs on, if it is one of ours. */
export function hostTarget(): VsixTarget | undefined {
  return TARGETS.find((t) => t.os === process.platform && t.cpu === process.arch);
}
