// Running tasks with their stage and progress, and the history of runs of the selected tag,
// as a toolkit data grid.
import { isActiveTask } from '../../kernel/rules';
import type { TaskView } from '../protocol';
import { clear, h, percent } from '../lib/dom';

export function runningTasks(tasks: readonly TaskView[]): HTMLElement[] {
  return tasks
    .filter(isActiveTask)
    .map((t) =>
      h(
        'div',
        { className: 'running-task', role: 'status', 'aria-label': `Training ${t.tag}` },
        h('vscode-progress-ring', { 'aria-hidden': 'true' }),
        h('span', {}, `Training “${t.tag}”: ${t.stage ?? t.state} ${percent(t.progress)}`),
        h('progress', { max: 1, value: t.progress, 'aria-label': `Progress of ${t.tag}` }),
      ),
    );
}

export function renderHistory(grid: HTMLElement, runs: TaskView[]): void {
  const cell = (text: string, column: number, header = false) =>
    h('vscode-data-grid-cell', { 'grid-column': column, ...(header ? { 'cell-type': 'columnheader' } : {}) }, text);
  const header = h(
    'vscode-data-grid-row',
    { 'row-type': 'header' },
    ['When', 'Options', 'Result', 'F1', 'ROC AUC', 'Threshold'].map((t, i) => cell(t, i + 1, true)),
  );
  const rows = [...runs].reverse().map((r) => {
    const options = `${r.options.num_clusters} cluster${r.options.num_clusters === 1 ? '' : 's'}${r.options.apply_aesthetic_score ? ', aesthetic' : ''}${r.options.apply_stock_score ? ', stock' : ''}`;
    const result = r.state === 'failed' ? `failed: ${r.error?.message ?? r.error?.code}` : r.state === 'done' ? 'done' : `${r.state} ${percent(r.progress)}`;
    return h(
      'vscode-data-grid-row',
      {},
      cell(new Date(r.finishedAt ?? r.createdAt).toLocaleString(), 1),
      cell(options, 2),
      cell(result, 3),
      cell(r.metrics ? r.metrics.f1.toFixed(3) : '—', 4),
      cell(r.metrics ? r.metrics.rocAuc.toFixed(3) : '—', 5),
      cell(r.metrics ? r.metrics.threshold.toFixed(3) : '—', 6),
    );
  });
  grid.setAttribute('grid-template-columns', '2fr 2fr 3fr 1fr 1fr 1fr');
  clear(grid, header, rows);
}

export function confusionTable(c: { truePositives: number; falsePositives: number; trueNegatives: number; falseNegatives: number }): HTMLElement {
  return h(
    'table',
    { className: 'confusion', 'aria-label': 'Confusion matrix of held-out samples' },
    h('thead', {}, h('tr', {}, h('td'), h('th', { scope: 'col' }, 'called positive'), h('th', { scope: 'col' }, 'called negative'))),
    h(
      'tbody',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, 'positive samples'),
        h('td', { className: 'good' }, String(c.truePositives)),
        h('td', { className: 'bad' }, String(c.falseNegatives)),
      ),
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, 'negative samples'),
        h('td', { className: 'bad' }, String(c.falsePositives)),
        h('td', { className: 'good' }, String(c.trueNegatives)),
      ),
    ),
  );
}
