// The .vsix check's verdicts on the native files of a package (test/vsix/inspect-vsix.ts), on
// packages made of real binaries that are wrong in each way it looks for.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TARGETS } from '../../.ci/vsix/targets';
import { inspectNatives } from '../vsix/inspect-vsix';

const MODULES = path.resolve(__dirname, '../../node_modules');
const ORT = 'onnxruntime-node/bin/napi-v6';
const ZMQ = 'zeromq/build';

describe('the .vsix check, on packages that are wrong', () => {
  const linux = TARGETS.find((t) => t.name === 'linux-x64')!;
  const file = (p: string) => fs.readFileSync(path.join(MODULES, p));
  const good = () =>
    new Map<string, Buffer>([
      ['extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', file(`${ORT}/linux/x64/onnxruntime_binding.node`)],
      ['extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1', file(`${ORT}/linux/x64/libonnxruntime.so.1`)],
    ]);

  it('passes a package whose binaries all fit and find their libraries', () => {
    const inspection = inspectNatives(good(), linux);
    assert.deepEqual(inspection.problems, []);
    assert.ok(inspection.fromSystem.has('libc.so.6'));
  });

  it("finds another platform's binary by its header, whatever its name and folder", () => {
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
