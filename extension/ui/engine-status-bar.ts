// The status-bar item: the watcher's view of the engine in words (statusBarText), redrawn on
// every change; a click opens the Tagsmith menu.
import * as vscode from 'vscode';
import type { EngineWatcher } from '../engine/engine-watcher';
import { statusBarText } from '../logic/status-bar-text';

export class EngineStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('tagsmith.engine', vscode.StatusBarAlignment.Left, 10);
  private readonly subscription: vscode.Disposable;

  constructor(watcher: EngineWatcher) {
    this.item.name = 'Tagsmith';
    this.item.command = 'tagsmith.statusMenu';
    this.subscription = watcher.onDidChange(() => this.render(watcher));
    this.render(watcher);
    this.item.show();
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }

  private render(watcher: EngineWatcher): void {
    const { text, tooltip } = statusBarText(watcher.view);
    this.item.text = text;
    this.item.tooltip = tooltip;
  }
}
