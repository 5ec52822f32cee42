// What the status-bar item says for a view of the engine: its health, its tags, and the task
// training now, whoever started it. No `vscode` here, so it is unit-tested directly.
import type { TaskView } from '../../kernel/client/tagsmith-client';
import type { EngineView } from '../engine/engine-watcher';

export interface StatusBarText {
  text: string;
  tooltip: string;
}

const TAGS_LISTED = 10;
const CLICK = 'Click for the gallery, the dashboard and the log.';

export function statusBarText(view: EngineView): StatusBarText {
  const { health, snapshot } = view;
  switch (health.state) {
    case 'ready': {
      const training = activeTask(snapshot?.tasks ?? []);
      if (training) {
        return {
          text: `$(sync~spin) Tagsmith: training ${training.tag} ${Math.round(training.progress * 100)}%`,
          tooltip: `Training "${training.tag}": ${training.stage ?? training.state}`,
        };
      }
      const tags = snapshot?.tags;
      return {
        text: `$(tag) Tagsmith${tags ? `: ${plural(tags.length, 'tag')}` : ''}`,
        tooltip: [`Tagsmith engine running at ${health.url}.`, tags && tags.length > 0 ? `Tags: ${listTags(tags)}.` : undefined, CLICK]
          .filter(Boolean)
          .join('\n'),
      };
    }
    case 'not-answering':
      return { text: '$(warning) Tagsmith: not answering', tooltip: `The Tagsmith engine at ${health.url} is not answering: ${health.message}\n${CLICK}` };
    case 'starting':
      return { text: '$(loading~spin) Tagsmith: starting', tooltip: 'The Tagsmith engine is starting.' };
    case 'restarting':
      return { text: '$(loading~spin) Tagsmith: restarting', tooltip: `The Tagsmith engine stopped (${health.reason}) and is being restarted.` };
    case 'stopped':
      return {
        text: '$(error) Tagsmith: engine stopped',
        tooltip: `The Tagsmith engine is not running: ${health.reason}\nClick for the log or to restart it.`,
      };
    case 'not-started':
      return { text: '$(tag) Tagsmith', tooltip: 'The Tagsmith engine starts when you first use a Tagsmith command.' };
  }
}

/** The task to show: the one running, else the next queued. */
function activeTask(tasks: readonly TaskView[]): TaskView | undefined {
  return tasks.find((t) => t.state === 'running') ?? tasks.find((t) => t.state === 'queued');
}

function listTags(tags: readonly { tag: string; trained: boolean }[]): string {
  const shown = tags.slice(0, TAGS_LISTED).map((t) => `${t.tag}${t.trained ? '' : ' (not trained)'}`);
  return `${shown.join(', ')}${tags.length > TAGS_LISTED ? ` and ${tags.length - TAGS_LISTED} more` : ''}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
