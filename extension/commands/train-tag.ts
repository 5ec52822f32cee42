// Palette → "Train Tag…": tag, clusters and score options (remembered per tag), a cancellable
// progress notification while it trains (followed through the engine's watcher, as the status
// bar is), and the finished task for the metrics in words.
import * as vscode from 'vscode';
import type { TagsmithClient, TaskView, TrainOptions } from '../../kernel/client/tagsmith-client';
import type { EngineWatcher } from '../engine/engine-watcher';
import { followTask } from '../engine/follow-task';
import { clusterChoicesFor, DEFAULT_TRAIN_OPTIONS } from '../../kernel/rules';
import { optionsFrom } from '../logic/train-choices';
import { pickTag } from '../ui/tag-picker';

const REMEMBERED = 'tagsmith.trainOptions';

export async function trainTag(client: TagsmithClient, watcher: EngineWatcher, memento: vscode.Memento, tagArgument?: string): Promise<TaskView | undefined> {
  const tags = await client.tags();
  const tag = tagArgument ?? (await pickTag(tags, { title: 'Train which tag?', allowNew: false }));
  if (!tag) return undefined;
  const remembered = { ...DEFAULT_TRAIN_OPTIONS, ...memento.get<Record<string, TrainOptions>>(REMEMBERED, {})[tag] };
  const positives = tags.find((t) => t.tag === tag)?.positives ?? 0;

  const clusterItems = clusterChoicesFor(positives).map((k) => ({
    label: String(k),
    description: k === 1 ? 'one kind of positive' : `${k} kinds of positive (clusters)`,
    picked: k === remembered.num_clusters,
  }));
  const clusters = await vscode.window.showQuickPick(clusterItems, {
    title: `Train "${tag}": number of clusters`,
    placeHolder: `Last time: ${remembered.num_clusters}`,
  });
  if (!clusters) return undefined;
  // The keywords input is offered only where the engine has the keywords model (an opt-in install).
  const keywordsInstalled = (await client.health()).keywords.installed;
  const inputs = await vscode.window.showQuickPick(
    [
      { label: 'aesthetic', description: 'use the aesthetic score as an input', picked: remembered.apply_aesthetic_score },
      { label: 'stock', description: 'use the stock-suitability score as an input', picked: remembered.apply_stock_score },
      ...(keywordsInstalled
        ? [
            {
              label: 'keywords',
              description: 'use the objects found in each image (COCO classes) as inputs: for tags the objects explain, such as "picnic"',
              picked: remembered.apply_keywords ?? false,
            },
          ]
        : []),
    ],
    { title: `Train "${tag}": extra inputs (optional)`, canPickMany: true },
  );
  if (!inputs) return undefined;
  const options = optionsFrom(
    Number(clusters.label),
    inputs.map((s) => s.label),
  );
  await memento.update(REMEMBERED, { ...memento.get<Record<string, TrainOptions>>(REMEMBERED, {}), [tag]: options });

  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Tagsmith: training "${tag}"`, cancellable: true },
    async (progress, cancel) => {
      const taskId = await client.train(tag, options).taskId;
      watcher.poke();
      const stop = () => void client.cancelTask(taskId).catch(() => undefined);
      if (cancel.isCancellationRequested) stop();
      cancel.onCancellationRequested(stop);
      let shown = 0;
      return followTask(watcher, taskId, (t) => {
        const pct = Math.round(t.progress * 100);
        progress.report({ increment: pct - shown, message: `${t.stage ?? t.state} ${pct}%` });
        shown = pct;
      });
    },
  );
}
