// The one owner of the engine's life: starts it on first use, restarts it with back-off when
// it dies (and says so once), stops it on exit, and tells the watcher each step, so the
// status bar, the panels and the training messages all see one picture of it.
import path from 'node:path';
import * as vscode from 'vscode';
import type { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { RestartPolicy } from '../logic/restart-policy';
import { existingFolders, sameRoots, scanRootsOf } from '../logic/scan-roots';
import { describeExit, lastLines, type ChildExit } from '../process/forked-process';
import { EngineStatusBar } from '../ui/engine-status-bar';
import { EngineProcess } from './engine-process';
import { EngineWatcher } from './engine-watcher';

export class EngineController implements vscode.Disposable {
  /** The engine's health, tags and tasks, for everything that shows them. */
  readonly watcher: EngineWatcher;
  private engine?: EngineProcess;
  private starting?: Promise<EngineProcess>;
  private readonly policy = new RestartPolicy();
  private readonly statusBar: EngineStatusBar;
  private warnedAboutRestart = false;
  private disposed = false;
  /** The workspace folders the running (or starting) engine was given as its scan roots. */
  private launchedRoots: readonly string[] = [];

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {
    this.watcher = new EngineWatcher(undefined, (error) => log.error(`a view of the engine failed to update: ${(error as Error).message}`));
    this.statusBar = new EngineStatusBar(this.watcher);
  }

  /** The client of a running engine, starting (or restarting) it if needed. */
  async client(): Promise<TagsmithClient> {
    return (this.engine ?? (await this.ensureStarted())).client;
  }

  /** Where the running engine listens and its token, for processes that talk to it themselves (notebook kernels). */
  async connection(): Promise<{ url: string; token?: string }> {
    return (this.engine ?? (await this.ensureStarted())).connection;
  }

  async restart(): Promise<void> {
    const old = this.engine;
    this.engine = undefined;
    this.watcher.engineStarting();
    await old?.stop();
    this.policy.reset();
    await this.ensureStarted();
  }

  /** Settings changed: a running engine picks them up; one never started stays unstarted. */
  async restartIfRunning(): Promise<void> {
    if (this.engine || this.starting) await this.restart();
  }

  /** The workspace folders changed: an engine running with other scan roots is restarted with these. */
  async workspaceFoldersChanged(): Promise<void> {
    if (!sameRoots(scanRootsOf(vscode.workspace.workspaceFolders), this.launchedRoots)) await this.restartIfRunning();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.statusBar.dispose();
    this.watcher.dispose();
    await this.engine?.stop();
  }

  private ensureStarted(): Promise<EngineProcess> {
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async launch(): Promise<EngineProcess> {
    this.watcher.engineStarting();
    const config = vscode.workspace.getConfiguration('tagsmith');
    const configured = config.get<string>('stateDirectory')?.trim();
    const stateDir = configured ? configured : path.join(this.context.globalStorageUri.fsPath, 'state');
    // The engine scans only under the workspace's folders; one deleted meanwhile is left out.
    this.launchedRoots = scanRootsOf(vscode.workspace.workspaceFolders);
    const roots = await existingFolders(this.launchedRoots);
    if (roots.missing.length > 0) this.log.warn(`not scannable (not a folder now): ${roots.missing.join(', ')}`);
    try {
      const engine = await EngineProcess.start({
        cliPath: path.join(this.context.extensionPath, 'dist', 'kernel', 'cli.js'),
        stateDir,
        port: config.get<number>('server.port', 0),
        threads: config.get<number>('threads') || undefined,
        backbone: config.get<string>('backbone') || undefined,
        scanRoots: roots.folders,
        log: (line) => this.log.info(line),
      });
      engine.onCrash((exit) => void this.onCrash(engine, exit));
      this.engine = engine;
      this.watcher.engineReady(engine.client);
      this.log.info(`engine ready at ${engine.client.url} (pid ${engine.pid}, state ${stateDir}, scans under ${roots.folders.join(', ') || 'no folder'})`);
      return engine;
    } catch (error) {
      this.watcher.engineDown({ state: 'stopped', reason: (error as Error).message });
      this.log.error(`engine failed to start: ${(error as Error).message}`);
      throw error;
    }
  }

  private async onCrash(engine: EngineProcess, exit: ChildExit): Promise<void> {
    if (this.engine !== engine || this.disposed) return;
    this.engine = undefined;
    this.log.warn(`engine exited unexpectedly (${describeExit(exit)}). ${lastLines(exit.stderrTail, 5)}`);
    const delay = this.policy.onCrash(Date.now());
    if (delay === undefined) {
      this.watcher.engineDown({ state: 'stopped', reason: 'it kept stopping, so it is not restarted automatically.' });
      const choice = await vscode.window.showErrorMessage('The Tagsmith engine keeps stopping; it will not be restarted automatically.', 'Show Log', 'Restart');
      if (choice === 'Show Log') this.log.show();
      if (choice === 'Restart') await this.restart();
      return;
    }
    this.watcher.engineDown({ state: 'restarting', reason: `it exited with ${describeExit(exit)}` });
    if (!this.warnedAboutRestart) {
      this.warnedAboutRestart = true;
      void vscode.window.showWarningMessage('The Tagsmith engine stopped unexpectedly and is being restarted.', 'Show Log').then((c) => c && this.log.show());
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (!this.disposed && !this.engine) await this.ensureStarted().catch(() => undefined);
  }
}
