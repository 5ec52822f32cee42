// Activation: registers the commands; the engine starts on the first command that needs it.
import * as vscode from 'vscode';
import type { SampleType, TagsmithClient } from '../kernel/client/tagsmith-client';
import { addSamples } from './commands/add-samples';
import { backUpState, removeTag, restoreState } from './commands/manage-state';
import { predictTags } from './commands/predict-tags';
import { moreLikeThis, reviewTag } from './commands/review-tag';
import { clearFeatureCache, removeSidecarKeywords } from './commands/scan-upkeep';
import { tagFolders, tagWorkspace } from './commands/tag-folders';
import { trainTag } from './commands/train-tag';
import { EngineController } from './engine/engine-controller';
import { ScannedImages } from './engine/scanned-images';
import { scanRootsOf } from './logic/scan-roots';
import { TagsmithNotebookController } from './notebook/notebook-controller';
import { TagsmithPanels } from './panels/tagsmith-panels';
import { ScanBadgeProvider } from './ui/scan-badge-provider';
import { showError } from './ui/show-error';
import { offerDashboard } from './ui/training-messages';

let controller: EngineController | undefined;

/** Settings the engine is started with: changing one restarts a running engine. */
const ENGINE_SETTINGS = ['tagsmith.stateDirectory', 'tagsmith.server.port', 'tagsmith.threads', 'tagsmith.backbone'];

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Tagsmith', { log: true });
  const engine = new EngineController(context, log);
  controller = engine;
  // One picture of the engine: its watcher feeds the status bar, the panels and the training messages.
  const { watcher } = engine;
  context.subscriptions.push(log);
  const panels = new TagsmithPanels(context, () => engine.client(), watcher, log);
  context.subscriptions.push(panels);
  const notebooks = new TagsmithNotebookController(context, () => engine.connection(), log);
  context.subscriptions.push(notebooks);
  // The explorer's badges: the latest scan of each workspace folder, read again whenever the
  // trained tags change (the engine re-scores its scans) or the engine starts.
  const scanned = new ScannedImages(
    () => engine.client(),
    () => scanRootsOf(vscode.workspace.workspaceFolders),
    { onError: (message) => log.warn(message) },
  );
  const badges = new ScanBadgeProvider(scanned, watcher);
  context.subscriptions.push(
    { dispose: () => scanned.dispose() },
    badges,
    vscode.window.registerFileDecorationProvider(badges),
    watcher.onDidChangeModels(() => void scanned.modelsChanged()),
  );

  /** Runs a command with the engine's client; errors become messages, never stacks. */
  const withClient =
    (run: (client: TagsmithClient, ...args: unknown[]) => Promise<unknown>) =>
    async (...args: unknown[]) => {
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
  const add = (type: SampleType) =>
    withClient(async (client, ...args) => {
      await addSamples(client, type, selected(args));
      watcher.poke();
    });

  context.subscriptions.push(
    vscode.commands.registerCommand('tagsmith.addPositive', add('positive')),
    vscode.commands.registerCommand('tagsmith.addNegative', add('negative')),
    vscode.commands.registerCommand(
      'tagsmith.predict',
      withClient((client, ...args) => predictTags(client, selected(args))),
    ),
    vscode.commands.registerCommand(
      'tagsmith.tagFolder',
      withClient((client, ...args) =>
        tagFolders({ client, scanned, log: (line) => log.info(line), review: (tag) => panels.show('review', tag) }, selected(args)),
      ),
    ),
    vscode.commands.registerCommand(
      'tagsmith.tagWorkspace',
      withClient((client) => tagWorkspace({ client, scanned, log: (line) => log.info(line), review: (tag) => panels.show('review', tag) })),
    ),
    vscode.commands.registerCommand(
      'tagsmith.reviewTag',
      withClient((client, tag) => reviewTag(client, panels, typeof tag === 'string' ? tag : undefined)),
    ),
    vscode.commands.registerCommand('tagsmith.moreLikeThis', (arg?: unknown) =>
      moreLikeThis(panels, arg, (arg as { tag?: unknown } | undefined)?.tag as string | undefined),
    ),
    vscode.commands.registerCommand(
      'tagsmith.removeSidecarKeywords',
      withClient((client, ...args) => removeSidecarKeywords(client, selected(args))),
    ),
    vscode.commands.registerCommand(
      'tagsmith.clearFeatureCache',
      withClient((client) => clearFeatureCache(client)),
    ),
    vscode.commands.registerCommand(
      'tagsmith.train',
      withClient(async (client, tag) => {
        const done = await trainTag(client, watcher, context.globalState, typeof tag === 'string' ? tag : undefined);
        if (done) void offerDashboard(done);
      }),
    ),
    vscode.commands.registerCommand(
      'tagsmith.removeTag',
      withClient((client) => removeTag(client, () => watcher.poke())),
    ),
    vscode.commands.registerCommand(
      'tagsmith.backup',
      withClient((client) => backUpState(client)),
    ),
    vscode.commands.registerCommand(
      'tagsmith.restore',
      withClient((client) => restoreState(client, () => watcher.poke())),
    ),
    vscode.commands.registerCommand('tagsmith.showGallery', (tag?: unknown) => panels.show('gallery', typeof tag === 'string' ? tag : undefined)),
    vscode.commands.registerCommand('tagsmith.showDashboard', (tag?: unknown) => panels.show('dashboard', typeof tag === 'string' ? tag : undefined)),
    vscode.commands.registerCommand('tagsmith.statusMenu', () => showStatusMenu()),
    vscode.commands.registerCommand('tagsmith.restartNotebookKernel', () => notebooks.restart(vscode.window.activeNotebookEditor?.notebook)),
    vscode.commands.registerCommand('tagsmith.showLog', () => log.show()),
    vscode.commands.registerCommand('tagsmith.restartEngine', () =>
      engine
        .restart()
        .catch((error: unknown) => showError(error, { showLog: () => log.show(), restartEngine: () => engine.restart(), addSamples: async () => undefined })),
    ),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (ENGINE_SETTINGS.some((setting) => e.affectsConfiguration(setting))) void engine.restartIfRunning().catch(() => undefined);
    }),
    // The engine scans only under the workspace folders it was started with.
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      void engine.workspaceFoldersChanged().catch(() => undefined);
      panels.workspaceFoldersChanged();
    }),
  );
}

/** The status-bar item's menu: the two panels first, then the engine's log and restart. */
async function showStatusMenu(): Promise<void> {
  const items = [
    { label: '$(files) Open Sample Gallery', command: 'tagsmith.showGallery' },
    { label: '$(graph) Open Training Dashboard', command: 'tagsmith.showDashboard' },
    { label: '$(play) Train Tag…', command: 'tagsmith.train' },
    { label: '$(checklist) Review Tag…', command: 'tagsmith.reviewTag' },
    ...(vscode.workspace.workspaceFolders?.length ? [{ label: '$(tag) Tag Images in Workspace…', command: 'tagsmith.tagWorkspace' }] : []),
    { label: '$(output) Show Engine Log', command: 'tagsmith.showLog' },
    { label: '$(debug-restart) Restart Engine', command: 'tagsmith.restartEngine' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'Tagsmith' });
  if (picked) await vscode.commands.executeCommand(picked.command);
}

export async function deactivate(): Promise<void> {
  await controller?.dispose();
}
