// The header reader the .vsix check relies on, against real binaries of every format: zeromq
// (installed with tslab) ships prebuilt addons for Linux (glibc and musl), macOS and Windows,
// and onnxruntime-node ships its libraries for three systems. Then the check's verdicts on a
// package that is wrong in each way it looks for.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TARGETS } from '../../.ci/vsix/targets';
import { readNativeBinary } from '../vsix/native-binary';
import { inspectNatives } from '../vsix/inspect-vsix';

const MODULES = path.resolve(__dirname, '../../node_modules');
const read = (file: string) => readNativeBinary(fs.readFileSync(path.join(MODULES, file)));
const ORT = 'onnxruntime-node/bin/napi-v6';
const ZMQ = 'zeromq/build';

describe('native binary headers', () => {
  it('reads format, architecture and kind of ELF, Mach-O and PE files', () => {
    const cases: [string, string, string, number][] = [
      [`${ZMQ}/linux/x64/node/glibc-127-Release/addon.node`, 'elf', 'x64', 64],
      [`${ZMQ}/linux/arm64/node/glibc-127-Release/addon.node`, 'elf', 'arm64', 64],
      [`${ZMQ}/darwin/x64/node/libc-115-Release/addon.node`, 'macho', 'x64', 64],
      [`${ZMQ}/darwin/arm64/node/libc-115-Release/addon.node`, 'macho', 'arm64', 64],
      [`${ZMQ}/win32/x64/node/msvc-115-Release/addon.node`, 'pe', 'x64', 64],
      [`${ZMQ}/win32/arm64/node/msvc-115-Release/addon.node`, 'pe', 'arm64', 64],
      [`${ZMQ}/win32/ia32/node/msvc-115-Release/addon.node`, 'pe', 'ia32', 32],
    ];
    for (const [file, format, arch, bits] of cases) {
      const binary = read(file);
      assert.ok(binary, `${file} not recognised`);
      assert.deepEqual([binary.format, binary.arches, binary.bits, binary.kind], [format, [arch], bits, 'shared-library'], file);
    }
  });

  it('tells glibc from musl by what an ELF file links', () => {
    assert.equal(read(`${ZMQ}/linux/x64/node/glibc-127-Release/addon.node`)?.libc, 'glibc');
    assert.equal(read(`${ZMQ}/linux/x64/node/musl-127-Release/addon.node`)?.libc, 'musl');
    // zeromq's own folder names are no guide: this one, under linux/x64/node/108, is a musl build.
    assert.equal(read(`${ZMQ}/linux/x64/node/108/addon.node`)?.libc, 'musl');
  });

  it('lists the libraries each file loads, where it looks, and what system it needs', () => {
    const linux = read(`${ORT}/linux/x64/onnxruntime_binding.node`)!;
    assert.ok(linux.needs.includes('libonnxruntime.so.1'));
    assert.deepEqual(linux.searchPaths, ['$ORIGIN/']);
    assert.ok(read(`${ORT}/linux/x64/libonnxruntime.so.1`)!.symbolVersions!.includes('GLIBC_2.28'));
    const mac = read(`${ORT}/darwin/arm64/onnxruntime_binding.node`)!;
    assert.ok(mac.needs.includes('@rpath/libonnxruntime.1.dylib'));
    assert.deepEqual(mac.searchPaths, ['@loader_path']);
    assert.match(mac.minimumMacOS ?? '', /^\d+\.\d+$/);
    const windows = read(`${ORT}/win32/x64/onnxruntime.dll`)!;
    assert.ok(windows.needs.includes('KERNEL32.dll'));
    // DirectML is delay-loaded: only the DirectML execution provider loads it.
    assert.ok(windows.optionalNeeds.includes('DirectML.dll'));
    assert.ok(!windows.needs.includes('DirectML.dll'));
  });

  it('is not fooled by other files', () => {
    assert.equal(readNativeBinary(fs.readFileSync(path.join(MODULES, 'zeromq/package.json'))), undefined);
    assert.equal(readNativeBinary(Buffer.concat([Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34]), Buffer.alloc(100)])), undefined, 'a Java class file');
    assert.equal(readNativeBinary(Buffer.concat([Buffer.from('MZ'), Buffer.alloc(100)])), undefined, 'MZ without a PE header');
  });
});

describe('the .vsix check, on packages that are wrong', () => {
  const linux = TARGETS.find((t) => t.name === 'linux-x64')!;
  const file = (p: string) => fs.readFileSync(path.join(MODULES, p));
  const good = () => new Map<string, Buffer>([
    ['extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', file(`${ORT}/linux/x64/onnxruntime_binding.node`)],
    ['extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1', file(`${ORT}/linux/x64/libonnxruntime.so.1`)],
  ]);

  it('passes a package whose binaries all fit and find their libraries', () => {
    const inspection = inspectNatives(good(), linux);
    assert.deepEqual(inspection.problems, []);
    assert.ok(inspection.fromSystem.has('libc.so.6'));
  });

  it('finds another platform\'s binary by its header, whatever its name and folder', () => {
    const files = good();
    files.set('extension/node_modules/x/lib/helper.node', file(`${ZMQ}/darwin/arm64/node/libc-115-Release/addon.node`));
    files.set('extension/node_modules/x/lib/renamed.txt', file(`${ZMQ}/linux/arm64/node/glibc-127-Release/addon.node`));
    files.set('extension/node_modules/x/lib/musl.node', file(`${ZMQ}/linux/x64/node/musl-127-Release/addon.node`));
    const problems = inspectNatives(files, linux).problems.join('\n');
    assert.match(problems, /helper\.node \(Mach-O 64-bit arm64 shared-library\) is not elf/);
    assert.match(problems, /renamed\.txt \(ELF 64-bit arm64 shared-library\) is not x64 only/);
    assert.match(problems, /musl\.node .* is linked against musl/);
  });

  it('finds a library missing from where the loader looks, a fake binary and a folder of another platform', () => {
    const files = good();
    files.delete('extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1');
    files.set('extension/node_modules/y/fake.so.1', Buffer.from('not a library, although named like one'));
    files.set('extension/node_modules/z/prebuilds/win32-x64/readme.md', Buffer.from('text'));
    const problems = inspectNatives(files, linux).problems.join('\n');
    assert.match(problems, /onnxruntime_binding\.node needs libonnxruntime\.so\.1, which is neither in the package/);
    assert.match(problems, /fake\.so\.1 is named like a native file but has no ELF, Mach-O or PE header/);
    assert.match(problems, /z\/prebuilds\/win32-x64\/readme\.md is in a folder for win32-x64/);
  });
});
