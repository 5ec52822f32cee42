// How a training ends, told in a message: the metrics in words with "Open Dashboard", or why
// it failed. The panels' tasks are followed through the watcher (the status bar shows their
// progress); the Train Tag command follows its own with a progress notification.
import * as vscode from 'vscode';
import type { TaskView } from '../../kernel/client/tagsmith-client';
import { describeMetrics } from '../../kernel/training/describe-metrics';
import type { EngineWatcher } from '../engine/engine-watcher';
import { followTask } from '../engine/follow-task';

export async function offerDashboard(done: TaskView): Promise<void> {
  const choice = await vscode.window.showInformationMessage(describeMetrics(done.tag, done.metrics), 'Open Dashboard');
  if (choice === 'Open Dashboard') await vscode.commands.executeCommand('tagsmith.showDashboard', done.tag);
}

/** Announces once how a task started from a panel ended. */
export function announceTraining(watcher: EngineWatcher, tag: string, taskId: string): void {
  followTask(watcher, taskId)
    .then(
      (done) => offerDashboard(done),
      (error: unknown) => vscode.window.showWarningMessage(`Training "${tag}" failed: ${(error as Error).message}`),
    )
    .then(undefined, () => undefined); // a message that could not be shown has no one else to tell
}
