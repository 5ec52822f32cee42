// Badges in the explorer for scanned images a trained tag applies to. Which files, which badge
// and which tooltip are scan-badges' to say; this redraws them when the scans are read again,
// when the trained tags change and when the badge settings do.
import * as vscode from 'vscode';
import type { EngineWatcher } from '../engine/engine-watcher';
import type { ScannedImages } from '../engine/scanned-images';
import { changedFiles, imageDecorations, pathKey, shownTags, type ImageDecoration } from '../logic/scan-badges';

export const BADGE_COLOR = 'tagsmith.taggedImageForeground';

export class ScanBadgeProvider implements vscode.FileDecorationProvider, vscode.Disposable {
  private readonly changes = new vscode.EventEmitter<vscode.Uri[]>();
  readonly onDidChangeFileDecorations = this.changes.event;
  private decorations = new Map<string, ImageDecoration>();
  /** As the watcher last read them; a removed tag loses its badges at once, before the scans are read again. */
  private trained: readonly string[] = [];
  private readonly subscriptions: { dispose(): void }[];

  constructor(
    private readonly scanned: ScannedImages,
    watcher: EngineWatcher,
  ) {
    this.subscriptions = [
      scanned.onDidChange(() => this.update()),
      watcher.onDidChangeModels(({ tags }) => {
        this.trained = tags.map((t) => t.tag);
        this.update();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('tagsmith.badges') && this.update()),
      this.changes,
    ];
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (uri.scheme !== 'file') return undefined;
    const decoration = this.decorations.get(pathKey(uri.fsPath));
    return decoration && new vscode.FileDecoration(decoration.badge, decoration.tooltip, new vscode.ThemeColor(BADGE_COLOR));
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }

  private update(): void {
    const config = vscode.workspace.getConfiguration('tagsmith.badges');
    const setting = config.get<unknown>('tags');
    const named = Array.isArray(setting) ? setting.filter((t): t is string => typeof t === 'string') : [];
    const next = config.get<boolean>('enabled', true)
      ? imageDecorations(this.scanned.scans, shownTags(named, this.trained))
      : new Map<string, ImageDecoration>();
    const changed = changedFiles(this.decorations, next);
    this.decorations = next;
    if (changed.length > 0) this.changes.fire(changed.map((file) => vscode.Uri.file(file)));
  }
}
