// The header reader the .vsix check relies on (test/vsix/native-binary.ts), against real
// binaries of every format: zeromq (installed with tslab) ships prebuilt addons for Linux
// (glibc and musl), macOS and Windows, and onnxruntime-node ships its libraries for three
// systems. (The check's verdicts on whole packages: vsix-natives-check.test.ts.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readNativeBinary } from '../vsix/native-binary';

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
