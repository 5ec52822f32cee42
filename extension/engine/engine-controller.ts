// The one owner of the engine's life: starts it on first use, restarts it with back-off when
// it dies (and says so once), turns its health into the status-bar item, stops it on exit.
import path from 'node:path';
import * as vscode from 'vscode';
import type { TagsmithClient, TaskRecord } from '../../kernel/client/tagsmith-client';
import { RestartPolicy } from '../logic/restart-policy';
import { describeExit, lastLines, type ChildExit } from '../process/forked-process';
import { EngineProcess } from './engine-process';

type EngineState = 'stopped' | 'starting' | 'ready' | 'failed';

export class EngineController implements vscode.Disposable {
  private engine?: EngineProcess;
  private starting?: Promise<EngineProcess>;
  private state: EngineState = 'stopped';
  private readonly policy = new RestartPolicy();
  private readonly statusBar: vscode.StatusBarItem;
  private readonly changed = new vscode.EventEmitter<void>();
  private warnedAboutRestart = false;
  private disposed = false;
  private tagCount?: number;
  private training?: TaskRecord;
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {
    this.statusBar = vscode.window.createStatusBarItem('tagsmith.engine', vscode.StatusBarAlignment.Left, 10);
    this.statusBar.name = 'Tagsmith';
    this.statusBar.command = 'tagsmith.statusMenu';
    this.render();
    this.statusBar.show();
  }

  /** The client of a running engine, starting (or restarting) it if needed. */
  async client(): Promise<TagsmithClient> {
    if (this.engine && this.state === 'ready') return this.engine.client;
    return (await this.ensureStarted()).client;
  }

  /** Where the running engine listens and its token, for processes that talk to it themselves (notebook kernels). */
  async connection(): Promise<{ url: string; token?: string }> {
    await this.client();
    return this.engine!.connection;
  }

  /** Shows a training task in the status bar until it ends. */
  showTraining(task: TaskRecord | undefined): void {
    this.training = task && (task.state === 'queued' || task.state === 'running') ? task : undefined;
    this.render();
  }

  async refreshTagCount(): Promise<void> {
    try {
      this.tagCount = (await (await this.client()).tags()).length;
    } catch {
      this.tagCount = undefined;
    }
    this.render();
    this.changed.fire();
  }

  async restart(): Promise<void> {
    const old = this.engine;
    this.engine = undefined;
    this.state = 'stopped';
    await old?.stop();
    this.policy.reset();
    await this.ensureStarted();
  }

  /** Settings changed: a running engine picks them up; one never started stays unstarted. */
  async restartIfRunning(): Promise<void> {
    if (this.engine || this.starting) await this.restart();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.statusBar.dispose();
    this.changed.dispose();
    await this.engine?.stop();
  }

  private ensureStarted(): Promise<EngineProcess> {
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async launch(): Promise<EngineProcess> {
    this.state = 'starting';
    this.render();
    const config = vscode.workspace.getConfiguration('tagsmith');
    const configured = config.get<string>('stateDirectory')?.trim();
    const stateDir = configured ? configured : path.join(this.context.globalStorageUri.fsPath, 'state');
    try {
      const engine = await EngineProcess.start({
        cliPath: path.join(this.context.extensionPath, 'dist', 'kernel', 'cli.js'),
        stateDir,
        port: config.get<number>('server.port', 0),
        threads: config.get<number>('threads') || undefined,
        backbone: config.get<string>('backbone') || undefined,
        log: (line) => this.log.info(line),
      });
      engine.onCrash((exit) => void this.onCrash(engine, exit));
      this.engine = engine;
      this.state = 'ready';
      this.log.info(`engine ready at ${engine.client.url} (pid ${engine.pid}, state ${stateDir})`);
      void this.refreshTagCount();
      return engine;
    } catch (error) {
      this.state = 'failed';
      this.render();
      this.log.error(`engine failed to start: ${(error as Error).message}`);
      throw error;
    }
  }

  private async onCrash(engine: EngineProcess, exit: ChildExit): Promise<void> {
    if (this.engine !== engine || this.disposed) return;
    this.engine = undefined;
    this.state = 'stopped';
    this.training = undefined;
    this.log.warn(`engine exited unexpectedly (${describeExit(exit)}). ${lastLines(exit.stderrTail, 5)}`);
    const delay = this.policy.onCrash(Date.now());
    if (delay === undefined) {
      this.state = 'failed';
      this.render();
      const choice = await vscode.window.showErrorMessage('The Tagsmith engine keeps stopping; it will not be restarted automatically.', 'Show Log', 'Restart');
      if (choice === 'Show Log') this.log.show();
      if (choice === 'Restart') await this.restart();
      return;
    }
    this.render();
    if (!this.warnedAboutRestart) {
      this.warnedAboutRestart = true;
      void vscode.window.showWarningMessage('The Tagsmith engine stopped unexpectedly and is being restarted.', 'Show Log').then((c) => c && this.log.show());
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (!this.disposed && !this.engine) await this.ensureStarted().catch(() => undefined);
  }

  private render(): void {
    const s = this.statusBar;
    if (this.training) {
      const pct = Math.round(this.training.progress * 100);
      s.text = `$(sync~spin) Tagsmith: training ${this.training.tag} ${pct}%`;
      s.tooltip = `Training "${this.training.tag}": ${this.training.stage ?? this.training.state}`;
      return;
    }
    switch (this.state) {
      case 'ready':
        s.text = `$(tag) Tagsmith${this.tagCount === undefined ? '' : `: ${this.tagCount} tag${this.tagCount === 1 ? '' : 's'}`}`;
        s.tooltip = `Tagsmith engine running at ${this.engine?.client.url}. Click for the gallery, the dashboard and the log.`;
        break;
      case 'starting':
        s.text = '$(loading~spin) Tagsmith: starting';
        s.tooltip = 'The Tagsmith engine is starting.';
        break;
      case 'failed':
        s.text = '$(error) Tagsmith: engine stopped';
        s.tooltip = 'The Tagsmith engine is not running. Click for the log or to restart it.';
        break;
      default:
        s.text = '$(tag) Tagsmith';
        s.tooltip = 'The Tagsmith engine starts when you first use a Tagsmith command.';
    }
  }
}
