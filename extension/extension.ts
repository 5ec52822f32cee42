// Activation: registers the commands; the engine starts on the first command that needs it.
import * as vscode from 'vscode';
import type { SampleType, TagsmithClient } from '../kernel/client/tagsmith-client';
import { addSamples } from './commands/add-samples';
import { backUpState, removeTag, restoreState } from './commands/manage-state';
import { predictTags } from './commands/predict-tags';
import { trainTag } from './commands/train-tag';
import { EngineController } from './engine/engine-controller';
import { showError } from './ui/show-error';

let controller: EngineController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Tagsmith', { log: true });
  const engine = new EngineController(context, log);
  controller = engine;
  context.subscriptions.push(log);

  /** Runs a command with the engine's client; errors become messages, never stacks. */
  const withClient = (run: (client: TagsmithClient, ...args: unknown[]) => Promise<unknown>) => async (...args: unknown[]) => {
    try {
      await run(await engine.client(), ...args);
    } catch (error) {
      log.error(`${(error as Error).name}: ${(error as Error).message}`);
      await showError(error, {
        showLog: () => log.show(),
        restartEngine: () => engine.restart(),
        addSamples: () => vscode.commands.executeCommand('tagsmith.addPositive') as Promise<void>,
      });
    }
  };
  /** Explorer commands get (clicked, selected[]); the palette gets nothing. */
  const selected = (args: unknown[]): vscode.Uri[] => {
    const [clicked, all] = args as [vscode.Uri | undefined, vscode.Uri[] | undefined];
    return all && all.length > 0 ? all : clicked instanceof vscode.Uri ? [clicked] : [];
  };
  const add = (type: SampleType) => withClient(async (client, ...args) => {
    await addSamples(client, type, selected(args));
    await engine.refreshTagCount();
  });

  context.subscriptions.push(
    vscode.commands.registerCommand('tagsmith.addPositive', add('positive')),
    vscode.commands.registerCommand('tagsmith.addNegative', add('negative')),
    vscode.commands.registerCommand('tagsmith.predict', withClient((client, ...args) => predictTags(client, selected(args)))),
    vscode.commands.registerCommand('tagsmith.train', withClient((client, tag) => trainTag(client, context.globalState, (t) => engine.showTraining(t), typeof tag === 'string' ? tag : undefined))),
    vscode.commands.registerCommand('tagsmith.removeTag', withClient((client) => removeTag(client, () => engine.refreshTagCount()))),
    vscode.commands.registerCommand('tagsmith.backup', withClient((client) => backUpState(client))),
    vscode.commands.registerCommand('tagsmith.restore', withClient((client) => restoreState(client, () => engine.refreshTagCount()))),
    vscode.commands.registerCommand('tagsmith.showLog', () => log.show()),
    vscode.commands.registerCommand('tagsmith.restartEngine', () => engine.restart().catch((error: unknown) => showError(error, { showLog: () => log.show(), restartEngine: () => engine.restart(), addSamples: async () => undefined }))),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('tagsmith')) void engine.restartIfRunning().catch(() => undefined);
    }),
  );
}

export async function deactivate(): Promise<void> {
  await controller?.dispose();
}
