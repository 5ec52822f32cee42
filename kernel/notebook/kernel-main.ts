// The notebook kernel process the VS Code extension forks, one per notebook. It runs cells with
// tslab (never inside the extension host) and, when the extension passes its engine in
// TAGSMITH_URL/TAGSMITH_TOKEN, binds `tagsmith` (connected) and `Tagsmith` before the first cell.
import path from 'node:path';
import { createCellExecutor } from './cell-executor';
import { makeTagsmithImportable } from './tagsmith-import';
import type { KernelEvent, KernelRequest } from './kernel-messages';

const send = (event: KernelEvent) => process.send?.(event);
// The executor captures stdout/stderr for the cells; the kernel's own log keeps the real stderr.
const log = process.stderr.write.bind(process.stderr);
// This bundle sits in <package>/dist/kernel/.
makeTagsmithImportable(path.resolve(__dirname, '..', '..'), process.cwd());
const executor = createCellExecutor(process.cwd());
// SIGINT interrupts the cell (tslab runs cells with breakOnSigint); it must not end the kernel.
process.on('SIGINT', () => executor.interrupt());
process.on('disconnect', () => process.exit(0));

/** `tagsmith` (connected) and `Tagsmith` in every notebook, typed from the package's declarations. */
async function bindTagsmith(): Promise<boolean> {
  if (!process.env.TAGSMITH_URL) return false;
  let failure = '';
  const ok = await executor.execute('import { Tagsmith } from "tagsmith";\nconst tagsmith = await Tagsmith.connect();', (o) => {
    if (o.kind !== 'display') failure += o.text;
  });
  if (!ok) log(`tagsmith could not be bound: ${failure}\n`);
  return ok;
}

async function main(): Promise<void> {
  const tagsmith = await bindTagsmith();
  const tslabVersion = (require('tslab/package.json') as { version: string }).version;
  process.on('message', (request: KernelRequest) => {
    switch (request.type) {
      case 'execute':
        void executor
          .execute(request.code, (output) => send({ type: 'output', id: request.id, output }))
          .then((ok) => send({ type: 'done', id: request.id, ok }));
        return;
      case 'complete':
        send({ type: 'completion', id: request.id, ...executor.complete(request.code, request.position) });
        return;
      case 'inspect':
        send({ type: 'hover', id: request.id, text: executor.inspect(request.code, request.position) });
        return;
      case 'interrupt':
        executor.interrupt();
        return;
    }
  });
  send({ type: 'ready', versions: { tslab: tslabVersion, node: process.version }, tagsmith });
}

void main();
