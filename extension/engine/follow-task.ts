// Follows one training task through the watcher's views (no polling of its own) until it ends:
// every change of state, stage or progress to `onUpdate`, then the final record; a failed task
// rejects with its error code, as the client's TrainingTask does. No `vscode` here.
import { TagsmithApiError, type TaskView } from '../../kernel/client/tagsmith-client';
import type { EngineView, EngineWatcher } from './engine-watcher';

export function followTask(watcher: Pick<EngineWatcher, 'view' | 'onDidChange'>, taskId: string, onUpdate?: (task: TaskView) => void): Promise<TaskView> {
  return new Promise((resolve, reject) => {
    let seen = false;
    let shown = '';
    const check = (view: EngineView): void => {
      const { health, snapshot } = view;
      if (health.state === 'stopped')
        return finish(() => reject(new TagsmithApiError('engine_unreachable', `The engine stopped before the task ended: ${health.reason}`, 0)));
      // While it restarts the view is of the last run; the next run reads this task from its history.
      if (health.state !== 'ready' || !snapshot) return;
      const task = snapshot.tasks.find((t) => t.task_id === taskId);
      if (!task) {
        // Not yet read (it has just started), or gone: its state was replaced by a restore.
        if (seen) finish(() => reject(new TagsmithApiError('unknown_task', 'The engine no longer knows this task: its state was replaced.', 404)));
        return;
      }
      seen = true;
      const key = `${task.state}:${task.stage}:${task.progress}`;
      if (key !== shown) {
        shown = key;
        onUpdate?.(task);
      }
      if (task.state === 'done') finish(() => resolve(task));
      else if (task.state === 'failed')
        finish(() => reject(new TagsmithApiError(task.error?.code ?? 'internal', task.error?.message ?? 'Training failed.', 200)));
    };
    const subscription = watcher.onDidChange(check);
    const finish = (settle: () => void) => {
      subscription.dispose();
      settle();
    };
    check(watcher.view);
  });
}
