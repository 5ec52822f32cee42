// Choosing a tag: existing tags with their counts, plus "New tag…" checked against the rule.
import * as vscode from 'vscode';
import type { TagSummary } from '../../kernel/client/tagsmith-client';
import { isValidTag, TAG_RULE } from '../../kernel/state/path-names';

export async function pickTag(tags: TagSummary[], options: { title: string; allowNew: boolean; placeHolder?: string }): Promise<string | undefined> {
  const NEW = '$(add) New tag…';
  const items: vscode.QuickPickItem[] = tags.map((t) => ({
    label: t.tag,
    description: `${t.positives} positive, ${t.negatives} negative`,
    detail: t.trained
      ? `trained${t.stale ? ' (samples changed since)' : ''}${t.metrics ? ` · F1 ${t.metrics.f1.toFixed(2)} · AUC ${t.metrics.rocAuc.toFixed(2)}` : ''}`
      : (t.retrainReason ?? 'not trained yet'),
  }));
  if (options.allowNew) items.unshift({ label: NEW, alwaysShow: true });
  if (items.length === 0) {
    void vscode.window.showInformationMessage('There are no tags yet: right-click images in the explorer and choose "Tagsmith: Add as Positive Sample…".');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: options.title,
    placeHolder: options.placeHolder ?? 'Choose a tag',
    matchOnDescription: true,
  });
  if (!picked) return undefined;
  if (picked.label !== NEW) return picked.label;
  return vscode.window
    .showInputBox({
      title: options.title,
      prompt: `Name of the new tag: ${TAG_RULE}`,
      placeHolder: 'e.g. golden-retriever',
      validateInput: (value) => (isValidTag(value.trim()) ? undefined : `Use ${TAG_RULE}.`),
    })
    .then((v) => v?.trim());
}
